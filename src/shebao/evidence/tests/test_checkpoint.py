"""Daily checkpoints leave the system: each is an entry in the chain and a row, lands in the
auditors' and HR admins' inboxes and in the auditors' channel's outbox, and is delivered by the
ordinary flush (with its retries). The daily task makes one a day; the verification task records
its run and, when someone tampered with the ledger, alerts the same people."""

from __future__ import annotations

import datetime as dt

import pytest
from django.db import connection
from django.utils import timezone

from shebao.core.context import Actor
from shebao.evidence import outbound
from shebao.evidence.models import Checkpoint, Entry, Head, VerifyRun
from shebao.evidence.services import checkpoint_create, entry_append, evidence_settings
from shebao.evidence.tasks import (
    checkpoint_daily,
    evidence_checkpoint_daily_task,
    evidence_verify_daily_task,
    verify_daily,
)
from shebao.evidence.testing import raw
from shebao.evidence.verifier import entry_hash
from shebao.notify.models import DeliveryAttempt, Notification
from shebao.notify.services import channel_create, notifications_flush, staff_message_enqueue
from shebao.notify.testing.fakes import FakeProviders
from shebao.notify.testing.smtp import SmtpServer

SYSTEM = Actor.system(via="test")
N = Notification


@pytest.fixture
def fakes():
    with FakeProviders() as server:
        yield server


@pytest.fixture
def webhook(db, system, fakes):
    """The auditors' channel: a signed webhook on the local fake provider."""
    channel = channel_create(
        actor=system, kind="webhook", name="审计 Webhook", config=fakes.config("webhook")
    )
    row = evidence_settings()
    row.channel = channel
    row.save()
    return channel


@pytest.fixture
def people(admin, auditor):
    """Who hears about the chain: the auditors and the HR admins."""
    return {"admin": admin, "auditor": auditor}


def _add(n: int) -> list[Entry]:
    return [entry_append(kind="test.event", payload={"n": i}, actor=SYSTEM) for i in range(n)]


def _checkpoint(capture, **kw) -> Checkpoint:
    with capture(execute=True):
        cp = checkpoint_create(actor=SYSTEM, **kw)
    return Checkpoint.objects.get(pk=cp.pk)


# --- a checkpoint ---------------------------------------------------------------------------------


@pytest.mark.django_db
def test_a_checkpoint_reaches_the_inboxes_and_the_auditors_channel(
    people,
    webhook,
    fakes,
    django_capture_on_commit_callbacks,
):
    _add(3)
    head = Head.objects.get(pk=1)
    fakes.fail_next("webhook", 1, status=502)  # the first try fails: the flush retries
    cp = _checkpoint(django_capture_on_commit_callbacks)

    entry = Entry.objects.get(seq=cp.seq)
    assert entry.kind == "chain.checkpoint" and cp.head_hash == entry.hash and cp.entry_seq == entry.seq
    assert f'"head_hash":"{head.hash}"' in entry.payload and f'"head_seq":{head.seq}' in entry.payload

    inbox = N.objects.filter(event="evidence_checkpoint", channel__kind="inapp")
    assert {n.user.username for n in inbox} == {"admin", "auditor"}
    note = inbox.get(user=people["auditor"])
    assert note.status == N.Status.SENT and note.severity == "info"
    assert note.subject == f"证据链每日校验点（{timezone.localdate().isoformat()}）"
    assert cp.head_hash in note.body and f"第 {cp.seq} 条" in note.body and cp.key_fingerprint in note.body
    assert "请保留这条消息" in note.body

    sent = N.objects.get(event="evidence_checkpoint", channel=webhook)
    assert sent.status == N.Status.PENDING and "502" in sent.last_error  # tried once, right after commit
    assert cp.sent_to == ["站内信：admin", "站内信：auditor", "审计 Webhook（Webhook）"]

    result = notifications_flush(now=timezone.now() + dt.timedelta(minutes=5))
    assert result.sent == 1
    sent.refresh_from_db()
    assert sent.status == N.Status.SENT and sent.attempts == 2
    assert DeliveryAttempt.objects.filter(notification=sent, ok=True).count() == 1
    (payload,) = fakes.received["webhook"]
    assert payload["event"] == "evidence_checkpoint" and payload["id"] == f"cp{cp.pk}:c{webhook.pk}:g"
    assert payload["data"]["head_hash"] == cp.head_hash and payload["data"]["head_seq"] == cp.seq
    assert cp.head_hash in payload["text"]


