"""The rules room's pages: the findings inbox (filters, counts, batch actions), a finding's page
(evidence, citations, timeline), the rules list and editor (preview, save, parameter errors), the
employee page's findings — and who may see and do what."""

from __future__ import annotations

import datetime as dt
import re
from decimal import Decimal

import pytest
from django.urls import reverse
from django.utils import timezone

from shebao.core.context import Actor
from shebao.core.yearmonth import YearMonth
from shebao.rules.models import AlertRule, Finding
from shebao.rules.services import finding_transition, findings_evaluate
from shebao.rules.tests.factories import Book, months

F = Finding.Status
SYSTEM = Actor.system(via="test")
FINDINGS = "/rules/findings/"


def _ym(d: dt.date) -> str:
    return str(YearMonth.of(d))


@pytest.fixture
def scene(org, make_employee):
    """Both entities with current contribution data; new hires not registered (two in Beijing, one
    in Shenzhen) and one Beijing employee whose pension and medical stopped five months ago."""
    today = timezone.localdate()
    this_month = _ym(today)
    people = {}
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
            book.pay(p, ins, months("2025-01", this_month))
        people[f"{code}_book"] = book
    people["late"] = make_employee(
        name="王迟到", hire_date=today - dt.timedelta(days=40), declared_wage=Decimal("9000")
    )
    people["soon"] = make_employee(
        name="李将到", department=org["sales"], hire_date=today - dt.timedelta(days=25)
    )
    people["sz_late"] = make_employee(
        name="赵深圳", entity=org["sz"], department=org["store"], hire_date=today - dt.timedelta(days=45)
    )
    gap = make_employee(name="孙中断", hire_date=dt.date(2024, 1, 1), declared_wage=Decimal("12000"))
    stopped = _ym(today.replace(day=1) - dt.timedelta(days=140))
    p = people["bj_book"].person(gap)
    for ins in ("pension", "medical", "housing_fund"):
        people["bj_book"].pay(p, ins, months("2025-01", stopped))
    people["gap"] = gap
    findings_evaluate(actor=SYSTEM)
    return people


def _reg(employee) -> Finding:
    return Finding.objects.get(kind="registration_overdue", employee=employee)


def _body(response) -> str:
    return response.content.decode()


def _rows(response) -> set[int]:
    return {int(n) for n in re.findall(r'data-finding="(\d+)"', _body(response))}


# --- permissions ----------------------------------------------------------------------------------


def test_urls():
    assert reverse("rules:findings") == FINDINGS
    assert reverse("rules:finding", args=[3]) == "/rules/findings/3/"
    assert reverse("rules:list") == "/rules/"
    assert reverse("rules:edit", args=[3]) == "/rules/3/edit/"
    assert reverse("rules:create") == "/rules/new/"


def test_anonymous_is_sent_to_login(client, scene):
    for url in (FINDINGS, f"{FINDINGS}{_reg(scene['late']).pk}/", "/rules/"):
        response = client.get(url)
        assert response.status_code == 302 and response["Location"].startswith("/login/")


def test_employee_role_is_forbidden(login, scene, staff_employee):
    c = login(staff_employee)
    rule = AlertRule.objects.first()
    for url in (FINDINGS, f"{FINDINGS}{_reg(scene['late']).pk}/", "/rules/", f"/rules/{rule.pk}/edit/"):
        assert c.get(url).status_code == 403
    assert c.post("/rules/findings/action/", {"action": "acknowledge", "ids": [1]}).status_code == 403


def test_nav_links_the_inbox(login, admin):
    body = _body(login(admin).get(FINDINGS))
    assert f'<a href="{FINDINGS}" class="active">预警</a>' in body


