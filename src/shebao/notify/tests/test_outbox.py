"""The outbox: notifications written with the transitions that cause them, routed to the right
people, sent once, retried with backoff, merged into digests, held during quiet hours, paused
when a provider asks, and logged attempt by attempt. The transport here is a recorder; the real
transports against local fake providers are in test_faults.py."""

from __future__ import annotations

import datetime as dt

import pytest
from django.db import transaction
from django.utils import timezone

from shebao.core.context import Actor
from shebao.core.exceptions import ApplicationError
from shebao.notify import services
from shebao.notify.models import Channel, DeliveryAttempt, Notification
from shebao.notify.tests.recorder import PersonalRecorder, Recorder
from shebao.notify.transports import TRANSPORTS, TransportError
from shebao.rules.models import Finding, FindingTransition
from shebao.rules.services import finding_transition
from shebao.rules.tests.factories import evaluate, found, only_rule

N = Notification.Status
SYSTEM = Actor.system(via="test")
REG = "registration_overdue"
DAY = dt.date(2025, 6, 20)
T0 = timezone.make_aware(dt.datetime(2025, 6, 20, 10, 0))  # a Friday morning, Asia/Shanghai


@pytest.fixture(autouse=True)
def ledger(org, make_employee):
    """An entity with ledger data (a colleague paid for), so registration is judged there."""
    from decimal import Decimal

    from shebao.rules.tests.factories import Book, months

    book = Book(org["bj"])
    colleague = make_employee(hire_date=dt.date(2020, 1, 1), declared_wage=Decimal("10000"))
    p = book.person(colleague)
    for ins in ("pension", "medical", "housing_fund"):
        book.pay(p, ins, months("2024-07", "2025-06"))
    return book


@pytest.fixture(autouse=True)
def recorder(monkeypatch):
    monkeypatch.setitem(TRANSPORTS, "webhook", ("记录器", "shebao.notify.tests.recorder.Recorder"))
    monkeypatch.setitem(
        TRANSPORTS, "email", ("记录器（个人）", "shebao.notify.tests.recorder.PersonalRecorder")
    )
    Recorder.sent.clear()
    Recorder.failures.clear()
    yield Recorder
    Recorder.sent.clear()
    Recorder.failures.clear()


def robot(name="人事群", **kw) -> Channel:
    return services.channel_create(actor=SYSTEM, kind="webhook", name=name, config={"secret": "s3cret"}, **kw)


def mailer(**kw) -> Channel:
    return services.channel_create(
        actor=SYSTEM, kind="email", name="公司邮箱", config={}, for_people=True, **kw
    )


def hires(make_employee, n=1, **kw):
    return [make_employee(hire_date=dt.date(2025, 4, 1), **kw) for _ in range(n)]


def rule(**routing):
    return only_rule(REG, severity=routing.pop("severity", "critical"), routing=routing)


def flush(at=T0, **kw):
    return services.notifications_flush(now=at, **kw)


def at(minutes=0, seconds=0):
    return T0 + dt.timedelta(minutes=minutes, seconds=seconds)


# --- enqueue and routing --------------------------------------------------------------------------


def test_an_opened_finding_reaches_the_entity_hr_in_app_and_by_email_in_its_transaction(
    make_employee, clerk, admin, recorder
):
    clerk.email = "clerk@example.com"
    clerk.save()
    mailer()
    rule(recipients=["entity_hr"])
    hires(make_employee)
    evaluate(DAY, REG)
    (f,) = found(REG)
    t = f.transitions.get()
    rows = Notification.objects.filter(finding=f).order_by("id")
    # the specialist responsible for BJ01 hears; the admin does not (someone is responsible)
    assert {(n.user_id, n.channel.kind, n.status) for n in rows} == {
        (clerk.pk, "inapp", N.SENT),
        (clerk.pk, "email", N.PENDING),
    }
    email = rows.get(channel__kind="email")
    assert email.address_masked == "cl***@example.com" and "clerk@" not in email.address_enc
    assert email.idempotency_key == f"t{t.pk}:c{email.channel_id}:u{clerk.pk}"
    # enqueuing the same transitions again writes nothing twice
    with transaction.atomic():
        services.notifications_enqueue(transitions=[t], now=T0)
    assert Notification.objects.filter(finding=f).count() == 2
    r = flush(at=timezone.now())
    assert r.sent == 1 and len(recorder.sent) == 1
    msg = recorder.sent[0]
    assert msg.to == ("clerk@example.com",) and f.title.split("（")[0][:4] in msg.subject
    assert "/rules/findings/" in msg.text and msg.idempotency_key == email.idempotency_key
    assert flush(at=timezone.now()).sent == 0  # sent once


