from __future__ import annotations

import pytest
from django.test import Client

from shebao.audit.models import AuditEvent
from shebao.audit.services import audit_record
from shebao.audit.views import action_label, compact_changes
from shebao.core.context import Actor

pytestmark = pytest.mark.django_db


def test_anonymous_is_sent_to_login():
    response = Client().get("/audit/")
    assert response.status_code == 302 and response.url.startswith("/login/")


@pytest.mark.parametrize("who", ["clerk", "manager", "staff_employee"])
def test_others_are_forbidden(request, login, who):
    response = login(request.getfixturevalue(who)).get("/audit/")
    assert response.status_code == 403
    assert "只有HR管理员和审计员可以查看审计日志" in response.content.decode()


@pytest.mark.parametrize("who", ["admin", "auditor"])
def test_admin_and_auditor_see_the_log(request, login, who):
    response = login(request.getfixturevalue(who)).get("/audit/")
    assert response.status_code == 200
    assert response.context["active"] == "audit"
    body = response.content.decode()
    # The org fixture's services wrote these.
    assert "新增参保主体" in body and "新增部门" in body and "新增用户" in body
    assert "北京示例科技有限公司" in body


def test_row_shows_time_actor_action_object_changes_ip_via(login, admin, clerk):
    audit_record(
        actor=Actor(user=clerk, ip="10.1.2.3", via="web"),
        action="employee.update",
        obj=clerk,
        changes={"name": ["张三", "张叁"], "phone": ["139****0001", "139****0002"]},
    )
    body = login(admin).get("/audit/").content.decode()
    assert "修改员工" in body
    assert "10.1.2.3" in body
    assert "name: 张三 → 张叁" in body
    assert "网页" in body


def test_unknown_action_falls_back_to_code(login, admin, system):
    audit_record(actor=system, action="policy.import_rates")
    body = login(admin).get("/audit/").content.decode()
    assert "policy.import_rates" in body


def test_filter_by_action(login, admin, system):
    audit_record(actor=system, action="demo.seed", changes={"employees": 10})
    response = login(admin).get("/audit/", {"action": "demo.seed"})
    actions = {row["event"].action for row in response.context["rows"]}
    assert actions == {"demo.seed"}
    assert "生成演示数据" in response.content.decode()
    assert 'value="demo.seed" selected' in response.content.decode()


def test_filter_by_actor(login, admin, clerk):
    audit_record(actor=Actor(user=clerk), action="employee.reveal_id_number", obj=clerk)
    audit_record(actor=Actor(user=admin), action="employee.reveal_phone", obj=clerk)
    response = login(admin).get("/audit/", {"actor": "clerk"})
    rows = response.context["rows"]
    assert rows and {row["event"].actor_label for row in rows} == {"clerk"}
    assert [row["event"].action for row in rows] == ["employee.reveal_id_number"]


def test_filters_combined_and_empty(login, auditor):
    response = login(auditor).get("/audit/", {"action": "api_token.create", "actor": "nobody"})
    assert response.context["rows"] == []
    assert "没有符合筛选条件的记录" in response.content.decode()


def test_pagination_by_50(login, admin, system):
    existing = AuditEvent.objects.count()
    for i in range(60):
        audit_record(actor=system, action="demo.seed", changes={"i": i})
    client = login(admin)
    first = client.get("/audit/")
    assert len(first.context["rows"]) == 50
    total = existing + 60
    second = client.get("/audit/", {"page": 2})
    assert len(second.context["rows"]) == total - 50
    # Newest first: page 1 starts with the last event written.
    assert first.context["rows"][0]["event"].changes == {"i": 59}
    assert "下一页" in first.content.decode()


def test_pager_keeps_filters(login, admin, system):
    for _ in range(55):
        audit_record(actor=system, action="demo.seed")
    body = login(admin).get("/audit/", {"action": "demo.seed"}).content.decode()
    assert "?action=demo.seed&amp;page=2" in body


def test_htmx_request_gets_the_table_only(login, admin):
    client = login(admin)
    partial = client.get("/audit/", {"action": "entity.create"}, headers={"HX-Request": "true"})
    body = partial.content.decode()
    assert partial.status_code == 200
    assert "<html" not in body and "<table" in body
    assert [t.name for t in partial.templates][0] == "audit/_events.html"
    assert "HX-Request" in partial["Vary"]
    # History restore needs the whole page.
    full = client.get("/audit/", headers={"HX-Request": "true", "HX-History-Restore-Request": "true"})
    assert "<html" in full.content.decode()


def test_bad_page_number_is_harmless(login, admin):
    assert login(admin).get("/audit/", {"page": "abc"}).status_code == 200
    assert login(admin).get("/audit/", {"page": "999"}).status_code == 200


def test_post_not_allowed(login, admin):
    assert login(admin).post("/audit/").status_code == 405


def test_compact_changes():
    assert compact_changes({}) == ""
    assert compact_changes({"scope": "read"}) == "scope: read"
    assert compact_changes({"name": ["a", "b"], "x": None}) == "name: a → b；x: —"
    assert compact_changes({"entities": ["BJ01", "SZ01", "GZ01"]}) == "entities: BJ01、SZ01、GZ01"
    assert compact_changes({"new": {"name": "张三", "entity": "北京"}}) == "new: name=张三，entity=北京"


def test_action_labels():
    assert action_label("api_token.revoke") == "吊销API令牌"
    assert action_label("something.else") == "something.else"
