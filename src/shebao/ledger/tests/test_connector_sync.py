"""connector_sync against the simulator: every fault, interruption and resume, incremental reads,
the lock, the SSRF guard, the periodic task and `shebao sync`."""

from __future__ import annotations

import datetime as dt
import json
from collections import Counter
from decimal import Decimal
from io import StringIO

import pytest
from django.core.management import CommandError, call_command
from django.utils import timezone

from shebao.core import crypto
from shebao.core.context import Actor
from shebao.core.identity import make_resident_id
from shebao.ledger.connectors.base import ConnectorError, connector_secret_set
from shebao.ledger.models import (
    ChangeEvent,
    Connector,
    ContributionRecord,
    ContributionRevision,
    EnrollmentStatus,
    SourceRow,
    SyncRun,
)
from shebao.ledger.simulator import Simulator, build_dataset
from shebao.ledger.sync import ConnectorBusy, SyncState, connector_sync, connectors_due

pytestmark = pytest.mark.django_db

TODAY = dt.date(2026, 6, 15)
SECRET = "test-secret-0123456789"


@pytest.fixture(autouse=True)
def _fast(settings):
    settings.SHEBAO_CONNECTOR_BACKOFF = 0.001
    settings.SHEBAO_CONNECTOR_BACKOFF_MAX = 0.005
    settings.SHEBAO_CONNECTOR_RETRY_AFTER_MAX = 0.005
    settings.SHEBAO_CONNECTOR_CONNECT_TIMEOUT = 2
    settings.SHEBAO_CONNECTOR_READ_TIMEOUT = 0.25
    settings.SHEBAO_CONNECTOR_MAX_ATTEMPTS = 6
    settings.SHEBAO_CONNECTOR_PAGE_LIMIT = 10


@pytest.fixture
def dataset(org, make_employee):
    for n, (hire, leave) in enumerate(
        [
            (dt.date(2025, 3, 10), None),
            (dt.date(2026, 2, 1), None),
            (dt.date(2025, 11, 20), dt.date(2026, 3, 31)),
            (dt.date(2024, 7, 1), None),
        ]
    ):
        make_employee(
            hire_date=hire,
            leave_date=leave,
            declared_wage=Decimal(7000 + 1500 * n),
            id_number=make_resident_id("110101", dt.date(1988, 2, 3) + dt.timedelta(days=400 * n), 10 + n),
        )
    return build_dataset(entity_codes=["BJ01"], months=6, seed=7, today=TODAY)


@pytest.fixture
def simulator(dataset):
    sims = []

    def make(**kw):
        kw.setdefault("secret", SECRET)
        kw.setdefault("client_id", "shebao-test")
        kw.setdefault("slow_seconds", 0.6)
        sim = Simulator(dataset, **kw)
        sims.append(sim)
        return sim, sim.serve_in_thread()

    yield make
    for sim in sims:
        sim.close()


def _connector(org, url, *, simulator=True, name="模拟平台"):
    c = Connector(
        entity=org["bj"],
        kind=Connector.Kind.HTTP,
        name=name,
        base_url=url,
        client_id="shebao-test",
        is_simulator=simulator,
    )
    connector_secret_set(c, SECRET)
    c.save()
    return c


def _sync(connector, **kw):
    connector.refresh_from_db()
    return connector_sync(connector=connector, actor=Actor.system(via="test"), **kw)


# --- what the ledger holds vs what the simulator serves ---------------------------------------------


def _m(v):
    return None if v is None else f"{Decimal(v):.2f}"


def _served(dataset):
    contributions = {
        (r.person["id_number"], r.insurance, int(r.period.replace("-", "")), r.unit_no): (
            _m(r.base),
            _m(r.employer_due),
            _m(r.employee_due),
            _m(r.employer_paid),
            _m(r.employee_paid),
            _m(r.late_fee),
            r.status,
        )
        for r in dataset.records("c", "BJ01")
    }
    enrollments = {
        (r.person["id_number"], r.insurance, r.unit_no): (r.state, r.since)
        for r in dataset.records("e", "BJ01")
    }
    return contributions, enrollments


def _unit(unit):
    return "BJ01" if unit.entity_id else unit.unit_no


def _ledger():
    ident = lambda p: crypto.decrypt(p.id_number_enc, purpose="employee.id_number")  # noqa: E731
    contributions = {
        (ident(r.person), r.insurance, r.period, _unit(r.unit)): (
            _m(r.base),
            _m(r.employer_due),
            _m(r.employee_due),
            _m(r.employer_paid),
            _m(r.employee_paid),
            _m(r.late_fee),
            r.status,
        )
        for r in ContributionRecord.objects.select_related("person", "unit")
    }
    enrollments = {
        (ident(s.person), s.insurance, _unit(s.unit)): (s.state, s.since.isoformat() if s.since else None)
        for s in EnrollmentStatus.objects.select_related("person", "unit")
    }
    return contributions, enrollments


