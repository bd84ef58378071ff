"""The seed story in a real browser, on phone-sized screens: HR opens a case from a
``medical_interrupted`` finding, issues the notice letter and sends it; the employee gets the SMS
(in the local SMS sink), opens the link, confirms their identity with the code from the next SMS,
acknowledges; the case moves on by itself and its timeline shows all of it; HR records the
back payment with the receipt and the case closes."""

from __future__ import annotations

import re

import pytest
from django.urls import reverse

from shebao.cases.models import Acknowledgement, Case, Letter
from shebao.cases.testing.factories import gap_start, medical_finding
from shebao.conftest import PASSWORD

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]
expect = pytest.importorskip("playwright.sync_api").expect

PHONE = "13912345678"
IPHONE = (
    "Mozilla/5.0 (iPhone; CPU iPhone OS 17_5 like Mac OS X) AppleWebKit/605.1.15 "
    "(KHTML, like Gecko) Version/17.5 Mobile/15E148 Safari/604.1"
)


def _phone(browser):
    context = browser.new_context(
        locale="zh-CN",
        viewport={"width": 390, "height": 844},
        is_mobile=True,
        has_touch=True,
        user_agent=IPHONE,
    )
    return context, context.new_page()


def _shot(page, path) -> None:
    size = page.viewport_size
    height = page.evaluate("document.documentElement.scrollHeight")
    page.set_viewport_size({"width": size["width"], "height": max(height, size["height"])})
    page.evaluate("window.scrollTo(0, 0)")
    page.screenshot(path=str(path))
    page.set_viewport_size(size)


def test_the_seed_story_on_a_phone(
    live_server, browser, screenshot_dir, admin, org, make_employee, sms_sink, settings
):
    settings.SHEBAO_BASE_URL = live_server.url  # the links in the texts point at this server
    finding = medical_finding(org, make_employee, name="孙丽", phone=PHONE)

    # --- HR, on a phone ------------------------------------------------------------------------
    hr_context, page = _phone(browser)
    page.goto(f"{live_server.url}/login/")
    page.fill("input[name=username]", admin.username)
    page.fill("input[name=password]", PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_url(re.compile(r"/(dashboard/?)?$"))
    page.goto(f"{live_server.url}{reverse('rules:finding', args=[finding.pk])}")
    expect(page.get_by_test_id("finding-title")).to_contain_text("孙丽")
    page.get_by_test_id("case-open").click()
    page.wait_for_url(re.compile(r"/cases/\d+/$"))
    case = Case.objects.get(finding=finding)
    expect(page.get_by_test_id("current-step")).to_contain_text("发出医保中断告知函")
    _shot(page, screenshot_dir / "story-1-case-opened.png")

    page.get_by_test_id("letter-issue").click()
    expect(page.get_by_test_id("letter-status")).to_contain_text("已生成")
    letter = Letter.objects.get(case=case)
    assert gap_start() in letter.html
    page.get_by_test_id("letter-send").click()
    expect(page.get_by_test_id("current-step")).to_contain_text("等待员工确认")
    _shot(page, screenshot_dir / "story-2-letter-sent.png")

    # --- the employee's phone: the SMS with the link ---------------------------------------------
    notice = sms_sink.wait_for(PHONE)
    link = notice["params"]["link"]
    assert link.startswith(f"{live_server.url}/a/s/") and letter.title in notice["text"]
    employee_context, phone = _phone(browser)
    phone.goto(link)
    expect(phone.get_by_test_id("company")).to_contain_text(case.entity.name)
    expect(phone.get_by_test_id("letter-body")).to_have_count(0)  # nothing personal before identity
    _shot(phone, screenshot_dir / "story-3-employee-link.png")
    phone.get_by_test_id("send-code").click()
    code = sms_sink.code(PHONE, after=notice["name"])
    phone.fill("[data-testid=code]", code)
    phone.get_by_test_id("verify").click()
    expect(phone.get_by_test_id("letter-body")).to_contain_text("职工基本医疗保险")
    expect(phone.get_by_test_id("sha256")).to_contain_text(letter.sha256)
    _shot(phone, screenshot_dir / "story-4-employee-letter.png")
    phone.get_by_test_id("decision-acknowledged").check()
    phone.get_by_test_id("submit-answer").click()
    expect(phone.get_by_test_id("done")).to_be_visible()
    expect(phone.get_by_test_id("decision")).to_contain_text("确认收到")
    _shot(phone, screenshot_dir / "story-5-employee-done.png")
    employee_context.close()

    ack = Acknowledgement.objects.get(letter=letter)
    assert (ack.method, ack.document_sha256, ack.user_agent) == ("sms_otp", letter.sha256, IPHONE)

    # --- HR sees it on the case ------------------------------------------------------------------
    page.reload()
    expect(page.get_by_test_id("current-step")).to_contain_text("记录补缴结果")
    timeline = page.get_by_test_id("case-timeline")
    for text in (
        "立案",
        "生成函件",
        "发送函件",
        "员工打开函件",
        "员工身份确认",
        "员工确认收到",
        "短信验证码",
    ):
        expect(timeline).to_contain_text(text)
    expect(timeline).to_contain_text(letter.sha256)
    _shot(page, screenshot_dir / "story-6-case-timeline.png")

    # --- the employee paid: HR records it with the receipt and the case closes -------------------
    form = page.get_by_test_id("advance-form")
    form.locator("textarea[name=note]").fill("员工已于本月补缴中断月份的医保，已核对缴费凭证")
    form.locator("input[type=file][name=file]").set_input_files(
        files=[{"name": "缴费凭证.pdf", "mimeType": "application/pdf", "buffer": b"%PDF-1.4\n%receipt\n"}]
    )
    page.get_by_test_id("choice-paid").click()
    expect(page.get_by_test_id("case-status")).to_contain_text("已结案")
    expect(page.get_by_test_id("case-timeline")).to_contain_text("结案")
    expect(page.get_by_test_id("case-attachments")).to_contain_text("缴费凭证.pdf")
    _shot(page, screenshot_dir / "story-7-case-closed.png")
    hr_context.close()
    case.refresh_from_db()
    assert case.status == Case.Status.CLOSED and case.outcome == "已补缴"
    kinds = list(case.events.values_list("kind", flat=True))
    assert kinds[-3:] == ["attachment", "step_done", "closed"]