def test_clerk_sees_beijing_only_and_may_act(login, scene, clerk):
    c = login(clerk)
    response = c.get(FINDINGS)
    body = _body(response)
    assert "王迟到" in body and "李将到" in body and "赵深圳" not in body
    assert 'data-testid="finding-actions"' in body
    assert c.get(f"{FINDINGS}{_reg(scene['sz_late']).pk}/").status_code == 404
    # an out-of-scope id in a batch is refused, nothing changes
    ids = [_reg(scene["late"]).pk, _reg(scene["sz_late"]).pk]
    response = c.post("/rules/findings/action/", {"action": "acknowledge", "ids": ids}, follow=True)
    assert "找不到预警" in _body(response)
    assert _reg(scene["late"]).status == F.OPEN
    # the rules page: visible, not editable
    body = _body(c.get("/rules/"))
    assert "立即评估全部规则" not in body and "/edit/" not in body
    rule = AlertRule.objects.get(kind="registration_overdue", is_default=True)
    assert c.get(f"/rules/{rule.pk}/edit/").status_code == 403
    assert c.post(f"/rules/{rule.pk}/toggle/").status_code == 403
    assert c.post("/rules/evaluate/").status_code == 403


def test_manager_sees_his_subtree_read_only(login, scene, manager):
    c = login(manager)
    body = _body(c.get(FINDINGS))
    assert "王迟到" in body and "李将到" not in body and "赵深圳" not in body  # 李将到 is in 销售部
    assert 'data-testid="finding-actions"' not in body and 'name="ids"' not in body
    f = _reg(scene["late"])
    detail = _body(c.get(f"{FINDINGS}{f.pk}/"))
    assert "王迟到" in detail and "action-acknowledge" not in detail
    assert c.post("/rules/findings/action/", {"action": "acknowledge", "ids": [f.pk]}).status_code == 403
    assert _reg(scene["late"]).status == F.OPEN


def test_auditor_sees_everything_and_changes_nothing(login, scene, auditor):
    c = login(auditor)
    body = _body(c.get(FINDINGS))
    assert "王迟到" in body and "赵深圳" in body
    assert 'name="ids"' not in body
    rule = AlertRule.objects.get(kind="registration_overdue", is_default=True)
    assert c.get(f"/rules/{rule.pk}/edit/").status_code == 403
    assert c.post(f"/rules/{rule.pk}/preview/", {"name": "x"}).status_code == 403
    assert c.post("/rules/new/?kind=arrears", {"name": "x"}).status_code == 403


# --- the inbox ------------------------------------------------------------------------------------


def test_counts_header(login, scene, admin):
    body = _body(login(admin).get(FINDINGS))
    active = Finding.objects.exclude(status=F.RESOLVED)
    overdue = active.filter(deadline__lt=timezone.localdate()).count()
    assert overdue >= 3  # 王迟到 (社保 and 公积金), 赵深圳
    assert f'data-testid="count-overdue">{overdue}<' in body


def test_filters(login, scene, admin, org):
    c = login(admin)
    late, soon, sz = (_reg(scene[k]) for k in ("late", "soon", "sz_late"))
    everything = _rows(c.get(FINDINGS))
    assert {late.pk, soon.pk, sz.pk} <= everything
    assert _rows(c.get(FINDINGS, {"kind": "registration_overdue"})) == {late.pk, soon.pk, sz.pk}
    assert _rows(c.get(FINDINGS, {"rule": late.rule_id})) == {late.pk, soon.pk, sz.pk}
    assert _rows(c.get(FINDINGS, {"kind": "registration_overdue", "severity": "warning"})) == {soon.pk}
    assert _rows(c.get(FINDINGS, {"kind": "registration_overdue", "entity": org["sz"].pk})) == {sz.pk}
    assert _rows(c.get(FINDINGS, {"kind": "registration_overdue", "department": org["sales"].pk})) == {
        soon.pk
    }
    assert _rows(c.get(FINDINGS, {"q": "赵深圳"})) == set(
        Finding.objects.filter(employee=scene["sz_late"]).values_list("pk", flat=True)
    )
    assert _rows(c.get(FINDINGS, {"q": scene["late"].employee_no})) == set(
        Finding.objects.filter(employee=scene["late"]).values_list("pk", flat=True)
    )
    gap = set(Finding.objects.filter(employee=scene["gap"]).values_list("pk", flat=True))
    assert gap and _rows(c.get(FINDINGS, {"q": "孙中断"})) == gap
    # status: acknowledged ones leave "open" and stay "active"
    finding_transition(actor=SYSTEM, finding_ids=[late.pk], to_status="acknowledged")
    assert late.pk not in _rows(c.get(FINDINGS, {"status": "open"}))
    assert _rows(c.get(FINDINGS, {"status": "acknowledged"})) == {late.pk}
    assert late.pk in _rows(c.get(FINDINGS))
    # assignee: unassigned
    Finding.objects.filter(pk=soon.pk).update(assignee=admin)
    assert soon.pk not in _rows(c.get(FINDINGS, {"assignee": "-1"}))
    assert _rows(c.get(FINDINGS, {"assignee": str(admin.pk)})) == {soon.pk}