def _checksum(contributions):
    total = Decimal(0)
    for values in contributions.values():
        total += sum(Decimal(v) for v in values[:6] if v is not None)
    return len(contributions), total


def assert_ledger_mirrors(dataset):
    served_c, served_e = _served(dataset)
    ledger_c, ledger_e = _ledger()
    assert _checksum(ledger_c) == _checksum(served_c)  # nothing lost, nothing doubled
    assert ContributionRecord.objects.count() == len(served_c)
    assert ledger_c == served_c
    assert ledger_e == served_e


# --- syncs -------------------------------------------------------------------------------------------


def test_sync_mirrors_the_simulator_and_a_second_sync_reads_nothing(org, dataset, simulator):
    sim, url = simulator()
    connector = _connector(org, url)
    run = _sync(connector)
    assert run.status == SyncRun.Status.SUCCEEDED, run.errors
    assert run.source == SyncRun.Source.SIMULATOR and run.connector == connector
    served_c, served_e = _served(dataset)
    assert run.counts["records_created"] == len(served_c) and run.counts["enrollments_created"] == len(
        served_e
    )
    assert run.counts["records_received"] == len(served_c) + len(served_e)
    assert run.counts["pages"] >= 3 and run.counts["retries"] == 0
    assert run.counts["unknown_people"] >= 1  # the simulator pays for people not on the roster
    assert_ledger_mirrors(dataset)
    connector.refresh_from_db()
    state = SyncState.decode(connector.cursor)
    assert (state.phase, state.page) == ("e", "") and state.since_e and state.since_c
    assert run.cursor == connector.cursor and connector.last_run_at and connector.next_run_at > timezone.now()
    # no source row keeps a plain identity number
    numbers = {k[0] for k in served_c}
    cells = json.dumps([r.cells for r in SourceRow.objects.all()], ensure_ascii=False)
    assert not any(n in cells for n in numbers)

    again = _sync(connector)
    assert again.status == SyncRun.Status.SUCCEEDED
    assert again.counts["records_received"] == 0 and again.change_count == 0
    assert_ledger_mirrors(dataset)
    # each sync is in the evidence ledger with a digest of what was received
    from shebao.evidence.models import Entry

    entries = [json.loads(e.payload) for e in Entry.objects.filter(kind="source.applied").order_by("seq")]
    assert [e["run"] for e in entries] == [run.pk, again.pk]
    digests = [e["received_sha256"] for e in entries]
    assert all(len(d) == 64 for d in digests) and digests[0] != digests[1]


@pytest.mark.parametrize("fault", ["slow", "500", "429", "malformed", "duplicate_page"])
def test_sync_survives_each_fault(org, dataset, simulator, fault):
    sim, url = simulator(faults=[fault], fault_rate=0.4, seed=3)
    connector = _connector(org, url)
    run = _sync(connector)
    assert sim.injected[fault] > 0
    assert_ledger_mirrors(dataset)
    if fault in ("slow", "500", "429"):
        assert run.status == SyncRun.Status.SUCCEEDED, run.errors
        assert run.counts["retries"] >= sim.injected[fault]
    if fault == "duplicate_page":
        assert run.status == SyncRun.Status.SUCCEEDED, run.errors
        assert run.counts["duplicates_skipped"] > 0
    if fault == "malformed":
        assert run.status == SyncRun.Status.PARTIAL
        bad_ids = sim.bad_records
        assert bad_ids and run.counts["row_errors"] == len(bad_ids) and run.counts["rejected"] == len(bad_ids)
        assert {e["record_id"] for e in run.errors} == bad_ids
        for e in run.errors:
            assert f"记录 {e['record_id']}" in e["message"] and e["column"] and e["row"]
        assert SourceRow.objects.filter(run=run).exclude(errors=[]).count() == len(bad_ids)