def test_a_rolled_back_evaluation_leaves_no_notification(make_employee, clerk):
    rule(recipients=["entity_hr"])
    hires(make_employee)
    with pytest.raises(RuntimeError), transaction.atomic():
        evaluate(DAY, REG)
        assert Notification.objects.count() == 1
        raise RuntimeError("the worker died")
    assert Notification.objects.count() == 0 and FindingTransition.objects.count() == 0


def test_nobody_responsible_means_the_admins_and_resolutions_are_quiet_unless_asked(
    make_employee, admin, org
):
    r = rule(recipients=["entity_hr"])
    (emp,) = hires(make_employee)
    evaluate(DAY, REG)
    assert list(Notification.objects.values_list("user_id", flat=True)) == [admin.pk]
    emp.hire_date = dt.date(2025, 6, 1)  # fixed by HR: the finding resolves
    from shebao.roster.services import employee_update

    employee_update(actor=SYSTEM, employee=emp, data={"hire_date": dt.date(2025, 6, 1)})
    evaluate(DAY, REG)
    assert found(REG) == [] and Notification.objects.count() == 1
    from shebao.rules.services import rule_update

    rule_update(actor=SYSTEM, rule=r, routing={"recipients": ["entity_hr"], "notify_resolved": True})
    employee_update(actor=SYSTEM, employee=emp, data={"hire_date": dt.date(2025, 4, 1)})
    evaluate(DAY, REG)  # reopened: notified
    employee_update(actor=SYSTEM, employee=emp, data={"hire_date": dt.date(2025, 6, 1)})
    evaluate(DAY, REG)  # resolved: notified now
    assert Notification.objects.count() == 3


def test_department_manager_is_the_nearest_one_up_the_tree(make_employee, manager, org):
    rule(recipients=["department_manager"])
    hires(make_employee, department=org["rd_web"])  # 前端组 has no manager; 研发部 (its parent) has
    hires(make_employee, department=org["sales"])  # nobody manages 销售部
    evaluate(DAY, REG)
    assert list(Notification.objects.values_list("user_id", "finding__employee__department")) == [
        (manager.pk, org["rd_web"].pk)
    ]


def test_the_employee_hears_by_sms_and_email_in_employee_wording(make_employee, monkeypatch):
    monkeypatch.setitem(
        TRANSPORTS, "sms_aliyun", ("短信记录器", "shebao.notify.tests.recorder.PersonalRecorder")
    )
    services.channel_create(actor=SYSTEM, kind="sms_aliyun", name="短信", config={}, for_people=True)
    mailer()
    rule(recipients=["employee"])
    (emp,) = hires(make_employee, email="zhang@example.com")
    evaluate(DAY, REG)
    rows = {n.channel.kind: n for n in Notification.objects.all()}
    assert set(rows) == {"sms_aliyun", "email"} and all(n.audience == "employee" for n in rows.values())
    assert rows["sms_aliyun"].address_masked.startswith("139")
    flush(at=timezone.now())
    texts = [m.text for m in Recorder.sent]
    assert any("联系" in t and "人事部门" in t for t in texts)
    assert not any("E0" in t or "建议下一步" in t for t in texts)  # not the HR wording


