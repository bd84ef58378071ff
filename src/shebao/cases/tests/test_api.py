"""/api/v1/cases, /letters and /workflows: opening a case from a finding (by id or key), the
detail with steps and choices, advancing with requirements, notes, the timeline, letters (the
stored PDF) and acknowledgements — and who may and who may not."""

from __future__ import annotations

import datetime as dt
import hashlib
from decimal import Decimal

import pytest
from django.utils import timezone

from shebao.api.tests.helpers import ApiClient, field_errors
from shebao.cases.models import Case, CaseEvent
from shebao.cases.services import (
    ack_submit,
    ack_verify,
    case_advance,
    case_attach,
    case_open,
    case_record,
    letter_issue,
)
from shebao.cases.services.acks import request_create
from shebao.core import blobs, crypto
from shebao.core.context import Actor
from shebao.rules.models import Finding
from shebao.rules.services import findings_evaluate, rule_create
from shebao.rules.tests.factories import Book, months

REG = "registration_overdue"
AS_OF = dt.date(2025, 7, 2)
PDF = b"%PDF-1.4\n% receipt\n%%EOF\n"


@pytest.fixture
def data(org, make_employee):
    """An unregistered newcomer at 北京 and one at 深圳 (registration findings as of 2025-07-02)."""
    out = {}
    for code, dept in (("bj", "rd"), ("sz", "store")):
        book = Book(org[code])
        colleague = make_employee(
            entity=org[code],
            department=org[dept],
            hire_date=dt.date(2020, 1, 1),
            declared_wage=Decimal("10000"),
        )
        p = book.person(colleague)
        for ins in ("pension", "medical", "housing_fund"):
            book.pay(p, ins, months("2024-07", "2025-06"))
        out[code] = make_employee(
            entity=org[code],
            department=org[dept],
            hire_date=dt.date(2025, 6, 1),
            declared_wage=Decimal("8000"),
        )
    findings_evaluate(actor=Actor.system(via="test"), as_of=AS_OF, kinds=[REG])
    out["f_bj"] = Finding.objects.get(kind=REG, employee=out["bj"])
    out["f_sz"] = Finding.objects.get(kind=REG, employee=out["sz"])
    return out


@pytest.fixture
def cases(data):
    """A case for each finding, opened by the system."""
    system = Actor.system(via="test")
    return {
        "bj": case_open(actor=system, finding=data["f_bj"]),
        "sz": case_open(actor=system, finding=data["f_sz"]),
    }


def last4(employee) -> str:
    from shebao.roster.models import ID_PURPOSE

    return crypto.decrypt(employee.id_number_enc, purpose=ID_PURPOSE)[-4:]


# --- who may ------------------------------------------------------------------------------------


def test_tokens_and_roles(client, cases, admin, auditor, manager, clerk, api_as):
    anonymous = ApiClient(client)
    for path in ("/cases", f"/cases/{cases['bj'].pk}", "/workflows"):
        r = anonymous.get(path)
        assert r.status_code == 401, path

    # The employee role gets no token; one held by a user demoted to it reads nothing.
    employee = api_as(clerk, "write")
    clerk.role = "employee"
    clerk.save()
    for path in ("/cases", f"/cases/{cases['bj'].pk}", f"/cases/{cases['bj'].pk}/events", "/workflows"):
        r = employee.get(path)
        assert r.status_code == 403 and r.json()["detail"] == "该账号没有查看花名册的权限", path
    assert employee.post("/cases", {"finding": cases["bj"].finding_id}).status_code == 403

    reader = api_as(admin, "read")
    r = reader.post("/cases", {"finding": 1})
    assert r.status_code == 403 and "只读令牌" in r.json()["detail"]
    assert reader.post(f"/cases/{cases['bj'].pk}/notes", {"text": "x"}).status_code == 403

    # Auditors read everything but write nothing; a department manager sees their departments.
    audit = api_as(auditor, "read")  # an auditor gets read tokens only
    assert audit.get("/cases").json()["total"] == 2
    for path, body in (
        ("/cases", {"finding": cases["bj"].finding_id}),
        (f"/cases/{cases['bj'].pk}/advance", {"choice": "ok"}),
        (f"/cases/{cases['bj'].pk}/notes", {"text": "看过"}),
    ):
        assert audit.post(path, body).status_code == 403, path
    boss = api_as(manager, "read")  # 北京 › 研发部
    assert [c["number"] for c in boss.get("/cases").json()["items"]] == [cases["bj"].number]


