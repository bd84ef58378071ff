"""Policy pages: who may and who may not, missing values, badges, sources, HTMX verify/correct."""

from __future__ import annotations

import re
from decimal import Decimal

import pytest
from django.urls import reverse

from shebao.audit.models import AuditEvent
from shebao.policy.models import EntityPolicySetting, PolicyFigure

pytestmark = pytest.mark.django_db

HTMX = {"HTTP_HX_REQUEST": "true"}


def fig(insurance: str, field: str, label: str = "2024年度", city: str = "北京") -> PolicyFigure:
    return PolicyFigure.objects.get(
        period__city__short_name=city, period__label=label, insurance=insurance, field=field
    )


@pytest.fixture
def urls(org):
    f = fig("pension", "base_min")
    return {
        "list": reverse("policy:list"),
        "city": reverse("policy:city", args=["110000"]),
        "history": reverse("policy:figure_history", args=[f.pk]),
        "entity": reverse("policy:entity", args=[org["bj"].pk]),
        "edit": reverse("policy:figure_edit", args=[f.pk]),
        "cell": reverse("policy:figure", args=[f.pk]),
        "verify": reverse("policy:figure_verify", args=[f.pk]),
        "correct": reverse("policy:figure_correct", args=[f.pk]),
    }


def test_urls():
    assert reverse("policy:list") == "/policy/"
    assert reverse("policy:city", args=["440300"]) == "/policy/440300/"
    assert reverse("policy:figure_history", args=[7]) == "/policy/figure/7/history/"
    assert reverse("policy:entity", args=[3]) == "/policy/entity/3/"


def test_anonymous_is_sent_to_login(client, urls):
    for name, url in urls.items():
        response = client.post(url) if name in ("verify", "correct") else client.get(url)
        assert response.status_code == 302 and response.url.startswith("/login/"), name


def test_employee_role_is_refused_everything(login, staff_employee, urls):
    client = login(staff_employee)
    for name, url in urls.items():
        response = client.post(url, {}) if name in ("verify", "correct") else client.get(url, **HTMX)
        assert response.status_code == 403, name


@pytest.mark.parametrize("who", ["clerk", "manager", "auditor"])
def test_staff_read_but_do_not_edit(request, login, urls, who):
    client = login(request.getfixturevalue(who))
    for name in ("list", "city", "history", "entity"):
        assert client.get(urls[name]).status_code == 200, name
    assert client.get(urls["cell"], **HTMX).status_code == 200
    city = client.get(urls["city"]).content.decode()
    assert "核验/更正" not in city and 'data-testid="edit-' not in city
    assert client.get(urls["edit"]).status_code == 403
    assert client.post(urls["verify"], {"verified_against": "x"}).status_code == 403
    assert client.post(urls["correct"], {"value": "1", "reason": "x"}).status_code == 403
    assert client.post(urls["entity"], {"work_injury_rate": "0.4"}).status_code == 403
    assert "setting-form" not in client.get(urls["entity"]).content.decode()
    assert not AuditEvent.objects.filter(action__startswith="policy_figure").exists()
    assert not EntityPolicySetting.objects.exists()


def test_admin_sees_edit_controls(login, admin, urls):
    client = login(admin)
    html = client.get(urls["city"]).content.decode()
    assert "核验/更正" in html
    assert client.get(urls["edit"]).status_code == 200
    assert "setting-form" in client.get(urls["entity"]).content.decode()


def test_nav_has_policy_library(login, admin):
    html = login(admin).get("/").content.decode()
    assert 'href="/policy/"' in html and "政策库" in html


def test_city_page_shows_values_badges_sources_and_gaps(login, auditor):
    html = login(auditor).get(reverse("policy:city", args=["110000"])).content.decode()
    cell = _cell(html, fig("pension", "base_min"))
    assert "6821" in cell
    assert 'data-confidence="secondary_with_official_url">有官方出处的二手数据<' in cell
    assert (
        '<a href="https://rsj.beijing.gov.cn/xxgk/2024zcwj/202407/t20240731_3763677.html" '
        'target="_blank" rel="noopener noreferrer">'
    ) in cell
    rate = _cell(html, fig("pension", "employer_rate"))
    assert "16%" in rate and ">无出处<" in rate
    assert "9.8%" in _cell(html, fig("medical", "employer_rate"))
    missing = _cell(html, fig("work_injury", "employer_rate"))
    assert "未收录" in missing and "0%" not in missing and "badge" not in missing
    assert "舍入规则未收录，按四舍五入到分计算" in html
    assert "以下为未采用的候选数据，仅供核对，不参与计算" in html
    assert "缴费截止日" in html and "增减员截止日" in html and "上年度社平工资" in html
    assert "11761" in html


def _cell(html: str, figure: PolicyFigure) -> str:
    """The cell of one figure: from its <div> to the end of its table cell or <dd>."""
    match = re.search(rf'<div class="fig" id="fig-{figure.pk}".*?</(?:td|dd)>', html, re.S)
    assert match, figure
    return match.group(0)


def test_missing_values_never_show_as_zero(login, auditor):
    html = login(auditor).get(reverse("policy:city", args=["440300"])).content.decode()
    for label in ("2024年度", "2025年度"):
        cell = _cell(html, fig("medical", "employer_rate", label, "深圳"))
        assert "未收录" in cell and ">0<" not in cell and "0%" not in cell


def test_disputed_and_merged_badges(login, auditor):
    html = login(auditor).get(reverse("policy:city", args=["310000"])).content.decode()
    assert ">存在争议<" in _cell(html, fig("pension", "base_min", "2025年度", "上海"))
    assert "并入" in html and "医疗保险" in _cell(html, fig("maternity", "merged_into", "2024年度", "上海"))
    assert "城市规则" in html and "沪医保规〔2025〕7号" in html


