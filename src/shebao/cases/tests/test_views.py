"""The cases room's pages: the list (overdue first, filters), the board, a case's page (steps,
choices, timeline, forms), opening cases from findings (one, a batch, picking a workflow), the
workflow editor (a new version, running cases keep theirs, errors with their place) — and who
may see and do what."""

from __future__ import annotations

import datetime as dt
import re
from html.parser import HTMLParser

import pytest
from django.urls import reverse
from django.utils import timezone

from shebao.cases import services
from shebao.cases.models import Attachment, Case, CaseEvent, WorkflowTemplate
from shebao.core.context import Actor
from shebao.rules.models import AlertRule, Finding

PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 64
LIST = "/cases/"


def _actor(user) -> Actor:
    return Actor(user=user, ip="127.0.0.1", via="test")


def _body(response) -> str:
    return response.content.decode()


def _rows(response) -> list[int]:
    return [int(n) for n in re.findall(r'data-case="(\d+)"', _body(response))]


def _open(user, employee, template="onboarding", **kw) -> Case:
    return services.case_open(actor=_actor(user), employee=employee, template=template, **kw)


def _finding(employee, kind="registration_overdue", *, title=None, entity=None) -> Finding:
    now = timezone.now()
    rule = AlertRule.objects.filter(kind=kind).order_by("id").first()
    assert rule is not None, kind
    return Finding.objects.create(
        rule=rule,
        kind=kind,
        key=f"e{employee.pk if employee else 'x'}:{kind}:{Finding.objects.count()}",
        entity=entity or (employee.entity if employee else None),
        employee=employee,
        severity="critical",
        title=title or f"{employee.name if employee else '某人'}：{kind}",
        digest="t",
        deadline=timezone.localdate() + dt.timedelta(days=5),
        first_seen_at=now,
        updated_at=now,
        status_changed_at=now,
    )


@pytest.fixture
def people(org, make_employee):
    today = timezone.localdate()
    return {
        "late": make_employee(name="王逾期", hire_date=today - dt.timedelta(days=60)),
        "fresh": make_employee(name="李新人", hire_date=today - dt.timedelta(days=2)),
        "sz": make_employee(
            name="赵深圳", entity=org["sz"], department=org["store"], hire_date=today - dt.timedelta(days=10)
        ),
    }


class Fields(HTMLParser):
    """The fields a form would post, as a browser would (checked boxes, selected options)."""

    def __init__(self, form_id: str):
        super().__init__()
        self.form_id, self.inside, self.depth = form_id, False, 0
        self.data: list[tuple[str, str]] = []
        self._select: str | None = None
        self._textarea: str | None = None
        self._text = ""
        self._first_option: str | None = None
        self._selected = False

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        if tag == "form" and a.get("id") == self.form_id:
            self.inside = True
        if not self.inside:
            return
        name = a.get("name")
        if tag == "input" and name and a.get("type") not in ("submit", "button", "file"):
            if a.get("type") in ("checkbox", "radio"):
                if "checked" in a:
                    self.data.append((name, a.get("value", "on")))
            else:
                self.data.append((name, a.get("value", "")))
        elif tag == "select" and name:
            self._select, self._first_option, self._selected = name, None, False
        elif tag == "option" and self._select:
            value = a.get("value", "")
            if self._first_option is None:
                self._first_option = value
            if "selected" in a:
                self.data.append((self._select, value))
                self._selected = True
        elif tag == "textarea" and name:
            self._textarea, self._text = name, ""

    def handle_endtag(self, tag):
        if not self.inside:
            return
        if tag == "select" and self._select:
            if not self._selected and self._first_option is not None:
                self.data.append((self._select, self._first_option))
            self._select = None
        elif tag == "textarea" and self._textarea:
            self.data.append((self._textarea, self._text.lstrip("\n")))
            self._textarea = None
        elif tag == "form":
            self.inside = False

    def handle_data(self, data):
        if self._textarea:
            self._text += data


def form_data(response, form_id: str) -> dict[str, list[str]]:
    import html

    parser = Fields(form_id)
    parser.feed(_body(response))
    out: dict[str, list[str]] = {}
    for k, v in parser.data:
        out.setdefault(k, []).append(html.unescape(v))
    assert out, f"form #{form_id} not found"
    return out


# --- access -------------------------------------------------------------------------------------


def test_urls():
    assert reverse("cases:list") == LIST
    assert reverse("cases:detail", args=[3]) == "/cases/3/"
    assert reverse("cases:workflow", args=[2]) == "/cases/workflows/2/"


def test_anonymous_and_employee_role(client, login, admin, staff_employee, people):
    case = _open(admin, people["late"])
    for url in (LIST, "/cases/board/", f"/cases/{case.pk}/", "/cases/workflows/"):
        response = client.get(url)
        assert response.status_code == 302 and response["Location"].startswith("/login/")
        assert login(staff_employee).get(url).status_code == 403
    assert login(staff_employee).post(f"/cases/{case.pk}/note/", {"text": "x"}).status_code == 403


def test_nav_has_the_cases_room(login, admin):
    body = _body(login(admin).get(LIST))
    assert f'<a href="{LIST}" class="active">合规案件</a>' in body


# --- list and board -----------------------------------------------------------------------------


