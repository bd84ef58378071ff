"""Notice letters: every shipped letter rendered for a case of its workflow (the facts, the
deadlines and the statutes quoted verbatim from the law library), a missing value handled
gracefully, an issued letter's PDF unchanged after its template is edited, a stored PDF altered
on disk refused — and the staff pages: issue, the letter's page, download, send, withdraw, the
template list, editor and preview, each with who may and who may not."""

from __future__ import annotations

import datetime as dt
import hashlib
import html
import os
import re
import shutil
import subprocess
from decimal import Decimal

import pytest
from django.urls import reverse
from django.utils import timezone
from django.utils.html import escape

from shebao.cases import services
from shebao.cases.models import Case, Letter, LetterTemplate
from shebao.cases.services.letters import shipped_letters
from shebao.core import blobs
from shebao.core.context import Actor
from shebao.law.models import Article

CI = os.environ.get("CI", "").lower() in {"1", "true", "yes"}
UNEXPANDED = re.compile(r"\{\{|\{%|\}\}|%\}")


def _pdftotext(data: bytes, tmp_path) -> str:
    """The text of a PDF (poppler); skipped outside CI when poppler-utils is missing."""
    if not shutil.which("pdftotext"):
        if CI:
            pytest.fail("pdftotext 未安装（poppler-utils）：CI 中不能跳过")
        pytest.skip("未安装 pdftotext（apt-get install poppler-utils）")
    path = tmp_path / f"{hashlib.sha256(data).hexdigest()[:12]}.pdf"
    path.write_bytes(data)
    return subprocess.run(
        ["pdftotext", "-layout", str(path), "-"], capture_output=True, text=True, check=True, timeout=60
    ).stdout


def _squash(text: str) -> str:
    return re.sub(r"\s+", "", text)


def _article(citation: str) -> str:
    return Article.objects.get(citation_id=citation).text


def _quoted(letter_html: str, citation: str) -> None:
    """The article is quoted verbatim (every paragraph, as the law library holds it)."""
    for paragraph in _article(citation).split("\n\n"):
        assert escape(paragraph) in letter_html, (citation, paragraph[:30])


def _clean(letter_html: str) -> None:
    """Nothing left unexpanded, no Python None or empty value markers in the letter."""
    body = letter_html.split("<body>", 1)[1]
    assert not UNEXPANDED.search(body)
    assert "None" not in body and "[]" not in body and "{}" not in body


@pytest.fixture
def hr(admin) -> Actor:
    return Actor(user=admin)


# --- cases of each workflow, at the step that sends the letter ----------------------------------


def onboarding_case(hr, make_employee, **kw) -> Case:
    employee = make_employee(name=kw.pop("name", "李四"), **kw)
    case = services.case_open(actor=hr, employee=employee, template="onboarding")
    return services.case_advance(actor=hr, case=case, choice="blocked", note="原单位尚未办理减员")


def medical_finding(org, make_employee):
    """A medical_interrupted finding made by the rules machinery: medical paid to 2025-05,
    evaluated on 2025-07-01 (two months missed)."""
    from shebao.rules.tests.factories import Book, evaluate, found, months

    book = Book(org["bj"])
    colleague = make_employee(hire_date=dt.date(2020, 1, 1), declared_wage=Decimal("10000"))
    p = book.person(colleague)
    for ins in ("pension", "medical", "housing_fund"):
        book.pay(p, ins, months("2024-07", "2025-06"))
    employee = make_employee(name="王小明", hire_date=dt.date(2024, 7, 1), declared_wage=Decimal("10000"))
    p = book.person(employee)
    for ins in ("pension", "housing_fund"):
        book.pay(p, ins, months("2024-07", "2025-06"))
    book.pay(p, "medical", months("2024-07", "2025-05"))
    evaluate(dt.date(2025, 7, 1), "medical_interrupted")
    (finding,) = found("medical_interrupted", employee=employee)
    return finding


def medical_case(hr, org, make_employee) -> Case:
    return services.case_open(actor=hr, finding=medical_finding(org, make_employee))


def offboarding_case(hr, make_employee) -> Case:
    employee = make_employee(name="赵五", hire_date=dt.date(2023, 5, 1), leave_date=dt.date(2025, 6, 20))
    case = services.case_open(actor=hr, employee=employee, template="offboarding")
    return services.case_advance(
        actor=hr, case=case, choice="done", note="6月22日已办理减员，停保月份 2025-07"
    )


