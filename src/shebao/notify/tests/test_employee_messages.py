"""Messages to an employee about their case: a letter's signed link and the one-time code.

One row per destination the employee has (in-app through their linked account, SMS, email),
written idempotently, sent at once (never held, never merged into a digest, first when a rate
limit bites), sent immediately on demand by ``notifications_flush_one``, a one-time code kept out
of everything readable; the case's assignee as a routing recipient. SMS goes through the real
Aliyun transport to the demo's SMS sink."""

from __future__ import annotations

import datetime as dt
import json

import pytest
from django.db import transaction
from django.utils import timezone

from shebao.core.context import Actor
from shebao.core.exceptions import ApplicationError
from shebao.notify import services
from shebao.notify.models import Channel, DeliveryAttempt, MessageTemplate, Notification
from shebao.notify.routing import routing_clean
from shebao.notify.tests.recorder import PersonalRecorder, Recorder
from shebao.notify.transports import TRANSPORTS

N = Notification.Status
SYSTEM = Actor.system(via="test")
LINK = "http://127.0.0.1:8000/a/eyJyIjoxMiwibiI6IkFiQ2RFZkdoSWpLbE1uT3BRclN0VXZXeFl6In0:1tZ9Qx:Zk3v8u2mW0pR5bX7cE1aL9sD4fG6hJ2kN8qT0yV3uI/"
LETTER = {
    "letter_title": "医保中断告知函",
    "letter_number": "HJ202611-0007",
    "respond_by": "2026-12-08",
    "expires": "2026-12-15 18:00",
    "link": LINK,
}


@pytest.fixture
def mailer(monkeypatch):
    """The email channel for people, on a recording transport."""
    monkeypatch.setitem(
        TRANSPORTS, "email", ("记录器（个人）", "shebao.notify.tests.recorder.PersonalRecorder")
    )
    PersonalRecorder.sent.clear()
    Recorder.failures.clear()
    channel = services.channel_create(actor=SYSTEM, kind="email", name="公司邮箱", config={}, for_people=True)
    yield channel
    PersonalRecorder.sent.clear()
    Recorder.failures.clear()


@pytest.fixture
def worker(make_employee, staff_employee):
    """An employee with a mobile, an email address and a linked user account."""
    emp = make_employee(name="王小明", phone="13912345678", email="xiaoming@example.com")
    staff_employee.employee = emp
    staff_employee.save(update_fields=["employee"])
    return emp


def letter(employee, key="ack1", **kw):
    with transaction.atomic():
        return services.employee_message_enqueue(
            event="case_letter", employee=employee, key=key, context=dict(LETTER), **kw
        )


def otp(employee, key="otp1-1", code="482913", **kw):
    with transaction.atomic():
        return services.employee_message_enqueue(
            event="otp",
            employee=employee,
            key=key,
            context={"code": code, "minutes": 10, "company": "北京示例科技有限公司"},
            kinds=kw.pop("kinds", ("sms",)),
            **kw,
        )


# --- enqueue --------------------------------------------------------------------------------------


def test_a_letter_goes_to_every_destination_the_employee_has(worker, staff_employee, mailer, sms_sink, login):
    rows = letter(worker)
    by_kind = {n.channel.kind: n for n in rows}
    assert set(by_kind) == {"inapp", "sms_aliyun", "email"}
    for n in rows:
        assert n.event == "case_letter" and n.audience == "employee" and n.employee_id == worker.pk
        assert n.dest_key == f"e{worker.pk}" and n.mode == Notification.Mode.IMMEDIATE
        assert n.idempotency_key == f"ack1:c{n.channel_id}:e{worker.pk}"
        assert n.extra["context"]["letter_number"] == "HJ202611-0007"
        assert n.extra["context"]["employee_name"] == "王小明"  # defaulted from the employee
    sms, email, inapp = by_kind["sms_aliyun"], by_kind["email"], by_kind["inapp"]
    assert sms.channel_id == sms_sink.channel.pk and sms.status == N.PENDING
    assert sms.address_masked == "139****5678" and "13912345678" not in sms.address_enc
    assert email.status == N.PENDING and email.address_masked == "xi***@example.com"
    # in-app is delivered in the transaction, worded now, to the employee's own account
    assert inapp.status == N.SENT and inapp.user_id == staff_employee.pk and inapp.rendered
    assert "医保中断告知函" in inapp.subject and "2026-12-08" in inapp.body

    page = login(staff_employee).get("/notify/inbox/").content.decode()
    assert "医保中断告知函" in page and f"/notify/inbox/{inapp.pk}/" in page
    opened = login(staff_employee).get(f"/notify/inbox/{inapp.pk}/")
    assert opened.status_code == 302 and opened["Location"] == LINK