def test_list_puts_overdue_first_with_badges(login, admin, people):
    fresh = _open(admin, people["fresh"])  # due in 28 days
    late = _open(admin, people["late"])  # hire + 30 = 30 days ago
    backpay = _open(admin, people["sz"], template="backpay")  # opened + 5
    response = login(admin).get(LIST)
    assert response.status_code == 200
    assert _rows(response) == [late.pk, backpay.pk, fresh.pk]
    body = _body(response)
    assert "逾期 30 天" in body and "剩 28 天" in body and "剩 5 天" in body
    assert people["late"].employee_no in body and "核查参保状态" in body and "核算补缴金额" in body
    assert 'data-testid="count-overdue">1<' in body


def test_list_filters(login, admin, clerk, people):
    late = _open(admin, people["late"])
    fresh = _open(admin, people["fresh"])
    backpay = _open(admin, people["sz"], template="backpay")
    services.case_assign(actor=_actor(admin), case=fresh, assignee=clerk)
    services.case_assign(actor=_actor(admin), case=backpay, assignee=None)
    services.case_cancel(actor=_actor(admin), case=late, reason="误立案")
    c = login(admin)
    assert _rows(c.get(LIST)) == [backpay.pk, fresh.pk]
    assert _rows(c.get(LIST, {"status": "cancelled"})) == [late.pk]
    assert set(_rows(c.get(LIST, {"status": "all"}))) == {late.pk, fresh.pk, backpay.pk}
    assert _rows(c.get(LIST, {"template": "backpay"})) == [backpay.pk]
    assert _rows(c.get(LIST, {"step": "onboarding:verify"})) == [fresh.pk]
    assert _rows(c.get(LIST, {"assignee": "none"})) == [backpay.pk]
    assert _rows(c.get(LIST, {"assignee": str(clerk.pk)})) == [fresh.pk]
    assert _rows(login(clerk).get(LIST, {"assignee": "me"})) == [fresh.pk]
    assert _rows(c.get(LIST, {"entity": people["sz"].entity_id})) == [backpay.pk]
    assert _rows(c.get(LIST, {"q": people["fresh"].employee_no})) == [fresh.pk]
    assert _rows(c.get(LIST, {"q": "赵深圳"})) == [backpay.pk]
    assert _rows(c.get(LIST, {"q": backpay.number})) == [backpay.pk]
    assert "没有符合条件的案件" in _body(c.get(LIST, {"q": "没有这个人"}))
    # overdue only
    late2 = _open(admin, people["late"])
    assert _rows(c.get(LIST, {"overdue": "on"})) == [late2.pk]
    # an HTMX filter request gets the results only
    partial = c.get(LIST, {"template": "backpay"}, headers={"HX-Request": "true"})
    assert "<html" not in _body(partial) and _rows(partial) == [backpay.pk]


def test_list_and_board_queries_do_not_grow_with_the_rows(login, admin, clerk, make_employee, people):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    c = login(admin)

    def count(url):
        c.get(url)  # warm the session
        with CaptureQueriesContext(connection) as ctx:
            assert c.get(url).status_code == 200
        return len(ctx.captured_queries)

    _open(admin, people["late"])
    _open(admin, people["fresh"], template="backpay")
    before = {url: count(url) for url in (LIST, "/cases/board/")}
    for n in range(6):
        case = _open(admin, make_employee(), template=("onboarding", "backpay")[n % 2])
        services.case_assign(actor=_actor(admin), case=case, assignee=clerk)
    assert {url: count(url) for url in (LIST, "/cases/board/")} == before


def test_board_columns_by_step(login, admin, people):
    verify = _open(admin, people["late"])
    moved = _open(admin, people["fresh"])
    services.case_advance(actor=_actor(admin), case=moved, choice="ok")
    c = login(admin)
    body = _body(c.get("/cases/board/", {"template": "onboarding"}))
    columns = re.findall(r'data-step="(\w+)"', body)
    assert columns[:2] == ["verify", "notify"] and "closed" not in columns
    verify_col = body.split('data-step="verify"')[1].split("</section>")[0]
    register_col = body.split('data-step="register"')[1].split("</section>")[0]
    assert f'data-case="{verify.pk}"' in verify_col and "逾期 30 天" in verify_col
    assert f'data-case="{moved.pk}"' in register_col and "王逾期" not in register_col
    other = _body(c.get("/cases/board/", {"template": "backpay"}))
    assert "暂无案件" in other and f'data-case="{verify.pk}"' not in other


# --- a case's page ------------------------------------------------------------------------------


def test_detail_shows_steps_choices_and_timeline(login, admin, people):
    case = _open(admin, people["late"], note="入职满月仍未登记")
    response = login(admin).get(f"/cases/{case.pk}/")
    assert response.status_code == 200
    body = _body(response)
    assert case.number in body and people["late"].id_number_masked in body
    from shebao.core import crypto
    from shebao.roster.models import ID_PURPOSE

    assert crypto.decrypt(people["late"].id_number_enc, purpose=ID_PURPOSE) not in body
    assert 'data-testid="case-version">v1<' in body
    assert "当前步骤" in body and "核查参保状态" in body and "逾期 30 天" in body
    assert 'data-citation="SIL-58"' in body and 'href="/law/SIL-58/"' in body
    assert 'data-testid="choice-ok"' in body and 'data-testid="choice-blocked"' in body
    assert "需填写说明*" in body  # the blocked choice needs a note
    timeline = body.split('data-testid="case-timeline"')[1]
    assert 'data-kind="opened"' in timeline and 'data-kind="step_started"' in timeline
    assert "入职满月仍未登记" in timeline