def backpay_result() -> dict:
    """The back-payment calculator's result (``result_data``) for Beijing, 2025-01..03 at 10000."""
    from shebao.policy.calc import result_data, run_backpay

    return result_data(
        run_backpay(
            start="2025-01", end="2025-03", base="10000", paid="2025-06-15", due_day=15, entity="BJ01"
        )
    )


def backpay_case(hr, make_employee) -> Case:
    employee = make_employee(name="钱六")
    case = services.case_open(actor=hr, employee=employee, template="backpay")
    case = services.case_backpay(
        actor=hr, case=case, start="2025-01", end="2025-03", base="10000", paid="2025-06-15", due_day=15
    )
    assert {k: v for k, v in case.data["backpay"].items() if k != "input"} == backpay_result()
    case = services.case_advance(actor=hr, case=case, choice="done")
    return services.case_advance(actor=hr, case=case, choice="approved")


# --- every shipped letter ---------------------------------------------------------------------------


def test_the_shipped_letters_are_installed_and_quote_only_articles_in_the_library(org):
    from shebao.cases.services.letters import LAW_REF

    shipped = shipped_letters()
    assert {i["code"] for i in shipped} == {
        "onboarding_materials",
        "medical_notice",
        "leaving_notice",
        "backpay_notice",
    }
    assert set(LetterTemplate.objects.values_list("code", flat=True)) >= {i["code"] for i in shipped}
    for item in shipped:
        cited = {m.replace("_", "-") for m in LAW_REF.findall(item["body"])}
        assert cited, item["code"]
        known = set(Article.objects.filter(citation_id__in=cited).values_list("citation_id", flat=True))
        assert cited == known, (item["code"], cited - known)


def test_onboarding_letter(hr, make_employee, tmp_path):
    case = onboarding_case(hr, make_employee)
    letter = services.letter_issue(actor=hr, case=case)  # the step's own template
    assert letter.template_code == "onboarding_materials" and letter.template_version == 1
    text = letter.html
    _clean(text)
    employee = case.employee
    respond_by = letter.respond_by
    assert respond_by == timezone.localdate(letter.issued_at) + dt.timedelta(days=7)
    for expected in (
        "社会保险登记告知函",
        employee.name,
        employee.employee_no,
        "2024年3月1日",  # hire date
        letter.number,
        case.number,
        f"{respond_by.year}年{respond_by.month}月{respond_by.day}日",
        "停保（减员）证明",
        "社会保险关系转移凭证",
        "回执",
        case.entity.name,
    ):
        assert expected in text, expected
    _quoted(text, "SIL-58")
    assert "SIL-84" not in text and _article("SIL-84")[:20] not in text  # no fines threatened
    pdf_text = _squash(_pdftotext(services.letter_pdf(letter), tmp_path))
    assert "社会保险登记告知函" in pdf_text and employee.name in pdf_text and "停保（减员）证明" in pdf_text


def test_onboarding_letter_names_the_unit_that_still_holds_the_insurance(hr, make_employee):
    from shebao.rules.models import AlertRule, Finding

    employee = make_employee(name="周七", hire_date=dt.date(2025, 5, 6))
    now = timezone.now()
    finding = Finding.objects.create(  # as enrolled_elsewhere writes it (its reconciliation input is heavy)
        rule=AlertRule.objects.filter(kind="enrolled_elsewhere").first(),
        kind="enrolled_elsewhere",
        key=f"e{employee.pk}:unit9",
        entity=employee.entity,
        employee=employee,
        department=employee.department,
        severity="critical",
        title="周七入职后，前雇主有限公司仍为其参保",
        details={"unit": "前雇主有限公司", "insurances": ["pension", "medical"], "hire_date": "2025-05-06"},
        citations=["SIL-58"],
        deadline=dt.date(2025, 6, 5),
        digest="t",
        first_seen_at=now,
        updated_at=now,
        status_changed_at=now,
    )
    case = services.case_open(actor=hr, finding=finding)
    assert case.template.code == "onboarding"
    case = services.case_advance(actor=hr, case=case, choice="blocked", note="原单位未停保")
    letter = services.letter_issue(actor=hr, case=case)
    _clean(letter.html)
    assert "前雇主有限公司目前仍在为您参加养老保险、医疗保险，尚未办理停保（减员）" in letter.html
    assert "2025年5月6日" in letter.html