def test_the_same_key_writes_nothing_twice_and_returns_the_rows(worker, mailer, sms_sink):
    first = letter(worker)
    again = letter(worker)
    assert [n.pk for n in again] == [n.pk for n in first]
    assert Notification.objects.count() == 3
    other = letter(worker, key="ack2")  # a new link: new messages
    assert Notification.objects.count() == 6 and not {n.pk for n in other} & {n.pk for n in first}


def test_only_the_kinds_asked_for_and_only_what_exists(make_employee, worker, mailer, sms_sink):
    assert [n.channel.kind for n in letter(worker, kinds=("sms",))] == ["sms_aliyun"]
    nobody = make_employee(phone="", email="")
    assert letter(nobody, key="ack9") == []  # no account, no mobile, no email
    sms_sink.channel.enabled = False
    sms_sink.channel.save()
    assert {n.channel.kind for n in letter(worker, key="ack3")} == {"inapp", "email"}


def test_bad_calls_are_refused(worker):
    with pytest.raises(ValueError, match="不是给员工的消息"):
        services.employee_message_enqueue(event="finding", employee=worker, key="k", context={})
    with pytest.raises(ValueError, match="发送方式无效"):
        services.employee_message_enqueue(event="otp", employee=worker, key="k", context={}, kinds=("fax",))
    with pytest.raises(ValueError, match="幂等键"):
        services.employee_message_enqueue(event="otp", employee=worker, key="a:b", context={})
    with pytest.raises(TypeError, match=r"context\.when"):
        services.employee_message_enqueue(
            event="case_letter", employee=worker, key="k", context={"when": dt.date(2026, 1, 1)}
        )


# --- sending: immediate, never merged -------------------------------------------------------------


def test_many_letters_due_at_once_are_each_sent_never_merged(make_employee, mailer):
    emp = make_employee(email="store@example.com", phone="")
    for i in range(8):  # more than BURST for one destination
        letter(emp, key=f"ack{i}", kinds=("email",))
    result = services.notifications_flush(now=timezone.now())
    assert result.sent == 8 and result.merged == 0
    assert not Notification.objects.filter(event=Notification.Event.DIGEST).exists()
    assert len(PersonalRecorder.sent) == 8
    assert all(LINK in m.text and m.to == ("store@example.com",) for m in PersonalRecorder.sent)


def test_a_rate_limited_channel_sends_employee_messages_first_and_the_rest_wait(make_employee, mailer):
    mailer.rate_limit = 2
    mailer.save()
    emp = make_employee(email="store@example.com", phone="")
    now = timezone.now()
    for i in range(4):
        letter(emp, key=f"ack{i}", kinds=("email",), now=now)
    result = services.notifications_flush(now=now)
    assert result.sent == 2 and result.merged == 0
    assert Notification.objects.filter(status=N.PENDING).count() == 2  # waiting for tokens
    later = services.notifications_flush(now=now + dt.timedelta(minutes=1))
    assert later.sent == 2 and not Notification.objects.filter(event=Notification.Event.DIGEST).exists()


def test_under_a_rate_limit_the_employees_messages_go_before_older_findings(make_employee, mailer):
    mailer.rate_limit = 2
    mailer.save()
    now = timezone.now()
    earlier = now - dt.timedelta(minutes=5)
    for uid in (1, 2, 3):  # older findings for three HR users on the same channel
        Notification.objects.create(
            event=Notification.Event.FINDING,
            channel=mailer,
            dest_key=f"u{uid}",
            idempotency_key=f"t9:c{mailer.pk}:u{uid}",
            due_at=earlier,
            next_attempt_at=earlier,
            created_at=earlier,
        )
    emp = make_employee(email="store@example.com", phone="")
    letters = letter(emp, key="ack1", kinds=("email",), now=now) + letter(
        emp, key="ack2", kinds=("email",), now=now
    )
    result = services.notifications_flush(now=now)
    assert result.sent == 2 and result.merged == 0
    assert set(Notification.objects.filter(status=N.SENT).values_list("pk", flat=True)) == {
        n.pk for n in letters
    }
    assert (
        Notification.objects.filter(event=Notification.Event.FINDING, status=N.PENDING).count() == 3
    )  # waiting