def test_advance_with_a_missing_note_shows_the_chinese_error(login, admin, people):
    case = _open(admin, people["late"])
    response = login(admin).post(f"/cases/{case.pk}/advance/", {"choice": "blocked", "note": ""})
    assert response.status_code == 422
    assert "不能“无法参保（在原单位参保或医保中断）”：请填写说明" in _body(response)
    case.refresh_from_db()
    assert case.current_step == "verify"


def test_advance_moves_on_and_the_timeline_shows_the_choice(login, admin, people):
    case = _open(admin, people["late"])
    c = login(admin)
    response = c.post(f"/cases/{case.pk}/advance/", {"choice": "blocked", "note": "在前雇主处仍参保"})
    assert response.status_code == 302 and response["Location"] == f"/cases/{case.pk}/"
    case.refresh_from_db()
    assert case.current_step == "notify"
    body = _body(c.get(response["Location"]))
    assert "已完成“核查参保状态”，进入“书面告知员工需提供的材料”" in body
    done = body.split('data-kind="step_done"')[1].split("</li>")[0]
    assert "无法参保（在原单位参保或医保中断）" in done and "在前雇主处仍参保" in done
    # the letter step offers to issue its letter; the letter_sent choice is automatic
    assert 'data-testid="letter-issue"' in body and "函件发送后" in body
    # an unknown choice is refused in Chinese, nothing moves
    bad = c.post(f"/cases/{case.pk}/advance/", {"choice": "nope"})
    assert bad.status_code == 422 and "没有选择“nope”" in _body(bad)


def test_advance_with_proof_upload_and_payment(login, admin, people):
    case = _open(admin, people["fresh"], template="backpay")
    services.case_backpay(
        actor=_actor(admin), case=case, start="2025-01", end="2025-02", base="10000", due_day=15
    )
    services.case_advance(actor=_actor(admin), case=case, choice="done")
    services.case_advance(actor=_actor(admin), case=case, choice="approved")
    services.case_advance(actor=_actor(admin), case=case, choice="skip", note="仅单位部分")
    c = login(admin)
    page = _body(c.get(f"/cases/{case.pk}/"))
    assert 'data-testid="payment-fields"' in page and 'name="file"' in page
    missing = c.post(f"/cases/{case.pk}/advance/", {"choice": "paid", "amount": "", "date": ""})
    assert missing.status_code == 422 and "请记录实际缴纳的金额和日期" in _body(missing)
    wrong = c.post(f"/cases/{case.pk}/advance/", {"choice": "paid", "amount": "abc", "date": "2025-06-01"})
    assert wrong.status_code == 422 and "缴纳金额应为数字" in _body(wrong)
    from django.core.files.uploadedfile import SimpleUploadedFile

    ok = c.post(
        f"/cases/{case.pk}/advance/",
        {
            "choice": "paid",
            "amount": "1234.50",
            "date": "2025-06-01",
            "reference": "P-1",
            "file": SimpleUploadedFile("回执.png", PNG, content_type="image/png"),
        },
    )
    assert ok.status_code == 302
    case.refresh_from_db()
    assert case.status == Case.Status.CLOSED and case.data["payment"]["amount"] == "1234.50"
    assert case.attachments.get().filename == "回执.png"
    body = _body(c.get(f"/cases/{case.pk}/"))
    assert "已结案" in body and 'data-testid="advance-form"' not in body and "¥1234.50" in body


def test_backpay_form_stores_and_shows_the_result(login, admin, people):
    case = _open(admin, people["late"], template="backpay")
    c = login(admin)
    page = _body(c.get(f"/cases/{case.pk}/"))
    assert 'data-testid="backpay-form"' in page
    error = c.post(
        f"/cases/{case.pk}/backpay/",
        {"start": "2025-01", "end": "2025-03", "base": "10000", "paid": "2025-06-01"},
    )
    assert error.status_code == 422 and "缴费截止日未收录，请指定应缴日" in _body(error)
    bad = c.post(
        f"/cases/{case.pk}/backpay/", {"start": "2025-13", "end": "2025-03", "base": "10000", "due_day": "15"}
    )
    assert bad.status_code == 422 and "起始月份" in _body(bad)
    ok = c.post(
        f"/cases/{case.pk}/backpay/",
        {"start": "2025-01", "end": "2025-03", "base": "10000", "paid": "2025-06-01", "due_day": "15"},
    )
    assert ok.status_code == 302
    case.refresh_from_db()
    total = case.data["backpay"]["grand_total"]
    body = _body(c.get(f"/cases/{case.pk}/"))
    result = body.split('data-testid="backpay-result"')[1]
    assert f"¥{total}" in result and "2025-02" in result and 'data-citation="SIL-86"' in result
    assert 'data-kind="data"' in body
    # now the "done" choice's requirement is met
    assert c.post(f"/cases/{case.pk}/advance/", {"choice": "done"}).status_code == 302


