"""The calculators through `shebao calc`, the API and the shared input layer give the same answers."""

from __future__ import annotations

import json
from io import StringIO

import pytest
from django.core.management import CommandError, call_command

from shebao.accounts.services import api_token_create

pytestmark = pytest.mark.django_db


def cli(*args: str) -> dict:
    out = StringIO()
    call_command("calc", *args, "--json", stdout=out)
    return json.loads(out.getvalue())


@pytest.fixture
def api(client, admin, system):
    _, secret = api_token_create(actor=system, user=admin, name="calc", scope="read")

    def get(path: str, **params):
        return client.get(f"/api/v1/calc/{path}", params, HTTP_AUTHORIZATION=f"Bearer {secret}")

    return get


def test_late_fee_worked_example_everywhere(api):
    data = cli("late-fee", "--amount", "1000", "--due", "2025-01-15", "--paid", "2025-04-25")
    assert (data["days"], data["fee"], data["citations"]) == (100, "50.00", ["SIL-86"])
    assert api("late-fee", amount="1000", due="2025-01-15", paid="2025-04-25").json() == data


def test_contribution_clamps_to_the_city_period(api):
    low = cli("contribution", "--city", "北京", "--month", "2025-03", "--base", "5000")
    assert low["period_label"] == "2024年度"
    pension = next(ln for ln in low["lines"] if ln["insurance"] == "pension")
    assert (pension["base"], pension["clamped"], pension["employer_amount"], pension["employee_amount"]) == (
        "6821.00",
        "min",
        "1091.36",
        "545.68",
    )
    assert pension["employer_rate"]["confidence"] == "secondary_no_official_url"
    high = cli("contribution", "--city", "110000", "--month", "202508", "--base", "50000")
    assert high["period_label"] == "2025年度"
    assert next(ln for ln in high["lines"] if ln["insurance"] == "pension")["base"] == "35811.00"
    injury = next(ln for ln in high["lines"] if ln["insurance"] == "work_injury")
    assert injury["employer_amount"] is None and not high["complete"]  # missing stays missing, never 0
    assert api("contribution", city="北京", month="2025-03", base="5000").json() == low


def test_contribution_uses_entity_overrides(org, system):
    from shebao.policy.services import entity_policy_setting_update

    entity_policy_setting_update(
        actor=system,
        entity=org["bj"],
        industry_class="一类",
        work_injury_rate="0.002",
        housing_fund_employer_rate="0.10",
        housing_fund_employee_rate="0.10",
    )
    data = cli("contribution", "--entity", "BJ01", "--month", "2025-03", "--base", "10000")
    injury = next(ln for ln in data["lines"] if ln["insurance"] == "work_injury")
    fund = next(ln for ln in data["lines"] if ln["insurance"] == "housing_fund")
    assert (injury["employer_amount"], fund["employer_amount"], fund["employee_amount"]) == (
        "20.00",
        "1000.00",
        "1000.00",
    )


def test_backpay_and_compensation(api):
    data = cli(
        "backpay",
        "--city",
        "北京",
        "--from",
        "2025-01",
        "--to",
        "2025-02",
        "--base",
        "10000",
        "--paid",
        "2025-04-25",
        "--due-day",
        "15",
    )
    assert [m["month"] for m in data["months"]] == ["2025-01", "2025-02"]
    assert data["months"][0]["due"] == "2025-01-15" and data["months"][0]["days_late"] == 100
    assert "SIL-86" in data["citations"] and "SIL-84" in data["citations"]
    assert (
        api(
            "backpay",
            city="北京",
            start="2025-01",
            end="2025-02",
            base="10000",
            paid="2025-04-25",
            due_day="15",
        ).json()
        == data
    )
    comp = cli(
        "compensation",
        "--hired",
        "2019-03-01",
        "--left",
        "2025-09-10",
        "--monthly-wage",
        "20000",
        "--city",
        "北京",
    )
    assert (comp["months"], comp["amount"], comp["capped"], comp["citations"]) == (
        "7",
        "140000.00",
        False,
        ["LCL-47"],
    )
    assert comp["cap_checked"] is True


@pytest.mark.parametrize(
    "args,message",
    [
        (["contribution", "--city", "火星", "--month", "2025-03", "--base", "1"], "未知城市“火星”"),
        (
            ["contribution", "--city", "北京", "--month", "2019-03", "--base", "1000"],
            "没有覆盖2019年03月01日的政策期间",
        ),
        (["contribution", "--city", "北京", "--month", "2025-13", "--base", "1000"], "费款所属期"),
        (["contribution", "--city", "北京", "--month", "2025-03", "--base", "-5"], "缴费基数必须大于0"),
        (["late-fee", "--amount", "-1", "--due", "2025-01-15", "--paid", "2025-04-25"], "欠缴金额必须大于0"),
        (
            ["late-fee", "--amount", "100", "--due", "2025-04-25", "--paid", "2025-01-15"],
            "缴纳日期早于应缴日期",
        ),
        (
            ["late-fee", "--amount", "100", "--due", "2025-02-30", "--paid", "2025-04-25"],
            "应缴日期“2025-02-30”不是有效日期",
        ),
        (
            [
                "backpay",
                "--city",
                "北京",
                "--from",
                "2025-01",
                "--to",
                "2025-02",
                "--base",
                "10000",
                "--paid",
                "2025-04-25",
            ],
            "缴费截止日未收录",
        ),
    ],
)
def test_bad_input_is_a_specific_error(args, message):
    with pytest.raises(CommandError, match=message):
        cli(*args)


def test_api_bad_input_is_422_with_field(api):
    response = api("late-fee", amount="100", due="2025-04-25", paid="2025-01-15")
    assert response.status_code == 422
    body = response.json()
    assert "缴纳日期早于应缴日期" in body["detail"] and body["errors"][0]["field"] == "paid"


def test_api_needs_a_token(client):
    assert (
        client.get(
            "/api/v1/calc/late-fee", {"amount": "1", "due": "2025-01-01", "paid": "2025-01-02"}
        ).status_code
        == 401
    )


def test_policy_api(client, admin, system):
    _, secret = api_token_create(actor=system, user=admin, name="policy", scope="read")
    auth = {"HTTP_AUTHORIZATION": f"Bearer {secret}"}
    cities = client.get("/api/v1/policy/cities", **auth).json()
    assert {"110000", "310000", "440300"} <= {c["city_code"] for c in cities}
    bj = client.get("/api/v1/policy/cities/北京", **auth).json()
    period = next(p for p in bj["periods"] if p["label"] == "2024年度")
    base_min = next(f for f in period["figures"] if f["insurance"] == "pension" and f["field"] == "base_min")
    assert (base_min["value"], base_min["confidence"]) == ("6821", "secondary_with_official_url")
    injury = next(
        f for f in period["figures"] if f["insurance"] == "work_injury" and f["field"] == "employer_rate"
    )
    assert injury["value"] is None  # missing stays missing
    missing = client.get("/api/v1/policy/cities/火星", **auth)
    assert missing.status_code == 404 and "未知城市" in missing.json()["detail"]
