"""Look-up by citation (however written), suggestions, Chinese full-text search, neighbours."""

from __future__ import annotations

import pytest

from shebao.law import selectors
from shebao.law.models import Article

pytestmark = pytest.mark.usefixtures("library")


@pytest.mark.parametrize(
    "ref,expected",
    [
        ("SIL-86", "SIL-86"),
        ("sil-86", "SIL-86"),
        ("  SIL-86\n", "SIL-86"),
        ("SIL86", "SIL-86"),
        ("sil 86", "SIL-86"),
        ("ＳＩＬ－８６", "SIL-86"),
        ("社会保险法第86条", "SIL-86"),
        ("社会保险法第八十六条", "SIL-86"),
        ("《中华人民共和国社会保险法》第八十六条", "SIL-86"),
        ("SPC-LD1-1", "SPC-LD1-1"),
        ("spc-ld1-1", "SPC-LD1-1"),
        ("SPCLD11", "SPC-LD1-1"),
        ("spc-ld2-19", "SPC-LD2-19"),
        ("SIL-IMPL-20", "SIL-IMPL-20"),
        ("silimpl20", "SIL-IMPL-20"),
        ("《实施〈社会保险法〉若干规定》第二十条", "SIL-IMPL-20"),
        ("劳动争议司法解释（二）第十九条", "SPC-LD2-19"),
        ("劳动合同法第三十八条", "LCL-38"),
        ("sh-msr-15", "SH-MSR-15"),
        ("spc-evid-93", "SPC-EVID-93"),
        ("esl-8", "ESL-8"),
    ],
)
def test_article_get_is_forgiving(ref, expected):
    article = selectors.article_get(ref)
    assert article is not None and article.citation_id == expected


@pytest.mark.parametrize(
    "ref", ["", "   ", "SIL-85", "SIL-IMPL-86", "XYZ-1", "SIL", "社会保险法第八六条", "火星法第一条"]
)
def test_article_get_unknown(ref):
    assert selectors.article_get(ref) is None


def test_suggestions_for_an_unknown_id():
    assert selectors.article_suggestions("SIL-85")[:2] == ["SIL-84", "SIL-86"]
    assert "SIL-86" in selectors.article_suggestions("SLI-86")
    assert selectors.article_suggestions("完全无关") == []


def test_search_chinese_term_finds_the_late_fee_article():
    hits = selectors.article_search("滞纳金")
    ids = [h.article.citation_id for h in hits]
    assert {"SIL-86", "SIFR-13", "WIIR-62", "SIL-IMPL-20"} <= set(ids)
    assert all("滞纳金" in h.article.text for h in hits)
    # Most hits first: SIFR-13 mentions 滞纳金 twice, SIL-86 once.
    assert ids.index("SIFR-13") < ids.index("SIL-86")
    assert hits[0].score >= hits[-1].score


def test_search_requires_every_term_and_matches_statute_titles():
    ids = [h.article.citation_id for h in selectors.article_search("社会保险法 滞纳金")]
    assert ids[0] == "SIL-IMPL-20"  # 滞纳金 twice plus 社会保险法 in its text and title
    assert set(ids) == {"SIL-IMPL-20", "SIL-86", "SIL-IMPL-21"}
    assert selectors.article_search("滞纳金　罚款")  # ideographic space separates terms too
    assert selectors.article_search("滞纳金 不存在的词") == []


def test_search_by_citation_puts_the_article_first():
    hits = selectors.article_search("sil-86")
    assert hits[0].article.citation_id == "SIL-86" and hits[0].exact
    hits = selectors.article_search("社会保险法第五十八条")
    assert hits[0].article.citation_id == "SIL-58" and hits[0].exact
    assert not any(h.exact for h in selectors.article_search("滞纳金"))


def test_search_edge_cases():
    assert selectors.article_search("") == []
    assert selectors.article_search("   ") == []
    assert [h.article.citation_id for h in selectors.article_search("滞纳金", statute="sil")] == ["SIL-86"]
    assert selectors.search_terms("滞纳金 滞纳金  罚款") == ["滞纳金", "罚款"]
    assert len(selectors.search_terms(" ".join(f"词{i}" for i in range(30)))) == selectors.MAX_TERMS


def test_statute_list_counts_articles():
    rows = {s.code: s.article_count for s in selectors.statute_list()}
    assert rows["SIL"] == 26 and rows["LCL"] == 4 and rows["SPC-LD1"] == 1
    assert list(rows)[:3] == ["SIL", "LCL", "SIFR"]


def test_statute_get():
    assert selectors.statute_get("sil").code == "SIL"
    assert selectors.statute_get("spc-ld2").code == "SPC-LD2"
    assert selectors.statute_get("SILIMPL").code == "SIL-IMPL"
    assert selectors.statute_get("nope") is None
    assert selectors.statute_get("") is None


def test_neighbours_stay_within_the_statute():
    sil86 = Article.objects.get(citation_id="SIL-86")
    previous, following = selectors.article_neighbours(sil86)
    assert (previous.citation_id, following.citation_id) == ("SIL-84", "SIL-92")
    first = Article.objects.get(citation_id="LCL-38")
    last = Article.objects.get(citation_id="SIL-97")
    assert selectors.article_neighbours(first)[0] is None
    assert selectors.article_neighbours(last)[1] is None
    assert selectors.article_neighbours(Article.objects.get(citation_id="SPC-LD1-1")) == (None, None)


def test_citation_refs_never_drop_unknown_ids():
    refs = selectors.citation_refs(["SIL-86", "NOPE-1", "lcl-47"])
    assert [(r.citation_id, r.found) for r in refs] == [("SIL-86", True), ("NOPE-1", False), ("LCL-47", True)]
    assert refs[0].label == "《社会保险法》第八十六条"
    assert refs[0].citation == "《中华人民共和国社会保险法》第八十六条"
    assert refs[0].url == "/law/SIL-86/"
    assert refs[1].label == "[未知条文 NOPE-1]"


def test_article_data_shape():
    data = selectors.article_data(selectors.article_get("SIL-86"))
    assert data["citation_id"] == "SIL-86"
    assert data["statute"] == "中华人民共和国社会保险法"
    assert data["article_number"] == 86
    assert data["text"].endswith("一倍以上三倍以下的罚款。")
    assert data["version"].startswith("2010-10-28 通过")
    assert data["source"].startswith("GitHub `LawRefBook/Laws`")
    assert data["confidence"] == "official_text"