def test_sort_and_overdue_marks(login, scene, admin):
    c = login(admin)
    late, soon = _reg(scene["late"]), _reg(scene["soon"])
    body = _body(c.get(FINDINGS, {"kind": "registration_overdue"}))
    ids = [int(n) for n in re.findall(r'data-finding="(\d+)"', body)]
    assert ids.index(_reg(scene["sz_late"]).pk) < ids.index(late.pk) < ids.index(soon.pk)  # by deadline
    assert "已超期 10 天" in body and "剩 5 天" in body
    body = _body(c.get(FINDINGS, {"kind": "registration_overdue", "sort": "severity"}))
    ids = [int(n) for n in re.findall(r'data-finding="(\d+)"', body)]
    assert ids[-1] == soon.pk  # the warning after the critical ones


def test_htmx_filter_returns_the_results_only(login, scene, admin):
    response = login(admin).get(FINDINGS, {"severity": "warning"}, HTTP_HX_REQUEST="true")
    body = _body(response)
    assert body.lstrip().startswith('<div id="finding-results">')
    assert "<html" not in body
    assert 'name="next" value="/rules/findings/?severity=warning"' in body


def test_pagination(login, scene, admin):
    from shebao.rules.models import FindingTransition  # noqa: F401 (the rows below need none)

    rule = AlertRule.objects.get(kind="registration_overdue", is_default=True)
    now = timezone.now()
    Finding.objects.bulk_create(
        Finding(
            rule=rule,
            kind=rule.kind,
            key=f"x{i}",
            severity="info",
            title=f"填充{i}",
            digest="x",
            first_seen_at=now,
            updated_at=now,
            status_changed_at=now,
        )  # fmt: skip
        for i in range(60)
    )
    c = login(admin)
    body = _body(c.get(FINDINGS, {"severity": "info"}))
    assert len(_rows(c.get(FINDINGS, {"severity": "info"}))) == 50
    assert "第 1 / 2 页" in body and "severity=info&amp;page=2" in body
    assert len(_rows(c.get(FINDINGS, {"severity": "info", "page": 2}))) == 10


# --- batch actions --------------------------------------------------------------------------------


def _act(c, **data):
    data.setdefault("next", FINDINGS)
    return c.post("/rules/findings/action/", data, follow=True)