@pytest.mark.django_db
def test_an_email_channel_without_fixed_recipients_writes_to_each_auditor(
    people, system, django_capture_on_commit_callbacks
):
    people["auditor"].email = "audit@example.com"
    people["auditor"].save()
    with SmtpServer() as server:
        channel = channel_create(
            actor=system,
            kind="email",
            name="审计邮箱",
            config={
                "host": server.host,
                "port": server.port,
                "security": "none",
                "from": "shebao@example.com",
            },
        )
        row = evidence_settings()
        row.channel = channel
        row.save()
        cp = _checkpoint(django_capture_on_commit_callbacks)
        (mail,) = server.messages
    assert mail["To"] == "audit@example.com"  # the admin has no address: in-app only
    assert mail["Subject"].startswith("证据链每日校验点")
    body = mail.get_body(("plain",)).get_content()
    assert cp.head_hash in body and "请保留这封邮件" in body
    assert "审计邮箱：au***@example.com" in cp.sent_to


@pytest.mark.django_db
def test_without_a_channel_the_checkpoint_stays_in_app(people, django_capture_on_commit_callbacks):
    cp = _checkpoint(django_capture_on_commit_callbacks)
    assert N.objects.filter(event="evidence_checkpoint").count() == 2
    assert cp.sent_to[-1] == "未设置审计通知通道：只发到了站内信"
    from shebao.notify.selectors import inbox_item

    item = inbox_item(N.objects.filter(event="evidence_checkpoint", user=people["auditor"]).get())
    assert item["link"] == "/evidence/" and cp.head_hash in item["body"]


@pytest.mark.django_db
def test_a_disabled_channel_keeps_the_message_waiting(people, webhook, django_capture_on_commit_callbacks):
    webhook.enabled = False
    webhook.save()
    cp = _checkpoint(django_capture_on_commit_callbacks)
    waiting = N.objects.get(channel=webhook)
    assert waiting.status == N.Status.PENDING and waiting.attempts == 0
    assert any("已停用" in where for where in cp.sent_to)


@pytest.mark.django_db
def test_publishing_again_sends_nothing_twice(people, webhook, django_capture_on_commit_callbacks):
    cp = _checkpoint(django_capture_on_commit_callbacks)
    before = N.objects.count()
    with django_capture_on_commit_callbacks(execute=True):
        outbound.publish(cp)
    assert N.objects.count() == before


@pytest.mark.django_db
def test_sending_failure_does_not_undo_the_checkpoint(
    people, monkeypatch, django_capture_on_commit_callbacks
):
    def broken(**kwargs):
        raise RuntimeError("outbox unavailable")

    monkeypatch.setattr("shebao.notify.services.staff_message_enqueue", broken)
    cp = _checkpoint(django_capture_on_commit_callbacks)
    assert cp.sent_to == ["未发送：RuntimeError: outbox unavailable"]
    assert Entry.objects.filter(kind="chain.checkpoint").count() == 1


# --- the staff message service ----------------------------------------------------------------------


@pytest.mark.django_db
def test_staff_messages_are_keyed_and_checked(people, clerk, manager, system, webhook):
    """Only active auditors and HR admins: not the clerk or the manager, nor an auditor whose
    account is switched off; one row each in-app, one to the group channel."""
    from shebao.accounts.services import user_create

    gone = user_create(actor=system, username="old-auditor", password="Shebao-test-2026", role="auditor")
    gone.is_active = False
    gone.save()
    context = {"date": "2026-11-28", "head_seq": 3, "head_hash": "ab" * 32}
    first = staff_message_enqueue(event="evidence_checkpoint", key="k1", context=context, channel=webhook)
    again = staff_message_enqueue(event="evidence_checkpoint", key="k1", context=context, channel=webhook)
    assert [n.pk for n in first] == [n.pk for n in again] and len(first) == 3
    assert [(n.channel.kind, n.user.username if n.user else None) for n in first] == [
        ("inapp", "admin"),
        ("inapp", "auditor"),
        ("webhook", None),
    ]
    with pytest.raises(ValueError, match="不是给工作人员的系统消息"):
        staff_message_enqueue(event="finding", key="k2", context={})
    with pytest.raises(ValueError, match="幂等键"):
        staff_message_enqueue(event="evidence_checkpoint", key="a:b", context={})
    with pytest.raises(TypeError, match="context.when"):
        staff_message_enqueue(event="evidence_checkpoint", key="k3", context={"when": timezone.now()})
    only_admins = staff_message_enqueue(event="evidence_broken", key="k4", context={}, roles=("hr_admin",))
    assert [n.user.username for n in only_admins] == ["admin"] and only_admins[0].severity == "critical"


