"""/api/v1/rules and /api/v1/findings: the kinds, rules CRUD and preview, evaluation, the findings
(list, detail, transitions, assignment) — and who may and who may not."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest
from django.utils import timezone

from shebao.api.tests.helpers import field_errors
from shebao.audit.models import AuditEvent
from shebao.core.context import Actor
from shebao.rules.kinds import KINDS
from shebao.rules.models import AlertRule, Finding, FindingTransition
from shebao.rules.services import findings_evaluate
from shebao.rules.tests.factories import Book, months

REG = "registration_overdue"
AS_OF = dt.date(2025, 7, 2)
F = Finding.Status


@pytest.fixture
def data(org, make_employee):
    """Both entities have ledger data; one unregistered newcomer at each (北京: 研发部, 深圳: 门店).
    Registration evaluated as of 2025-07-02: two open findings."""
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
        out[f"book_{code}"] = book
    findings_evaluate(actor=Actor.system(via="test"), as_of=AS_OF, kinds=[REG])
    out["f_bj"] = Finding.objects.get(kind=REG, employee=out["bj"])
    out["f_sz"] = Finding.objects.get(kind=REG, employee=out["sz"])
    return out


def reg_rule() -> AlertRule:
    return AlertRule.objects.get(kind=REG, is_default=True)


# --- auth --------------------------------------------------------------------------------------


def test_token_required_and_read_only_tokens_cannot_write(client, admin, api_as):
    from shebao.api.tests.helpers import ApiClient

    anonymous = ApiClient(client)
    for path in ("/rules", "/rules/kinds", "/findings"):
        r = anonymous.get(path)
        assert r.status_code == 401 and r["WWW-Authenticate"].startswith("Bearer")
    reader = api_as(admin, "read")
    for path, body in (
        ("/rules", {"kind": REG}),
        ("/rules/evaluate", {}),
        (f"/rules/{reg_rule().pk}/preview", {}),
        ("/findings/transition", {"ids": [1], "to_status": "acknowledged"}),
        ("/findings/assign", {"ids": [1], "assignee": None}),
    ):
        r = reader.post(path, body)
        assert r.status_code == 403 and "只读令牌" in r.json()["detail"], path
    assert reader.patch(f"/rules/{reg_rule().pk}", {"name": "x"}).status_code == 403
    r = reader.client.delete(f"/api/v1/rules/{reg_rule().pk}", **reader.headers)
    assert r.status_code == 403


def test_rule_writes_need_an_hr_admin(clerk, api_as):
    api = api_as(clerk, "write")
    rule = reg_rule()
    for r in (
        api.post("/rules", {"kind": REG}),
        api.patch(f"/rules/{rule.pk}", {"name": "改名"}),
        api.post(f"/rules/{rule.pk}/preview", {}),
        api.client.delete(f"/api/v1/rules/{rule.pk}", **api.headers),
        api.post("/rules/evaluate", {"as_of": "2025-07-01"}),
    ):
        assert r.status_code == 403 and "人事管理员" in r.json()["detail"]
    rule.refresh_from_db()
    assert rule.name != "改名" and AlertRule.objects.filter(pk=rule.pk).exists()


def test_department_managers_and_auditors_read(data, manager, auditor, api_as):
    for user in (manager, auditor):
        api = api_as(user, "read")
        assert api.get("/rules").status_code == 200 and api.get("/rules/kinds").status_code == 200
        assert api.get("/findings").status_code == 200


# --- kinds and rules ---------------------------------------------------------------------------


def test_kind_catalogue(clerk, api_as):
    r = api_as(clerk).get("/rules/kinds")
    assert r.status_code == 200
    kinds = {k["code"]: k for k in r.json()}
    assert set(kinds) == set(KINDS)
    reg = kinds[REG]
    assert reg["label"] == "入职未办理社保登记" and reg["severity"] == "critical"
    assert reg["defaults"] == {"days": 30, "warn_days": 7}
    assert reg["citations"] == ["SIL-58", "SIL-84"]
    assert set(reg["params_schema"]["properties"]) == {"days", "warn_days"}


def test_rule_list_and_detail_count_only_visible_findings(data, admin, clerk, api_as):
    rules = api_as(admin).get("/rules").json()
    assert len(rules) == len(KINDS) and all(r["is_default"] for r in rules)
    by_kind = {r["kind"]: r for r in rules}
    assert by_kind[REG]["active_count"] == 2 and by_kind[REG]["last_evaluated_at"]
    assert {r["kind"]: r for r in api_as(clerk).get("/rules").json()}[REG]["active_count"] == 1
    r = api_as(clerk).get(f"/rules/{reg_rule().pk}")
    assert r.status_code == 200 and r.json()["params"] == {"days": 30, "warn_days": 7}
    assert api_as(clerk).get("/rules/999999").json() == {"detail": "预警规则不存在"}
    assert api_as(clerk).get("/rules/999999").status_code == 404


def test_create_update_delete_rule(data, org, admin, api_as, django_capture_on_commit_callbacks):
    api = api_as(admin, "write")
    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        r = api.post(
            "/rules",
            {
                "kind": REG,
                "name": "北京：入职15日内登记",
                "params": {"days": 15, "warn_days": 3},
                "entities": ["BJ01"],
                "employment_types": ["full_time"],
            },
        )
    assert r.status_code == 201, r.json()
    assert len(callbacks) == 1  # the evaluation is queued once the rule is committed
    rule = api.get(f"/rules/{r.json()['id']}").json()
    assert (rule["name"], rule["params"], rule["entities"], rule["severity"], rule["is_default"]) == (
        "北京：入职15日内登记",
        {"days": 15, "warn_days": 3},
        ["BJ01"],
        "critical",
        False,
    )
    # Evaluated in the background (immediate in tests), as of today: the BJ newcomer is long overdue.
    assert r.json()["last_evaluated_at"] is None
    assert rule["last_evaluated_at"] and rule["active_count"] == 1
    assert Finding.objects.filter(rule_id=rule["id"], employee=data["bj"]).exists()
    assert AuditEvent.objects.filter(action="rule.create", via="api", actor=admin).exists()
    # Partial update: only the fields sent.
    r = api.patch(f"/rules/{rule['id']}", {"severity": "warning", "params": {"days": 20}})
    assert r.status_code == 200
    assert (r.json()["severity"], r.json()["params"], r.json()["name"]) == (
        "warning",
        {"days": 20, "warn_days": 7},
        "北京：入职15日内登记",
    )
    # Disabling resolves its findings at once.
    r = api.patch(f"/rules/{rule['id']}", {"enabled": False})
    assert r.status_code == 200 and r.json()["enabled"] is False and r.json()["active_count"] == 0
    assert Finding.objects.get(rule_id=rule["id"]).resolved_reason == "规则已停用"
    r = api.client.delete(f"/api/v1/rules/{rule['id']}", **api.headers)
    assert r.status_code == 204
    assert not AlertRule.objects.filter(pk=rule["id"]).exists()
    assert api.get(f"/rules/{rule['id']}").status_code == 404
    assert api.client.delete(f"/api/v1/rules/{rule['id']}", **api.headers).status_code == 404


def test_rule_validation_errors_are_chinese_and_name_the_field(data, admin, api_as):
    api = api_as(admin, "write")
    r = api.post("/rules", {"kind": "nope"})
    assert r.status_code == 422 and "无效的取值“nope”" in field_errors(r)["kind"]
    r = api.post("/rules", {"kind": REG, "params": {"days": 0, "colour": "red"}})
    assert r.status_code == 422
    assert field_errors(r) == {"params.days": "不能小于 1", "params.colour": "不是这个规则的参数"}
    assert r.json()["detail"].startswith("规则参数无效")
    r = api.post("/rules", {"kind": REG, "entities": ["XX99"], "departments": [999999]})
    assert r.status_code == 422 and field_errors(r) == {"entities": "参保主体不存在"}
    r = api.post("/rules", {"kind": REG, "employment_types": ["pirate"]})
    assert r.status_code == 422 and "用工类型无效" in field_errors(r)["employment_types"]
    r = api.post("/rules", {"kind": REG, "severity": "huge"})
    assert r.status_code == 422 and "severity" in field_errors(r)
    r = api.patch(f"/rules/{reg_rule().pk}", {"name": None})
    assert r.status_code == 422 and field_errors(r) == {"name": "不能为空"}
    r = api.patch(f"/rules/{reg_rule().pk}", {"kind": "arrears"})
    assert r.status_code == 422 and field_errors(r) == {"kind": "不支持的字段"}
    assert AlertRule.objects.count() == len(KINDS)


def test_preview_counts_and_writes_nothing(data, admin, api_as):
    api = api_as(admin, "write")
    rule = reg_rule()
    before = (
        list(Finding.objects.values_list("id", "status", "digest", "updated_at")),
        FindingTransition.objects.count(),
        rule.params,
        rule.last_evaluated_at,
    )
    r = api.post(f"/rules/{rule.pk}/preview", {})
    assert r.status_code == 200
    # As of today the two findings are still there (their text changes with the date).
    assert r.json()["matches"] == 2 and r.json()["opened"] == 0 and r.json()["resolved"] == 0
    r = api.post(f"/rules/{rule.pk}/preview", {"entities": ["SZ01"]})
    assert (r.json()["matches"], r.json()["resolved"]) == (1, 1)
    r = api.post(f"/rules/{rule.pk}/preview", {"params": {"days": 5000}})
    assert r.status_code == 422 and field_errors(r) == {"params.days": "不能大于 365"}
    rule.refresh_from_db()
    after = (
        list(Finding.objects.values_list("id", "status", "digest", "updated_at")),
        FindingTransition.objects.count(),
        rule.params,
        rule.last_evaluated_at,
    )
    assert before == after
    assert api.post("/rules/999999/preview", {}).status_code == 404


def test_evaluate(data, admin, clerk, api_as):
    r = api_as(clerk, "write").post("/rules/evaluate", {"kinds": [REG]})
    assert r.status_code == 200
    body = r.json()
    assert body["as_of"] == timezone.localdate().isoformat()
    assert [x["kind"] for x in body["rules"]] == [REG] and body["rules"][0]["matches"] == 2
    assert body["opened"] == 0 and body["resolved"] == 0
    # As of an earlier day (HR admin only): not due yet, both resolve; back as of the overdue day.
    admin_api = api_as(admin, "write")
    r = admin_api.post("/rules/evaluate", {"kinds": [REG], "as_of": "2025-06-15"})
    assert r.status_code == 200 and (r.json()["resolved"], r.json()["as_of"]) == (2, "2025-06-15")
    r = admin_api.post("/rules/evaluate", {"kinds": [REG], "as_of": "2025-07-02"})
    assert r.json()["opened"] == 2
    r = admin_api.post("/rules/evaluate", {"as_of": "2025-02-30"})
    assert r.status_code == 422 and "不存在" in field_errors(r)["as_of"]
    r = admin_api.post("/rules/evaluate", {"kinds": ["bogus"]})
    assert r.status_code == 422 and "kinds.0" in field_errors(r)
    r = admin_api.post("/rules/evaluate", {})
    assert r.status_code == 200 and len(r.json()["rules"]) == len(KINDS)


# --- findings ----------------------------------------------------------------------------------


def test_findings_are_scoped_filtered_and_paged(data, admin, clerk, manager, api_as):
    r = api_as(admin).get("/findings")
    assert r.status_code == 200
    page = r.json()
    assert (page["total"], page["page"], page["page_size"]) == (2, 1, 50)
    item = page["items"][0]
    assert {
        "key",
        "rule",
        "employee_no",
        "id_masked",
        "entity",
        "severity",
        "status",
        "deadline",
        "amount",
    } <= set(item)
    assert item["deadline"] == "2025-07-01" and "*" in item["id_masked"]
    # HR specialist for 北京: only 北京's.
    clerk_page = api_as(clerk).get("/findings").json()
    assert [i["entity"] for i in clerk_page["items"]] == ["BJ01"] and clerk_page["total"] == 1
    # Department manager of 研发部: the BJ newcomer is in 研发部.
    assert [i["id"] for i in api_as(manager).get("/findings").json()["items"]] == [data["f_bj"].pk]
    api = api_as(admin)
    assert api.get("/findings", {"entity": "SZ01"}).json()["items"][0]["id"] == data["f_sz"].pk
    assert api.get("/findings", {"employee_no": data["bj"].employee_no}).json()["total"] == 1
    assert api.get("/findings", {"kind": REG, "severity": "critical"}).json()["total"] == 2
    assert api.get("/findings", {"kind": "arrears"}).json()["total"] == 0
    assert api.get("/findings", {"rule": reg_rule().pk, "status": "open"}).json()["total"] == 2
    assert api.get("/findings", {"status": "resolved"}).json()["total"] == 0
    two = api.get("/findings", {"page_size": 1, "page": 2}).json()
    assert (two["total"], len(two["items"]), two["page"]) == (2, 1, 2)
    r = api_as(clerk).get("/findings", {"entity": "SZ01"})
    assert r.status_code == 422 and field_errors(r) == {"entity": "不存在或不在您的权限范围内"}
    r = api.get("/findings", {"status": "closed", "page_size": 500})
    assert r.status_code == 422 and set(field_errors(r)) == {"status", "page_size"}


def test_finding_detail_with_transitions(data, clerk, api_as):
    api = api_as(clerk)
    r = api.get(f"/findings/{data['f_bj'].pk}")
    assert r.status_code == 200
    body = r.json()
    assert body["explanation"] and "三十日内" in body["explanation"]
    assert body["transitions"] == [
        {
            "from_status": "",
            "to_status": "open",
            "reason": "发现问题",
            "actor": "系统（规则评估）",
            "created_at": body["transitions"][0]["created_at"],
        }
    ]
    # Another entity's finding is not found (indistinguishable from a missing one).
    r = api.get(f"/findings/{data['f_sz'].pk}")
    assert r.status_code == 404 and r.json() == {"detail": "预警不存在或不在您的权限范围内"}


def test_transitions(data, clerk, api_as):
    api = api_as(clerk, "write")
    f = data["f_bj"]
    r = api.post("/findings/transition", {"ids": [f.pk], "to_status": "acknowledged", "reason": "已联系员工"})
    assert r.status_code == 200, r.json()
    [item] = r.json()["items"]
    assert (item["id"], item["status"]) == (f.pk, "acknowledged")
    until = (timezone.localdate() + dt.timedelta(days=10)).isoformat()
    r = api.post("/findings/transition", {"ids": [f.pk], "to_status": "snoozed", "snoozed_until": until})
    assert r.json()["items"][0]["snoozed_until"] == until
    detail = api.get(f"/findings/{f.pk}").json()
    steps = [(t["from_status"], t["to_status"], t["actor"]) for t in detail["transitions"]]
    assert steps == [
        ("", "open", "系统（规则评估）"),
        ("open", "acknowledged", "clerk"),
        ("acknowledged", "snoozed", "clerk"),
    ]
    assert detail["transitions"][1]["reason"] == "已联系员工"
    r = api.post("/findings/transition", {"ids": [f.pk], "to_status": "open"})
    assert r.json()["items"][0]["status"] == "open"


def test_transition_errors(data, clerk, api_as):
    api = api_as(clerk, "write")
    f = data["f_bj"]
    r = api.post("/findings/transition", {"ids": [f.pk], "to_status": "resolved"})
    assert r.status_code == 422 and "自动解除" in r.json()["detail"] and "to_status" in field_errors(r)
    r = api.post("/findings/transition", {"ids": [f.pk], "to_status": "snoozed"})
    assert r.status_code == 422 and field_errors(r) == {"snoozed_until": "必填"}
    r = api.post(
        "/findings/transition", {"ids": [f.pk], "to_status": "snoozed", "snoozed_until": "2020-01-01"}
    )
    assert r.status_code == 422 and field_errors(r) == {"snoozed_until": "必须晚于今天"}
    r = api.post("/findings/transition", {"ids": [], "to_status": "acknowledged"})
    assert r.status_code == 422 and field_errors(r) == {"ids": "未选择预警"}
    # Another entity's finding: the whole batch is refused, nothing changes.
    r = api.post("/findings/transition", {"ids": [f.pk, data["f_sz"].pk], "to_status": "acknowledged"})
    assert r.status_code == 422 and field_errors(r) == {"ids": f"找不到预警：{data['f_sz'].pk}"}
    r = api.post("/findings/transition", {"ids": [f.pk], "to_status": "open"})
    assert r.status_code == 422 and "不能改为“待处理”" in r.json()["detail"]
    r = api.post("/findings/transition", {"ids": ["x"], "to_status": "frozen"})
    assert r.status_code == 422 and set(field_errors(r)) == {"ids.0", "to_status"}
    assert set(Finding.objects.values_list("status", flat=True)) == {F.OPEN}


def test_assign(data, admin, clerk, auditor, api_as):
    api = api_as(admin, "write")
    ids = [data["f_bj"].pk, data["f_sz"].pk]
    r = api.post("/findings/assign", {"ids": ids, "assignee": "admin"})
    assert r.status_code == 200 and r.json() == {"assigned": 2}
    assert set(Finding.objects.values_list("assignee__username", flat=True)) == {"admin"}
    r = api.post("/findings/assign", {"ids": [data["f_bj"].pk], "assignee": "clerk"})
    assert r.json() == {"assigned": 1}
    assert api.get(f"/findings/{data['f_bj'].pk}").json()["assignee"] == "clerk"
    # Not to someone who cannot see them, nor to a role that does not handle findings.
    r = api.post("/findings/assign", {"ids": ids, "assignee": "clerk"})
    assert r.status_code == 422 and field_errors(r) == {"assignee": "负责人无权查看这些预警"}
    r = api.post("/findings/assign", {"ids": ids, "assignee": "auditor"})
    assert r.status_code == 422 and field_errors(r) == {"assignee": "不能负责预警"}
    r = api.post("/findings/assign", {"ids": ids, "assignee": "nobody"})
    assert r.status_code == 422 and field_errors(r) == {"assignee": "不能负责预警"}
    r = api.post("/findings/assign", {"ids": ids, "assignee": None})
    assert r.json() == {"assigned": 2} and not Finding.objects.filter(assignee__isnull=False).exists()
    # The clerk may only assign what they can see.
    r = api_as(clerk, "write").post("/findings/assign", {"ids": ids, "assignee": "clerk"})
    assert r.status_code == 422 and field_errors(r) == {"ids": f"找不到预警：{data['f_sz'].pk}"}
    r = api.post("/findings/assign", {"ids": ids})
    assert r.status_code == 422 and field_errors(r) == {"assignee": "必填"}


def test_auto_case_is_read_and_written(data, admin, api_as):
    api = api_as(admin, "write")
    rule = reg_rule()
    assert api.get(f"/rules/{rule.pk}").json()["auto_case"] == ""
    r = api.patch(f"/rules/{rule.pk}", {"auto_case": "onboarding"})
    assert r.status_code == 200 and r.json()["auto_case"] == "onboarding"
    r = api.patch(f"/rules/{rule.pk}", {"auto_case": "nope"})
    assert r.status_code == 422 and field_errors(r) == {"auto_case": "流程模板“nope”不存在"}