def test_medical_letter_from_a_real_finding(hr, org, make_employee, tmp_path):
    case = medical_case(hr, org, make_employee)
    assert case.template.code == "medical_interruption"
    letter = services.letter_issue(actor=hr, case=case)
    assert letter.template_code == "medical_notice"
    text = letter.html
    _clean(text)
    for expected in (
        "职工基本医疗保险中断告知函",
        "王小明",
        "2025-05（缴费单位：北京示例科技有限公司）",  # last covered month and unit
        "2025-06、2025-07",  # the months missed
        "应补缴金额（估算）",
        "约 2360.00 元",  # the finding's estimate
        "以医疗保障经办机构核定为准",
        "2024年7月1日",
        "个人应缴部分由公司代扣代缴",  # the gap began while employed here
    ):
        assert expected in text, expected
    _quoted(text, "SIL-23")
    _quoted(text, "SIL-60")
    assert "上海市医疗保障条例" not in text  # a Beijing employee is not told about Shanghai's rule
    assert "等待期" not in text  # the secondary-source waiting-period claims stay out of the letter
    pdf_text = _squash(_pdftotext(services.letter_pdf(letter), tmp_path))
    assert "职工基本医疗保险中断告知函" in pdf_text and "2360.00" in pdf_text


def test_medical_letter_quotes_the_city_rule_the_finding_cites(hr, org, make_employee):
    case = medical_case(hr, org, make_employee)
    case.finding.citations = [*case.finding.citations, "SH-MSR-15"]
    case.finding.save(update_fields=["citations"])
    letter = services.letter_issue(actor=hr, case=Case.objects.get(pk=case.pk))
    _quoted(letter.html, "SH-MSR-15")


def test_medical_letter_without_a_finding_is_graceful(hr, make_employee):
    employee = make_employee(name="孙八")
    case = services.case_open(actor=hr, employee=employee, template="medical_interruption")
    assert case.finding is None
    letter = services.letter_issue(actor=hr, case=case)
    text = letter.html
    _clean(text)
    assert "孙八" in text and "暂无法估算" in text and "以医疗保障经办机构的记录为准" in text
    assert "约  元" not in text and "（缴费单位：）" not in text
    _quoted(text, "SIL-23")


def test_leaving_letter(hr, make_employee, tmp_path):
    case = offboarding_case(hr, make_employee)
    letter = services.letter_issue(actor=hr, case=case)
    assert letter.template_code == "leaving_notice"
    text = letter.html
    _clean(text)
    for expected in (
        "离职社会保险及住房公积金事项告知书",
        "赵五",
        "2025年6月20日",  # the leaving day
        "公司已为您办理社会保险减员（停保）手续",
        "6月22日已办理减员，停保月份 2025-07",  # what HR recorded at the stop step
        "十五日内",
        "三十日内",
    ):
        assert expected in text, expected
    for citation in ("LCL-50", "SIL-50", "SIL-45", "HFR-15"):
        _quoted(text, citation)
    pdf_text = _squash(_pdftotext(services.letter_pdf(letter), tmp_path))
    assert "离职社会保险及住房公积金事项告知书" in pdf_text and "赵五" in pdf_text


def test_leaving_letter_before_the_stop_is_recorded(hr, make_employee):
    employee = make_employee(name="吴九", leave_date=dt.date(2025, 6, 30))
    case = services.case_open(actor=hr, employee=employee, template="offboarding")
    letter = services.letter_issue(actor=hr, case=case, template="leaving_notice")
    _clean(letter.html)
    assert "公司将在参保地规定的增减员截止日前为您办理" in letter.html
    assert "公司已为您办理" not in letter.html