def test_interrupted_syncs_resume_from_their_cursor_without_duplicates(
    org, dataset, simulator, settings, monkeypatch
):
    from shebao.ledger.connectors import http as http_module

    settings.SHEBAO_CONNECTOR_MAX_ATTEMPTS = 2
    sim, url = simulator(faults=["500", "429", "slow", "duplicate_page"], fault_rate=0.5, seed=5)
    connector = _connector(org, url)
    first_calls = []
    original = http_module.HttpSource.page

    def spy(self, phase, *, cursor="", since=""):
        if not getattr(self, "_spied", False):
            self._spied = True
            first_calls.append((phase, cursor, since))
        return original(self, phase, cursor=cursor, since=since)

    monkeypatch.setattr(http_module.HttpSource, "page", spy)
    runs = []
    for _ in range(40):
        before = SyncState.decode(Connector.objects.get(pk=connector.pk).cursor)
        run = _sync(connector)
        runs.append((before, run))
        if run.status == SyncRun.Status.SUCCEEDED:
            break
    statuses = Counter(r.status for _, r in runs)
    assert runs[-1][1].status == SyncRun.Status.SUCCEEDED
    assert statuses[SyncRun.Status.PARTIAL] >= 1  # stopped half-way at least once
    for (before, run), (phase, cursor, _since) in zip(runs, first_calls, strict=True):
        assert (phase, cursor) == (before.phase, before.page)  # each run starts where the last one stopped
        if run.status != SyncRun.Status.SUCCEEDED:
            assert (
                run.errors[-1]["row"] is None and "下次同步将从上次完成的页继续" in run.errors[-1]["message"]
            )
    assert any(before.page for before, _ in runs[1:])  # resumed mid-listing, not from scratch
    served_c, served_e = _served(dataset)
    created = sum(r.counts.get("records_created", 0) for _, r in runs)
    assert created == len(served_c)  # each month written once across all the runs
    assert sum(r.counts.get("enrollments_created", 0) for _, r in runs) == len(served_e)
    assert sum(r.counts.get("records_changed", 0) for _, r in runs) == 0
    assert_ledger_mirrors(dataset)


def test_incremental_sync_reads_only_what_changed(org, dataset, simulator):
    sim, url = simulator()
    connector = _connector(org, url)
    assert _sync(connector).status == SyncRun.Status.SUCCEEDED
    declared = next(r for r in dataset.records("c", "BJ01") if r.status == "declared" and r.employer_due)
    dataset.update(
        declared.record_id,
        status="paid",
        employer_paid=declared.employer_due,
        employee_paid=declared.employee_due,
        posting_period="2026-07",
    )
    enrol = dataset.records("e", "BJ01")[0]
    dataset.update(enrol.record_id, state="terminated", since="2026-06-30")
    run = _sync(connector)
    assert run.status == SyncRun.Status.SUCCEEDED
    assert run.counts["records_received"] == 2
    assert run.counts["records_changed"] == 1 and run.counts["enrollments_changed"] == 1
    assert_ledger_mirrors(dataset)
    revision = ContributionRevision.objects.get(run=run)
    assert revision.changes["status"] == ["declared", "paid"]
    assert ChangeEvent.objects.filter(run=run, kind=ChangeEvent.Kind.MONTH_CHANGED).exists()
    # a full sync reads everything again and changes nothing
    full = _sync(connector, full=True)
    served_c, served_e = _served(dataset)
    assert full.counts["records_received"] == len(served_c) + len(served_e)
    assert full.change_count == 0 and full.status == SyncRun.Status.SUCCEEDED


class _FakeSource:
    """Three pages of one contribution each; scripted failures."""

    def __init__(self, real, fail_on=()):
        self.real, self.fail_on, self.calls = real, set(fail_on), []

    def page(self, phase, *, cursor="", since=""):
        from shebao.ledger.connectors.http import Page

        self.calls.append((phase, cursor))
        if (phase, cursor) in self.fail_on:
            self.fail_on.discard((phase, cursor))
            raise ConnectorError("游标已过期", code="cursor_expired")
        if phase == "e":
            return Page(records=[], next_cursor=None, sync_token="se")
        records = self.real
        index = int(cursor or 0)
        return Page(
            records=[records[index]], next_cursor=str(index + 1) if index + 1 < 3 else None, sync_token="sc"
        )

    def convert(self, phase, record, *, row):
        from shebao.ledger.connectors.base import RecordConverter

        return RecordConverter(own_unit_no="BJ01").contribution(record, row=row)


def test_failed_page_is_rolled_back_and_the_cursor_stays(org, dataset, monkeypatch):
    from shebao.ledger import services

    records = [r.to_json() for r in dataset.records("c", "BJ01")[:3]]
    connector = _connector(org, "http://127.0.0.1:9/")
    real_apply = services.ledger_facts_apply
    calls = {"n": 0}

    def flaky(**kw):
        calls["n"] += 1
        result = real_apply(**kw)
        if calls["n"] == 2:
            raise RuntimeError("disk full")
        return result

    monkeypatch.setattr(services, "ledger_facts_apply", flaky)
    run = _sync(connector, source=_FakeSource(records))
    assert run.status == SyncRun.Status.PARTIAL
    assert ContributionRecord.objects.count() == 1  # page 2 rolled back
    assert "disk full" in run.errors[-1]["message"]
    connector.refresh_from_db()
    assert SyncState.decode(connector.cursor) == SyncState(phase="c", page="1", since_e="se")
    source = _FakeSource(records, fail_on=[("c", "1")])
    run = _sync(connector, source=source)
    # the expired cursor makes the phase start again from its sync token: nothing lost
    assert source.calls == [("c", "1"), ("c", ""), ("c", "1"), ("c", "2")]
    assert run.status == SyncRun.Status.SUCCEEDED and ContributionRecord.objects.count() == 3
    assert any("游标已过期" in w for w in run.warnings)