def test_assign_note_escalate_cancel(login, admin, clerk, people):
    case = _open(admin, people["late"])
    c = login(admin)
    assert c.post(f"/cases/{case.pk}/assign/", {"assignee": clerk.pk}).status_code == 302
    case.refresh_from_db()
    assert case.assignee == clerk
    empty = c.post(f"/cases/{case.pk}/note/", {"text": "  "})
    assert empty.status_code == 422 and "备注不能为空" in _body(empty)
    assert c.post(f"/cases/{case.pk}/note/", {"text": "已电话联系员工"}).status_code == 302
    no_reason = c.post(f"/cases/{case.pk}/escalate/", {"escalate-reason": ""})
    assert no_reason.status_code == 422 and "请填写原因" in _body(no_reason)
    assert c.post(f"/cases/{case.pk}/escalate/", {"escalate-reason": "临近法定期限"}).status_code == 302
    case.refresh_from_db()
    assert case.escalated_at is not None
    assert c.post(f"/cases/{case.pk}/cancel/", {"cancel-reason": "员工已离职"}).status_code == 302
    case.refresh_from_db()
    assert case.status == Case.Status.CANCELLED
    body = _body(c.get(f"/cases/{case.pk}/"))
    for kind in ("assigned", "note", "escalated", "cancelled"):
        assert f'data-kind="{kind}"' in body
    assert "已电话联系员工" in body and "临近法定期限" in body
    assert 'data-testid="note-form"' not in body  # a cancelled case takes no more input


def test_attachment_upload_and_download(login, admin, clerk, org, make_employee, people):
    case = _open(admin, people["late"])
    c = login(admin)
    from django.core.files.uploadedfile import SimpleUploadedFile

    text = c.post(
        f"/cases/{case.pk}/attach/",
        {"file": SimpleUploadedFile("说明.txt", b"hello", content_type="text/plain")},
    )
    assert text.status_code == 422 and "不是照片（JPG/PNG/HEIC/WebP）或 PDF" in _body(text)
    none = c.post(f"/cases/{case.pk}/attach/", {"description": "x"})
    assert none.status_code == 422 and "请选择要上传的文件" in _body(none)
    ok = c.post(
        f"/cases/{case.pk}/attach/",
        {
            "file": SimpleUploadedFile("停保证明.png", PNG, content_type="image/png"),
            "description": "停保证明",
        },
    )
    assert ok.status_code == 302
    att = Attachment.objects.get(case=case)
    body = _body(c.get(f"/cases/{case.pk}/"))
    assert "停保证明.png" in body and att.sha256 in body and f"/cases/attachments/{att.pk}/" in body
    download = c.get(f"/cases/attachments/{att.pk}/")
    assert download.status_code == 200 and download.content == PNG
    assert download["Content-Type"] == "image/png"
    assert (
        download["Content-Disposition"].startswith("attachment;")
        and "filename*=utf-8''" in download["Content-Disposition"]
    )
    # the clerk sees Beijing: this case yes, a Shenzhen one's file no
    assert login(clerk).get(f"/cases/attachments/{att.pk}/").status_code == 200
    sz = _open(admin, people["sz"])
    services.case_attach(actor=_actor(admin), case=sz, filename="a.png", data=PNG)
    sz_att = Attachment.objects.get(case=sz)
    assert login(clerk).get(f"/cases/attachments/{sz_att.pk}/").status_code == 404


# --- permissions --------------------------------------------------------------------------------


def test_clerk_sees_beijing_cases_only(login, admin, clerk, people):
    bj = _open(admin, people["late"])
    sz = _open(admin, people["sz"])
    c = login(clerk)
    assert _rows(c.get(LIST)) == [bj.pk]
    assert c.get(f"/cases/{sz.pk}/").status_code == 404
    assert c.post(f"/cases/{sz.pk}/advance/", {"choice": "ok"}).status_code == 404
    assert c.post(f"/cases/{sz.pk}/note/", {"text": "x"}).status_code == 404
    assert f'data-case="{sz.pk}"' not in _body(c.get("/cases/board/"))
    # and may handle the Beijing one
    assert c.post(f"/cases/{bj.pk}/advance/", {"choice": "ok"}).status_code == 302


def test_auditor_and_manager_read_only(login, admin, auditor, manager, people):
    case = _open(admin, people["late"])
    for user in (auditor, manager):
        c = login(user)
        response = c.get(f"/cases/{case.pk}/")
        assert response.status_code == 200
        body = _body(response)
        assert "核查参保状态" in body and 'data-testid="choices-readonly"' in body
        for form in ("advance-form", "assign-form", "note-form", "attach-form", "escalate-form"):
            assert f'data-testid="{form}"' not in body
        assert c.post(f"/cases/{case.pk}/advance/", {"choice": "ok"}).status_code == 403
        assert c.post(f"/cases/{case.pk}/note/", {"text": "x"}).status_code == 403
        assert c.post("/cases/open/", {"finding_ids": [1]}).status_code == 403
    case.refresh_from_db()
    assert case.current_step == "verify"


def test_admin_step_needs_an_hr_admin(login, admin, clerk, people):
    case = _open(admin, people["fresh"], template="backpay")
    services.case_backpay(
        actor=_actor(admin), case=case, start="2025-01", end="2025-01", base="10000", due_day=15
    )
    services.case_advance(actor=_actor(admin), case=case, choice="done")  # → approve (hr_admin)
    c = login(clerk)
    body = _body(c.get(f"/cases/{case.pk}/"))
    assert 'data-testid="needs-admin"' in body and 'data-testid="advance-form"' not in body
    assert c.post(f"/cases/{case.pk}/advance/", {"choice": "approved"}).status_code == 403
    assert login(admin).post(f"/cases/{case.pk}/advance/", {"choice": "approved"}).status_code == 302


# --- opening from findings ----------------------------------------------------------------------