def test_backpay_letter(hr, make_employee, tmp_path):
    case = backpay_case(hr, make_employee)
    letter = services.letter_issue(actor=hr, case=case)
    assert letter.template_code == "backpay_notice"
    text = letter.html
    _clean(text)
    result = backpay_result()
    months = result["months"]
    assert [m["month"] for m in months] == ["2025-01", "2025-02", "2025-03"]
    for m in months:
        c = m["contribution"]
        row = f'<td>{m["month"]}</td><td class="num">{c["employer_total"]}</td><td class="num">{c["employee_total"]}</td><td class="num">{c["total"]}</td><td class="num">{m["late_fee"]}</td>'
        assert row in text, m["month"]
    employee_total = sum(Decimal(m["contribution"]["employee_total"]) for m in months)
    employer_total = sum(Decimal(m["contribution"]["employer_total"]) for m in months)
    assert f"{employee_total:.2f}元</strong>（估算）" in text
    assert f'<th class="num">{employer_total:.2f}</th>' in text
    assert f'<th class="num">{result["late_fees"]}</th>' in text
    assert f"{employee_total + employer_total:.2f}" in text
    assert "补缴明细（估算）" in text and "滞纳金计算至 2025-06-15" in text
    # the calculator's sources: the figures' origin with its confidence, the missing rate named
    line = months[0]["contribution"]["lines"][0]
    assert escape(line["employer_rate"]["source"]) in text
    assert line["employer_rate"]["confidence_label"] in text
    assert "16%" in text and "8%" in text  # pension rates as percentages
    if not result["complete"]:
        assert result["missing"][0]["label"] in text
    for citation in ("SIL-60", "SIL-86", "SIL-IMPL-20"):
        _quoted(text, citation)
    pdf_text = _squash(_pdftotext(services.letter_pdf(letter), tmp_path))
    assert "社会保险费补缴通知" in pdf_text and f"{employee_total:.2f}" in pdf_text


def test_backpay_letter_before_the_calculation(hr, make_employee):
    employee = make_employee(name="郑十")
    case = services.case_open(actor=hr, employee=employee, template="backpay")
    letter = services.letter_issue(actor=hr, case=case, template="backpay_notice")
    _clean(letter.html)
    assert (
        "补缴金额正在核算中" in letter.html
        and "补缴明细（估算）" not in letter.html
        and "<table" not in letter.html
    )


@pytest.mark.parametrize(
    "code", ["onboarding_materials", "medical_notice", "leaving_notice", "backpay_notice"]
)
def test_every_template_previews_on_sample_values(hr, code):
    template = LetterTemplate.objects.get(code=code)
    out = services.letter_preview(actor=hr, template=template)
    _clean(out)
    assert "张三" in out and "示例科技有限公司" in out
    # the statutes the body quotes are loaded for the sample too
    for citation in re.findall(r"law\.([A-Z_]+_\d+)\.text", template.body):
        if f"law.{citation}" in template.body and citation != "SH_MSR_15":
            assert _article(citation.replace("_", "-")).split("\n\n")[0][:20] in html.unescape(out), citation


# --- the PDF is kept as issued -------------------------------------------------------------------


def test_an_issued_letter_is_unchanged_after_its_template_is_edited(hr, make_employee, tmp_path):
    case = onboarding_case(hr, make_employee)
    first = services.letter_issue(actor=hr, case=case)
    before = services.letter_pdf(first)
    assert hashlib.sha256(before).hexdigest() == first.sha256 and len(before) == first.size
    html_before = first.html

    template = LetterTemplate.objects.get(code="onboarding_materials")
    edited = services.letter_template_update(
        actor=hr,
        template=template,
        title=template.title,
        body=template.body.replace("请根据您的情况", "请按您本人的情况"),
    )
    assert edited.version == template.version + 1 == 2

    again = Letter.objects.get(pk=first.pk)
    assert services.letter_pdf(again) == before
    assert again.sha256 == first.sha256 and again.html == html_before and again.template_version == 1

    second = services.letter_issue(actor=hr, case=case, template="onboarding_materials")
    assert second.template_version == 2
    assert "请按您本人的情况" in second.html and "请按您本人的情况" not in again.html
    assert second.sha256 != first.sha256
    assert hashlib.sha256(services.letter_pdf(second)).hexdigest() == second.sha256
    assert "请按您本人的情况" in _squash(_pdftotext(services.letter_pdf(second), tmp_path))
    assert "请按您本人的情况" not in _squash(_pdftotext(before, tmp_path))


def test_a_letter_altered_on_disk_is_refused(hr, make_employee, login, admin):
    case = onboarding_case(hr, make_employee)
    letter = services.letter_issue(actor=hr, case=case)
    path = blobs.blob_path(letter.sha256)
    original = path.read_bytes()
    os.chmod(path, 0o600)
    try:
        path.write_bytes(
            original.replace(b"/Producer", b"/Producex", 1) if b"/Producer" in original else original + b"%"
        )
        with pytest.raises(blobs.BlobCorrupt):
            services.letter_pdf(letter)
        # the download page says so instead of serving the altered file
        response = login(admin).get(reverse("cases:letter_pdf", args=[letter.pk]), follow=True)
        assert response["Content-Type"].startswith("text/html")
        assert "已被改动" in response.content.decode()
        path.unlink()
        with pytest.raises(blobs.BlobMissing):
            services.letter_pdf(letter)
    finally:
        path.write_bytes(original)
        os.chmod(path, 0o400)
    assert services.letter_pdf(letter) == original


