"""Writes to the evidence ledger: appending entries, checkpoints, verification runs.

``entry_append`` is called by other rooms' services inside their own transaction, so the entry
commits or rolls back with the event it records. Entries are numbered and linked under a lock on
the one ``Head`` row (PostgreSQL: ``SELECT … FOR UPDATE``; SQLite: the IMMEDIATE transaction).
"""

from __future__ import annotations

import datetime as dt
import logging
import time
from typing import Any

from django.db import models, transaction
from django.utils import timezone

from shebao.core.context import Actor
from shebao.evidence.models import Checkpoint, Entry, Head, Settings, VerifyRun
from shebao.evidence.verifier import (
    GENESIS,
    HEADER_FIELDS,
    ChainState,
    Problem,
    canonical,
    entry_hash,
    payload_digest,
)

logger = logging.getLogger(__name__)

MAX_PROBLEMS = 100
FIELDS = (*HEADER_FIELDS, "hash", "payload")  # as read by the walk: seq first


def at_text(moment: dt.datetime) -> str:
    """The timestamp as hashed: UTC, microseconds, ``Z``."""
    return moment.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def actor_text(actor: Actor | str | None) -> str:
    if isinstance(actor, str):
        return actor[:150]
    if actor is None:
        return "系统"
    if actor.user is not None:
        return actor.user.username[:150]
    return f"系统（{actor.via}）"


def _head_locked() -> Head:
    head = Head.objects.select_for_update().filter(pk=1).first()
    if head is None:
        head, _ = Head.objects.get_or_create(pk=1, defaults={"seq": 0, "hash": GENESIS})
        head = Head.objects.select_for_update().get(pk=1)
    return head


def entry_append(
    *,
    kind: str,
    payload: dict[str, Any],
    actor: Actor | str | None,
    employee_id: int | None = None,
    case=None,
    subject: str = "",
    entity_id: int | None = None,
    at: dt.datetime | None = None,
) -> Entry:
    """Append one entry (inside the caller's transaction when there is one). ``payload`` holds
    plain JSON values; it is stored and hashed as canonical JSON. ``case`` is a Case (its number
    goes into the hashed header, its employee and entity into the look-up columns)."""
    payload_text = canonical(payload).decode("utf-8")
    if case is not None:
        employee_id = employee_id or case.employee_id
        entity_id = entity_id or case.entity_id
    stream = f"e{employee_id}" if employee_id else ""
    with transaction.atomic():
        head = _head_locked()
        stream_prev = ""
        if stream:
            stream_prev = (
                Entry.objects.filter(stream=stream).order_by("-seq").values_list("hash", flat=True).first()
                or GENESIS
            )
        header = {
            "seq": head.seq + 1,
            "at": at_text(at or timezone.now()),
            "kind": kind[:40],
            "actor": actor_text(actor),
            "stream": stream,
            "case": case.number if case is not None else "",
            "subject": subject[:120],
            "payload_sha256": payload_digest(payload_text),
            "prev": head.hash,
            "stream_prev": stream_prev,
        }
        header["hash"] = entry_hash(header)
        entry = Entry.objects.create(
            **header,
            payload=payload_text,
            employee_id=employee_id,
            case_id=case.pk if case is not None else None,
            entity_id=entity_id,
        )
        Head.objects.filter(pk=1).update(seq=entry.seq, hash=entry.hash)
    return entry


def entries_append_many(items: list[dict[str, Any]], *, actor: Actor | str | None) -> int:
    """Append many entries at once (a first evaluation opens thousands of findings): one lock,
    one look-up of the streams' last hashes, one bulk insert. Each item: ``kind``, ``payload``,
    optional ``employee_id``, ``entity_id``, ``subject``. Same links and hashes as one by one."""
    from shebao.core.bulk import insert_rows

    if not items:
        return 0
    label = actor_text(actor)
    moment = at_text(timezone.now())
    with transaction.atomic():
        head = _head_locked()
        streams = sorted({f"e{i['employee_id']}" for i in items if i.get("employee_id")})
        last: dict[str, str] = {}
        for i in range(0, len(streams), 500):
            chunk = streams[i : i + 500]
            tops = (
                Entry.objects.filter(stream__in=chunk)
                .values("stream")
                .annotate(top=models.Max("seq"))
                .values_list("top", flat=True)
            )
            last.update(Entry.objects.filter(seq__in=list(tops)).values_list("stream", "hash"))
        seq, prev = head.seq, head.hash
        rows = []
        for item in items:
            seq += 1
            employee_id = item.get("employee_id")
            stream = f"e{employee_id}" if employee_id else ""
            text = canonical(item["payload"]).decode("utf-8")
            header = {
                "seq": seq,
                "at": moment,
                "kind": item["kind"][:40],
                "actor": label,
                "stream": stream,
                "case": "",
                "subject": (item.get("subject") or "")[:120],
                "payload_sha256": payload_digest(text),
                "prev": prev,
                "stream_prev": last.get(stream, GENESIS) if stream else "",
            }
            header["hash"] = prev = entry_hash(header)
            if stream:
                last[stream] = prev
            rows.append(
                header
                | {
                    "payload": text,
                    "employee_id": employee_id,
                    "case_id": None,
                    "entity_id": item.get("entity_id"),
                }
            )
        insert_rows(Entry, rows)
        Head.objects.filter(pk=1).update(seq=seq, hash=prev)
    return len(rows)