def test_one_click_open_from_a_finding(login, admin, people):
    finding = _finding(people["late"])
    c = login(admin)
    page = _body(c.get(f"/rules/findings/{finding.pk}/"))
    assert 'data-testid="case-open"' in page and "入职社保核查" in page
    response = c.post("/cases/open/", {"finding_ids": [finding.pk]})
    case = Case.objects.get(finding=finding)
    assert response.status_code == 302 and response["Location"] == f"/cases/{case.pk}/"
    assert case.template.code == "onboarding" and case.assignee == admin
    finding.refresh_from_db()
    assert finding.status == Finding.Status.ACKNOWLEDGED
    # opening twice gives the same case; the finding's page links it
    assert c.post("/cases/open/", {"finding_ids": [finding.pk]})["Location"] == f"/cases/{case.pk}/"
    assert Case.objects.filter(finding=finding).count() == 1
    page = _body(c.get(f"/rules/findings/{finding.pk}/"))
    assert f'href="/cases/{case.pk}/"' in page and case.number in page


def test_open_picks_a_workflow_when_no_template_fits(login, admin, people):
    finding = _finding(people["late"], kind="invalid_identity")
    c = login(admin)
    page = _body(c.get(f"/rules/findings/{finding.pk}/"))
    assert f'href="/cases/open/?finding={finding.pk}"' in page
    refused = c.post("/cases/open/", {"finding_ids": [finding.pk]})
    assert refused.status_code == 422 and "没有适用于该预警的流程模板，请选择一个流程" in _body(refused)
    form = c.get("/cases/open/", {"finding": finding.pk})
    assert form.status_code == 200 and 'name="template"' in _body(form)
    response = c.post(
        "/cases/open/", {"finding_ids": [finding.pk], "template": "medical_interruption", "note": "核对证件"}
    )
    case = Case.objects.get(finding=finding)
    assert response["Location"] == f"/cases/{case.pk}/" and case.template.code == "medical_interruption"
    assert case.events.get(kind=CaseEvent.Kind.OPENED).text == "核对证件"


def test_batch_open_from_the_inbox(login, admin, clerk, org, people):
    ok1 = _finding(people["late"])
    ok2 = _finding(people["fresh"], kind="medical_interrupted")
    nobody = _finding(None, entity=org["bj"], title="名册外人员：某某")
    already = _finding(people["late"], kind="enrolled_elsewhere")
    existing = services.case_open(actor=_actor(admin), finding=already)
    c = login(admin)
    inbox = _body(c.get("/rules/findings/"))
    assert 'data-testid="action-open-cases"' in inbox and 'formaction="/cases/open/"' in inbox
    response = c.post(
        "/cases/open/",
        {"ids": [ok1.pk, ok2.pk, nobody.pk, already.pk], "batch": "1", "next": "/rules/findings/"},
        follow=True,
    )
    body = _body(response)
    assert response.redirect_chain[-1][0] == "/rules/findings/"
    assert "已立案 2 件；1 条预警已有处理中的案件" in body
    assert "1 条预警未能立案：名册外人员：某某：该预警没有对应的在册员工" in body
    assert Case.objects.get(finding=ok1).template.code == "onboarding"
    assert Case.objects.get(finding=ok2).template.code == "medical_interruption"
    assert Case.objects.filter(finding=already).get() == existing
    # a chosen template applies to the whole batch
    more = [
        _finding(people["late"], kind="invalid_identity"),
        _finding(people["fresh"], kind="invalid_identity"),
    ]
    c.post("/cases/open/", {"ids": [f.pk for f in more], "batch": "1", "template": "backpay"})
    assert {Case.objects.get(finding=f).template.code for f in more} == {"backpay"}
    # nothing selected; out-of-scope findings are refused as a whole
    assert "请先选择要立案的预警" in _body(c.post("/cases/open/", {"batch": "1"}, follow=True))
    sz = _finding(people["sz"])
    refused = login(clerk).post("/cases/open/", {"ids": [sz.pk], "batch": "1"}, follow=True)
    assert "找不到所选的预警" in _body(refused) and not Case.objects.filter(finding=sz).exists()


# --- workflow templates -------------------------------------------------------------------------


def test_workflow_list(login, admin, clerk, people):
    _open(admin, people["late"])
    body = _body(login(clerk).get("/cases/workflows/"))
    row = body.split('data-workflow="onboarding"')[1].split("</tr>")[0]
    assert "入职社保核查" in row and "v1" in row and ">7<" in row  # 7 steps before 结案
    assert "未按时登记社保" in row or "registration_overdue" not in row
    assert "查看" in row and "编辑" not in row
    assert "编辑" in _body(login(admin).get("/cases/workflows/"))


def test_only_hr_admin_edits_workflows(login, admin, clerk, auditor):
    template = WorkflowTemplate.objects.get(code="onboarding")
    url = f"/cases/workflows/{template.pk}/"
    for user in (clerk, auditor):
        c = login(user)
        body = _body(c.get(url))
        assert 'data-testid="workflow-form"' not in body and 'data-testid="flow"' in body
        assert c.post(url, {"name": "x"}).status_code == 403
        assert c.post(f"{url}preview/", {}).status_code == 403
    assert 'data-testid="workflow-form"' in _body(login(admin).get(url))