# --- the daily tasks --------------------------------------------------------------------------------


@pytest.mark.django_db
def test_the_daily_checkpoint_is_made_once_a_day(people, webhook, django_capture_on_commit_callbacks):
    midnight = timezone.make_aware(dt.datetime(2026, 11, 28, 0, 5))
    with django_capture_on_commit_callbacks(execute=True):
        first = checkpoint_daily(now=midnight)
        again = checkpoint_daily(now=midnight + dt.timedelta(hours=20))
    assert again.pk == first.pk and Checkpoint.objects.count() == 1
    # the key is in the chain, before the first checkpoint
    kinds = list(Entry.objects.values_list("kind", flat=True))
    assert kinds == ["key.created", "chain.checkpoint"]
    assert N.objects.filter(event="evidence_checkpoint").count() == 3  # two inboxes and the webhook
    with django_capture_on_commit_callbacks(execute=True):
        tomorrow = checkpoint_daily(now=midnight + dt.timedelta(days=1))
    assert tomorrow.pk != first.pk and Checkpoint.objects.count() == 2
    assert Entry.objects.filter(kind="key.created").count() == 1


@pytest.mark.django_db
def test_a_checkpoint_made_by_hand_today_is_enough(people, django_capture_on_commit_callbacks):
    cp = _checkpoint(django_capture_on_commit_callbacks)
    with django_capture_on_commit_callbacks(execute=True):
        result = evidence_checkpoint_daily_task.call_local()
    assert result == {"checkpoint": cp.pk, "seq": cp.seq, "head_hash": cp.head_hash}
    assert Checkpoint.objects.count() == 1


@pytest.mark.django_db
def test_the_daily_verification_of_a_sound_chain_alerts_nobody(people, django_capture_on_commit_callbacks):
    _add(5)
    _checkpoint(django_capture_on_commit_callbacks)
    result = evidence_verify_daily_task.call_local()
    run = VerifyRun.objects.get(pk=result["run"])
    assert (run.result, run.via, run.entries, run.checkpoints) == ("ok", "worker", 6, 1)
    assert not N.objects.filter(event="evidence_broken").exists()


@pytest.mark.django_db
def test_a_tampered_chain_is_found_and_reported(
    people,
    webhook,
    fakes,
    django_capture_on_commit_callbacks,
):
    """An entry's payload edited with raw SQL (PostgreSQL's triggers switched off for it)."""
    _add(5)
    raw("UPDATE evidence_entry SET payload = %s WHERE seq = 3", ['{"n":99}'])
    with django_capture_on_commit_callbacks(execute=True):
        run = verify_daily()
    assert run.result == VerifyRun.Result.BROKEN and run.first_bad_seq == 3 and run.via == "worker"
    alerts = N.objects.filter(event="evidence_broken", channel__kind="inapp")
    assert {n.user.username for n in alerts} == {"admin", "auditor"}
    alert = alerts.get(user=people["auditor"])
    assert alert.severity == "critical" and alert.subject == "证据链校验失败：发现 1 个问题"
    assert "首个问题在第 3 条" in alert.body and run.problems[0]["message"] in alert.body
    (payload,) = fakes.received["webhook"]
    assert payload["event"] == "evidence_broken" and payload["data"]["first_bad_seq"] == 3
    # the next day's run alerts again (the chain is still broken); the same run never twice
    assert outbound.broken_alert(run) and N.objects.filter(event="evidence_broken").count() == 3


@pytest.mark.django_db
def test_a_forged_entry_appended_behind_the_systems_back_is_found(people, django_capture_on_commit_callbacks):
    """Inserting is not refused by the triggers: a row added with raw SQL, its own hash right but
    its link to the chain wrong, is found and located."""
    entries = _add(3)
    header = {**entries[-1].header(), "seq": 4, "kind": "case.acknowledged", "prev": "f" * 64}
    header["hash"] = entry_hash(header)
    with connection.cursor() as cur:
        cur.execute(
            'INSERT INTO evidence_entry (seq, at, kind, actor, stream, "case", subject, payload, payload_sha256,'
            " prev, stream_prev, hash) VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s)",
            [header[k] for k in ("seq", "at", "kind", "actor", "stream", "case", "subject")]
            + [entries[-1].payload]
            + [header[k] for k in ("payload_sha256", "prev", "stream_prev", "hash")],
        )
    with django_capture_on_commit_callbacks(execute=True):
        run = verify_daily()
    assert run.result == "broken" and run.first_bad_seq == 4
    assert N.objects.filter(event="evidence_broken").count() == 2