def test_users_choose_their_channels(make_employee, clerk):
    clerk.email = "clerk@example.com"
    clerk.save()
    mailer()
    services.preference_update(actor=Actor(user=clerk), user=clerk, channels=["inapp"])
    rule(recipients=["entity_hr"])
    hires(make_employee)
    evaluate(DAY, REG)
    assert list(Notification.objects.values_list("channel__kind", flat=True)) == ["inapp"]
    with pytest.raises(ApplicationError, match="手机号"):
        services.preference_update(actor=Actor(user=clerk), user=clerk, channels=["sms"])


def test_group_robot_gets_one_message_per_finding(make_employee, recorder):
    ch = robot()
    rule(recipients=["group_robot"], channels=[ch.pk])
    hires(make_employee, 2)
    evaluate(DAY, REG)
    assert Notification.objects.filter(channel=ch, dest_key="g").count() == 2
    r = flush(at=timezone.now())
    assert r.sent == 2 and len(recorder.sent) == 2
    assert all(m.markdown.startswith("### 【严重】") for m in recorder.sent)


def test_many_transitions_at_once_are_written_in_bulk_with_the_same_notifications(
    make_employee, clerk, recorder, monkeypatch
):
    """A first evaluation writes thousands of transitions by executemany (ids read back): the
    notifications point at the right transitions and findings, as with the ORM path."""
    from shebao.rules import engine

    monkeypatch.setattr(engine, "BULK_TRANSITIONS", 1)
    ch = robot()
    r = rule(recipients=["entity_hr", "group_robot"], channels=[ch.pk])
    emps = hires(make_employee, 3)
    evaluate(DAY, REG)
    findings = found(REG)
    assert len(findings) == 3
    for f in findings:
        (t,) = f.transitions.all()
        assert (t.from_status, t.to_status, t.reason) == ("", "open", "发现问题")
        keys = set(Notification.objects.filter(finding=f).values_list("idempotency_key", flat=True))
        assert keys == {f"t{t.pk}:c{ch.pk}:g", f"t{t.pk}:c{services.inapp_channel().pk}:u{clerk.pk}"}
        assert set(Notification.objects.filter(finding=f).values_list("transition_id", flat=True)) == {t.pk}
    from shebao.roster.services import employee_update
    from shebao.rules.services import rule_update

    rule_update(actor=SYSTEM, rule=r, routing={**r.routing, "notify_resolved": True})
    for emp in emps:
        employee_update(actor=SYSTEM, employee=emp, data={"hire_date": dt.date(2025, 6, 1)})
    evaluate(DAY, REG)
    resolved = FindingTransition.objects.filter(to_status="resolved")
    assert resolved.count() == 3
    assert Notification.objects.filter(transition__in=resolved).count() == 6


def test_routing_is_validated(make_employee):
    with pytest.raises(ApplicationError, match="通知对象无效"):
        rule(recipients=["everyone"])
    with pytest.raises(ApplicationError, match="请选择通道"):
        rule(recipients=["group_robot"])
    with pytest.raises(ApplicationError, match="通道不存在"):
        rule(recipients=["group_robot"], channels=[999])
    with pytest.raises(ApplicationError, match="HH:MM"):
        rule(recipients=["entity_hr"], quiet_hours={"start": "25:00", "end": "08:00"})


# --- when ----------------------------------------------------------------------------------------


def _enqueue_at(now, make_employee, n=1, **routing):
    """Open ``n`` findings whose notifications are enqueued at ``now``."""
    ch = robot()
    rule(recipients=["group_robot"], channels=[ch.pk], **routing)
    hires(make_employee, n)
    evaluate(DAY, REG)
    Notification.objects.update(due_at=now, next_attempt_at=now, created_at=now)
    return ch