def test_city_without_data(login, auditor):
    client = login(auditor)
    html = client.get(reverse("policy:city", args=["330100"])).content.decode()
    assert "暂无收录的政策数据" in html
    assert "以下为未采用的候选数据，仅供核对，不参与计算（2）" in html
    html = client.get(reverse("policy:city", args=["130100"])).content.decode()  # 石家庄: nothing at all
    assert "暂无收录的政策数据" in html and "候选数据" not in html
    assert client.get("/policy/999999/").status_code == 404
    assert client.get(reverse("policy:figure_history", args=[999999])).status_code == 404


def test_city_list_and_search(login, auditor):
    client = login(auditor)
    html = client.get(reverse("policy:list")).content.decode()
    assert html.index("北京市") < html.index("杭州市")  # cities with periods first
    assert "全国性规则" in html and "8%" in html
    assert "北京示例科技有限公司" in html
    found = client.get(reverse("policy:list"), {"q": "杭州"}, **HTMX).content.decode()
    assert "330100" in found and "暂无收录的政策数据" in found and "<html" not in found
    found = client.get(reverse("policy:list"), {"q": "石家庄"}).content.decode()
    assert "130100" in found and "暂无收录的政策数据" in found
    found = client.get(reverse("policy:list"), {"q": "北京"}).content.decode()
    assert "2 个政策期间" in found
    assert "没有找到城市" in client.get(reverse("policy:list"), {"q": "Gotham"}).content.decode()


def test_htmx_verify_returns_the_cell(login, admin, urls):
    client = login(admin)
    form = client.get(urls["edit"], **HTMX).content.decode()
    assert "记录核验" in form and "更正数值" in form and "<html" not in form
    response = client.post(
        urls["verify"], {"verified_against": "京人社发〔2024〕", "official_text_checked": "on"}, **HTMX
    )
    html = response.content.decode()
    assert response.status_code == 200 and "已核验" in html and ">官方原文<" in html
    figure = fig("pension", "base_min")
    assert figure.verified_by == admin and figure.confidence == "official_text"


def test_verify_errors_come_back_on_the_form(login, admin, urls):
    html = login(admin).post(urls["verify"], {"verified_against": ""}, **HTMX).content.decode()
    assert "这个字段是必填项" in html or "必填" in html
    assert fig("pension", "base_min").verified_at is None


def test_correct_with_percent_input(login, admin):
    client = login(admin)
    figure = fig("medical", "employer_rate")
    url = reverse("policy:figure_correct", args=[figure.pk])
    response = client.post(
        url,
        {"value": "9", "confidence": "official_text", "source_text": "京医保发〔2024〕1号", "reason": "核对"},
    )
    assert response.status_code == 302 and response.url.endswith(f"#fig-{figure.pk}")
    figure.refresh_from_db()
    assert figure.value == Decimal("0.09")
    html = client.get(reverse("policy:figure_history", args=[figure.pk])).content.decode()
    assert "9.8" in html and "0.09" in html and "核对" in html and "更正" in html


def test_correct_errors_come_back_on_the_form(login, admin):
    client = login(admin)
    base = fig("pension", "base_min")
    html = client.post(
        reverse("policy:figure_correct", args=[base.pk]),
        {"value": "99999", "confidence": "official_text", "source_text": "x", "reason": "y"},
        **HTMX,
    ).content.decode()
    assert "不能高于同一期间同一险种的基数上限" in html
    rate = fig("pension", "employer_rate")
    html = client.post(
        reverse("policy:figure_correct", args=[rate.pk]),
        {"value": "160", "confidence": "official_text", "source_text": "x", "reason": "y"},
        **HTMX,
    ).content.decode()
    assert "费率应在0%到100%之间" in html
    assert fig("pension", "base_min").value == Decimal("6821")


def test_history_page(login, admin, auditor):
    figure = fig("pension", "base_min")
    login(admin).post(
        reverse("policy:figure_verify", args=[figure.pk]), {"verified_against": "https://x.gov.cn/a"}
    )
    html = login(auditor).get(reverse("policy:figure_history", args=[figure.pk])).content.decode()
    assert "核验" in html and "admin" in html and "https://x.gov.cn/a" in html


def test_entity_page_scope_and_edit(login, org, clerk, admin):
    client = login(clerk)  # HR specialist for Beijing only
    assert client.get(reverse("policy:entity", args=[org["sz"].pk])).status_code == 404
    html = client.get(reverse("policy:entity", args=[org["bj"].pk])).content.decode()
    assert "北京市" in html and "工伤保险单位费率" in html and "未设置" in html
    admin_client = login(admin)
    url = reverse("policy:entity", args=[org["bj"].pk])
    html = admin_client.post(url, {"housing_fund_employer_rate": "4"}).content.decode()
    assert "住房公积金管理条例第十八条" in html
    response = admin_client.post(
        url,
        {
            "industry_class": "一类",
            "work_injury_rate": "0.2",
            "housing_fund_employer_rate": "13",
            "housing_fund_employee_rate": "12",
            "confirm_above_cap": "on",
            "basis": "核定通知",
        },
    )
    assert response.status_code == 302
    setting = EntityPolicySetting.objects.get(entity=org["bj"])
    assert setting.work_injury_rate == Decimal("0.002")
    assert setting.housing_fund_employer_rate == Decimal("0.13")
    html = client.get(url, {"month": "2025-08"}).content.decode()
    assert "0.2%" in html and "一类" in html and "本单位设置" in html
    assert "2025年度" in html and '12% <span class="muted small">无出处</span>' in html  # the city's rate
    assert "12%是常见的上限口径" in html  # the warning stays on the page
