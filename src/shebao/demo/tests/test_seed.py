"""`shebao seed`: deterministic, realistic, idempotent — and no plaintext identifiers at rest (PIPL)."""

from __future__ import annotations

import datetime as dt
import io
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.db import connection
from stdnum.cn import uscc as uscc_lib

from shebao.core import crypto
from shebao.core.identity import IdKind, parse_identity
from shebao.demo.generator import CITIES, city_headcounts, counties, generate
from shebao.demo.services import DEMO_PASSWORD, SEED_ACTION, seed_demo
from shebao.roster.models import ID_PURPOSE, PHONE_PURPOSE, Employee, EmploymentSpell

AS_OF = dt.date(2026, 11, 27)
N = 300
SEED = 7


def _bidx(person) -> str:
    return crypto.blind_index(parse_identity(person.id_number, person.id_kind).number, purpose=ID_PURPOSE)


@pytest.fixture
def seeded(db):
    result = seed_demo(employees=N, seed=SEED, as_of=AS_OF)
    assert not result.skipped
    return result


def _seed_cmd(*extra: str) -> str:
    out = io.StringIO()
    call_command(
        "seed", "--employees", str(N), "--seed", str(SEED), "--as-of", AS_OF.isoformat(), *extra, stdout=out
    )
    return out.getvalue()


# --- determinism -----------------------------------------------------------------------------------


def test_generator_is_deterministic():
    a = generate(employees=N, seed=SEED, as_of=AS_OF)
    b = generate(employees=N, seed=SEED, as_of=AS_OF)
    assert a.people == b.people and a.entities == b.entities and a.departments == b.departments
    other = generate(employees=N, seed=SEED + 1, as_of=AS_OF)
    assert [p.name for p in other.people] != [p.name for p in a.people]
    assert {p.id_number for p in other.people}.isdisjoint({p.id_number for p in a.people})


def test_database_holds_exactly_what_the_generator_made(seeded):
    rows = set(Employee.objects.values_list("employee_no", "name", "id_number_bidx"))
    expected = {
        (p.current.employee_no, p.name, _bidx(p))
        for p in generate(employees=N, seed=SEED, as_of=AS_OF).people
    }
    assert rows == expected
    other = {_bidx(p) for p in generate(employees=N, seed=SEED + 1, as_of=AS_OF).people}
    assert other.isdisjoint({bidx for _, _, bidx in rows})


# --- realism ---------------------------------------------------------------------------------------


def test_counts_per_city_and_structure(seeded):
    by_city = Counter(Employee.objects.values_list("entity__city__short_name", flat=True))
    assert dict(by_city) == city_headcounts(N)
    assert set(by_city) == set(CITIES) and min(by_city.values()) >= 20
    from shebao.org.models import Department, Entity

    entities = list(Entity.objects.select_related("city", "organisation"))
    assert len(entities) == 8 and {e.organisation.name for e in entities} == {"示例集团"}
    for e in entities:
        assert uscc_lib.is_valid(e.uscc) and e.uscc[2:4] == e.city.code[:2] and e.si_unit_no and e.hf_unit_no
    stores = Department.objects.filter(kind="store").select_related("parent")
    assert stores.count() >= 8 and all(s.parent.kind == "branch" and s.depth == 1 for s in stores)
    assert Department.objects.filter(entity__code="BJ01", name="后端开发组", parent__name="研发中心").exists()
    for d in Department.objects.select_related("parent"):
        assert d.path == f"{d.parent.path if d.parent else '/'}{d.pk}/"
    assert Employee.objects.filter(department__kind="store").exists()


def test_every_identity_parses_and_matches_its_row(seeded):
    kinds = Counter()
    for e in Employee.objects.all():
        number = crypto.decrypt(e.id_number_enc, purpose=ID_PURPOSE)
        identity = parse_identity(number, e.id_kind)
        assert identity.number == number
        assert e.id_number_bidx == crypto.blind_index(number, purpose=ID_PURPOSE)
        assert e.birth_date == identity.birth_date and e.gender == (identity.gender or "")
        phone = crypto.decrypt(e.phone_enc, purpose=PHONE_PURPOSE)
        assert (
            len(phone) == 11
            and phone[0] == "1"
            and e.phone_bidx == crypto.blind_index(phone, purpose=PHONE_PURPOSE)
        )
        kinds[e.id_kind] += 1
        if e.id_kind == IdKind.RESIDENT:
            assert 18 <= (AS_OF - e.birth_date).days / 365.25 < 61
            assert number[:6] in {c for cs in counties().values() for c, _ in cs}
    assert kinds[IdKind.PASSPORT] >= 1 and kinds[IdKind.HMT_RESIDENCE] >= 1
    assert (
        Employee.objects.filter(id_kind=IdKind.PASSPORT, employment_type="foreign").count()
        == kinds[IdKind.PASSPORT]
    )