def test_quiet_hours_hold_external_messages_until_they_end():
    from shebao.notify.routing import due_time, routing_of

    r = routing_of({"quiet_hours": {"start": "22:00", "end": "08:00"}})
    late = timezone.make_aware(dt.datetime(2025, 6, 20, 23, 30))
    assert timezone.localtime(due_time(r, "immediate", late)) == timezone.make_aware(
        dt.datetime(2025, 6, 21, 8, 0)
    )
    early = timezone.make_aware(dt.datetime(2025, 6, 21, 6, 0))
    assert timezone.localtime(due_time(r, "immediate", early)).time() == dt.time(8, 0)
    noon = timezone.make_aware(dt.datetime(2025, 6, 21, 12, 0))
    assert due_time(r, "immediate", noon) == noon
    # a digest is due at the next digest time
    assert timezone.localtime(due_time(r, "digest", noon)) == timezone.make_aware(
        dt.datetime(2025, 6, 22, 9, 0)
    )


def test_info_findings_go_into_one_daily_digest(make_employee, recorder):
    ch = robot()
    rule(recipients=["group_robot"], channels=[ch.pk], severity="info", digest_at="09:00")
    hires(make_employee, 3)
    evaluate(DAY, REG)
    rows = list(Notification.objects.filter(channel=ch))
    assert {n.mode for n in rows} == {"digest"}
    due = rows[0].due_at
    assert timezone.localtime(due).time() == dt.time(9, 0) and due > timezone.now()
    assert flush(at=due - dt.timedelta(minutes=1)).sent == 0
    r = flush(at=due)
    assert (r.sent, r.merged) == (1, 3) and len(recorder.sent) == 1
    assert "共 3 条预警" in recorder.sent[0].text or "3 条" in recorder.sent[0].subject
    digest = Notification.objects.get(event="digest")
    assert digest.merged.count() == 3 and set(digest.merged.values_list("status", flat=True)) == {N.MERGED}


def test_a_burst_becomes_one_digest(make_employee, recorder):
    _enqueue_at(T0, make_employee, n=services.BURST + 3)
    r = flush()
    assert (r.sent, r.merged) == (1, services.BURST + 3)
    assert len(recorder.sent) == 1 and f"{services.BURST + 3} 条" in recorder.sent[0].subject


def test_the_token_bucket_turns_what_exceeds_the_rate_into_a_digest(make_employee, recorder):
    ch = _enqueue_at(T0, make_employee, n=2)
    Channel.objects.filter(pk=ch.pk).update(rate_limit=3)
    assert flush().sent == 2  # 2 of 3 tokens used
    # two more findings within the same minute: one token left → they go as one digest
    from shebao.rules.models import AlertRule

    hires(make_employee, 2)
    evaluate(DAY, REG)
    Notification.objects.filter(status=N.PENDING).update(due_at=T0, next_attempt_at=T0, created_at=T0)
    r = flush(at=at(seconds=5))
    assert (r.sent, r.merged) == (1, 2) and len(recorder.sent) == 3
    assert "发送频率超过通道限制" in recorder.sent[-1].text
    # the bucket is empty now: the next message waits for a token instead of being dropped
    hires(make_employee, 1)
    evaluate(DAY, REG)
    Notification.objects.filter(status=N.PENDING).update(due_at=T0, next_attempt_at=T0, created_at=T0)
    assert flush(at=at(seconds=6)).sent == 0
    assert Notification.objects.filter(status=N.PENDING).count() == 1
    assert flush(at=at(seconds=30)).sent == 1  # 20 s per token at 3 a minute
    assert AlertRule.objects.count() >= 1


# --- failures ------------------------------------------------------------------------------------