def test_quiet_hours_and_digest_mode_do_not_apply(make_employee, mailer):
    emp = make_employee(email="night@example.com", phone="")
    night = timezone.make_aware(dt.datetime(2026, 11, 27, 23, 30))
    (n,) = letter(emp, kinds=("email",), now=night)
    assert n.due_at == night and n.next_attempt_at == night and n.mode == Notification.Mode.IMMEDIATE


# --- the one-time code ----------------------------------------------------------------------------


def test_flush_one_sends_the_code_now_and_keeps_it_out_of_the_log(worker, sms_sink, login, admin):
    (n,) = otp(worker)
    assert n.channel.kind == "sms_aliyun" and n.status == N.PENDING
    stored = Notification.objects.get(pk=n.pk)
    assert "482913" not in json.dumps(stored.extra, ensure_ascii=False)  # encrypted, not readable
    assert services.notifications_flush_one(notification=n) == "sent"

    text = sms_sink.wait_for("13912345678")
    assert text["params"] == {"code": "482913"}  # the channel's verification-code template
    assert text["template_code"] == "SMS_SHEBAO_OTP" and "482913" in text["text"]
    assert sms_sink.code("+86 139 1234 5678") == "482913"

    sent = Notification.objects.get(pk=n.pk)
    assert sent.status == N.SENT and sent.attempts == 1
    assert DeliveryAttempt.objects.get(notification=sent).ok
    blob = json.dumps([sent.subject, sent.body, sent.html, sent.extra], ensure_ascii=False)
    assert "482913" not in blob and "******" in blob
    assert "secret_enc" not in sent.extra and "rendered_enc" not in sent.extra  # gone once sent
    page = login(admin).get(f"/notify/log/{n.pk}/").content.decode()
    assert "482913" not in page
    assert services.notifications_flush_one(notification=n) == "skipped"  # sent once


def test_a_code_is_never_in_app(worker):
    assert otp(worker, kinds=("inapp", "sms", "email")) == []  # no SMS or email channel here


def test_flush_one_leaves_what_is_not_due_or_cannot_go(worker, sms_sink):
    future = timezone.now() + dt.timedelta(hours=1)
    (n,) = otp(worker, now=future)
    assert services.notifications_flush_one(notification=n) == "skipped"  # not due yet
    assert services.notifications_flush_one(notification=n, now=future) == "sent"
    (m,) = otp(worker, key="otp1-2")
    Channel.objects.filter(pk=sms_sink.channel.pk).update(
        paused_until=timezone.now() + dt.timedelta(minutes=5)
    )
    assert services.notifications_flush_one(notification=m) == "deferred"
    Channel.objects.filter(pk=sms_sink.channel.pk).update(paused_until=None, enabled=False)
    assert services.notifications_flush_one(notification=m) == "skipped"
    assert Notification.objects.get(pk=m.pk).status == N.PENDING


def test_an_otp_by_email_carries_the_code(make_employee, mailer):
    emp = make_employee(email="code@example.com", phone="")
    (n,) = otp(emp, kinds=("email",))
    assert services.notifications_flush_one(notification=n) == "sent"
    (msg,) = PersonalRecorder.sent
    assert "482913" in msg.text and "482913" in msg.html and msg.event == "otp"
    assert "482913" not in Notification.objects.get(pk=n.pk).body


# --- SMS: the letter's link through the real Aliyun transport -------------------------------------