def test_a_connector_never_runs_twice_at_once(org, dataset, simulator, system):
    from shebao.ledger.services import sync_run_start

    sim, url = simulator()
    connector = _connector(org, url)
    running = sync_run_start(entity=org["bj"], source="simulator", actor=system, connector=connector)
    with pytest.raises(ConnectorBusy):
        _sync(connector)
    # a run "running" for longer than the stale limit died with its process
    SyncRun.objects.filter(pk=running.pk).update(started_at=timezone.now() - dt.timedelta(hours=3))
    run = _sync(connector)
    assert run.status == SyncRun.Status.SUCCEEDED
    running.refresh_from_db()
    assert running.status == SyncRun.Status.FAILED and "中断" in str(running.errors)


def test_private_addresses_are_refused_unless_allowed(org, dataset, simulator, settings):
    sim, url = simulator()
    connector = _connector(org, url, simulator=False, name="内网网关")
    run = _sync(connector)
    assert run.status == SyncRun.Status.FAILED and run.source == SyncRun.Source.HTTP
    assert run.errors[-1]["code"] == "address_refused" and sim.requests == 0
    settings.SHEBAO_CONNECTOR_ALLOW_PRIVATE = True
    assert _sync(connector).status == SyncRun.Status.SUCCEEDED


def test_wrong_secret_fails_without_retrying(org, dataset, simulator):
    sim, url = simulator()
    connector = _connector(org, url)
    connector_secret_set(connector, "wrong")
    connector.save()
    run = _sync(connector)
    assert run.status == SyncRun.Status.FAILED and run.counts["retries"] == 0
    assert "bad_signature" in run.errors[-1]["message"] and sim.requests == 1


# --- scheduling ----------------------------------------------------------------------------------------


def test_periodic_task_runs_due_connectors_only(org, tmp_path):
    from huey.contrib.djhuey import HUEY

    from shebao.ledger.tasks import ledger_connectors_tick_task

    now = timezone.now()

    def make(name, **kw):
        folder = tmp_path / name
        folder.mkdir()
        return Connector.objects.create(
            entity=kw.pop("entity", org["bj"]), kind="drop_folder", name=name, folder=str(folder), **kw
        )

    due = make("due", next_run_at=now - dt.timedelta(minutes=1), interval_minutes=30)
    never = make("never")
    later = make("later", next_run_at=now + dt.timedelta(minutes=10))
    off = make("off", enabled=False, next_run_at=now - dt.timedelta(hours=1))
    org["sz"].is_active = False
    org["sz"].save()
    inactive = make("inactive", entity=org["sz"], next_run_at=now - dt.timedelta(hours=1))
    assert {c.pk for c in connectors_due(now)} == {due.pk, never.pk}
    queued = ledger_connectors_tick_task.call_local()
    assert sorted(queued) == sorted([due.pk, never.pk])
    for c in (due, never, later, off, inactive):
        c.refresh_from_db()
    assert due.last_run_at and due.next_run_at > now + dt.timedelta(minutes=29)
    assert never.last_run_at and later.last_run_at is None and off.last_run_at is None
    assert ledger_connectors_tick_task.call_local() == []  # claimed: not queued again
    # scheduled every five minutes
    tick = {t.name for t in HUEY.read_periodic(dt.datetime(2026, 6, 15, 10, 5))}
    assert "ledger_connectors_tick_task" in {n.rsplit(".", 1)[-1] for n in tick}


# --- command line --------------------------------------------------------------------------------------


def test_sync_command(org, dataset, simulator):
    sim, url = simulator()
    _connector(org, url)
    out = StringIO()
    call_command("sync", "--entity", "BJ01", "--json", stdout=out)
    result = json.loads(out.getvalue())
    (item,) = result["connectors"]
    assert item["status"] == "succeeded" and item["simulator"] is True
    assert item["runs"][0]["counts"]["records_created"] > 0
    out = StringIO()
    call_command("sync", "--connector", "模拟平台", "--full", stdout=out)
    assert "模拟平台" in out.getvalue() and "成功" in out.getvalue()
    with pytest.raises(CommandError):
        call_command("sync", "--connector", "没有这个")
    with pytest.raises(CommandError):
        call_command("sync", "--entity", "XX99")


def test_simulate_platform_command_validates_arguments(org):
    with pytest.raises(CommandError, match="未知的故障类型"):
        call_command("simulate-platform", "--faults", "slow,explode")
    with pytest.raises(CommandError, match="--secret"):
        call_command("simulate_platform", "--host", "0.0.0.0")