def test_legacy_15_digit_ids_are_upgraded_and_flagged(seeded):
    legacy = [p for p in generate(employees=N, seed=SEED, as_of=AS_OF).people if len(p.id_number) == 15]
    assert len(legacy) == 3  # 1% of 300
    flagged = Employee.objects.filter(id_upgraded_from_15=True)
    assert flagged.count() == len(legacy) == seeded.legacy15
    upgraded = {parse_identity(p.id_number).number for p in legacy}
    assert {crypto.decrypt(e.id_number_enc, purpose=ID_PURPOSE) for e in flagged} == upgraded
    assert all(len(n) == 18 and n[6:8] == "19" for n in upgraded)


def test_rehires_have_two_spells(seeded):
    rehired = [e for e in Employee.objects.prefetch_related("spells") if len(e.spells.all()) > 1]
    assert len(rehired) >= 2
    for e in rehired:
        first, second = sorted(e.spells.all(), key=lambda s: s.hire_date)
        assert first.leave_date is not None and first.leave_date < second.hire_date
        assert first.employee_no != second.employee_no
        assert (e.employee_no, e.hire_date, e.leave_date, e.entity_id) == (
            second.employee_no,
            second.hire_date,
            second.leave_date,
            second.entity_id,
        )
    assert EmploymentSpell.objects.count() == N + len(rehired)


def test_population_shape():
    """Large enough to measure: turnover by segment, shares of special cases, dates."""
    org = generate(employees=6000, seed=1, as_of=AS_OF)
    kinds = {d.key: d.kind for d in org.departments}
    year_ago = AS_OF - dt.timedelta(days=365)

    def employed(s, day):
        return s.hire_date <= day and (s.leave_date is None or s.leave_date >= day)

    for store, low, high in ((False, 0.06, 0.16), (True, 0.38, 0.62)):
        spells = [s for p in org.people for s in p.spells if (kinds[s.department_key] == "store") == store]
        headcount = (sum(employed(s, year_ago) for s in spells) + sum(employed(s, AS_OF) for s in spells)) / 2
        leavers = sum(1 for s in spells if s.leave_date and year_ago <= s.leave_date < AS_OF)
        assert low <= leavers / headcount <= high, (store, leavers / headcount)
    people = org.people
    assert Counter(p.id_kind for p in people)[IdKind.PASSPORT] == 30  # 0.5%
    assert sum(len(p.id_number) == 15 for p in people) == 60  # 1%
    types = Counter(p.current.employment_type for p in people)
    assert types["full_time"] > 0.75 * len(people) and min(types.values()) >= 20
    store_types = Counter(
        p.current.employment_type for p in people if kinds[p.current.department_key] == "store"
    )
    assert {"part_time", "intern"} <= set(store_types)
    assert set(Counter(p.hukou_type for p in people)) == {
        "",
        "local_urban",
        "local_rural",
        "nonlocal_urban",
        "nonlocal_rural",
    }
    hires = [p.spells[0].hire_date for p in people]
    assert sum(h < AS_OF - dt.timedelta(days=3 * 365) for h in hires) > 0  # long-timers
    assert sum(h > AS_OF for h in hires) > 0  # 待入职
    provinces = Counter(p.id_number[:2] for p in people if p.id_kind == IdKind.RESIDENT)
    assert len(provinces) >= 28  # from all over China
    surnames = Counter(p.name[0] for p in people if p.id_kind == IdKind.RESIDENT)
    assert surnames.most_common(1)[0][0] in {"王", "李", "张"}
    assert any(p.name[:2] in {"欧阳", "司马", "上官", "诸葛", "司徒"} for p in people)
    wages = {
        c: sorted(
            float(p.current.declared_wage)
            for p in people
            if p.current.employment_type == "full_time"
            and kinds[p.current.department_key] == "store"
            and p.current.entity_code[:2] == c
        )
        for c in ("BJ", "CD")
    }
    assert wages["BJ"][len(wages["BJ"]) // 2] > wages["CD"][len(wages["CD"]) // 2] > 3000


# --- the command -----------------------------------------------------------------------------------


def test_running_twice_does_not_duplicate(db):
    first = _seed_cmd()
    assert f"{N} 名员工" in first
    counts = (Employee.objects.count(), EmploymentSpell.objects.count())
    second = _seed_cmd()
    assert "演示数据已存在，跳过" in second
    assert (Employee.objects.count(), EmploymentSpell.objects.count()) == counts
    from shebao.audit.models import AuditEvent

    assert AuditEvent.objects.filter(action=SEED_ACTION).count() == 1


def test_demo_users_are_created_and_reset(db, settings):
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]  # speed only
    from shebao.accounts.models import User

    out = _seed_cmd("--demo-users")
    assert "http://127.0.0.1:8000/" in out and DEMO_PASSWORD in out
    users = {u.username: u for u in User.objects.all()}
    assert {u: users[u].role for u in ("demo", "hr_bj", "manager", "auditor")} == {
        "demo": "hr_admin",
        "hr_bj": "hr_specialist",
        "manager": "dept_manager",
        "auditor": "auditor",
    }
    assert {e.city.short_name for e in users["hr_bj"].entities.all()} == {"北京"}
    assert users["hr_bj"].entities.count() == 2
    assert users["manager"].department.name == "研发中心"
    users["demo"].set_password("something-else-1")
    users["demo"].save()
    out = _seed_cmd("--demo-users")
    assert "演示数据已存在，跳过" in out
    assert User.objects.filter(username__in=["demo", "hr_bj", "manager", "auditor"]).count() == 4
    assert User.objects.get(username="demo").check_password(DEMO_PASSWORD)


