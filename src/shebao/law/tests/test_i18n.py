"""The law app ships its own English catalogue (Django finds an app's locale/ folder)."""

from __future__ import annotations

import gettext
import re
from pathlib import Path

from shebao.web.tests.test_i18n import parse_po

APP = Path(__file__).resolve().parents[1]
PO = APP / "locale" / "en" / "LC_MESSAGES" / "django.po"
MO = PO.with_suffix(".mo")

_SOURCES = {
    "templates": (
        "**/*.html",
        re.compile(r"""\{%\s*translate\s+(?:"([^"]+)"|'([^']+)')"""),
    ),
    "python": ("**/*.py", re.compile(r"""\b_\(\s*"([^"]+)"\s*\)""")),
}


def _msgids_in_sources() -> set[str]:
    found: set[str] = set()
    for pattern, regex in _SOURCES.values():
        for path in APP.glob(pattern):
            if "tests" in path.parts or "migrations" in path.parts:
                continue
            for m in regex.finditer(path.read_text(encoding="utf-8")):
                found.add(next(g for g in m.groups() if g))
    return found


def test_catalogue_is_complete_and_compiled():
    header, entries = parse_po(PO)
    assert "Language: en" in header.msgstr[0]
    untranslated = [e.msgid for e in entries if "fuzzy" in e.flags or not all(e.msgstr.values())]
    assert not untranslated
    with MO.open("rb") as fh:
        mo = gettext.GNUTranslations(fh)
    for e in entries:
        if e.msgid_plural is None:
            assert mo.gettext(e.msgid) == e.msgstr[0], e.msgid
    missing = _msgids_in_sources() - {e.msgid for e in entries}
    assert not missing, f"run makemessages -l en in src/shebao/law and translate: {sorted(missing)}"
