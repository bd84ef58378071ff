"""The rules' background jobs and the hooks that queue them: the daily evaluation (which also
expires snoozes), the change consumption after syncs and uploads (and synchronously in
`shebao ingest` / `shebao sync`), and re-evaluation after roster edits and imports.

Huey runs in immediate mode in tests (shebao.testing_env), so a queued task runs at once; the
roster's on_commit enqueues run inside ``django_capture_on_commit_callbacks(execute=True)``.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import re
from decimal import Decimal

import pytest
from django.core.management import call_command
from django.db import transaction
from django.utils import timezone

from shebao.core import crypto
from shebao.core.context import Actor
from shebao.core.yearmonth import YearMonth
from shebao.ledger import facts as LF
from shebao.ledger.models import ChangeEvent, SyncRun
from shebao.ledger.services import ledger_facts_apply, sync_run_finish, sync_run_start
from shebao.roster.models import ID_PURPOSE
from shebao.roster.services import employee_update
from shebao.rules import tasks
from shebao.rules.kinds import KINDS
from shebao.rules.models import Finding
from shebao.rules.services import findings_evaluate
from shebao.rules.tests.factories import Book, months

REG = "registration_overdue"
SYSTEM = Actor.system(via="test")
F = Finding.Status


def today() -> dt.date:
    return timezone.localdate()


def value(result):
    """A task's return value (immediate mode keeps results in memory)."""
    return result.get() if hasattr(result, "get") else result


@pytest.fixture
def book(org, make_employee):
    """北京 has ledger data (a covered colleague), so registration is judged there."""
    b = Book(org["bj"])
    colleague = make_employee(hire_date=dt.date(2020, 1, 1), declared_wage=Decimal("10000"))
    p = b.person(colleague)
    last = YearMonth.of(today())
    for ins in ("pension", "medical", "housing_fund"):
        b.pay(p, ins, months("2024-01", str(last)))
    return b


def reg_findings(**kw):
    return Finding.objects.filter(kind=REG, **kw)


# --- schedules ---------------------------------------------------------------------------------


def _cron(task):
    return task.task_class().validate_datetime


def test_schedules_are_periodic_in_local_time():
    from django.conf import settings

    assert settings.HUEY["utc"] is False and settings.TIME_ZONE == "Asia/Shanghai"
    daily = _cron(tasks.findings_evaluate_daily_task)
    assert daily(dt.datetime(2025, 7, 1, 5, 30)) and not daily(dt.datetime(2025, 7, 1, 5, 35))
    assert not daily(dt.datetime(2025, 7, 1, 17, 30))
    every5 = _cron(tasks.findings_consume_changes_task)
    assert every5(dt.datetime(2025, 7, 1, 9, 10)) and not every5(dt.datetime(2025, 7, 1, 9, 11))


# --- the daily evaluation ----------------------------------------------------------------------


def test_daily_evaluation_is_full_and_expires_snoozes(book, make_employee):
    new = make_employee(hire_date=today() - dt.timedelta(days=40))
    summary = tasks.findings_evaluate_daily_task.call_local()
    assert summary["rules"] == len(KINDS) and summary["as_of"] == today().isoformat()
    f = reg_findings(employee=new).get()
    assert f.status == F.OPEN and f.severity == "critical"
    # A snooze whose date has come (set directly: the service only snoozes into the future).
    Finding.objects.filter(pk=f.pk).update(status=F.SNOOZED, snoozed_until=today())
    tasks.findings_evaluate_daily_task.call_local()
    f.refresh_from_db()
    assert f.status == F.OPEN and f.snoozed_until is None
    assert f.transitions.last().reason.startswith("暂缓至")


def test_evaluate_task_for_some_employees_and_some_rules(book, make_employee):
    a = make_employee(hire_date=today() - dt.timedelta(days=40))
    b = make_employee(hire_date=today() - dt.timedelta(days=40))
    out = value(tasks.findings_evaluate_task(employee_ids=[a.pk], kinds=[REG]))
    assert out["rules"] == 1 and out["opened"] == 1
    assert list(reg_findings().values_list("employee", flat=True)) == [a.pk]
    assert value(tasks.findings_evaluate_task(employee_ids=[])) == {
        "rules": 0,
        "opened": 0,
        "updated": 0,
        "resolved": 0,
    }
    value(tasks.findings_evaluate_task(kinds=[REG]))  # everyone
    assert set(reg_findings().values_list("employee", flat=True)) == {a.pk, b.pk}