def test_refuses_an_instance_with_other_entities(db):
    from shebao.core.context import Actor
    from shebao.org.services import entity_create

    entity_create(actor=Actor.system(), code="X1", name="真实公司", uscc="91110000802100433B", city="北京")
    with pytest.raises(CommandError, match="空实例"):
        _seed_cmd()
    assert Employee.objects.count() == 0


# --- PIPL: nothing readable at rest --------------------------------------------------------------


def _text_cells() -> Iterator[str]:
    """Every value of every column of every table, as text (works on SQLite and PostgreSQL)."""
    qn = connection.ops.quote_name
    with connection.cursor() as cur:
        for table in connection.introspection.table_names(cur):
            columns = [c.name for c in connection.introspection.get_table_description(cur, table)]
            cur.execute(f"SELECT {', '.join(qn(c) for c in columns)} FROM {qn(table)}")
            for row in cur.fetchall():
                for value in row:
                    if isinstance(value, bytes | memoryview):
                        yield bytes(value).decode("latin-1")
                    elif value is not None:
                        yield str(value)


def _sqlite_files() -> list[Path]:
    name = str(connection.settings_dict["NAME"])
    path = Path(name)
    assert path.exists(), f"SQLite database file not found: {name}"
    return [p for p in (path, Path(name + "-wal"), Path(name + "-journal")) if p.exists()]


@pytest.mark.django_db(transaction=True, serialized_rollback=True)  # keeps the migrated cities
def test_no_plaintext_identity_or_phone_number_at_rest():
    org = generate(employees=N, seed=99, as_of=AS_OF)
    seed_demo(employees=N, seed=99, as_of=AS_OF)
    secrets = set()
    for p in org.people:
        secrets |= {p.id_number, parse_identity(p.id_number, p.id_kind).number, p.phone}
    assert any(len(s) == 15 for s in secrets)

    dump = "\n".join(_text_cells())
    assert org.people[0].name in dump and _bidx(org.people[0]) in dump  # the scan sees the data
    assert not [s for s in secrets if s in dump]

    if connection.vendor == "sqlite":
        connection.close()  # let nothing sit in this process only
        raw = b"".join(p.read_bytes() for p in _sqlite_files())
        assert org.people[-1].name.encode() in raw and _bidx(org.people[-1]).encode() in raw
        assert not [s for s in secrets if s.encode() in raw]


