"""docs/citations.md is generated from the library and must not drift from it."""

from __future__ import annotations

from pathlib import Path

import pytest

from shebao.law.docs import citations_markdown
from shebao.law.selectors import citation_ids

DOC = Path(__file__).resolve().parents[4] / "docs" / "citations.md"

pytestmark = pytest.mark.usefixtures("library")


def test_doc_lists_every_citation_id():
    text = DOC.read_text(encoding="utf-8")
    ids = citation_ids()
    assert len(ids) == 107
    missing = [cid for cid in ids if f"| `{cid}` |" not in text]
    assert not missing, f"docs/citations.md lacks {missing}: run `shebao law doc --output docs/citations.md`"


def test_doc_is_up_to_date():
    assert DOC.read_text(encoding="utf-8") == citations_markdown(), (
        "docs/citations.md is stale: run `shebao law doc --output docs/citations.md`"
    )


def test_doc_shows_the_start_of_each_text():
    text = DOC.read_text(encoding="utf-8")
    assert (
        "| `SIL-86` | 社会保险法 | 第八十六条 | 86 | 用人单位未按时足额缴纳社会保险费的，由社会保险费征收机构责令… |"
        in text
    )