def test_batch_acknowledge_snooze_reopen_assign(login, scene, clerk):
    c = login(clerk)
    late, soon = _reg(scene["late"]), _reg(scene["soon"])
    response = _act(
        c, action="acknowledge", ids=[late.pk, soon.pk], reason="已联系员工", next=f"{FINDINGS}?sort=newest"
    )
    assert response.redirect_chain[-1][0] == f"{FINDINGS}?sort=newest"
    assert "已将 2 条预警改为“已确认”" in _body(response)
    late.refresh_from_db()
    assert late.status == F.ACKNOWLEDGED
    t = late.transitions.last()
    assert (t.from_status, t.to_status, t.reason, t.actor) == ("open", "acknowledged", "已联系员工", clerk)

    # snooze: the date is required and must be in the future (the service's words)
    assert "请填写暂缓到哪一天" in _body(_act(c, action="snooze", ids=[late.pk]))
    past = (timezone.localdate() - dt.timedelta(days=1)).isoformat()
    assert "暂缓日期必须晚于今天" in _body(_act(c, action="snooze", ids=[late.pk], snoozed_until=past))
    until = timezone.localdate() + dt.timedelta(days=14)
    _act(c, action="snooze", ids=[late.pk], snoozed_until=until.isoformat(), reason="等原单位停保")
    late.refresh_from_db()
    assert late.status == F.SNOOZED and late.snoozed_until == until

    _act(c, action="reopen", ids=[late.pk])
    late.refresh_from_db()
    assert late.status == F.OPEN and late.snoozed_until is None

    response = _act(c, action="assign", ids=[late.pk, soon.pk], assignee=clerk.pk)
    assert "已将 2 条预警分派给" in _body(response)
    assert Finding.objects.filter(pk__in=[late.pk, soon.pk], assignee=clerk).count() == 2
    _act(c, action="assign", ids=[late.pk], assignee="")
    late.refresh_from_db()
    assert late.assignee is None


def test_batch_errors(login, scene, clerk, manager):
    c = login(clerk)
    assert "请选择要处理的预警" in _body(_act(c, action="acknowledge"))
    late = _reg(scene["late"])
    # a manager is no HR user: not offered, refused
    body = _body(_act(c, action="assign", ids=[late.pk], assignee=manager.pk))
    assert "msg-error" in body
    late.refresh_from_db()
    assert late.assignee is None
    # reopening an open finding is not a move
    assert "不能改为“待处理”" in _body(_act(c, action="reopen", ids=[late.pk]))
    # an off-site next is ignored
    response = c.post(
        "/rules/findings/action/",
        {"action": "acknowledge", "ids": [late.pk], "next": "https://evil.example/"},
    )
    assert response["Location"] == FINDINGS


# --- a finding's page -----------------------------------------------------------------------------


def test_detail_shows_problem_evidence_citations_and_timeline(login, scene, clerk):
    c = login(clerk)
    f = _reg(scene["late"])
    finding_transition(actor=Actor(user=clerk), finding_ids=[f.pk], to_status="acknowledged", reason="已催办")
    body = _body(c.get(f"{FINDINGS}{f.pk}/"))
    assert "王迟到入职已 40 天，仍未查到本单位的社保登记" in body
    assert "用人单位应当自用工之日起三十日内" in body  # the explanation
    assert "立即为其办理参保登记" in body  # the next step
    assert "已超期 10 天" in body
    assert "入职之日起 30 日内" in body and scene["late"].employee_no in body  # evidence
    assert 'data-testid="evidence-costs"' in body and "估算" in body
    assert 'href="/law/SIL-58/"' in body and 'href="/law/SIL-84/"' in body
    assert "已催办" in body and "clerk" in body  # the timeline
    assert f'<a href="/employees/{scene["late"].pk}/">王迟到</a>' in body
    # the moves open to an acknowledged finding only
    assert 'value="reopen"' in body and 'value="snooze"' in body and 'value="acknowledge"' not in body


def test_detail_of_a_medical_gap_labels_unverified_statements(login, scene, admin):
    f = Finding.objects.get(kind="medical_interrupted", employee=scene["gap"])
    body = _body(login(admin).get(f"{FINDINGS}{f.pk}/"))
    assert "最后缴费月份" in body and "前雇主" not in body
    assert "待遇等待期" in body
    statements = f.details["waiting_period"]["statements"]
    assert statements
    if any(s["confidence"] != "官方原文" for s in statements):
        assert 'data-testid="unverified-note"' in body
    for s in statements:
        assert s["text"] in body


def test_detail_in_english(login, scene, admin):
    f = _reg(scene["late"])
    c = login(admin)
    c.cookies["django_language"] = "en"
    assert c.get(f"{FINDINGS}{f.pk}/").status_code == 200


# --- rules ----------------------------------------------------------------------------------------


def _rule() -> AlertRule:
    return AlertRule.objects.get(kind="registration_overdue", is_default=True)