def test_workflow_edit_makes_a_new_version_and_running_cases_keep_theirs(login, admin, people):
    template = WorkflowTemplate.objects.get(code="onboarding")
    old = _open(admin, people["fresh"])
    c = login(admin)
    url = f"/cases/workflows/{template.pk}/"
    data = form_data(c.get(url), "wf-form")
    assert data["s-0-code"] == ["verify"] and data["s-0-deadline_days"] == ["30"]
    data["s-0-deadline_days"] = ["20"]
    data["s-0-instructions"] = ["先查社保平台，再问员工。"]
    data["note"] = ["核查期限缩短为 20 天"]
    data["op"] = ["save"]
    response = c.post(url, data)
    assert response.status_code == 302, _body(response)[:2000]
    template.refresh_from_db()
    assert template.current.number == 2 and template.current.note == "核查期限缩短为 20 天"
    assert template.current.definition["steps"][0]["deadline"] == {"from": "hire", "days": 20}
    # the rest of the definition went through the form unchanged
    v1 = template.versions.get(number=1).definition
    v2 = template.current.definition
    v2_steps = [dict(s, deadline=None, instructions=None) for s in v2["steps"]]
    v1_steps = [dict(s, deadline=None, instructions=None) for s in v1["steps"]]
    assert v2_steps == v1_steps and v2["start"] == v1["start"]
    assert [s["deadline"] for s in v2["steps"][1:]] == [s["deadline"] for s in v1["steps"][1:]]
    body = _body(c.get(response["Location"]))
    assert "生成新版本 v2" in body and "1 件处理中的案件沿用立案时的版本" in body
    assert "核查期限缩短为 20 天" in body.split('data-testid="versions"')[1]
    old.refresh_from_db()
    assert old.version.number == 1 and old.step_due == people["fresh"].hire_date + dt.timedelta(days=30)
    new = _open(admin, people["late"])
    assert new.version.number == 2 and new.step_due == people["late"].hire_date + dt.timedelta(days=20)
    old_page = _body(c.get(f"/cases/{old.pk}/"))
    assert "模板已更新到 v2，本案沿用立案时的版本" in old_page
    # the old version can still be looked at
    history = _body(c.get(url, {"version": 1}))
    assert "历史版本 v1" in history and "入职日期 + 30 天" in history
    # saving without a change to the steps keeps the version
    data2 = form_data(c.get(url), "wf-form")
    data2["enabled"] = []
    data2["op"] = ["save"]
    assert c.post(url, data2).status_code == 302
    template.refresh_from_db()
    assert template.current.number == 2 and not template.enabled


def test_invalid_definition_shows_the_error_with_its_place(login, admin):
    template = WorkflowTemplate.objects.get(code="onboarding")
    c = login(admin)
    url = f"/cases/workflows/{template.pk}/"
    data = form_data(c.get(url), "wf-form")
    data["op"] = ["save"]
    bad = dict(data, **{"s-0-c-0-code": ["OK 1"]})
    response = c.post(url, bad)
    assert response.status_code == 422
    body = _body(response)
    assert (
        "流程定义无效：步骤 › 第1项（核查参保状态） › 选择 › 第1项（可正常参保） › code：代码只能用小写字母、数字和下划线，以字母开头"
        in body
    )
    assert (
        'data-testid="step-errors"' in body.split('data-testid="step-0"')[1].split('data-testid="step-1"')[0]
    )
    days = c.post(url, dict(data, **{"s-1-deadline_days": ["三天"]}))
    assert days.status_code == 422 and "第2步“书面告知员工需提供的材料”：期限天数应为整数" in _body(days)
    cite = c.post(url, dict(data, **{"s-0-citations": ["SIL-58, XYZ-9"]}))
    assert cite.status_code == 422 and "法规库中没有条文 XYZ-9" in _body(cite)
    template.refresh_from_db()
    assert template.current.number == 1
    # the preview says the same without saving
    preview = c.post(f"{url}preview/", dict(data, **{"s-0-c-0-to": ["nowhere"]}))
    assert preview.status_code == 200
    assert "指向不存在的步骤“nowhere”" in _body(preview) and 'data-testid="flow-error"' in _body(preview)
    good = _body(c.post(f"{url}preview/", data))
    assert 'data-testid="flow"' in good and "入职日期 + 30 天" in good and "可正常参保" in good
    template.refresh_from_db()
    assert template.current.number == 1


def test_editor_operations_and_yaml(login, admin):
    template = WorkflowTemplate.objects.get(code="offboarding")
    c = login(admin)
    url = f"/cases/workflows/{template.pk}/"
    data = form_data(c.get(url), "wf-form")
    steps = len({k.split("-")[1] for k in data if re.match(r"^s-\d+-code$", k)})
    added = c.post(url, dict(data, op=["add_step"]))
    assert added.status_code == 200
    assert f'data-testid="step-{steps}"' in _body(added)
    moved = c.post(url, dict(data, op=["down_step-0"]))
    after = form_data(moved, "wf-form")
    assert after["s-0-code"] == ["letter"] and after["s-1-code"] == ["stop"]
    more = form_data(c.post(url, dict(data, op=["add_choice-3"])), "wf-form")
    assert "s-3-c-2-code" in more and "s-3-c-2-code" not in data
    fewer = form_data(c.post(url, dict(data, op=["del_choice-3-1"])), "wf-form")
    assert "s-3-c-1-code" not in fewer
    template.refresh_from_db()
    assert template.current.number == 1  # none of these saved
    # to YAML and save from there
    as_yaml = c.post(url, dict(data, op=["to_yaml"]))
    ydata = form_data(as_yaml, "wf-form")
    assert ydata["mode"] == ["yaml"] and "code: stop" in ydata["yaml"][0]
    ydata["yaml"] = [ydata["yaml"][0].replace("days: 15", "days: 10", 1)]
    broken = c.post(url, dict(ydata, op=["save"], yaml=["start: stop\nsteps: [\n"]))
    assert broken.status_code == 422 and "YAML 格式错误" in _body(broken)
    saved = c.post(url, dict(ydata, op=["save"], note=["转移期限改为 10 天"]))
    assert saved.status_code == 302
    template.refresh_from_db()
    transfer = next(s for s in template.current.definition["steps"] if s["code"] == "transfer")
    assert template.current.number == 2 and transfer["deadline"]["days"] == 10