def test_clerk_sees_and_handles_only_beijing(data, cases, clerk, api_as):
    api = api_as(clerk, "write")
    r = api.get("/cases")
    assert r.status_code == 200
    assert [c["id"] for c in r.json()["items"]] == [cases["bj"].pk]
    sz = cases["sz"].pk
    for path in (f"/cases/{sz}", f"/cases/{sz}/events", f"/cases/{sz}/letters"):
        r = api.get(path)
        assert r.status_code == 404 and r.json()["detail"] == "案件不存在或不在您的权限范围内", path
    assert api.post(f"/cases/{sz}/advance", {"choice": "ok"}).status_code == 404
    assert api.post(f"/cases/{sz}/notes", {"text": "x"}).status_code == 404
    r = api.post("/cases", {"finding": data["f_sz"].pk})
    assert r.status_code == 422 and "finding" in field_errors(r)
    assert Case.objects.get(pk=sz).status == "open"


# --- opening --------------------------------------------------------------------------------------


def test_open_from_a_finding_id_then_again(data, clerk, api_as):
    api = api_as(clerk, "write")
    f = data["f_bj"]
    r = api.post("/cases", {"finding": f.pk, "note": "入职核查"})
    assert r.status_code == 201, r.json()
    body = r.json()
    assert body["template"] == "onboarding" and body["status"] == "open"
    assert body["finding"] == {
        "id": f.pk,
        "key": f"{f.rule_id}:{f.key}",
        "kind": REG,
        "title": f.title,
        "status": "acknowledged",
    }
    assert body["assignee"] == "clerk" and body["employee_no"] == data["bj"].employee_no
    assert body["id_masked"] == data["bj"].id_number_masked and "id_number" not in body
    assert body["workflow"]["version"] == body["version"] == 1
    current = body["current"]
    assert current["code"] == "verify" and current["due"] == "2025-07-01"
    assert current["basis"] == "入职日期 + 30 天（SIL-58）" and current["overdue"] is True
    choices = {c["code"]: c for c in current["choices"]}
    assert choices["blocked"]["requires"] == [{"code": "note", "label": "填写说明"}]
    assert choices["blocked"]["to_name"] == "书面告知员工需提供的材料"
    steps = {s["code"]: s for s in body["steps"]}
    assert steps["verify"]["state"] == "active" and steps["verify"]["deadline"] == "入职日期 + 30 天"
    assert steps["verify"]["visits"][0]["due"] == "2025-07-01" and steps["register"]["state"] == "todo"
    assert body["overdue"] is True and body["overdue_days"] > 0

    again = api.post("/cases", {"finding": f.pk})
    assert again.status_code == 200 and again.json()["id"] == body["id"]
    assert Case.objects.filter(finding=f).count() == 1