def test_a_huge_incremental_evaluation_becomes_a_full_one(book, make_employee, monkeypatch):
    monkeypatch.setattr(tasks, "MAX_INCREMENTAL", 1)
    a = make_employee(hire_date=today() - dt.timedelta(days=40))
    b = make_employee(hire_date=today() - dt.timedelta(days=40))
    value(tasks.findings_evaluate_task(employee_ids=[a.pk, b.pk], kinds=[REG]))
    assert reg_findings().count() == 2


# --- change consumption ------------------------------------------------------------------------


def _pay_through_ledger(entity, employee, system, period: dt.date) -> SyncRun:
    """A finished run that applied one pension month for ``employee`` (writes ChangeEvents)."""
    ref = LF.PersonRef(
        name=employee.name, id_number=crypto.decrypt(employee.id_number_enc, purpose=ID_PURPOSE)
    )
    row = LF.SourceRow(
        row=2,
        cells={"姓名": employee.name},
        contributions=[
            LF.ContributionFact(
                person=ref,
                insurance=LF.Insurance.PENSION,
                period=YearMonth.of(period),
                base=Decimal("8000"),
                employer_due=Decimal("1280.00"),
                employee_due=Decimal("640.00"),
            )
        ],
    )
    run = sync_run_start(entity=entity, source="cli", actor=system, file_name="x.csv")
    with transaction.atomic():
        result = ledger_facts_apply(run=run, rows=[row])
    return sync_run_finish(run=run, status="succeeded", counts=result.counts)


def test_consumption_task_evaluates_the_changed_people(org, book, make_employee, system):
    new = make_employee(hire_date=today() - dt.timedelta(days=40))
    other = make_employee(hire_date=today() - dt.timedelta(days=40))
    findings_evaluate(actor=SYSTEM, kinds=[REG])
    assert reg_findings(status=F.OPEN).count() == 2
    _pay_through_ledger(org["bj"], new, system, new.hire_date)
    assert ChangeEvent.objects.filter(consumed_at__isnull=True, employee=new).exists()
    other_finding = reg_findings(employee=other).get()
    out = tasks.findings_consume_changes_task.call_local()
    assert out["rounds"] == 1 and out["resolved"] == 1
    assert reg_findings(employee=new).get().status == F.RESOLVED
    other_finding.refresh_from_db()
    assert other_finding.status == F.OPEN and other_finding.transitions.count() == 1  # untouched
    assert not ChangeEvent.objects.filter(consumed_at__isnull=True).exists()
    assert tasks.findings_consume_changes_task.call_local()["rounds"] == 0  # nothing left


def test_upload_worker_job_queues_the_consumption(org, book, make_employee, system, monkeypatch):
    from shebao.ledger import services as ledger_services
    from shebao.ledger.tasks import ledger_upload_apply_task

    new = make_employee(hire_date=today() - dt.timedelta(days=40))
    findings_evaluate(actor=SYSTEM, kinds=[REG])
    run = _pay_through_ledger(org["bj"], new, system, new.hire_date)
    # The apply itself is the ledger's (tested there); here it has already happened.
    monkeypatch.setattr(ledger_services, "ledger_upload_apply", lambda *, actor, run: run)
    assert value(ledger_upload_apply_task(run.pk, None)) == "succeeded"
    assert not ChangeEvent.objects.filter(consumed_at__isnull=True).exists()
    assert reg_findings(employee=new).get().status == F.RESOLVED


def test_connector_worker_job_queues_the_consumption(org, book, make_employee, system, monkeypatch):
    from shebao.ledger import tasks as ledger_tasks
    from shebao.ledger.models import Connector

    new = make_employee(hire_date=today() - dt.timedelta(days=40))
    findings_evaluate(actor=SYSTEM, kinds=[REG])
    connector = Connector.objects.create(
        entity=org["bj"], name="投递", kind="drop_folder", folder="/nonexistent"
    )
    monkeypatch.setattr(
        ledger_tasks,
        "connector_run",
        lambda **kw: [_pay_through_ledger(org["bj"], new, system, new.hire_date)],
    )
    assert value(ledger_tasks.ledger_connector_sync_task(connector.pk)) == "succeeded"
    assert reg_findings(employee=new).get().status == F.RESOLVED