# --- the dashboard ------------------------------------------------------------------------------


def test_dashboard_counts_cases(login, admin, people):
    _open(admin, people["late"])
    _open(admin, people["fresh"])
    body = _body(login(admin).get("/"))
    card = body.split('data-testid="dashboard-cases"')[1].split("</a>")[0]
    assert ">2<" in card and "逾期 1" in card


# --- in a browser: screenshots of the pages with a few cases ------------------------------------


def _shot(page, path) -> None:
    size = page.viewport_size
    height = page.evaluate("document.documentElement.scrollHeight")
    page.set_viewport_size({"width": size["width"], "height": max(height, size["height"])})
    page.evaluate("window.scrollTo(0, 0)")
    page.wait_for_timeout(150)
    page.screenshot(path=str(path))
    page.set_viewport_size(size)


def _scene(admin, clerk, org, make_employee) -> dict:
    """A handful of cases in different states, one with the employee's acknowledgement."""
    from shebao.accounts.models import User
    from shebao.accounts.services import user_create
    from shebao.core import crypto
    from shebao.roster.models import ID_PURPOSE

    today = timezone.localdate()
    hr = _actor(admin)
    late = make_employee(name="王晓明", hire_date=today - dt.timedelta(days=40))
    fresh = make_employee(name="李娜", hire_date=today - dt.timedelta(days=3), department=org["sales"])
    gap = make_employee(name="孙丽", hire_date=dt.date(2024, 1, 1))
    sz = make_employee(
        name="赵强", entity=org["sz"], department=org["store"], hire_date=today - dt.timedelta(days=20)
    )
    leaver = make_employee(
        name="周杰", hire_date=dt.date(2023, 5, 1), leave_date=today - dt.timedelta(days=4)
    )
    user = user_create(
        actor=Actor.system(via="test"), username="sunli", password="x-Pass-2026!", role="employee"
    )
    User.objects.filter(pk=user.pk).update(employee=gap)

    onboarding = services.case_open(
        actor=hr,
        finding=_finding(late, title="王晓明入职已满 40 天，仍未办理社会保险登记"),
        note="入职已满 40 天仍未查到参保记录",
    )
    onboarding = services.case_advance(
        actor=hr, case=onboarding, choice="blocked", note="社保平台显示员工仍在原单位参保（前雇主未减员）"
    )
    services.letter_issue(actor=hr, case=onboarding)
    services.case_attach(
        actor=hr, case=onboarding, filename="社保平台截图.png", data=PNG, description="参保状态截图"
    )
    services.case_note(actor=hr, case=onboarding, text="已电话联系员工，员工称原单位本周内办理减员。")
    services.case_assign(actor=hr, case=onboarding, assignee=clerk)

    medical = services.case_open(
        actor=hr, finding=_finding(gap, kind="medical_interrupted", title="孙丽的医疗保险自 2025-07 起中断")
    )
    letter = services.letter_issue(actor=hr, case=medical)
    request = services.letter_send(actor=hr, letter=letter)
    last4 = crypto.decrypt(gap.id_number_enc, purpose=ID_PURPOSE)[-4:]
    services.ack_verify(request=request, value=last4, ip="112.65.1.23")
    request.refresh_from_db()
    services.ack_submit(
        request=request,
        decision="acknowledged",
        shown_sha256=letter.sha256,
        ip="112.65.1.23",
        user_agent="Mozilla/5.0 (iPhone; CPU iPhone OS 17_5 like Mac OS X) AppleWebKit/605.1.15 Mobile/15E148",
    )
    services.case_open(actor=hr, employee=sz, template="backpay")
    fresh_case = services.case_open(actor=hr, employee=fresh, template="onboarding")
    backpay = services.case_open(
        actor=hr, employee=late, template="backpay", now=timezone.now() - dt.timedelta(days=9), assignee=clerk
    )
    backpay = services.case_backpay(
        actor=hr,
        case=backpay,
        start="2025-01",
        end="2025-04",
        base="8000",
        due_day=15,
        paid=today.isoformat(),
    )
    off = services.case_open(actor=hr, employee=leaver, template="offboarding")
    services.case_escalate(actor=hr, case=off, reason="减员截止日已过，需主管确认是否多缴一个月")
    loose = _finding(fresh, title="李娜入职 3 天，尚未办理社会保险登记")
    return {
        "onboarding": onboarding,
        "medical": medical,
        "backpay": backpay,
        "fresh": fresh_case,
        "off": off,
        "finding": loose,
    }