def test_open_by_key_with_and_without_the_rule(data, admin, api_as):
    api = api_as(admin, "write")
    f = data["f_bj"]
    second = rule_create(actor=Actor.system(via="test"), kind=REG, name="登记（第二条）")
    findings_evaluate(actor=Actor.system(via="test"), as_of=AS_OF, rule_ids=[second.pk])
    twin = Finding.objects.get(rule=second, employee=data["bj"])
    assert twin.key == f.key

    r = api.post("/cases", {"finding": f.key})
    assert r.status_code == 422 and "对应多条预警" in r.json()["detail"]
    assert field_errors(r) == {"finding": "对应多条预警"}

    r = api.post("/cases", {"finding": f.key, "rule": second.pk})
    assert r.status_code == 201 and r.json()["finding"]["id"] == twin.pk
    r = api.post("/cases", {"finding": f"{f.rule_id}:{f.key}", "template": "backpay"})
    assert r.status_code == 201 and r.json()["finding"]["id"] == f.pk and r.json()["template"] == "backpay"

    for ref, field in (("nonsense", "finding"), ("e999999:spell1", "finding"), (999999, "finding")):
        r = api.post("/cases", {"finding": ref})
        assert r.status_code == 422 and field in field_errors(r), ref
    r = api.post("/cases", {"finding": data["f_sz"].key, "rule": "no_such_kind"})
    assert r.status_code == 422 and field_errors(r) == {"rule": "未知的规则"}
    r = api.post("/cases", {"finding": data["f_sz"].pk, "template": "nope"})
    assert r.status_code == 422 and field_errors(r) == {"template": "不存在"}
    r = api.post("/cases", {"finding": data["f_sz"].pk, "assignee": "ghost"})
    assert r.status_code == 422 and field_errors(r) == {"assignee": "用户不存在"}
    r = api.post("/cases", {"finding": data["f_sz"].pk, "colour": "red"})
    assert r.status_code == 422 and field_errors(r) == {"colour": "不支持的字段"}


# --- advancing, notes, timeline -------------------------------------------------------------------


def test_advance_needs_what_the_choice_requires(cases, clerk, admin, api_as):
    api = api_as(clerk, "write")
    pk = cases["bj"].pk
    r = api.post(f"/cases/{pk}/advance", {"choice": "fly"})
    assert r.status_code == 422 and field_errors(r) == {"choice": "无效的选择"}
    assert "可选：ok（可正常参保）、blocked" in r.json()["detail"]
    r = api.post(f"/cases/{pk}/advance", {"choice": "blocked"})
    assert (
        r.status_code == 422 and r.json()["detail"] == "不能“无法参保（在原单位参保或医保中断）”：请填写说明"
    )
    r = api.post(f"/cases/{pk}/advance", {"choice": "blocked", "note": "原单位未减员"})
    assert r.status_code == 200
    body = r.json()
    assert body["step"] == "notify" and body["current"]["action"] == "letter"
    assert body["current"]["letter"] == "onboarding_materials"
    steps = {s["code"]: s for s in body["steps"]}
    visit = steps["verify"]["visits"][0]
    assert (
        steps["verify"]["state"] == "done"
        and visit["choice"] == "blocked"
        and visit["note"] == "原单位未减员"
    )
    assert visit["completed_by"] == "clerk"

    # an HR admin's step: the clerk may not take it
    case = Case.objects.get(pk=pk)
    case.current_step = "escalated"
    case.save(update_fields=["current_step"])
    r = api.post(f"/cases/{pk}/advance", {"choice": "register"})
    assert r.status_code == 403 and "需由 HR 管理员处理" in r.json()["detail"]
    assert api_as(admin, "write").post(f"/cases/{pk}/advance", {"choice": "register"}).status_code == 200