def test_the_letter_sms_carries_the_whole_link(worker, sms_sink):
    (n,) = letter(worker, kinds=("sms",))
    assert len(LINK) > 100
    assert services.notifications_flush_one(notification=n) == "sent"
    text = sms_sink.latest("13912345678")
    assert text["template_code"] == "SMS_SHEBAO_LETTER"
    assert text["params"]["link"] == LINK  # not cut at 35 characters
    assert text["params"]["name"] == "王小明" and text["params"]["deadline"] == "2026-12-08"
    assert LINK in text["text"] and "医保中断告知函" in text["text"]
    assert text["out_id"]  # the idempotency key (hashed to 64 characters) as Aliyun's OutId


def test_hr_edits_the_letter_template_and_the_next_letter_uses_it(worker, sms_sink):
    services.template_save(
        actor=SYSTEM,
        event="case_letter",
        format="sms",
        language="zh-hans",
        subject="",
        body="name: {{ employee_name }}\ncompany: 人事部\ntitle: {{ letter_number }}\n"
        "deadline: {{ respond_by }}\nlink: {{ link }}",
    )
    (n,) = letter(worker, kinds=("sms",))
    services.notifications_flush_one(notification=n)
    assert sms_sink.latest("13912345678")["params"]["title"] == "HJ202611-0007"


def test_a_channel_without_a_link_parameter_is_refused_in_the_editor(worker, sms_sink):
    with pytest.raises(ApplicationError, match="link"):
        services.template_save(
            actor=SYSTEM,
            event="case_letter",
            format="sms",
            language="zh-hans",
            subject="",
            body="name: {{ employee_name }}\ncompany: x\ntitle: x\ndeadline: x",
        )


def test_per_event_templates_are_checked(db):
    base = {
        "access_key_id": "id",
        "access_key_secret": "secret",
        "sign_name": "社保",
        "template_code": "SMS_1",
        "params": ["name"],
    }
    for bad, words in (
        ({"fax": "SMS_2 code"}, "消息类型“fax”无效"),
        ({"otp": "SMS_2"}, "缺少模板参数名"),
        ({"otp": "SMS_2 1code"}, "参数名无效"),
        ({"otp": "SMS 2 code"}, "参数名无效"),
    ):
        with pytest.raises(ApplicationError, match=words):
            services.channel_create(
                actor=SYSTEM, kind="sms_aliyun", name="短信", config=base | {"templates": bad}
            )
    ch = services.channel_create(
        actor=SYSTEM,
        kind="sms_aliyun",
        name="短信",
        config=base | {"templates": {"otp": " SMS_2  code， minutes "}},
    )
    assert ch.config["templates"] == {"otp": "SMS_2 code,minutes"}
    transport = services.channel_transport(ch)
    assert transport.sms_template("otp") == ("SMS_2", ["code", "minutes"])
    assert transport.sms_template("finding") == ("SMS_1", ["name"])


def test_tencent_sends_an_event_with_its_own_template(worker, fake_providers):
    from shebao.notify.testing.fakes import TENCENT_TEMPLATE_ID

    config = fake_providers.config(
        "sms_tencent", template_id="999", templates={"otp": f"{TENCENT_TEMPLATE_ID} code,minutes"}
    )
    services.channel_create(actor=SYSTEM, kind="sms_tencent", name="腾讯短信", config=config, for_people=True)
    (n,) = otp(worker)
    assert services.notifications_flush_one(notification=n) == "sent"  # the fake knows only that ID
    (body,) = fake_providers.received["sms_tencent"]
    assert body["TemplateId"] == TENCENT_TEMPLATE_ID and body["TemplateParamSet"] == ["482913", "10"]


# --- routing to the case's assignee ---------------------------------------------------------------


def _case_finding(org, employee, case_id, rule):
    from shebao.rules.models import Finding, FindingTransition

    now = timezone.now()
    f = Finding.objects.create(
        rule=rule,
        kind=rule.kind,
        key=f"e{employee.pk}:case{case_id}",
        entity=org["bj"],
        employee=employee,
        severity="warning",
        title="告知函逾期未确认",
        details={"case_id": case_id},
        digest="x",
        first_seen_at=now,
        updated_at=now,
        status_changed_at=now,
    )
    return FindingTransition.objects.create(finding=f, from_status="", to_status="open")