# --- pages: issue, the letter, download, send, withdraw --------------------------------------------


@pytest.fixture
def bj_letter(hr, make_employee) -> Letter:
    """A letter to an employee of 北京 › 研发部 (in the clerk's entity and the manager's department)."""
    return services.letter_issue(actor=hr, case=onboarding_case(hr, make_employee))


@pytest.fixture
def sz_letter(hr, make_employee, org) -> Letter:
    """A letter to an employee of the 深圳 entity (outside the clerk's and the manager's scope)."""
    case = onboarding_case(hr, make_employee, name="深圳员工", entity=org["sz"], department=org["store"])
    return services.letter_issue(actor=hr, case=case)


def test_issue_from_the_case_page(hr, make_employee, login, admin, clerk):
    case = onboarding_case(hr, make_employee)
    url = reverse("cases:letter_issue", args=[case.pk])
    response = login(clerk).post(url, {"template": "onboarding_materials"})
    assert response.status_code == 302 and response["Location"] == reverse("cases:detail", args=[case.pk])
    letter = Letter.objects.get(case=case)
    assert letter.issued_by == clerk and letter.template_code == "onboarding_materials"
    # the message goes with the redirect
    page = login(clerk).get(reverse("cases:letter", args=[letter.pk]))
    assert page.status_code == 200
    response = login(admin).post(url, {"next": reverse("cases:letter", args=[letter.pk])}, follow=True)
    assert "已生成函件" in response.content.decode()
    assert Letter.objects.filter(case=case).count() == 2
    # GET is not allowed
    assert login(admin).get(url).status_code == 405


def test_issue_refused_where_the_step_has_no_letter(hr, make_employee, login, admin):
    employee = make_employee()
    case = services.case_open(actor=hr, employee=employee, template="onboarding")  # step: verify
    response = login(admin).post(reverse("cases:letter_issue", args=[case.pk]), follow=True)
    assert response.status_code == 200
    assert "当前步骤不需要函件" in response.content.decode()
    assert not Letter.objects.filter(case=case).exists()


def test_issue_permissions(hr, make_employee, org, login, manager, auditor, clerk):
    bj = onboarding_case(hr, make_employee)
    sz = onboarding_case(hr, make_employee, name="深圳员工", entity=org["sz"], department=org["store"])
    assert login(manager).post(reverse("cases:letter_issue", args=[bj.pk])).status_code == 403
    assert login(auditor).post(reverse("cases:letter_issue", args=[bj.pk])).status_code == 403
    assert login(clerk).post(reverse("cases:letter_issue", args=[sz.pk])).status_code == 404
    assert not Letter.objects.exists()


def test_the_letter_page(bj_letter, login, admin, manager, auditor, clerk, staff_employee):
    url = reverse("cases:letter", args=[bj_letter.pk])
    response = login(admin).get(url)
    assert response.status_code == 200
    page = response.content.decode()
    for expected in (
        bj_letter.number,
        bj_letter.sha256,
        "onboarding_materials" if bj_letter.template is None else bj_letter.template.name,
        "v1",
        bj_letter.respond_by.isoformat(),
        "尚未发送给员工",
        "员工尚未答复",
        'sandbox=""',
        reverse("cases:letter_pdf", args=[bj_letter.pk]),
        reverse("cases:letter_send", args=[bj_letter.pk]),
        reverse("cases:letter_withdraw", args=[bj_letter.pk]),
    ):
        assert expected in page, expected
    # the document is shown inline, escaped into the frame's srcdoc
    assert escape(bj_letter.case.employee.name) in page and "&lt;h1&gt;社会保险登记告知函&lt;/h1&gt;" in page
    # staff who may see the case read it; only HR acts on it
    for user in (manager, auditor, clerk):
        body = login(user).get(url)
        assert body.status_code == 200, user.username
        assert (reverse("cases:letter_send", args=[bj_letter.pk]) in body.content.decode()) == (user == clerk)
    assert login(staff_employee).get(url).status_code == 403