def _form(rule: AlertRule, **params) -> dict:
    data = {
        "name": rule.name,
        "severity": rule.severity,
        "enabled": "on",
        "recipients": ["entity_hr"],
        **{f"param_{k}": v for k, v in {**rule.params, **params}.items()},
    }
    return data


def test_rules_page_lists_rules_with_scoped_counts(login, scene, admin, clerk):
    rule = _rule()
    body = _body(login(admin).get("/rules/"))
    assert "入职未办理社保登记" in body and rule.name in body
    assert f'href="/rules/findings/?rule={rule.pk}" data-testid="rule-count-{rule.pk}">3<' in body
    assert "立即评估全部规则" in body and f"/rules/{rule.pk}/edit/" in body
    body = _body(login(clerk).get("/rules/"))
    assert f'data-testid="rule-count-{rule.pk}">2<' in body  # Beijing's only


def test_edit_form_is_generated_from_the_schema(login, scene, admin):
    body = _body(login(admin).get(f"/rules/{_rule().pk}/edit/"))
    assert "入职后多少天内应完成登记" in body and 'name="param_days"' in body and 'value="30"' in body
    assert 'min="1"' in body and 'max="365"' in body
    for label in ("本主体人事", "部门负责人", "员工本人", "指定用户", "群机器人"):
        assert label in body
    rule = AlertRule.objects.get(kind="insurance_interrupted", is_default=True)
    body = _body(login(admin).get(f"/rules/{rule.pk}/edit/"))
    assert 'type="checkbox" name="param_insurances" value="pension"' in body and "养老保险" in body
    rule = AlertRule.objects.get(kind="invalid_identity", is_default=True)
    body = _body(login(admin).get(f"/rules/{rule.pk}/edit/"))
    assert 'name="param_upgraded_15"' in body and "checked" in body


def test_edit_with_invalid_params_shows_the_chinese_error_on_the_field(login, scene, admin):
    c = login(admin)
    rule = _rule()
    response = c.post(f"/rules/{rule.pk}/edit/", _form(rule, days="0"))
    assert response.status_code == 422
    body = _body(response)
    assert re.search(r'data-testid="error-param_days"><li>不能小于 1</li>', body)
    response = c.post(f"/rules/{rule.pk}/edit/", _form(rule, days="abc", warn_days="99"))
    body = _body(response)
    assert re.search(r'data-testid="error-param_days"><li>必须是整数</li>', body)
    assert re.search(r'data-testid="error-param_warn_days"><li>不能大于 60</li>', body)
    rule.refresh_from_db()
    assert rule.params["days"] == 30
    # an emptied name: the service's message on the field
    body = _body(c.post(f"/rules/{rule.pk}/edit/", {**_form(rule), "name": ""}))
    assert "请填写规则名称" in body


def test_preview_counts_before_saving(login, scene, admin):
    c = login(admin)
    rule = _rule()
    body = _body(c.post(f"/rules/{rule.pk}/preview/", _form(rule), HTTP_HX_REQUEST="true"))
    assert "按此设置将有 3 条预警：新增 0、解除 0、不变 3" in body
    body = _body(c.post(f"/rules/{rule.pk}/preview/", _form(rule, days="60"), HTTP_HX_REQUEST="true"))
    assert "按此设置将有 0 条预警：新增 0、解除 3、不变 0" in body
    body = _body(
        c.post(f"/rules/{rule.pk}/preview/", _form(rule, days="20", warn_days="0"), HTTP_HX_REQUEST="true")
    )
    assert "按此设置将有 3 条预警" in body  # 李将到 now overdue too
    rule.refresh_from_db()
    assert rule.params["days"] == 30  # nothing saved
    body = _body(c.post(f"/rules/{rule.pk}/preview/", _form(rule, days="0"), HTTP_HX_REQUEST="true"))
    assert "设置有误，无法预览" in body and "不能小于 1" in body
    data = _form(rule)
    del data["enabled"]
    assert "现有 3 条未解除的预警将全部解除" in _body(c.post(f"/rules/{rule.pk}/preview/", data))
    # a new rule's preview
    body = _body(c.post("/rules/new/preview/?kind=registration_overdue", {**_form(rule), "name": "新"}))
    assert "按此设置将有 3 条预警：新增 3" in body