def test_cli_ingest_leaves_current_findings(org, book, make_employee, tmp_path):
    """`shebao ingest` evaluates the rules for the people it touched before it returns."""
    new = make_employee(name="新同事", hire_date=today() - dt.timedelta(days=40))
    findings_evaluate(actor=SYSTEM, kinds=[REG])
    assert reg_findings(employee=new).get().status == F.OPEN
    number = crypto.decrypt(new.id_number_enc, purpose=ID_PURPOSE)
    buf = io.StringIO()
    csv.writer(buf).writerows(
        [
            ["姓名", "证件号码", "险种", "费款所属期", "缴费基数", "单位缴费", "个人缴费"],
            [
                "新同事",
                number,
                "基本养老保险",
                str(YearMonth.of(new.hire_date)),
                "8000.00",
                "1280.00",
                "640.00",
            ],
        ]
    )
    path = tmp_path / "缴费明细.csv"
    path.write_bytes(buf.getvalue().encode("utf-8-sig"))
    out = io.StringIO()
    call_command("ingest", str(path), "--entity", "BJ01", stdout=out, stderr=io.StringIO())
    assert reg_findings(employee=new).get().status == F.RESOLVED
    assert re.search(r"\n  预警：新增 \d+，更新 \d+，解除 1\n", out.getvalue())
    assert not ChangeEvent.objects.filter(consumed_at__isnull=True).exists()


def test_cli_ingest_no_reconcile_leaves_the_events_for_later(org, book, make_employee, tmp_path):
    new = make_employee(name="新同事", hire_date=today() - dt.timedelta(days=40))
    number = crypto.decrypt(new.id_number_enc, purpose=ID_PURPOSE)
    path = tmp_path / "明细.csv"
    path.write_text(
        "姓名,证件号码,险种,费款所属期,缴费基数,单位缴费,个人缴费\n"
        f"新同事,{number},基本养老保险,{YearMonth.of(new.hire_date)},8000.00,1280.00,640.00\n",
        encoding="utf-8-sig",
    )
    call_command("ingest", str(path), "--entity", "BJ01", "--no-reconcile", stdout=io.StringIO())
    assert ChangeEvent.objects.filter(consumed_at__isnull=True).exists()


# --- roster and imports ------------------------------------------------------------------------


def test_roster_writes_queue_a_re_evaluation(book, make_employee, system, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        new = make_employee(hire_date=today() - dt.timedelta(days=40))
    assert len(callbacks) == 1
    f = reg_findings(employee=new).get()
    assert f.status == F.OPEN
    # The hire date was wrong: a week ago, not yet due — the finding resolves.
    with django_capture_on_commit_callbacks(execute=True):
        employee_update(actor=system, employee=new, data={"hire_date": today() - dt.timedelta(days=7)})
    f.refresh_from_db()
    assert f.status == F.RESOLVED
    # An update that changes nothing queues nothing.
    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        employee_update(actor=system, employee=new, data={"hire_date": today() - dt.timedelta(days=7)})
    assert callbacks == []


def test_enqueue_failure_does_not_fail_the_write(
    book, make_employee, monkeypatch, django_capture_on_commit_callbacks
):
    def down(**kw):
        raise ConnectionError("redis is down")

    monkeypatch.setattr(tasks, "findings_evaluate_task", down)
    with django_capture_on_commit_callbacks(execute=True):
        new = make_employee(hire_date=today() - dt.timedelta(days=40))
    assert new.pk and not reg_findings().exists()


def test_roster_import_queues_a_re_evaluation(org, book, tmp_path, django_capture_on_commit_callbacks):
    from shebao.imports.tests.builders import HEADERS, new_id, person, xlsx_bytes
    from shebao.roster.models import Employee

    path = tmp_path / "花名册.xlsx"
    hired = today() - dt.timedelta(days=40)
    path.write_bytes(xlsx_bytes(HEADERS, [person("导入甲", new_id(), "I1", hired=hired)]))
    with django_capture_on_commit_callbacks(execute=True):
        call_command("import_roster", str(path), stdout=io.StringIO(), stderr=io.StringIO())
    employee = Employee.objects.get(employee_no="I1")
    assert reg_findings(employee=employee, status=F.OPEN).exists()