def test_the_letter_page_out_of_scope(sz_letter, login, manager, clerk, admin):
    url = reverse("cases:letter", args=[sz_letter.pk])
    assert login(manager).get(url).status_code == 404
    assert login(clerk).get(url).status_code == 404
    assert login(admin).get(url).status_code == 200
    assert login(admin).get(reverse("cases:letter", args=[sz_letter.pk + 999])).status_code == 404


def test_download_is_the_stored_pdf(bj_letter, login, admin, manager, auditor):
    stored = services.letter_pdf(bj_letter)
    for user in (admin, manager, auditor):
        response = login(user).get(reverse("cases:letter_pdf", args=[bj_letter.pk]))
        assert response.status_code == 200, user.username
        assert response.content == stored
        assert response["Content-Type"] == "application/pdf"
        assert response["Content-Disposition"] == f"attachment; filename*=UTF-8''{bj_letter.number}.pdf"
        assert hashlib.sha256(response.content).hexdigest() == bj_letter.sha256


def test_download_out_of_scope(sz_letter, login, manager, clerk, staff_employee, client):
    url = reverse("cases:letter_pdf", args=[sz_letter.pk])
    assert login(manager).get(url).status_code == 404  # another entity's employee
    assert login(clerk).get(url).status_code == 404
    assert login(staff_employee).get(url).status_code == 403
    anonymous = client.get(url)
    assert anonymous.status_code == 302 and "/login" in anonymous["Location"]


def test_send_without_a_channel_shows_why(bj_letter, login, clerk):
    response = login(clerk).post(
        reverse("cases:letter_send", args=[bj_letter.pk]), {"valid_days": "14"}, follow=True
    )
    assert response.status_code == 200
    page = response.content.decode()
    assert "无法送达" in page and bj_letter.case.employee.name in page
    bj_letter.refresh_from_db()
    assert bj_letter.status == Letter.Status.ISSUED and bj_letter.sent_at is None


def test_send_checks_the_days(bj_letter, login, clerk):
    response = login(clerk).post(
        reverse("cases:letter_send", args=[bj_letter.pk]), {"valid_days": "61"}, follow=True
    )
    assert "1–60" in response.content.decode()
    bj_letter.refresh_from_db()
    assert bj_letter.sent_at is None


def test_send_and_withdraw(hr, make_employee, login, clerk, manager, email_channel):
    case = onboarding_case(hr, make_employee, email="lisi@example.com")
    letter = services.letter_issue(actor=hr, case=case)
    url = reverse("cases:letter_send", args=[letter.pk])
    assert login(manager).post(url).status_code == 403
    response = login(clerk).post(url, {"valid_days": "10"}, follow=True)
    page = response.content.decode()
    assert "已通过邮件" in page and letter.number in page
    letter.refresh_from_db()
    assert letter.status == Letter.Status.SENT
    (req,) = letter.requests.all()
    assert req.channels == ["email"] and (req.expires_at - req.created_at) == dt.timedelta(days=10)
    detail = login(clerk).get(reverse("cases:letter", args=[letter.pk])).content.decode()
    assert "邮件" in detail and "尚未发送给员工" not in detail and "重新发送" in detail
    # how the message went: the outbox row for this link, its status and (for admins) its log
    deliveries = re.search(r'data-testid="deliveries">(.*?)</td>', detail, re.S).group(1)
    assert "员工邮箱" in deliveries and "li***@example.com" in deliveries and "待发送" in deliveries
    assert "/notify/log/" not in deliveries
    from shebao.notify.models import Notification

    Notification.objects.filter(idempotency_key__startswith=f"ack{req.pk}:").update(
        status="failed", last_error="550 Mailbox unavailable"
    )
    detail = login(hr.user).get(reverse("cases:letter", args=[letter.pk])).content.decode()
    deliveries = re.search(r'data-testid="deliveries">(.*?)</td>', detail, re.S).group(1)
    assert "失败" in deliveries and "550 Mailbox unavailable" in deliveries and "/notify/log/" in deliveries

    withdraw = reverse("cases:letter_withdraw", args=[letter.pk])
    assert login(manager).post(withdraw, {"reason": "x"}).status_code == 403
    response = login(clerk).post(withdraw, {"reason": "  "}, follow=True)
    assert "请填写撤回原因" in response.content.decode()
    response = login(clerk).post(withdraw, {"reason": "地址有误，重新发函"}, follow=True)
    assert "已撤回函件" in response.content.decode()
    letter.refresh_from_db()
    req.refresh_from_db()
    assert letter.status == Letter.Status.WITHDRAWN and req.status == "revoked"
    page = login(clerk).get(reverse("cases:letter", args=[letter.pk])).content.decode()
    assert 'data-testid="letter-send-form"' not in page