def test_save_reevaluates_at_once(login, scene, admin):
    c = login(admin)
    rule = _rule()
    response = c.post(f"/rules/{rule.pk}/edit/", _form(rule, days="60"), follow=True)
    assert "已保存" in _body(response) and "解除 3" in _body(response)
    rule.refresh_from_db()
    assert rule.params["days"] == 60 and rule.routing["recipients"] == ["entity_hr"]
    assert not Finding.objects.filter(rule=rule).exclude(status=F.RESOLVED).exists()
    assert _reg(scene["late"]).resolved_reason


def test_scope_and_routing_are_saved(login, scene, admin, org):
    c = login(admin)
    rule = _rule()
    data = {
        **_form(rule),
        "entities": [org["sz"].pk],
        "employment_types": ["full_time"],
        "recipients": ["employee", "users"],
        "users": [admin.pk],
    }
    c.post(f"/rules/{rule.pk}/edit/", data)
    rule.refresh_from_db()
    assert list(rule.entities.all()) == [org["sz"]]
    assert rule.employment_types == ["full_time"] and rule.routing["recipients"] == ["employee", "users"]
    active = set(
        Finding.objects.filter(rule=rule).exclude(status=F.RESOLVED).values_list("employee__name", flat=True)
    )
    assert active == {"赵深圳"}
    body = _body(c.get("/rules/"))
    assert "深圳示例零售有限公司" in body and "员工本人、指定用户（admin）" in body
    # a department outside the chosen entities: the service says so
    body = _body(c.post(f"/rules/{rule.pk}/edit/", {**data, "departments": [org["rd"].pk]}))
    assert "不属于所选的参保主体" in body


def test_toggle_create_delete_and_evaluate_all(login, scene, admin, org):
    c = login(admin)
    rule = _rule()
    c.post(f"/rules/{rule.pk}/toggle/")
    rule.refresh_from_db()
    assert not rule.enabled
    assert not Finding.objects.filter(rule=rule).exclude(status=F.RESOLVED).exists()
    c.post(f"/rules/{rule.pk}/toggle/")
    rule.refresh_from_db()
    assert rule.enabled and Finding.objects.filter(rule=rule, status=F.OPEN).count() == 3

    assert c.get("/rules/new/?kind=nope").status_code == 404
    body = _body(c.get("/rules/new/?kind=registration_overdue"))
    assert 'value="入职30日内未办理社保登记"' in body and 'name="kind" value="registration_overdue"' in body
    data = {
        **_form(rule, days="35"),
        "name": "深圳：入职35日",
        "kind": "registration_overdue",
        "entities": [org["sz"].pk],
    }
    response = c.post("/rules/new/", data, follow=True)
    assert "已新增规则“深圳：入职35日”" in _body(response)
    new = AlertRule.objects.get(name="深圳：入职35日")
    assert new.params["days"] == 35 and not new.is_default
    assert set(new.findings.values_list("employee__name", flat=True)) == {"赵深圳"}

    response = c.post(f"/rules/{rule.pk}/delete/", follow=True)
    assert "默认规则不能删除" in _body(response)
    assert AlertRule.objects.filter(pk=rule.pk).exists()
    c.post(f"/rules/{new.pk}/delete/")
    assert not AlertRule.objects.filter(pk=new.pk).exists()

    response = c.post("/rules/evaluate/", follow=True)
    assert re.search(r"已评估 \d+ 条规则：当前 \d+ 条预警", _body(response))


# --- notification routing -------------------------------------------------------------------------