# --- verification ---------------------------------------------------------------------------------


def chain_walk(*, batch: int = 20_000) -> tuple[ChainState, list[Problem]]:
    """Walk the whole ledger in ``seq`` order, keeping only the running state."""
    from django.db import connection

    state = ChainState(full=True)
    problems: list[Problem] = []
    # Plain SQL, a page of ``batch`` rows at a time by ``seq`` (bounded memory on PostgreSQL too):
    # over a million rows the ORM's row handling costs more than the hashing it feeds.
    qn = connection.ops.quote_name
    columns = ", ".join(qn(Entry._meta.get_field(name).column) for name in FIELDS)
    seq = qn(Entry._meta.get_field("seq").column)
    sql = f"SELECT {columns} FROM {qn(Entry._meta.db_table)} WHERE {seq} > %s ORDER BY {seq} LIMIT %s"
    payload = FIELDS.index("payload")
    feed = state.feed
    last = 0
    with connection.cursor() as cursor:
        while True:
            cursor.execute(sql, [last, batch])
            rows = cursor.fetchall()
            if not rows:
                break
            for row in rows:
                for problem in feed(dict(zip(FIELDS, row, strict=True)), payload_text=row[payload]):
                    if len(problems) < MAX_PROBLEMS:
                        problems.append(problem)
            last = rows[-1][0]
    return state, problems


def chain_verify(*, via: str = "cli", now: dt.datetime | None = None) -> VerifyRun:
    """Check every entry's payload hash, header hash and links, the head, and every checkpoint.
    The run is recorded (the chain status page shows the last one)."""
    started = time.perf_counter()
    run = VerifyRun.objects.create(started_at=now or timezone.now(), via=via)
    state, problems = chain_walk()
    head = Head.objects.filter(pk=1).first()
    if head is not None and (head.seq, head.hash) != (state.last_seq or 0, state.last_hash):
        if state.last_seq is not None and head.seq > state.last_seq:
            problems.append(
                Problem(
                    "link",
                    f"链头记录为第 {head.seq} 条，但最后一条是第 {state.last_seq} 条：末尾的记录被删除",
                    seq=state.last_seq + 1,
                )
            )
        else:
            problems.append(
                Problem("link", f"链头记录（第 {head.seq} 条）与最后一条记录不符", seq=state.last_seq)
            )
    checked = 0
    hashes = dict(
        Entry.objects.filter(seq__in=list(Checkpoint.objects.values_list("seq", flat=True))).values_list(
            "seq", "hash"
        )
    )
    for cp in Checkpoint.objects.order_by("seq"):
        checked += 1
        if cp.seq == 0:
            continue
        if hashes.get(cp.seq) != cp.head_hash:
            when = timezone.localtime(cp.created_at).strftime("%Y-%m-%d %H:%M")
            problems.append(
                Problem(
                    "checkpoint",
                    f"第 {cp.seq} 条与 {when} 的校验点记录的链头哈希不符：此前的历史被改写"
                    if cp.seq in hashes
                    else f"{when} 的校验点指向的第 {cp.seq} 条不存在：记录被删除",
                    seq=cp.seq,
                )
            )
    problems.sort(key=lambda p: (p.seq is None, p.seq or 0))
    run.finished_at = timezone.now()
    run.entries = state.checked
    run.head_seq = state.last_seq
    run.checkpoints = checked
    run.result = VerifyRun.Result.BROKEN if problems else VerifyRun.Result.OK
    run.first_bad_seq = next((p.seq for p in problems if p.seq is not None), None)
    run.problems = [{"code": p.code, "message": p.message, "seq": p.seq} for p in problems[:MAX_PROBLEMS]]
    run.duration_ms = int((time.perf_counter() - started) * 1000)
    run.save()
    if problems:
        logger.error(
            "evidence: chain verification found %d problem(s), first: %s", len(problems), problems[0]
        )
        from shebao.evidence import outbound

        try:  # however it was started (worker, page, API, CLI), the auditors hear of it
            outbound.broken_alert(run)
        except Exception:
            logger.exception("evidence: could not send the alert for verification #%s", run.pk)
    return run