def test_payment_is_recorded_and_its_errors_name_the_field(data, admin, api_as):
    system = Actor.system(via="test")
    case = case_open(actor=system, finding=data["f_bj"], template="backpay")
    case_record(actor=system, case=case, key="backpay", value={"grand_total": "880.00"})
    for choice in ("done", "approved"):
        case_advance(actor=system, case=case, choice=choice)
    case_advance(actor=system, case=case, choice="skip", note="仅单位部分")
    api = api_as(admin, "write")
    url = f"/cases/{case.pk}/advance"
    tomorrow = (timezone.localdate() + dt.timedelta(days=1)).isoformat()
    r = api.post(url, {"choice": "paid", "payment": {"amount": "880.00", "date": tomorrow}})
    assert r.status_code == 422 and field_errors(r) == {"payment.date": "不能晚于今天"}
    r = api.post(url, {"choice": "paid", "payment": {"amount": "-1", "date": "2025-07-01"}})
    assert r.status_code == 422 and "payment.amount" in field_errors(r)
    r = api.post(url, {"choice": "paid", "payment": {"amount": "880.00", "date": "2025-07-40"}})
    assert r.status_code == 422 and "payment.date" in field_errors(r)
    r = api.post(
        url, {"choice": "paid", "note": "已缴", "payment": {"amount": "880.00", "date": "2025-07-01"}}
    )
    assert r.status_code == 422 and "请先上传证明材料" in r.json()["detail"]
    case_attach(actor=system, case=case, filename="凭证.pdf", data=PDF)
    r = api.post(
        url,
        {
            "choice": "paid",
            "note": "已缴",
            "payment": {"amount": "880.00", "date": "2025-07-01", "reference": "P-1"},
        },
    )
    assert r.status_code == 200
    body = r.json()
    assert body["status"] == "closed" and body["current"] is None and body["due"] is None
    assert body["data"]["payment"] == {"amount": "880.00", "date": "2025-07-01", "reference": "P-1"}
    assert [a["filename"] for a in body["attachments"]] == ["凭证.pdf"]
    assert body["attachments"][0]["sha256"] == hashlib.sha256(PDF).hexdigest()
    r = api.post(url, {"choice": "paid"})
    assert r.status_code == 422 and r.json()["detail"] == "案件已已结案，不能再处理".replace("已已", "已")


def test_notes_and_the_timeline(cases, clerk, auditor, api_as):
    api = api_as(clerk, "write")
    pk = cases["bj"].pk
    r = api.post(f"/cases/{pk}/notes", {"text": "  已电话联系员工  "})
    assert r.status_code == 201
    note = r.json()
    assert note["kind"] == "note" and note["text"] == "已电话联系员工" and note["actor"] == "clerk"
    r = api.post(f"/cases/{pk}/notes", {"text": "   "})
    assert r.status_code == 422 and field_errors(r) == {"text": "必填"}
    events = api_as(auditor).get(f"/cases/{pk}/events").json()
    assert [e["kind"] for e in events] == ["opened", "step_started", "note"]
    assert events[0]["kind_label"] == "立案" and events[0]["data"]["template"] == "onboarding"
    assert events[1]["data"]["due"] == "2025-07-01"
    assert CaseEvent.objects.filter(case_id=pk, kind="note").count() == 1


# --- letters and acknowledgements -----------------------------------------------------------------


def test_letter_pdf_and_acknowledgements(data, cases, clerk, api_as):
    system = Actor.system(via="test")
    bj, sz = cases["bj"], cases["sz"]
    bj = case_advance(actor=system, case=bj, choice="blocked", note="原单位未减员")
    letter = letter_issue(actor=system, case=bj)
    api = api_as(clerk)

    letters = api.get(f"/cases/{bj.pk}/letters").json()
    assert [x["number"] for x in letters] == [letter.number]
    assert letters[0]["status"] == "issued" and letters[0]["sha256"] == letter.sha256
    assert letters[0]["pdf"] == f"/api/v1/letters/{letter.pk}/pdf" and letters[0]["requests"] == []

    r = api.get(f"/letters/{letter.pk}/pdf")
    assert r.status_code == 200 and r["Content-Type"] == "application/pdf"
    assert r.content == blobs.blob_read(letter.sha256) and r.content.startswith(b"%PDF-")
    assert hashlib.sha256(r.content).hexdigest() == letter.sha256 == r["X-Content-SHA256"]
    assert api.get("/letters/999999/pdf").status_code == 404

    assert api.get(f"/letters/{letter.pk}/acknowledgements").json() == []
    request = request_create(letter=letter, now=timezone.now())
    ack_verify(request=request, value=last4(data["bj"]))
    ack_submit(
        request=request,
        decision="disagreed",
        reason="我已在新单位参保",
        shown_sha256=letter.sha256,
        files=[("证明.pdf", PDF)],
        ip="10.1.2.3",
        user_agent="Mobile Safari",
    )
    (ack,) = api.get(f"/letters/{letter.pk}/acknowledgements").json()
    assert ack["decision"] == "disagreed" and ack["reason"] == "我已在新单位参保"
    assert ack["method"] == "id_last4" and ack["ip"] == "10.1.2.3" and ack["user_agent"] == "Mobile Safari"
    assert ack["document_sha256"] == letter.sha256 and ack["document_matches"] is True
    assert [a["filename"] for a in ack["attachments"]] == ["证明.pdf"]
    assert ack["attachments"][0]["by_employee"] is True
    (sent,) = api.get(f"/cases/{bj.pk}/letters").json()[0]["requests"]
    assert sent["status"] == "completed" and sent["verified_method"] == "id_last4"

    # another entity's letter is not the clerk's
    sz = case_advance(actor=system, case=sz, choice="blocked", note="x")
    other = letter_issue(actor=system, case=sz)
    assert api.get(f"/letters/{other.pk}/pdf").status_code == 404
    assert api.get(f"/letters/{other.pk}/acknowledgements").status_code == 404