@pytest.mark.django_db
def test_seed_loads_contribution_history_through_the_simulator_and_connectors():
    """`seed --ledger-months`: nothing written straight into the ledger — one "模拟平台" HTTP
    connector per entity synced from the simulator, then a full reconciliation."""
    from shebao.demo.ledger import SIMULATOR_PORT
    from shebao.ledger.models import Connector, ContributionRecord, Discrepancy, SyncRun

    out = io.StringIO()
    call_command("seed", employees=120, seed=7, ledger_months=6, stdout=out)
    connectors = list(Connector.objects.select_related("entity"))
    assert connectors and all(c.is_simulator and c.kind == "http" for c in connectors)
    assert {c.base_url for c in connectors} == {f"http://127.0.0.1:{SIMULATOR_PORT}"}  # where `up` serves it
    runs = SyncRun.objects.filter(connector__isnull=False, source="simulator")
    assert runs.count() == len(connectors) and set(runs.values_list("status", flat=True)) == {"succeeded"}
    assert ContributionRecord.objects.count() == sum(r.counts["records_created"] for r in runs)
    assert Discrepancy.objects.exists()
    assert "模拟平台" in out.getvalue()


@pytest.mark.django_db
def test_seed_with_ledger_shows_every_kind_of_finding_for_a_few_people():
    """On the demo organisation the inbox has findings of every rule kind (the simulator plans a
    few anomalies of each), and most people have none."""
    from shebao.rules.kinds import KINDS
    from shebao.rules.models import Finding

    out = io.StringIO()
    call_command("seed", employees=400, seed=SEED, as_of=AS_OF, ledger_months=12, stdout=out)
    open_findings = Finding.objects.filter(status=Finding.Status.OPEN)
    counts = Counter(open_findings.values_list("kind", flat=True))
    # The compliance-case kinds judge cases, and a seed without demo users opens none.
    from_cases = {"notice_unacknowledged", "backpay_due_soon", "case_step_overdue"}
    assert [k for k in KINDS if not counts[k] and k not in from_cases] == []
    assert "规则检查" in out.getvalue() and all(f"（{k}）" in out.getvalue() for k in KINDS)
    current = Employee.objects.filter(status="active").count()
    flagged = open_findings.filter(employee__status="active").values("employee").distinct().count()
    assert flagged <= 0.1 * current, (flagged, current)
    # identity: a namesake with another number, and an upgraded 15-digit number held by account only
    details = [f.details for f in open_findings.filter(kind="invalid_identity")]
    assert any("ledger_person" in d for d in details) and any("account_no" in d for d in details)


@pytest.mark.django_db
def test_demo_findings_reach_the_demo_users_in_app_and_by_email_to_the_local_sink(settings, tmp_path):
    """`seed --demo-users --ledger-months`: the demo mailbox channel exists before the ledger
    loads, so its findings notify the HR users in-app at once and by email through the worker —
    here a real SMTP sink on a free port receives them."""
    from shebao.demo.notify import CHANNEL_NAME
    from shebao.notify.mailsink import sink_messages
    from shebao.notify.models import Channel, Notification
    from shebao.notify.services import notifications_flush
    from shebao.notify.testing.smtp import free_port

    port = free_port("127.0.0.1")
    settings.SHEBAO_MAIL_SINK_DIR = tmp_path
    out = io.StringIO()
    call_command("seed", employees=300, seed=SEED, as_of=AS_OF, ledger_months=6, demo_users=True, stdout=out)
    channel = Channel.objects.get(name=CHANNEL_NAME)
    assert channel.kind == "email" and channel.for_people and channel.config["port"] == 8025
    inbox = Notification.objects.filter(channel__kind="inapp", user__username__in=["hr_bj", "demo"])
    assert inbox.exists() and set(inbox.values_list("status", flat=True)) == {"sent"}
    assert Notification.objects.filter(channel=channel, status="pending").exists()

    Channel.objects.filter(pk=channel.pk).update(config={**channel.config, "port": port})
    import threading

    from django.core.management import call_command as cc  # the sink command, in a thread

    from shebao.notify.management.commands.mail_sink import Command

    sink = Command()
    thread = threading.Thread(
        target=lambda: cc(sink, "--port", str(port), "--dir", str(tmp_path), stdout=io.StringIO()),
        daemon=True,
    )
    thread.start()
    assert sink.ready.wait(10)
    try:
        r = notifications_flush()
    finally:
        sink.stop_event.set()
        thread.join(10)
    assert r.sent >= 1 and not r.failed
    mails = sink_messages(directory=tmp_path)
    assert {m["to"] for m in mails} <= {"hr-bj@shebao.demo", "demo@shebao.demo"} and mails
    assert all(m["subject"] for m in mails)