def test_transient_errors_retry_with_backoff_until_sent_once(make_employee, recorder):
    _enqueue_at(T0, make_employee)
    recorder.failures[:] = [TransportError("HTTP 500", status_code=500)] * 3
    assert flush().retried == 1
    n = Notification.objects.get()
    assert n.status == N.PENDING and n.next_attempt_at == at(minutes=1)
    assert flush(at=at(seconds=59)).retried == 0  # not yet
    assert flush(at=at(minutes=1)).retried == 1  # 2nd attempt; next in 2 minutes
    assert flush(at=at(minutes=3)).retried == 1  # 3rd; next in 4
    assert flush(at=at(minutes=7)).sent == 1
    n.refresh_from_db()
    assert n.status == N.SENT and n.attempts == 4 and len(recorder.sent) == 1
    log = list(n.deliveries.values_list("number", "ok", "status_code"))
    assert log == [(1, False, 500), (2, False, 500), (3, False, 500), (4, True, 200)]
    assert flush(at=at(minutes=60)).sent == 0


def test_a_provider_wait_pauses_the_whole_channel(make_employee, recorder):
    ch = _enqueue_at(T0, make_employee, n=2)
    recorder.failures[:] = [TransportError("限流", retry_after=600, code="410100")]
    r = flush()
    assert r.retried == 1 and r.sent == 0  # the second was not even tried
    ch.refresh_from_db()
    assert ch.paused_until == at(minutes=10)
    assert flush(at=at(minutes=9)).sent == 0
    assert flush(at=at(minutes=10)).sent == 2 and len(recorder.sent) == 2


def test_a_permanent_error_stops_marks_the_channel_failing_and_tells_the_admins_once(
    make_employee, admin, recorder
):
    ch = _enqueue_at(T0, make_employee, n=2)
    broken = TransportError("签名不匹配", permanent=True, code="310000")
    recorder.failures[:] = [broken, broken]
    r = flush()
    assert r.failed == 2 and not recorder.sent
    ch.refresh_from_db()
    assert ch.status == Channel.Status.FAILING and "签名不匹配" in ch.last_error
    alerts = Notification.objects.filter(event="channel_failing", user=admin)
    assert alerts.count() == 1 and "人事群" in alerts.get().subject
    assert flush(at=at(minutes=5)).sent == 0  # no retries
    # fixed and retried by the admin: sent, and the channel is healthy again
    n = Notification.objects.filter(event="finding").first()
    services.notification_retry(actor=Actor(user=admin), notification=n, now=at(minutes=6))
    assert flush(at=at(minutes=6)).sent == 1
    ch.refresh_from_db()
    assert ch.status == Channel.Status.OK and ch.failing_since is None


def test_a_recipient_error_does_not_break_the_channel(make_employee, recorder):
    ch = _enqueue_at(T0, make_employee)
    recorder.failures[:] = [TransportError("号码无效", permanent=True, channel_broken=False)]
    assert flush().failed == 1
    ch.refresh_from_db()
    assert ch.status != Channel.Status.FAILING


def test_retries_stop_after_48_hours(make_employee, recorder):
    _enqueue_at(T0, make_employee)
    recorder.failures[:] = [TransportError("down")] * 300
    t = T0
    for _ in range(300):
        flush(at=t)
        n = Notification.objects.get(event="finding")
        if n.status != N.PENDING:
            break
        t = n.next_attempt_at
    assert n.status == N.FAILED and "已停止" in n.last_error
    assert t - T0 >= services.MAX_AGE - dt.timedelta(minutes=31)


def test_a_dead_workers_lease_is_taken_over_and_the_message_sent_once(make_employee, recorder):
    _enqueue_at(T0, make_employee)
    n = Notification.objects.get()
    Notification.objects.filter(pk=n.pk).update(status=N.SENDING, lease_until=at(minutes=5), attempts=1)
    assert flush(at=at(minutes=4)).sent == 0  # still leased
    r = flush(at=at(minutes=6))
    assert (r.released, r.sent) == (1, 1) and len(recorder.sent) == 1


def test_a_claimed_notification_is_not_sent_by_a_second_worker(make_employee, recorder):
    _enqueue_at(T0, make_employee)
    n = Notification.objects.select_related("channel").get()
    assert services._deliver(n, T0) == "sent"
    assert services._deliver(n, T0) == "skipped"
    assert len(recorder.sent) == 1 and DeliveryAttempt.objects.count() == 1


