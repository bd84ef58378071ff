"""Ingestion profiles for government social-insurance exports and agency bills.

    source = open_source(data_or_path, filename="…xlsx")        # hostile-file protections
    found = detect(source)                                       # [Detection], best first
    result = parse(source, found[0].profile, context=ParseContext(period="2026-02"))
    result.context_found, result.warnings, result.columns
    for row in result.rows():                                    # facts.SourceRow, streamed
        ...

Profiles are declarative (``shebao/ledger/profiles/*.yaml`` and ``ExportProfile.definition``);
see ``schema`` for the keys and ``export_formats.md`` for the layouts they describe.
"""

from shebao.imports.readers import ImportFileError
from shebao.ledger.parsing.detect import Detection, detect
from shebao.ledger.parsing.engine import ContextRequired, ParseContext, ParseResult, parse
from shebao.ledger.parsing.schema import (
    FIELD_LABELS,
    Profile,
    ProfileError,
    field_choices,
    mapping_profile,
    profile_get,
    profile_list,
    profile_validate,
    shipped_profiles,
)
from shebao.ledger.parsing.source import Sheet, Source, open_source

__all__ = [
    "FIELD_LABELS",
    "ContextRequired",
    "Detection",
    "ImportFileError",
    "ParseContext",
    "ParseResult",
    "Profile",
    "ProfileError",
    "Sheet",
    "Source",
    "detect",
    "field_choices",
    "mapping_profile",
    "open_source",
    "parse",
    "profile_get",
    "profile_list",
    "profile_validate",
    "shipped_profiles",
]
