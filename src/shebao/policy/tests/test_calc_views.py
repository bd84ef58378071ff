from __future__ import annotations

import pytest

pytestmark = pytest.mark.django_db


def test_calculator_pages_need_a_staff_role(client, login, admin, auditor, staff_employee):
    assert client.get("/calc/").status_code == 302
    assert login(staff_employee).get("/calc/late-fee/").status_code == 403
    for user in (admin, auditor):
        page = login(user).get("/calc/")
        assert page.status_code == 200 and "月度缴费" in page.content.decode()
    assert login(admin).get("/calc/nonsense/").status_code == 404


def test_late_fee_partial_with_citation(login, admin):
    response = login(admin).get(
        "/calc/late-fee/",
        {"run": "1", "amount": "1000", "due": "2025-01-15", "paid": "2025-04-25"},
        HTTP_HX_REQUEST="true",
    )
    html = response.content.decode()
    assert "<html" not in html and 'data-testid="late-fee">50.00<' in html
    assert "/law/SIL-86/" in html


def test_contribution_page_shows_missing_and_confidence(login, admin):
    html = (
        login(admin)
        .get("/calc/contribution/", {"run": "1", "city": "北京", "month": "2025-03", "base": "5000"})
        .content.decode()
    )
    assert "6821.00" in html and "按下限" in html
    assert "未收录" in html and "无出处" in html
    assert 'data-testid="employer-total"' in html


def test_errors_are_shown_in_the_form(login, admin):
    html = (
        login(admin)
        .get("/calc/late-fee/", {"run": "1", "amount": "100", "due": "2025-04-25", "paid": "2025-01-15"})
        .content.decode()
    )
    assert 'data-testid="calc-error"' in html and "缴纳日期早于应缴日期" in html
    assert 'value="2025-04-25"' in html  # the input is kept
