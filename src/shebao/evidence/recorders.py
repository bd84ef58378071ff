"""What other rooms call to put their evidentially relevant events in the ledger — always inside
the transaction that makes the event, so the entry and the event commit (or not) together.

* ``case_event_record``: every row of a case's timeline (opened, steps, letters issued and sent,
  link opened, identity confirmed, acknowledged / disagreed, uploads, payments, escalation,
  closing) with the hashes of the letter or file it concerns;
* ``status_check_record``: the employee's coverage as the system knew it when a case was opened —
  the 36-month ledger, enrolment statuses, the finding — and the source files (name, SHA-256) and
  source rows it came from;
* ``delivery_record``: each attempt to deliver a message to an employee (letter link, code), with
  the provider's receipt or error;
* ``source_run_record``: each government-data file or sync that was applied, with its SHA-256.
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Any

from shebao.evidence.services import at_text, entries_append_many, entry_append


def plain(value: Any) -> Any:
    """JSON values only: dates as ISO text, decimals as strings (never floats)."""
    if isinstance(value, dict):
        return {str(k): plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple | set):
        return [plain(v) for v in value]
    if isinstance(value, dt.datetime):
        return at_text(value) if value.tzinfo else value.isoformat()
    if isinstance(value, dt.date):
        return value.isoformat()
    if isinstance(value, Decimal):
        return f"{value:.2f}"
    if value is None or isinstance(value, bool | int | float | str):
        return value
    return str(value)


def case_event_record(event) -> None:
    """One timeline row of a case → one entry ``case.<kind>``."""
    payload: dict[str, Any] = {
        "event": event.kind,
        "label": str(event.get_kind_display()),
        "at": at_text(event.at),
        "text": event.text,
        "data": plain(event.data or {}),
    }
    subject = ""
    if event.step_id:
        step = event.step
        payload["step"] = {
            "code": step.code,
            "name": step.name,
            "choice": step.choice,
            "choice_label": step.choice_label,
        }
    if event.letter_id:
        letter = event.letter
        payload["letter"] = {
            "number": letter.number,
            "title": letter.title,
            "sha256": letter.sha256,
            "size": letter.size,
            "template": letter.template_code,
            "template_version": letter.template_version,
        }
        subject = f"letter:{letter.number}"
    if event.attachment_id:
        att = event.attachment
        payload["attachment"] = {
            "id": att.pk,
            "filename": att.filename,
            "sha256": att.sha256,
            "size": att.size,
            "content_type": att.content_type,
            "by_employee": att.by_employee,
        }
        subject = f"attachment:{att.pk}"
    entry_append(
        kind=f"case.{event.kind}",
        payload=payload,
        actor=event.actor_label,
        case=event.case,
        subject=subject or f"case:{event.case.number}",
    )


def status_snapshot(*, employee, finding=None) -> dict[str, Any]:
    """What the system knew of the employee's coverage: the month × insurance ledger (36 months),
    enrolment statuses, open discrepancies, the finding, and the source files behind them."""
    from shebao.ledger.models import ContributionRecord, EnrollmentStatus, LedgerPerson, SourceRow, SyncRun
    from shebao.ledger.selectors import employee_coverage_data

    coverage = employee_coverage_data(employee=employee)
    person_ids = list(LedgerPerson.objects.filter(employee=employee).values_list("id", flat=True))
    run_ids = set(
        ContributionRecord.objects.filter(person_id__in=person_ids)
        .values_list("last_run_id", flat=True)
        .distinct()
    ) | set(
        EnrollmentStatus.objects.filter(person_id__in=person_ids).values_list("run_id", flat=True).distinct()
    )
    sources = []
    for run in SyncRun.objects.filter(pk__in=run_ids).order_by("id"):
        rows = list(
            SourceRow.objects.filter(run=run, person_id__in=person_ids)
            .order_by("row")
            .values_list("row", "cells")[:120]
        )
        sources.append(
            {
                "run": run.pk,
                "source": run.source,
                "source_label": str(run.get_source_display()),
                "file_name": run.file_name,
                "file_sha256": run.sha256,
                "profile": run.profile,
                "finished_at": run.finished_at,
                "columns": run.columns,
                "rows": [{"row": r, "cells": cells} for r, cells in rows],
            }
        )
    snapshot: dict[str, Any] = {
        "employee": {
            "employee_no": employee.employee_no,
            "name": employee.name,
            "id_number": employee.id_number_masked,
            "entity": employee.entity.name if employee.entity_id else "",
        },
        "coverage": coverage,
        "sources": sources,
    }
    if finding is not None:
        snapshot["finding"] = {
            "key": finding.key,
            "kind": finding.kind,
            "rule": finding.rule.name,
            "title": finding.title,
            "severity": finding.severity,
            "details": finding.details,
            "citations": finding.citations,
            "next_step": finding.next_step,
            "deadline": finding.deadline,
            "amount": finding.amount,
            "first_seen_at": finding.first_seen_at,
        }
    return plain(snapshot)


def status_check_record(*, case, finding=None, actor=None) -> None:
    entry_append(
        kind="status.checked",
        payload=status_snapshot(employee=case.employee, finding=finding),
        actor=actor,
        case=case,
        subject=f"employee:{case.employee.employee_no}",
    )


def delivery_record(notification, attempt) -> None:
    """One attempt to deliver a message to an employee. The message's text is in the entry (codes
    are masked in it already); the address is masked."""
    if notification.audience != "employee" or not notification.employee_id:
        return
    ref = (notification.extra or {}).get("ref") or {}
    case = None
    if ref.get("case"):
        from shebao.cases.models import Case

        case = Case.objects.filter(pk=ref["case"]).first()
    payload = {
        "notification": notification.pk,
        "event": notification.event,
        "channel": notification.channel.name,
        "channel_kind": notification.channel.kind,
        "address": notification.address_masked,
        "attempt": attempt.number,
        "ok": attempt.ok,
        "permanent": attempt.permanent,
        "status_code": attempt.status_code,
        "error_code": attempt.error_code,
        "error": attempt.error[:500],
        "provider_id": attempt.provider_id,
        "response": attempt.response[:500],
        "subject": notification.subject,
        "body": notification.body if notification.event != "otp" else "",
        "letter": ref.get("letter", ""),
        "started_at": attempt.started_at,
    }
    entry_append(
        kind="delivery.attempt",
        payload=plain(payload),
        actor="系统（发送）",
        employee_id=notification.employee_id,
        case=case,
        subject=f"notification:{notification.pk}",
    )


def source_run_record(run) -> None:
    """A government-data file or sync applied to the ledger: what came in, with its SHA-256."""
    entry_append(
        kind="source.applied",
        payload=plain(
            {
                "run": run.pk,
                "source": run.source,
                "file_name": run.file_name,
                "file_sha256": run.sha256,
                "received_sha256": (run.context or {}).get("received_sha256", ""),
                "profile": run.profile,
                "entity": run.entity.code if run.entity_id else "",
                "counts": run.counts,
                "changes": run.change_count,
                "started_at": run.started_at,
                "finished_at": run.finished_at,
            }
        ),
        actor=run.triggered_by.username if run.triggered_by_id else "系统（同步）",
        entity_id=run.entity_id,
        subject=f"run:{run.pk}",
    )


def findings_opened_record(transitions) -> int:
    """Findings that opened (new, or open again) in an evaluation: what the system found and when
    — one entry each, written with the transitions. Compact (a first evaluation opens thousands):
    the title says what was found in words, ``digest`` is the SHA-256 the rules engine keeps of the
    finding's facts (details, amounts, dates); the facts themselves go into the chain in full with
    the status check when a case is opened."""
    from shebao.rules.models import Finding

    ids = sorted({t.finding_id for t in transitions if t.to_status == "open"})
    items: list[dict[str, Any]] = []
    fields = (
        "id", "key", "kind", "rule_id", "rule__name", "title", "severity", "citations",
        "deadline", "amount", "employee_id", "entity_id", "first_seen_at", "digest",
    )  # fmt: skip
    for i in range(0, len(ids), 900):
        for row in Finding.objects.filter(pk__in=ids[i : i + 900]).order_by("id").values_list(*fields):
            (pk, key, kind, rule_id, rule_name, title, severity, citations, deadline, amount, employee_id,
             entity_id, first_seen_at, digest) = row  # fmt: skip
            items.append(
                {
                    "kind": "finding.opened",
                    "employee_id": employee_id,
                    "entity_id": entity_id,
                    "subject": f"finding:{key}"[:120],
                    "payload": {
                        "finding": pk,
                        "key": key,
                        "kind": kind,
                        "rule": rule_id,
                        "rule_name": rule_name,
                        "title": title,
                        "severity": severity,
                        "citations": citations,
                        "deadline": deadline.isoformat() if deadline else None,
                        "amount": None if amount is None else f"{amount:.2f}",
                        "first_seen_at": at_text(first_seen_at),
                        "digest": digest,
                    },
                }
            )
    return entries_append_many(items, actor="系统（预警规则）")
