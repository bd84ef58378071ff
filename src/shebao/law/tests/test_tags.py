"""{% cite %} and |cite_link for the other rooms; the search filters escape what they mark."""

from __future__ import annotations

import pytest
from django.template import Context, Template

from shebao.law.highlight import highlight, inline_markup, snippet


def render(source: str, **context) -> str:
    return Template("{% load law_tags %}" + source).render(Context(context))


@pytest.mark.usefixtures("library")
class TestCite:
    def test_cite_tag_links_to_the_article(self):
        html = render('{% cite "SIL-86" %}')
        assert html == (
            '<a class="cite" href="/law/SIL-86/" title="《中华人民共和国社会保险法》第八十六条" '
            'data-citation="SIL-86">《社会保险法》第八十六条</a>'
        )

    def test_cite_several_and_variables(self):
        html = render('{% cite "LCL-38" ref %}', ref="spc-ld2-19")
        assert html.count('<a class="cite"') == 2
        assert "、" in html
        assert 'href="/law/SPC-LD2-19/"' in html and "《劳动争议司法解释（二）》第十九条" in html

    def test_cite_link_filter(self):
        html = render("{{ ref|cite_link }}", ref="SIL-IMPL-20")
        assert 'href="/law/SIL-IMPL-20/"' in html
        assert "《实施〈社会保险法〉若干规定》第二十条" in html

    @pytest.mark.parametrize("ref", ["SIL-85", "NOPE-1"])
    def test_unknown_id_is_a_visible_marker(self, ref):
        for html in (render("{% cite ref %}", ref=ref), render("{{ ref|cite_link }}", ref=ref)):
            assert f"[未知条文 {ref}]" in html
            assert "cite-unknown" in html and "<a" not in html

    def test_unknown_id_is_escaped(self):
        html = render("{{ ref|cite_link }}", ref='<img src=x onerror="alert(1)">')
        assert "<img" not in html
        assert "&lt;img" in html and "[未知条文 " in html

    def test_empty_id_is_still_visible(self):
        assert "[未知条文 —]" in render("{{ ref|cite_link }}", ref="")


def test_highlight_marks_terms_and_escapes_everything_else():
    html = highlight("<b>滞纳金</b> & 滞纳", ["滞纳金", "滞纳"])
    assert html == "&lt;b&gt;<mark>滞纳金</mark>&lt;/b&gt; &amp; <mark>滞纳</mark>"
    assert highlight("a<b", []) == "a&lt;b"
    assert highlight("SIL Sil", ["sil"]) == "<mark>SIL</mark> <mark>Sil</mark>"
    assert highlight("x", ["<mark>"]) == "x"


def test_snippet_centres_on_the_first_match():
    text = "甲" * 200 + "滞纳金" + "乙" * 200
    cut = snippet(text, ["滞纳金"], width=100)
    assert cut.startswith("…") and cut.endswith("…") and "滞纳金" in cut
    assert len(cut) == 102
    assert snippet("短文本\n\n第二段", ["x"]) == "短文本 第二段"
    assert snippet("丙" * 300, ["无"], width=50) == "丙" * 50 + "…"


def test_inline_markup_renders_code_and_bold_only():
    html = inline_markup("GitHub `LawRefBook/Laws` 文件 **2025-09-01 起施行** <script>")
    assert html == (
        "GitHub <code>LawRefBook/Laws</code> 文件 <strong>2025-09-01 起施行</strong> &lt;script&gt;"
    )