def test_case_assignee_hears_and_entity_hr_when_there_is_none(org, make_employee, admin, clerk, system):
    from shebao.cases.services import case_open
    from shebao.rules.tests.factories import only_rule

    rule = only_rule("registration_overdue", routing={"recipients": ["case_assignee"]})
    emp = make_employee()
    case = case_open(actor=system, employee=emp, template="medical_interruption", assignee=admin)
    t = _case_finding(org, emp, case.pk, rule)
    with transaction.atomic():
        services.notifications_enqueue(transitions=[t])
    assert set(Notification.objects.filter(finding_id=t.finding_id).values_list("user_id", flat=True)) == {
        admin.pk
    }

    case.assignee = None
    case.save(update_fields=["assignee"])
    emp2 = make_employee()
    t2 = _case_finding(org, emp2, case.pk, rule)
    with transaction.atomic():
        services.notifications_enqueue(transitions=[t2])
    # nobody owns the case: the specialist responsible for BJ01
    assert set(Notification.objects.filter(finding_id=t2.finding_id).values_list("user_id", flat=True)) == {
        clerk.pk
    }


def test_case_assignee_is_a_valid_recipient_in_the_rule_editor(admin, login):
    assert routing_clean({"recipients": ["case_assignee"]})["recipients"] == ["case_assignee"]
    from shebao.rules.models import AlertRule

    rule = AlertRule.objects.filter(kind="registration_overdue").first()
    page = login(admin).get(f"/rules/{rule.pk}/edit/").content.decode()
    assert 'value="case_assignee"' in page and "案件负责人" in page


# --- the template editor --------------------------------------------------------------------------


def test_the_template_editor_lists_and_previews_the_new_events(admin, login):
    client = login(admin)
    page = client.get("/notify/templates/").content.decode()
    for event in ("case_letter", "otp"):
        for fmt in ("email", "text", "sms", "markdown"):
            assert f'data-testid="tpl-{event}-{fmt}"' in page
    assert "函件送达（给员工）" in page and "验证码（给员工）" in page
    edit = client.get("/notify/templates/otp/sms/zh-hans/").content.decode()
    assert "code: {{ code }}" in edit and "有效分钟数" in edit
    preview = client.post(
        "/notify/templates/otp/sms/zh-hans/preview/", {"body": "code: {{ code }}\nminutes: {{ minutes }}"}
    ).content.decode()
    assert "246810" in preview  # the sample code, checked against parameter "code"
    html = client.post(
        "/notify/templates/case_letter/email/zh-hans/preview/",
        {"subject": "{{ letter_title }}", "body": "{{ link }}", "html": "<a href='{{ link }}'>x</a>"},
    ).content.decode()
    assert "医保中断告知函" in html and "/a/s/Xy3kQ9mPb2Lw/" in html
    client.post(
        "/notify/templates/otp/text/zh-hans/",
        {"subject": "验证码", "body": "验证码 {{ code }}，{{ minutes }} 分钟有效"},
    )
    assert MessageTemplate.objects.filter(event="otp", format="text").exists()


def test_per_event_templates_are_set_in_the_channel_form(admin, login):
    client = login(admin)
    form = client.get("/notify/channels/new/?kind=sms_aliyun").content.decode()
    assert 'name="cfg_templates"' in form and "otp: SMS_123456 code" in form
    data = {
        "kind": "sms_aliyun",
        "name": "阿里云短信",
        "enabled": "on",
        "for_people": "on",
        "language": "zh-hans",
        "cfg_access_key_id": "LTAI5t",
        "cfg_access_key_secret": "s3cret",
        "cfg_sign_name": "社保合规",
        "cfg_template_code": "SMS_1",
        "cfg_params": "name\ntitle\ndeadline",
        "cfg_templates": "otp: SMS_2 code\ncase_letter: SMS_3 name,title,deadline,link",
    }
    bad = client.post("/notify/channels/new/", data | {"cfg_templates": "fax: SMS_9 code"})
    assert bad.status_code == 422 and "消息类型“fax”无效" in bad.content.decode()
    assert client.post("/notify/channels/new/", data).status_code == 302
    channel = Channel.objects.get(name="阿里云短信")
    assert channel.config["templates"] == {
        "otp": "SMS_2 code",
        "case_letter": "SMS_3 name,title,deadline,link",
    }
    edit = client.get(f"/notify/channels/{channel.pk}/").content.decode()
    assert "case_letter: SMS_3 name,title,deadline,link" in edit