# --- letter templates -------------------------------------------------------------------------------


def test_template_list(login, clerk, admin, staff_employee, bj_letter):
    response = login(clerk).get(reverse("cases:letter_templates"))
    assert response.status_code == 200
    page = response.content.decode()
    for t in LetterTemplate.objects.all():
        assert t.name in page and reverse("cases:letter_template", args=[t.pk]) in page
    assert 'data-testid="back-to-cases"' in page and reverse("cases:list") in page
    assert "只有 HR 管理员可以修改模板" in page
    assert (
        "只有 HR 管理员可以修改模板"
        not in login(admin).get(reverse("cases:letter_templates")).content.decode()
    )
    row = re.search(r'<tr data-template="onboarding_materials">.*?</tr>', page, re.S).group(0)
    assert "v1" in row and "<td>1</td>" in row  # one letter issued from it
    assert login(staff_employee).get(reverse("cases:letter_templates")).status_code == 403


def test_template_editor_is_read_only_except_for_hr_admins(login, clerk, manager):
    template = LetterTemplate.objects.get(code="medical_notice")
    url = reverse("cases:letter_template", args=[template.pk])
    page = login(clerk).get(url).content.decode()
    assert "此处只读" in page and 'data-testid="save"' not in page and 'data-testid="reset"' not in page
    assert re.search(r"<textarea[^>]*disabled", page)
    assert 'data-testid="letter-preview"' in page  # HR specialists may preview
    post = {"name": "x", "title": "x", "response_days": "7", "body": "<p>x</p>", "action": "save"}
    assert login(clerk).post(url, post).status_code == 403
    assert login(clerk).post(url, {"action": "reset"}).status_code == 403
    assert login(manager).get(url).status_code == 200
    assert login(manager).post(url, post).status_code == 403
    template.refresh_from_db()
    assert template.version == 1 and template.body != "<p>x</p>"


def test_template_edit_save_error_and_reset(login, admin):
    template = LetterTemplate.objects.get(code="leaving_notice")
    url = reverse("cases:letter_template", args=[template.pk])
    page = login(admin).get(url).content.decode()
    assert 'data-testid="save"' in page and 'data-testid="reset"' in page and "恢复内置" in page
    base = {"name": template.name, "title": template.title, "response_days": "10", "action": "save"}

    response = login(admin).post(url, {**base, "body": "<p>{% if %}</p>"})
    assert response.status_code == 422 and "模板语法错误" in response.content.decode()
    response = login(admin).post(url, {**base, "response_days": "0", "body": template.body})
    assert response.status_code == 422 and "答复期限应为 1–90 天" in response.content.decode()
    template.refresh_from_db()
    assert template.version == 1

    response = login(admin).post(url, {**base, "body": template.body + "\n<p>新增的一段</p>"}, follow=True)
    assert "已保存" in response.content.decode()
    template.refresh_from_db()
    assert template.version == 2 and template.response_days == 10 and "新增的一段" in template.body
    assert template.updated_by == admin

    response = login(admin).post(url, {"action": "reset"}, follow=True)
    assert "已恢复内置的措辞" in response.content.decode()
    template.refresh_from_db()
    shipped = {i["code"]: i for i in shipped_letters()}["leaving_notice"]
    assert template.version == 3 and template.body == shipped["body"].strip() and template.response_days == 7


