"""Law pages: any signed-in user reads the law; search with HTMX; article and statute pages."""

from __future__ import annotations

import pytest
from django.urls import reverse

pytestmark = pytest.mark.usefixtures("library")

HTMX = {"HTTP_HX_REQUEST": "true"}
ROLES = ["admin", "clerk", "manager", "auditor", "staff_employee"]


def test_urls():
    assert reverse("law:index") == "/law/"
    assert reverse("law:article", args=["SIL-86"]) == "/law/SIL-86/"
    assert reverse("law:statute", args=["SPC-LD1"]) == "/law/statute/SPC-LD1/"


@pytest.mark.parametrize("url", ["/law/", "/law/?q=滞纳金", "/law/SIL-86/", "/law/statute/SIL/"])
def test_anonymous_is_sent_to_login(client, url):
    response = client.get(url)
    assert response.status_code == 302
    assert response.url.startswith("/login/?next=")


def test_anonymous_htmx_search_redirects_the_whole_page(client):
    response = client.get("/law/?q=滞纳金", **HTMX)
    assert response.status_code == 200
    assert response["HX-Redirect"].startswith("/login/")


@pytest.mark.parametrize("role", ROLES)
def test_every_role_may_read_the_law(request, login, role):
    client = login(request.getfixturevalue(role))
    for url in ("/law/", "/law/?q=滞纳金", "/law/SIL-86/", "/law/statute/SIL/", "/law/SPC-LD2-19/"):
        response = client.get(url)
        assert response.status_code == 200, (role, url)


@pytest.mark.parametrize(
    "role,in_nav", [("admin", True), ("manager", True), ("auditor", True), ("staff_employee", False)]
)
def test_navigation_entry_for_staff(request, login, role, in_nav):
    html = login(request.getfixturevalue(role)).get("/law/").content.decode()
    nav = html.split('class="mainnav"', 1)[1].split("</nav>", 1)[0]
    assert ("法规库" in nav) is in_nav
    if in_nav:
        assert 'class="active">法规库</a>' in nav


def test_index_lists_statutes_with_counts(admin, login):
    response = login(admin).get("/law/")
    html = response.content.decode()
    assert "《中华人民共和国社会保险法》" in html
    assert 'href="/law/statute/SIL/"' in html
    assert "<td>26</td>" in html
    assert 'data-testid="law-results"' not in html  # no query, no results box
    assert 'hx-get="/law/"' in html


def test_search_highlights_matches(admin, login):
    response = login(admin).get("/law/", {"q": "滞纳金"})
    html = response.content.decode()
    assert 'href="/law/SIL-86/"' in html
    assert "<mark>滞纳金</mark>" in html
    assert 'value="滞纳金"' in html
    assert "<html" in html  # a full page without HTMX


def test_htmx_search_returns_the_results_fragment(admin, login):
    response = login(admin).get("/law/", {"q": "经济补偿"}, **HTMX)
    html = response.content.decode()
    assert "<html" not in html and "mainnav" not in html
    assert 'data-citation="LCL-47"' in html
    assert "<mark>经济补偿</mark>" in html
    assert "HX-Request" in response["Vary"]


def test_search_by_citation_id(admin, login):
    html = login(admin).get("/law/", {"q": "ldmal-27"}, **HTMX).content.decode()
    assert 'data-citation="LDMAL-27"' in html and "编号匹配" in html


def test_search_without_results_and_escaping(admin, login):
    html = login(admin).get("/law/", {"q": "<script>alert(1)</script>"}, **HTMX).content.decode()
    assert "<script>alert" not in html
    assert "&lt;script&gt;" in html
    assert 'data-testid="law-empty"' in html


def test_search_highlight_is_escaped_around_marks(admin, login):
    html = login(admin).get("/law/", {"q": "滞纳金 <b>"}, **HTMX).content.decode()
    assert "<b>" not in html


def test_article_page(admin, login):
    response = login(admin).get("/law/SIL-86/")
    html = response.content.decode()
    assert "《中华人民共和国社会保险法》第八十六条" in html
    assert "<p>用人单位未按时足额缴纳社会保险费的，由社会保险费征收机构责令限期缴纳或者补足" in html
    assert 'data-testid="law-citation">《中华人民共和国社会保险法》第八十六条</code>' in html
    assert "2018-12-29 第十三届全国人大常委会第七次会议修正" in html
    assert "<code>LawRefBook/Laws</code>" in html  # the source line's markup rendered
    assert 'data-testid="law-confidence">官方原文</span>' in html
    assert 'rel="prev" href="/law/SIL-84/"' in html
    assert 'rel="next" href="/law/SIL-92/"' in html


def test_article_paragraphs_are_kept(admin, login):
    html = login(admin).get("/law/LCL-47/").content.decode()
    text = html.split('data-testid="law-text"', 1)[1].split("</div>", 1)[0]
    assert text.count("<p>") == 3


@pytest.mark.parametrize(
    "cid,badge",
    [
        ("SIL-IMPL-20", "官方原文（二手转录，官方页面未核实）"),
        ("SPC-LD2-19", "官方原文（二手转录，官方页面未核实）"),
        ("ESL-8", "官方原文（按来源推定）"),
    ],
)
def test_confidence_badges(admin, login, cid, badge):
    html = login(admin).get(f"/law/{cid}/").content.decode()
    assert f">{badge}</span>" in html


@pytest.mark.parametrize("ref", ["sil-86", "SIL86", "社会保险法第86条"])
def test_other_spellings_redirect_to_the_canonical_page(admin, login, ref):
    response = login(admin).get(f"/law/{ref}/")
    assert response.status_code == 302 and response.url == "/law/SIL-86/"


def test_unknown_article_and_statute_are_404(admin, login):
    client = login(admin)
    assert client.get("/law/SIL-85/").status_code == 404
    assert client.get("/law/statute/NOPE/").status_code == 404


def test_statute_page_lists_its_articles(admin, login):
    client = login(admin)
    html = client.get("/law/statute/LCL/").content.decode()
    for cid in ("LCL-38", "LCL-46", "LCL-47", "LCL-50"):
        assert f'id="{cid}"' in html and f'href="/law/{cid}/"' in html
    assert "本库收录该法规中产品引用的 4 条条文" in html
    assert client.get("/law/statute/lcl/").url == "/law/statute/LCL/"


def test_post_is_not_allowed(admin, login):
    assert login(admin).post("/law/").status_code == 405


def test_english_ui(admin, login):
    client = login(admin)
    client.post("/i18n/setlang/", {"language": "en", "next": "/law/"})
    html = client.get("/law/SIL-86/").content.decode()
    assert "Law library" in html and "Copy citation:" in html
    assert "用人单位未按时足额缴纳社会保险费的" in html  # the law itself is never translated