@pytest.mark.browser
@pytest.mark.django_db(transaction=True)
def test_pages_in_a_browser(live_server, browser, screenshot_dir, admin, clerk, org, make_employee):
    from shebao.conftest import PASSWORD

    expect = pytest.importorskip("playwright.sync_api").expect
    cases = _scene(admin, clerk, org, make_employee)

    def session(width, height, **kw):
        context = browser.new_context(locale="zh-CN", viewport={"width": width, "height": height}, **kw)
        page = context.new_page()
        page.goto(f"{live_server.url}/login/")
        page.fill("input[name=username]", admin.username)
        page.fill("input[name=password]", PASSWORD)
        page.click("button[type=submit]")
        page.wait_for_url(re.compile(r"/(dashboard/?)?$"))
        return context, page

    context, page = session(1280, 900)
    page.goto(f"{live_server.url}/cases/")
    expect(page.get_by_test_id("cases")).to_contain_text("王晓明")
    _shot(page, screenshot_dir / "cases-list.png")
    page.select_option("select[name=template]", "backpay")  # HTMX filter
    expect(page.get_by_test_id("cases")).not_to_contain_text("李娜")
    expect(page.get_by_test_id("cases")).to_contain_text("赵强")

    page.goto(f"{live_server.url}/cases/board/?template=onboarding")
    expect(page.get_by_test_id("board")).to_contain_text("李娜")
    _shot(page, screenshot_dir / "cases-board.png")

    page.goto(f"{live_server.url}/cases/{cases['onboarding'].pk}/")
    expect(page.get_by_test_id("current-step")).to_contain_text("书面告知员工需提供的材料")
    _shot(page, screenshot_dir / "cases-detail.png")
    page.goto(f"{live_server.url}/cases/{cases['medical'].pk}/")
    expect(page.get_by_test_id("case-timeline")).to_contain_text("员工确认收到")
    expect(page.get_by_test_id("case-timeline")).to_contain_text("112.65.1.23")
    _shot(page, screenshot_dir / "cases-detail-acknowledged.png")
    page.goto(f"{live_server.url}/cases/{cases['backpay'].pk}/")
    expect(page.get_by_test_id("backpay-result")).to_be_visible()
    _shot(page, screenshot_dir / "cases-detail-backpay.png")

    # the workflow editor: the preview draws the flow, then shows an error as the form changes
    template = WorkflowTemplate.objects.get(code="onboarding")
    page.goto(f"{live_server.url}/cases/workflows/{template.pk}/")
    expect(page.get_by_test_id("workflow-preview").get_by_test_id("flow")).to_be_visible()
    _shot(page, screenshot_dir / "cases-workflow-editor.png")
    page.fill("input[name=s-0-deadline_days]", "20")
    page.get_by_test_id("add-step").click()
    expect(page.get_by_test_id("step-8")).to_be_visible()
    expect(page.get_by_test_id("workflow-preview").get_by_test_id("flow-error")).to_be_visible()
    assert page.input_value("input[name=s-0-deadline_days]") == "20"  # the round trip kept the edit
    page.get_by_test_id("del-step-8").click()
    expect(page.get_by_test_id("step-8")).to_have_count(0)
    expect(page.get_by_test_id("workflow-preview").get_by_test_id("flow")).to_contain_text("入职日期 + 20 天")
    page.get_by_test_id("mode-yaml").click()
    expect(page.get_by_test_id("yaml")).to_contain_text("days: 20")
    _shot(page, screenshot_dir / "cases-workflow-yaml.png")
    page.fill("input[name=note]", "核查期限改为 20 天")
    page.get_by_test_id("save").click()
    expect(page.locator(".msg-success")).to_contain_text("生成新版本 v2")

    # a finding's page opens its case in one click; the inbox opens a batch
    finding = cases["finding"]
    page.goto(f"{live_server.url}/rules/findings/{finding.pk}/")
    expect(page.get_by_test_id("finding-case")).to_contain_text("入职社保核查")
    _shot(page, screenshot_dir / "cases-finding-open.png")
    page.get_by_test_id("case-open").click()
    expect(page.get_by_test_id("case-title")).to_contain_text("李娜")
    assert Case.objects.filter(finding=finding).count() == 1
    page.goto(f"{live_server.url}/rules/findings/")
    expect(page.get_by_test_id("action-open-cases")).to_be_visible()
    _shot(page, screenshot_dir / "cases-findings-batch.png")
    context.close()

    phone, page = session(390, 844, is_mobile=True, has_touch=True)
    page.goto(f"{live_server.url}/cases/{cases['onboarding'].pk}/")
    expect(page.get_by_test_id("current-step")).to_be_visible()
    overflow = page.evaluate("document.documentElement.scrollWidth - document.documentElement.clientWidth")
    if overflow > 0:
        print(
            page.evaluate("""() => { const w = document.documentElement.clientWidth; const out = [];
          document.querySelectorAll('body *').forEach(e => { const r = e.getBoundingClientRect();
            if (r.right > w + 1) out.push(e.tagName + '.' + e.className + ' ' + Math.round(r.right)); });
          return out.slice(0, 30).join('\\n'); }""")
        )
    assert overflow <= 0, f"the page scrolls sideways by {overflow}px on a phone"
    _shot(page, screenshot_dir / "cases-detail-phone.png")
    page.goto(f"{live_server.url}/cases/{cases['medical'].pk}/")
    _shot(page, screenshot_dir / "cases-detail-acknowledged-phone.png")
    phone.close()