def test_a_paused_channel_does_not_starve_the_others(make_employee, recorder):
    busy = robot("被限流的群")
    other = robot("另一个群")
    rule(recipients=["group_robot"], channels=[busy.pk, other.pk])
    hires(make_employee, 3)
    evaluate(DAY, REG)
    Notification.objects.update(due_at=T0, next_attempt_at=T0, created_at=T0)
    Channel.objects.filter(pk=busy.pk).update(paused_until=at(minutes=10))
    r = flush(limit=2)  # the batch would be the paused channel's oldest rows
    assert r.sent == 2 and {m.idempotency_key.split(":")[1] for m in recorder.sent} == {f"c{other.pk}"}
    assert flush(limit=2).sent == 1
    assert flush(at=at(minutes=10)).sent == 3


def test_a_disabled_channel_keeps_its_messages_until_enabled(make_employee, recorder):
    ch = _enqueue_at(T0, make_employee)
    services.channel_update(actor=SYSTEM, channel=ch, enabled=False)
    assert flush().sent == 0
    services.channel_update(actor=SYSTEM, channel=ch, enabled=True)
    assert flush(at=at(minutes=1)).sent == 1


# --- manual transitions, the inbox, tests --------------------------------------------------------


def test_a_manual_transition_is_not_announced(make_employee, clerk):
    rule(recipients=["entity_hr"])
    hires(make_employee)
    evaluate(DAY, REG)
    (f,) = found(REG)
    finding_transition(actor=SYSTEM, finding_ids=[f.pk], to_status=Finding.Status.ACKNOWLEDGED, reason="在办")
    assert Notification.objects.count() == 1 and FindingTransition.objects.count() == 2


def test_inbox_read_state(make_employee, clerk):
    rule(recipients=["entity_hr"])
    hires(make_employee, 2)
    evaluate(DAY, REG)
    from shebao.notify.selectors import inbox_unread

    assert inbox_unread(clerk) == 2
    first = Notification.objects.filter(user=clerk).first()
    assert services.inbox_mark_read(user=clerk, ids=[first.pk]) == 1
    assert inbox_unread(clerk) == 1
    assert services.inbox_mark_read(user=clerk) == 1 and inbox_unread(clerk) == 0


def test_channel_test_reports_the_providers_error(admin, recorder):
    ch = robot()
    out = services.channel_test(actor=Actor(user=admin), channel=ch)
    assert out.ok and recorder.sent[0].subject == "社保合规助手测试消息"
    recorder.failures[:] = [TransportError("连接被拒绝")]  # even a transient error is reported, not retried
    out = services.channel_test(actor=Actor(user=admin), channel=ch)
    assert not out.ok and out.error == "连接被拒绝" and out.notification.status == N.FAILED
    ch.refresh_from_db()
    assert ch.status == Channel.Status.FAILING
    assert flush(at=timezone.now() + dt.timedelta(hours=1)).sent == 0


def test_channel_secrets_are_encrypted_and_kept_when_left_blank(admin):
    ch = robot()
    assert "s3cret" not in ch.secrets_enc and "secret" not in ch.config
    assert services.channel_secrets(ch) == {"secret": "s3cret"}
    services.channel_update(actor=SYSTEM, channel=ch, config={"url": "https://example.com/new", "secret": ""})
    ch.refresh_from_db()
    assert ch.config["url"] == "https://example.com/new" and services.channel_secrets(ch) == {
        "secret": "s3cret"
    }


def test_only_admins_manage_channels(clerk):
    from shebao.core.exceptions import PermissionDenied

    with pytest.raises(PermissionDenied):
        services.channel_create(actor=Actor(user=clerk), kind="webhook", name="x", config={})


def test_personal_recorder_is_personal():
    assert PersonalRecorder.personal and not Recorder.personal
