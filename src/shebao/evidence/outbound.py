"""What the evidence ledger sends outside the system: each checkpoint to the auditors (with an
RFC 3161 time stamp when a time-stamping authority is configured), and an alert when a
verification finds the chain broken.

A checkpoint message held in the auditors' mailbox or group chat is what a rewritten history
would contradict, so it goes through the ordinary outbox (``notify.staff_message_enqueue``: the
auditors' and HR admins' inboxes, plus the auditors' channel) and is retried like any message.
Nothing here raises to the caller: failures are logged and kept on the checkpoint.
"""

from __future__ import annotations

import logging
from typing import Any

from django.db import transaction
from django.utils import timezone

from shebao.evidence import tsa
from shebao.evidence.models import Checkpoint, VerifyRun
from shebao.evidence.services import evidence_settings

logger = logging.getLogger(__name__)

ALERT_PROBLEMS = 10  # listed in a broken-chain alert; the rest are counted


def _local(moment) -> str:
    return timezone.localtime(moment).strftime("%Y-%m-%d %H:%M:%S") if moment else ""


def checkpoint_context(checkpoint: Checkpoint) -> dict[str, Any]:
    """The message's values (plain text and numbers)."""
    return {
        "date": timezone.localtime(checkpoint.created_at).date().isoformat(),
        "created_at": _local(checkpoint.created_at),
        "head_seq": checkpoint.seq,
        "head_hash": checkpoint.head_hash,
        "key_fingerprint": checkpoint.key_fingerprint,
        "tsa_time": _local(checkpoint.tsa_time),
        "tsa_url": checkpoint.tsa_url,
        "tsa_error": checkpoint.tsa_error,
    }


def publish(checkpoint: Checkpoint) -> Checkpoint:
    """Time-stamp ``checkpoint`` (when configured and not done yet), then send it to the
    auditors and record where it went in ``sent_to``. Safe to call again: the stamp is asked for
    only while missing, the message is keyed by the checkpoint."""
    settings_row = evidence_settings()
    if settings_row.tsa_url and checkpoint.tsa_time is None:
        timestamp(checkpoint, url=settings_row.tsa_url)
    try:
        _send(checkpoint, settings_row.channel)
    except Exception as exc:  # the checkpoint is recorded; only its sending failed
        logger.exception("evidence: checkpoint #%s could not be sent", checkpoint.pk)
        checkpoint.sent_to = [f"未发送：{exc.__class__.__name__}: {exc}"[:300]]
        Checkpoint.objects.filter(pk=checkpoint.pk).update(sent_to=checkpoint.sent_to)
    return checkpoint


def timestamp(checkpoint: Checkpoint, *, url: str) -> Checkpoint:
    """Ask the TSA at ``url`` for a time stamp over the checkpoint's head hash; keep the token and
    its time, or the reason there is none."""
    checkpoint.tsa_url = url[:300]
    try:
        stamp = tsa.stamp_fetch(url, bytes.fromhex(checkpoint.head_hash))
    except tsa.TsaError as exc:
        logger.warning("evidence: time stamp for checkpoint #%s failed: %s", checkpoint.pk, exc.message)
        checkpoint.tsa_error = exc.message[:500]
    except Exception as exc:  # a bug must not lose the checkpoint
        logger.exception("evidence: time stamp for checkpoint #%s failed", checkpoint.pk)
        checkpoint.tsa_error = f"内部错误：{exc.__class__.__name__}: {exc}"[:500]
    else:
        checkpoint.tsa_token, checkpoint.tsa_time, checkpoint.tsa_error = stamp.token, stamp.gen_time, ""
    Checkpoint.objects.filter(pk=checkpoint.pk).update(
        tsa_url=checkpoint.tsa_url,
        tsa_token=checkpoint.tsa_token,
        tsa_time=checkpoint.tsa_time,
        tsa_error=checkpoint.tsa_error,
    )
    return checkpoint


def _where(rows) -> list[str]:
    """Where the message went, for people: ``站内信：auditor``, ``审计群（钉钉群机器人）`` …"""
    from shebao.accounts.models import User
    from shebao.notify.transports import TRANSPORTS

    names = dict(
        User.objects.filter(pk__in=[n.user_id for n in rows if n.user_id]).values_list("id", "username")
    )
    out = []
    for n in rows:
        if n.channel.kind == "inapp":
            out.append(f"站内信：{names.get(n.user_id, n.user_id)}")
        elif n.address_masked:
            out.append(f"{n.channel.name}：{n.address_masked}")
        else:
            out.append(f"{n.channel.name}（{TRANSPORTS.get(n.channel.kind, (n.channel.kind,))[0]}）")
    return out


def _send(checkpoint: Checkpoint, channel) -> None:
    from shebao.notify.services import staff_message_enqueue

    with transaction.atomic():
        rows = staff_message_enqueue(
            event="evidence_checkpoint",
            key=f"cp{checkpoint.pk}",
            context=checkpoint_context(checkpoint),
            channel=channel,
        )
        sent_to = _where(rows)
        if channel is None:
            sent_to.append(
                "未设置审计通知通道：只发到了站内信"
                if rows
                else "未发送：没有启用的审计员或人事管理员账号，也未设置审计通知通道"
            )
        elif not any(n.channel_id == channel.pk for n in rows):
            sent_to.append(f"未发送到“{channel.name}”：审计员和人事管理员都没有该通道可用的邮箱或手机号")
        elif not channel.enabled:
            sent_to.append(f"通道“{channel.name}”已停用：消息在启用后发送")
        checkpoint.sent_to = sent_to
        Checkpoint.objects.filter(pk=checkpoint.pk).update(sent_to=sent_to)


def broken_alert(run: VerifyRun) -> list:
    """Tell the auditors and HR admins (in-app and through the auditors' channel) that a
    verification found problems. Once per run; nothing for a run that found none."""
    from shebao.notify.services import staff_message_enqueue

    if run.result != VerifyRun.Result.BROKEN:
        return []
    problems = list(run.problems or [])
    context = {
        "checked_at": timezone.localtime(run.started_at).strftime("%Y-%m-%d %H:%M"),
        "entries": run.entries,
        "checkpoints": run.checkpoints,
        "problem_count": len(problems),
        "first_bad_seq": run.first_bad_seq,
        "problems": [
            {"code": str(p.get("code", "")), "message": str(p.get("message", "")), "seq": p.get("seq")}
            for p in problems[:ALERT_PROBLEMS]
        ],
        "more": max(0, len(problems) - ALERT_PROBLEMS),
    }
    try:
        with transaction.atomic():
            return staff_message_enqueue(
                event="evidence_broken",
                key=f"vr{run.pk}",
                context=context,
                channel=evidence_settings().channel,
            )
    except Exception:  # the run is recorded and shown on the chain page; the alert is extra
        logger.exception("evidence: could not alert about verification run #%s", run.pk)
        return []