@pytest.fixture
def robots():
    from shebao.notify.models import Channel
    from shebao.notify.services import channel_create, inapp_channel

    inapp_channel()
    group = channel_create(
        actor=SYSTEM, kind="webhook", name="人事群", config={"url": "http://127.0.0.1:9/h"}
    )
    stopped = channel_create(
        actor=SYSTEM, kind="webhook", name="旧群", config={"url": "http://127.0.0.1:9/o"}, enabled=False
    )
    return {"group": group, "stopped": stopped, "inapp": Channel.objects.get(kind="inapp")}


def test_rule_editor_shows_the_routing_fields(login, scene, admin, clerk, robots):
    rule = _rule()
    body = _body(login(admin).get(f"/rules/{rule.pk}/edit/"))
    section = body[body.index('data-testid="rule-routing"') :]
    assert re.search(r'<select name="users"[^>]*multiple', section)
    assert f'<option value="{clerk.pk}">clerk（HR专员）</option>' in section
    assert f'name="channels" value="{robots["group"].pk}"' in section and "人事群（Webhook）" in section
    assert f'value="{robots["stopped"].pk}"' not in section  # a stopped channel is not offered
    assert f'value="{robots["inapp"].pk}"' not in section.split('name="channels"', 1)[1][:2000]
    for name, selected in (
        ("mode_critical", "immediate"),
        ("mode_warning", "immediate"),
        ("mode_info", "digest"),
    ):
        select = re.search(rf'<select name="{name}".*?</select>', section, re.S).group(0)
        assert f'<option value="{selected}" selected>' in select
        assert "立即" in select and "每日摘要" in select and "不发送" in select
    assert 'type="time" name="quiet_start"' in section and 'name="digest_at" value="09:00"' in section
    assert 'name="notify_resolved"' in section and "解除时也通知" in section


def test_rule_editor_saves_the_routing(login, scene, admin, clerk, robots):
    c = login(admin)
    rule = _rule()
    data = {
        **_form(rule),
        "recipients": ["entity_hr", "users", "group_robot"],
        "users": [clerk.pk, admin.pk],
        "channels": [robots["group"].pk],
        "mode_critical": "immediate",
        "mode_warning": "digest",
        "mode_info": "off",
        "quiet_start": "22:00",
        "quiet_end": "08:00",
        "digest_at": "08:30",
        "notify_resolved": "on",
    }
    response = c.post(f"/rules/{rule.pk}/edit/", data)
    assert response.status_code == 302, _body(response)
    rule.refresh_from_db()
    assert rule.routing == {
        "recipients": ["entity_hr", "users", "group_robot"],
        "users": [admin.pk, clerk.pk],  # the form lists them by user name
        "channels": [robots["group"].pk],
        "modes": {"critical": "immediate", "warning": "digest", "info": "off"},
        "quiet_hours": {"start": "22:00", "end": "08:00"},
        "digest_at": "08:30",
        "notify_resolved": True,
    }
    # the editor shows what is stored
    body = _body(c.get(f"/rules/{rule.pk}/edit/"))
    assert f'<option value="{clerk.pk}" selected>' in body
    assert re.search(rf'name="channels" value="{robots["group"].pk}"[^>]*checked', body)
    assert '<option value="digest" selected>' in body and '<option value="off" selected>' in body
    assert 'name="quiet_start" value="22:00"' in body and 'name="digest_at" value="08:30"' in body
    assert re.search(r'name="notify_resolved"[^>]*checked', body)
    # and the rules page sums it up
    body = _body(c.get("/rules/"))
    cell = re.search(rf'data-testid="rule-routing-{rule.pk}">(.*?)</td>', body, re.S).group(1)
    assert "指定用户（" in cell and "群机器人（人事群）" in cell
    assert "警告：每日摘要" in cell and "免打扰 22:00–08:00" in cell and "解除时通知" in cell
    # a channel stopped since stays offered (marked) and kept
    robots["group"].enabled = False
    robots["group"].save()
    body = _body(c.get(f"/rules/{rule.pk}/edit/"))
    assert "人事群（Webhook）（已停用）" in body
    assert c.post(f"/rules/{rule.pk}/edit/", data).status_code == 302
    rule.refresh_from_db()
    assert rule.routing["channels"] == [robots["group"].pk]


