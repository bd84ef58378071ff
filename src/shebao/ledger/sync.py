"""Running connectors: one HTTP sync, the drop-folder poll, and which connectors are due.

An HTTP sync reads the unit's enrolments, then its contributions, page by page. Each page is
applied in its own transaction together with the connector's cursor, so the cursor never runs
ahead of what is stored: a sync that stops half-way (retries exhausted, the process killed) keeps
what it applied, and the next sync continues from the last committed page. Re-reading a page is
harmless — the ledger applies facts idempotently — and within a run records already seen
(same ``record_id``, same or older ``version``) are skipped, so a page the server repeats is not
counted twice either.

The connector's cursor (``Connector.cursor``, ≤ 200 characters) is this module's own state:
``v1;p=<phase>;k=<page cursor>;e=<enrolments sync token>;c=<contributions sync token>``.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import logging
from collections import Counter
from dataclasses import dataclass, replace
from typing import Any
from urllib.parse import quote, unquote

from django.conf import settings
from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from shebao.core.exceptions import ApplicationError
from shebao.ledger.connectors.base import ConnectorError
from shebao.ledger.models import Connector, SyncRun

__all__ = [
    "ConnectorBusy",
    "SyncState",
    "connector_claim",
    "connector_run",
    "connector_sync",
    "connectors_due",
]

logger = logging.getLogger(__name__)

PHASES = ("e", "c")  # enrolments first: a month's records then meet the status they belong to
MAX_CURSOR = 200  # Connector.cursor / SyncRun.cursor
MAX_ERRORS = 500  # kept on the run; counts["row_errors"] has the total
MAX_STALLED_PAGES = 5  # pages in a row whose next_cursor is the cursor just asked for


class ConnectorBusy(ApplicationError):
    def __init__(self, connector: Connector) -> None:
        super().__init__(f"连接器“{connector.name}”正在同步，请稍后再试", code="busy")


@dataclass(frozen=True)
class SyncState:
    phase: str = "e"
    page: str = ""  # the cursor within the phase; "" = its first page
    since_e: str = ""  # sync tokens of the last complete listings
    since_c: str = ""

    def encode(self) -> str:
        text = f"v1;p={self.phase};k={quote(self.page, safe='')};e={quote(self.since_e, safe='')};c={quote(self.since_c, safe='')}"
        if len(text) > MAX_CURSOR:
            raise ConnectorError(
                f"服务器返回的游标或 sync_token 过长（连接器状态超过 {MAX_CURSOR} 个字符），无法保存同步进度",
                code="cursor_too_long",
            )
        return text

    @classmethod
    def decode(cls, text: str) -> SyncState:
        """Anything unreadable (or empty) starts from scratch: a full read, nothing lost."""
        parts = dict(p.split("=", 1) for p in (text or "").split(";")[1:] if "=" in p)
        if not (text or "").startswith("v1;") or parts.get("p") not in PHASES:
            return cls()
        return cls(
            phase=parts["p"],
            page=unquote(parts.get("k", "")),
            since_e=unquote(parts.get("e", "")),
            since_c=unquote(parts.get("c", "")),
        )

    def since(self) -> str:
        return self.since_e if self.phase == "e" else self.since_c

    def after_page(self, next_cursor: str | None, sync_token: str) -> tuple[SyncState, bool]:
        """The state once a page is stored, and whether the whole sync is complete."""
        if next_cursor:
            return replace(self, page=next_cursor), False
        done = replace(self, page="", **{f"since_{self.phase}": sync_token})
        if self.phase == "e":
            return replace(done, phase="c"), False
        return replace(done, phase="e"), True


# --- scheduling ---------------------------------------------------------------------------------


def connectors_due(now: dt.datetime) -> list[Connector]:
    """Enabled connectors of active entities whose next run is due (never scheduled = due)."""
    return list(
        Connector.objects.filter(enabled=True, entity__is_active=True)
        .filter(Q(next_run_at__isnull=True) | Q(next_run_at__lte=now))
        .select_related("entity")
        .order_by("next_run_at", "pk")
    )


def connector_claim(connector: Connector, now: dt.datetime) -> bool:
    """Move a due connector's next run one interval on, unless someone else already did (a
    conditional UPDATE: of two schedulers seeing it due, exactly one wins)."""
    qs = Connector.objects.filter(pk=connector.pk, enabled=True)
    qs = (
        qs.filter(next_run_at__isnull=True)
        if connector.next_run_at is None
        else qs.filter(next_run_at=connector.next_run_at)
    )
    nxt = now + dt.timedelta(minutes=max(1, connector.interval_minutes))
    if not qs.update(next_run_at=nxt):
        return False
    connector.next_run_at = nxt
    return True


def _scheduled(connector: Connector) -> None:
    now = timezone.now()
    nxt = now + dt.timedelta(minutes=max(1, connector.interval_minutes))
    Connector.objects.filter(pk=connector.pk).update(last_run_at=now, next_run_at=nxt)
    connector.last_run_at, connector.next_run_at = now, nxt


def _stale_after() -> dt.timedelta:
    return dt.timedelta(minutes=int(getattr(settings, "SHEBAO_CONNECTOR_STALE_MINUTES", 120)))


def _start(connector: Connector, actor) -> SyncRun:
    """Start a run unless one is running for this connector (the lock: the check and the insert
    happen in one transaction with the connector row locked — SQLite runs it as BEGIN IMMEDIATE).
    A run still "running" after SHEBAO_CONNECTOR_STALE_MINUTES died with its process: closed as
    failed."""
    from shebao.ledger.services import sync_run_finish, sync_run_start

    with transaction.atomic():
        Connector.objects.select_for_update().filter(pk=connector.pk).first()
        running = list(SyncRun.objects.filter(connector=connector, status=SyncRun.Status.RUNNING))
        cutoff = timezone.now() - _stale_after()
        if any(r.started_at >= cutoff for r in running):
            raise ConnectorBusy(connector)
        for stale in running:
            sync_run_finish(
                run=stale,
                status=SyncRun.Status.FAILED,
                errors=[*stale.errors, "同步中断（进程在完成前退出），已由后续同步接续"],
            )
        source = SyncRun.Source.SIMULATOR if connector.is_simulator else SyncRun.Source.HTTP
        return sync_run_start(entity=connector.entity, source=source, actor=actor, connector=connector)


# --- one HTTP sync ----------------------------------------------------------------------------------


_NOT_SUMMED = ("period_from", "period_to", "people", "unknown_people", "new_people")


def _add_counts(total: Counter, counts: dict[str, Any] | None, spans: dict[str, int]) -> None:
    """Per-page counts added up; the period span widened; people counted once (below)."""
    for key, value in (counts or {}).items():
        if key in ("period_from", "period_to"):
            if isinstance(value, int):
                pick = min if key == "period_from" else max
                spans[key] = pick(spans.get(key, value), value)
        elif key in _NOT_SUMMED:
            continue
        elif isinstance(value, int) and not isinstance(value, bool):
            total[key] += value


def connector_sync(*, connector: Connector, actor, full: bool = False, source=None) -> SyncRun | None:
    """Run one connector now. HTTP: one SyncRun (``full`` ignores the saved cursor and reads
    everything again). Drop folder: ingests the complete files and returns the last run, or None
    when there was nothing to ingest (see ``connector_run`` for all of them).

    Raises ``ConnectorBusy`` when the connector is already running. Transport and protocol
    problems do not raise: they end the run as failed/partial, with the message in its errors.
    ``source`` replaces the HTTP source (tests)."""
    if connector.kind == Connector.Kind.DROP_FOLDER:
        runs = connector_run(connector=connector, actor=actor, full=full)
        return runs[-1] if runs else None
    return _http_sync(connector=connector, actor=actor, full=full, source=source)


def connector_run(*, connector: Connector, actor, full: bool = False) -> list[SyncRun]:
    """Run one connector now, whatever its kind; every run it made."""
    if connector.kind == Connector.Kind.DROP_FOLDER:
        from shebao.ledger.connectors.drop_folder import DropFolderBusy, drop_folder_poll

        try:
            runs = drop_folder_poll(connector=connector, actor=actor)
        except DropFolderBusy as exc:
            raise ConnectorBusy(connector) from exc
        _scheduled(connector)
        return runs
    return [_http_sync(connector=connector, actor=actor, full=full)]


def _http_sync(*, connector: Connector, actor, full: bool, source=None) -> SyncRun:
    from shebao.audit.services import audit_record
    from shebao.ledger.services import ledger_facts_apply, ledger_reconcile_touched, sync_run_finish

    run = _start(connector, actor)
    counts: Counter = Counter()
    errors: list[Any] = []
    warnings: list[str] = []
    state = SyncState() if full else SyncState.decode(connector.cursor)
    if full:
        warnings.append("全量同步：忽略上次的同步进度，重新读取全部数据")
    elif not connector.cursor:
        warnings.append("首次同步：读取全部数据")
    seen: dict[str, int] = {}
    people: set[int] = set()
    spans: dict[str, int] = {}
    row_no = 0
    fatal: ConnectorError | None = None
    restarted: set[str] = set()
    stalled = 0
    # A digest of everything received (each page's records as canonical JSON): the evidence
    # ledger keeps it, as it keeps an uploaded file's SHA-256.
    received = hashlib.sha256()
    try:
        if source is None:
            from shebao.ledger.connectors.http import http_source_for

            source = http_source_for(connector)
        while True:
            try:
                page = source.page(state.phase, cursor=state.page, since=state.since())
            except ConnectorError as exc:
                if exc.code == "cursor_expired" and state.page and state.phase not in restarted:
                    restarted.add(state.phase)
                    warnings.append("服务器提示游标已过期：从上次完整同步点重新读取（不会重复记账）")
                    state = replace(state, page="")
                    continue
                raise
            counts["pages"] += 1
            counts["records_received"] += len(page.records)
            received.update(
                json.dumps(
                    page.records, ensure_ascii=False, sort_keys=True, separators=(",", ":"), default=str
                ).encode()
                + b"\n"
            )
            rows, page_errors = [], []
            for record in page.records:
                rid = record.get("record_id") if isinstance(record, dict) else None
                version = record.get("version") if isinstance(record, dict) else None
                if (
                    isinstance(rid, str)
                    and rid
                    and isinstance(version, int)
                    and rid in seen
                    and version <= seen[rid]
                ):
                    counts["duplicates_skipped"] += 1
                    continue
                row_no += 1
                converted = source.convert(state.phase, record, row=row_no)
                if converted.record_id and converted.version:
                    seen[converted.record_id] = converted.version
                rows.append(converted.source_row)
                page_errors.extend(converted.errors)
            if page.next_cursor and page.next_cursor == state.page:
                stalled += 1
                if stalled > MAX_STALLED_PAGES:
                    raise ConnectorError(
                        "服务器的翻页游标没有前进（多次返回同一页），同步中止", code="cursor_stalled"
                    )
            else:
                stalled = 0
            nxt, complete = state.after_page(page.next_cursor, page.sync_token)
            if not page.next_cursor and not page.sync_token:
                warnings.append("服务器未返回 sync_token：下次同步将重新读取全部数据")
            encoded = nxt.encode()
            with transaction.atomic():
                if rows:
                    result = ledger_facts_apply(run=run, rows=rows)
                    _add_counts(counts, result.counts, spans)
                    people.update(result.people)
                    known = {e["row"] for e in page_errors}
                    page_errors += [e for e in result.errors if e.get("row") not in known]
                Connector.objects.filter(pk=connector.pk).update(cursor=encoded)
                SyncRun.objects.filter(pk=run.pk).update(cursor=encoded)
            counts["pages_applied"] += 1
            counts["row_errors"] += len(page_errors)
            errors.extend(page_errors[: max(0, MAX_ERRORS - len(errors))])
            state = nxt
            connector.cursor = encoded
            if complete:
                break
    except ConnectorError as exc:
        fatal = exc
    except Exception as exc:  # a bug or a database error: the run says so, the page was rolled back
        logger.exception("connector %s: sync failed", connector.pk)
        fatal = ConnectorError(f"同步出错：{exc.__class__.__name__}: {exc}", code="internal")
    client = getattr(source, "client", None)
    counts["retries"] = getattr(client, "retries", 0)
    if fatal is not None:
        errors.append({"row": None, "column": None, "code": fatal.code, "message": fatal.message})
        status = SyncRun.Status.PARTIAL if counts["pages_applied"] else SyncRun.Status.FAILED
    elif counts["row_errors"]:
        status = SyncRun.Status.PARTIAL
    else:
        status = SyncRun.Status.SUCCEEDED
    if counts["row_errors"] > len([e for e in errors if isinstance(e, dict) and e.get("row")]):
        warnings.append(f"共 {counts['row_errors']} 条记录有误，只保存了前 {MAX_ERRORS} 条错误")
    if people:
        from shebao.ledger.models import LedgerPerson

        counts["people"] = len(people)
        ids = sorted(people)
        counts["unknown_people"] = sum(
            LedgerPerson.objects.filter(pk__in=ids[i : i + 900], employee__isnull=True).count()
            for i in range(0, len(ids), 900)
        )
    with transaction.atomic():
        run = sync_run_finish(
            run=run,
            status=status,
            counts=dict(counts) | spans,
            errors=errors,
            warnings=warnings,
            cursor=connector.cursor,
            context={**(run.context or {}), "received_sha256": received.hexdigest()},
        )
        if run.change_count or status != SyncRun.Status.SUCCEEDED:  # the run itself records every sync
            audit_record(
                actor=actor,
                action="ledger.sync",
                obj=run,
                changes={"connector": connector.name, "status": status, "full": full, **dict(counts)},
            )
    _scheduled(connector)
    if people:
        try:
            ledger_reconcile_touched(entity=connector.entity, people=sorted(people))
        except Exception:  # the data is stored; the next reconciliation catches up
            logger.exception("connector %s: reconciliation after sync failed", connector.pk)
    return run