# --- checkpoints ----------------------------------------------------------------------------------


def evidence_settings() -> Settings:
    row = Settings.objects.select_related("channel").filter(pk=1).first()
    if row is None:
        row, _ = Settings.objects.get_or_create(pk=1)
    return row


def checkpoint_create(*, actor: Actor, now: dt.datetime | None = None) -> Checkpoint:
    """Record the chain's head (an entry in the chain, and a ``Checkpoint`` row) and send it to
    the auditors: the message held outside the system is what a rewritten history would
    contradict. With a time-stamping authority configured, its RFC 3161 token is kept too."""
    from shebao.audit.services import audit_record
    from shebao.evidence import keys

    now = now or timezone.now()
    fp = keys.fingerprint()
    with transaction.atomic():
        head = _head_locked()
        entry = entry_append(
            kind="chain.checkpoint",
            payload={"head_seq": head.seq, "head_hash": head.hash, "key_fingerprint": fp},
            actor=actor,
            subject=f"seq:{head.seq}",
            at=now,
        )
        cp = Checkpoint.objects.create(
            seq=entry.seq, head_hash=entry.hash, entry_seq=entry.seq, created_at=now, key_fingerprint=fp
        )
        audit_record(actor=actor, action="evidence.checkpoint", obj=None, changes={"seq": cp.seq})
        transaction.on_commit(lambda: _publish_later(cp.pk))
    return cp


def _publish_later(checkpoint_id: int) -> None:
    """Publishing may wait on a time-stamping authority (up to 15 s): the worker does it."""
    from shebao.evidence.tasks import checkpoint_publish_task

    checkpoint_publish_task(checkpoint_id)


def checkpoint_publish(*, checkpoint: Checkpoint) -> Checkpoint:
    """Send the checkpoint to the auditors (and time-stamp it when configured). Failures are kept
    on the row; sending is retried by the outbox like any other message."""
    from shebao.evidence import outbound

    return outbound.publish(checkpoint)


def key_announce(*, actor: Actor | None = None) -> Entry | None:
    """Make sure the signing key exists and the chain names it (``key.created``)."""
    from shebao.evidence import keys

    fp = keys.fingerprint()
    with transaction.atomic():
        _head_locked()
        if Entry.objects.filter(kind="key.created", subject=f"key:{fp}").exists():
            return None
        return entry_append(
            kind="key.created",
            payload={
                "algorithm": "Ed25519",
                "public_key_pem": keys.public_pem().decode("ascii"),
                "fingerprint": fp,
            },
            actor=actor,
            subject=f"key:{fp}",
        )


# --- settings -------------------------------------------------------------------------------------


@transaction.atomic
def settings_update(*, actor: Actor, channel, tsa_url: str) -> Settings:
    """Where checkpoints are sent (an enabled notification channel, or none) and the RFC 3161
    time-stamping authority (an http(s) URL, or blank). HR admins only."""
    from django.core.exceptions import ValidationError
    from django.core.validators import URLValidator

    from shebao.accounts.permissions import can_admin
    from shebao.audit.services import audit_record
    from shebao.core.exceptions import ApplicationError, PermissionDenied

    if actor.user is not None and not can_admin(actor.user):
        raise PermissionDenied("只有HR管理员可以修改证据链设置")
    if channel is not None and not channel.enabled:
        raise ApplicationError(
            f"通知通道“{channel.name}”已停用，不能用于发送校验点", field_errors={"channel": "通道已停用"}
        )
    tsa_url = (tsa_url or "").strip()
    if tsa_url:
        try:
            if len(tsa_url) > 200:
                raise ValidationError("too long")
            URLValidator(schemes=["http", "https"])(tsa_url)
        except ValidationError:
            raise ApplicationError(
                f"时间戳服务地址“{tsa_url[:80]}”无效：应为 http:// 或 https:// 开头、不超过 200 个字符的网址",
                field_errors={"tsa_url": "应为 http:// 或 https:// 开头、不超过 200 个字符的网址"},
            ) from None
    row = Settings.objects.select_for_update().filter(pk=1).first() or evidence_settings()
    before = {"channel": row.channel.name if row.channel_id else "", "tsa_url": row.tsa_url}
    row.channel = channel
    row.tsa_url = tsa_url
    row.save()
    after = {"channel": channel.name if channel is not None else "", "tsa_url": tsa_url}
    changes = {k: [before[k], after[k]] for k in after if before[k] != after[k]}
    audit_record(actor=actor, action="evidence.settings", obj=row, changes=changes)
    return row