def test_rule_editor_shows_routing_errors_on_their_fields(login, scene, admin, robots):
    c = login(admin)
    rule = _rule()
    before = dict(rule.routing or {})
    base = {**_form(rule), "recipients": ["entity_hr"]}

    def errors(**over) -> str:
        response = c.post(f"/rules/{rule.pk}/edit/", {**base, **over})
        assert response.status_code == 422
        return _body(response)

    body = errors(recipients=["users"])
    assert re.search(r'data-testid="error-users"><li>选择了“指定用户”，请选择用户</li>', body)
    body = errors(recipients=["group_robot"])
    assert re.search(r'data-testid="error-channels"><li>选择了“群机器人/固定地址”，请选择通道</li>', body)
    body = errors(quiet_start="22:00")
    assert re.search(r'data-testid="error-quiet_start"><li>免打扰时段需填写开始和结束时间</li>', body)
    body = errors(quiet_start="25:00", quiet_end="08:00")
    assert re.search(
        r'data-testid="error-quiet_start"><li>时间“25:00”无效（格式 HH:MM，如 22:00）</li>', body
    )
    assert 'data-testid="form-errors"' in body and "规则有误" in body  # and the service's message on top
    body = errors(digest_at="9点")
    assert re.search(r'data-testid="error-digest_at"><li>时间“9点”无效（格式 HH:MM，如 22:00）</li>', body)
    body = errors(mode_info="sometimes")
    assert 'data-testid="error-mode_info"' in body  # not a choice: the form says so
    rule.refresh_from_db()
    assert (rule.routing or {}) == before


def test_routing_service_errors_map_to_fields(scene):
    from shebao.rules.forms import RuleForm
    from shebao.rules.kinds import KINDS

    form = RuleForm({}, kind=KINDS["registration_overdue"])
    form.is_valid()
    form.add_service_errors(
        {
            "routing.users": "用户不存在或已停用：99",
            "routing.channels": "通道不存在：7",
            "routing.modes": "发送方式无效",
            "routing.quiet_hours": "免打扰",
            "routing.digest_at": "格式 HH:MM",
            "routing": "通知对象无效",
        },
        "规则有误",
    )
    assert form.errors["users"] == ["用户不存在或已停用：99"]
    assert form.errors["channels"] == ["通道不存在：7"]
    assert form.errors["mode_critical"] == ["发送方式无效"]
    assert form.errors["quiet_start"] == ["免打扰"]
    assert form.errors["digest_at"] == ["格式 HH:MM"]
    assert "通知对象无效" in form.errors["recipients"]
    assert "规则有误" in form.non_field_errors()


# --- the employee page ----------------------------------------------------------------------------


def test_employee_page_lists_the_findings_active_first(login, scene, clerk, make_employee):
    c = login(clerk)
    late = scene["late"]
    f = _reg(late)
    hf = Finding.objects.get(kind="housing_fund_unregistered", employee=late)
    Finding.objects.filter(pk=hf.pk).update(status=F.RESOLVED)
    body = _body(c.get(f"/employees/{late.pk}/"))
    section = body[body.index('data-testid="employee-findings"') :]
    assert f'href="/rules/findings/{f.pk}/"' in section and f'href="/rules/findings/{hf.pk}/"' in section
    assert section.index(f"/rules/findings/{f.pk}/") < section.index(f"/rules/findings/{hf.pk}/")
    nobody = make_employee(name="无预警", hire_date=dt.date(2020, 1, 1))
    assert "没有预警。" in _body(c.get(f"/employees/{nobody.pk}/"))


def test_inbox_queries_do_not_grow_with_the_page(login, scene, admin, django_assert_max_num_queries):
    c = login(admin)
    c.get(FINDINGS)  # warm the session and the law library
    with django_assert_max_num_queries(17):  # 16 + the workflow templates of the 批量立案 bar
        response = c.get(FINDINGS)
    assert len(_rows(response)) == Finding.objects.exclude(status=F.RESOLVED).count()