# --- lists and workflows --------------------------------------------------------------------------


def test_list_filters_order_and_paging(data, cases, admin, clerk, make_employee, api_as):
    system = Actor.system(via="test")
    # due in 3 days
    fresh = case_open(actor=system, employee=make_employee(), template="medical_interruption")
    api = api_as(admin)
    items = api.get("/cases").json()["items"]
    assert [c["id"] for c in items][-1] == fresh.pk  # overdue ones first
    assert all(c["overdue"] for c in items[:2]) and not items[-1]["overdue"]
    assert items[-1]["step_name"] == "发出医保中断告知函" and items[-1]["days_left"] == 3

    def ids(**params):
        r = api.get("/cases", params)
        assert r.status_code == 200, r.json()
        return {c["id"] for c in r.json()["items"]}

    assert ids(overdue="true") == {cases["bj"].pk, cases["sz"].pk}
    assert ids(template="medical_interruption") == {fresh.pk}
    assert ids(entity="SZ01") == {cases["sz"].pk}
    assert ids(q=data["bj"].employee_no) == {cases["bj"].pk}
    assert ids(assignee="none") == {cases["bj"].pk, cases["sz"].pk, fresh.pk}
    from shebao.cases.services import case_assign

    case_assign(actor=system, case=cases["bj"], assignee=clerk)
    assert ids(assignee="clerk") == {cases["bj"].pk}
    assert api_as(clerk).get("/cases", {"assignee": "me"}).json()["total"] == 1
    r = api.get("/cases", {"assignee": "ghost"})
    assert r.status_code == 422 and field_errors(r) == {"assignee": "用户不存在"}
    r = api.get("/cases", {"status": "maybe"})
    assert r.status_code == 422 and "status" in field_errors(r)

    from shebao.cases.services import case_cancel

    case_cancel(actor=system, case=fresh, reason="重复")
    assert ids() == {cases["bj"].pk, cases["sz"].pk}
    assert ids(status="cancelled") == {fresh.pk}
    assert ids(status="all") == {cases["bj"].pk, cases["sz"].pk, fresh.pk}
    page = api.get("/cases", {"status": "all", "page_size": 2, "page": 2}).json()
    assert page["total"] == 3 and len(page["items"]) == 1


def test_workflows(org, clerk, api_as):
    api = api_as(clerk)
    listed = {w["code"]: w for w in api.get("/workflows").json()}
    assert set(listed) == {"onboarding", "medical_interruption", "offboarding", "backpay"}
    assert listed["medical_interruption"]["version"] == 1 and listed["medical_interruption"]["is_builtin"]
    assert "medical_interrupted" in listed["medical_interruption"]["finding_kinds"]
    detail = api.get("/workflows/offboarding").json()
    assert detail["definition"]["start"] == "stop"
    assert [s["code"] for s in detail["definition"]["steps"]][:2] == ["stop", "letter"]
    assert detail["versions"] == [
        {
            "number": 1,
            "name": "离职社保处理",
            "note": "系统内置",
            "created_at": detail["version_created_at"],
            "created_by": None,
        }
    ]
    r = api.get("/workflows/nope")
    assert r.status_code == 404 and r.json()["detail"] == "流程模板不存在"