def test_template_preview_html(hr, make_employee, login, clerk, org):
    case = onboarding_case(hr, make_employee, name="预览员工")
    template = LetterTemplate.objects.get(code="onboarding_materials")
    url = reverse("cases:letter_template_preview", args=[template.pk])
    body = "<h1>草稿</h1><p>{{ employee.name }}，请于{{ letter.respond_by }}前答复。</p><blockquote>{{ law.SIL_86.text }}</blockquote>"
    response = login(clerk).post(
        url, {"body": body, "title": "草稿", "case": str(case.pk)}, HTTP_HX_REQUEST="true"
    )
    assert response.status_code == 200
    page = response.content.decode()
    assert 'data-testid="preview-frame"' in page and 'sandbox=""' in page
    assert "预览员工" in page and "草稿" in page
    assert _article("SIL-86").split("\n\n")[0][:40] in html.unescape(page)
    # on sample values when no case is chosen
    response = login(clerk).post(url, {"body": body, "title": "草稿", "case": ""})
    assert "张三" in response.content.decode() and "按示例数据预览" in response.content.decode()
    # a syntax error is shown in place
    response = login(clerk).post(url, {"body": "{% for %}", "case": ""}, HTTP_HX_REQUEST="true")
    assert response.status_code == 200 and "模板语法错误" in response.content.decode()
    # a case outside the user's scope cannot be used
    sz = onboarding_case(hr, make_employee, name="深圳员工", entity=org["sz"], department=org["store"])
    response = login(clerk).post(url, {"body": body, "case": str(sz.pk)}, HTTP_HX_REQUEST="true")
    assert (
        "所选案件不存在或无权查看" in response.content.decode()
        and "深圳员工" not in response.content.decode()
    )
    assert not Letter.objects.exists()


def test_template_preview_pdf_is_not_stored(hr, make_employee, login, admin, manager, tmp_path):
    case = onboarding_case(hr, make_employee, name="预览员工")
    template = LetterTemplate.objects.get(code="onboarding_materials")
    url = reverse("cases:letter_template_preview", args=[template.pk]) + "?format=pdf"
    root = blobs.blob_root()
    before = sorted(root.rglob("*")) if root.exists() else []
    response = login(admin).post(
        url, {"body": template.body.replace("核查情况", "核查结果"), "case": str(case.pk)}
    )
    assert response.status_code == 200 and response["Content-Type"] == "application/pdf"
    assert response.content.startswith(b"%PDF-") and "inline" in response["Content-Disposition"]
    text = _squash(_pdftotext(response.content, tmp_path))
    assert "核查结果" in text and "预览员工" in text and "预览·未生效" in text
    assert not Letter.objects.exists()
    assert (sorted(root.rglob("*")) if root.exists() else []) == before
    template.refresh_from_db()
    assert template.version == 1 and "核查结果" not in template.body
    assert login(manager).post(url, {"body": "x"}).status_code == 403


# --- in a browser: the live preview really updates ------------------------------------------------


@pytest.mark.browser
@pytest.mark.django_db(transaction=True)
def test_template_editor_live_preview_in_a_browser(live_server, page, screenshot_dir, admin, make_employee):
    from playwright.sync_api import expect

    from shebao.conftest import PASSWORD

    hr = Actor(user=admin)
    case = onboarding_case(hr, make_employee, name="浏览器员工")
    letter = services.letter_issue(actor=hr, case=case)
    template = LetterTemplate.objects.get(code="onboarding_materials")

    page.goto(f"{live_server.url}/login/")
    page.get_by_label("用户名").fill(admin.username)
    page.get_by_label("密码").fill(PASSWORD)
    page.get_by_role("button", name="登录").click()
    page.wait_for_url(re.compile(r"/$"))

    page.goto(live_server.url + reverse("cases:letter_template", args=[template.pk]))
    frame = page.frame_locator("[data-testid=preview-frame]")
    # the preview loads on its own, on the open case whose workflow sends this letter
    expect(frame.locator("h1")).to_have_text("社会保险登记告知函")
    expect(frame.locator("body")).to_contain_text("浏览器员工")
    page.screenshot(path=str(screenshot_dir / "letter-template-editor.png"), full_page=True)
    # typing updates it (HTMX, after a pause)
    page.locator("textarea[name=body]").press("Control+End")
    page.locator("textarea[name=body]").type("<p>新增的一句话</p>")
    expect(frame.locator("body")).to_contain_text("新增的一句话", timeout=10000)
    # a syntax error is shown in place of the preview
    page.locator("textarea[name=body]").type("{% if %}")
    expect(page.locator("[data-testid=preview-error]")).to_contain_text("模板语法错误", timeout=10000)
    template.refresh_from_db()
    assert template.version == 1  # nothing saved

    page.goto(live_server.url + reverse("cases:letter", args=[letter.pk]))
    expect(page.locator("[data-testid=letter-sha]")).to_have_text(letter.sha256)
    expect(page.frame_locator(".letter-frame").locator("h1")).to_have_text("社会保险登记告知函")
    page.screenshot(path=str(screenshot_dir / "letter-detail.png"), full_page=True)
