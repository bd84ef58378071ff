"""ledger_facts_apply: keys, merging of partial facts, idempotence, history, change events."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest
from django.db import transaction

from shebao.core.identity import make_resident_id
from shebao.core.yearmonth import YearMonth
from shebao.ledger import facts as F
from shebao.ledger.models import (
    ChangeEvent,
    ContributionRecord,
    ContributionRevision,
    EnrollmentRevision,
    EnrollmentStatus,
    LedgerPerson,
    LedgerUnit,
    SourceRow,
    SyncRun,
)
from shebao.ledger.services import ledger_facts_apply, sync_run_finish, sync_run_start

pytestmark = pytest.mark.django_db

D = Decimal
P = F.Insurance.PENSION
M = F.Insurance.MEDICAL


def _run(org, system):
    return sync_run_start(entity=org["bj"], source="cli", actor=system)


def _apply(org, system, rows):
    run = _run(org, system)
    with transaction.atomic():
        result = ledger_facts_apply(run=run, rows=rows)
    sync_run_finish(run=run, status="succeeded", counts=result.counts, errors=result.errors)
    return run, result


def _row(n, person, *facts, enrollments=()):
    return F.SourceRow(
        row=n,
        cells={"姓名": person.name},
        contributions=[f for f in facts],
        enrollments=list(enrollments),
    )


def _fact(person, insurance, month, **kw):
    return F.ContributionFact(person=person, insurance=insurance, period=YearMonth.parse(month), **kw)


@pytest.fixture
def alice(make_employee):
    emp = make_employee(name="爱丽丝")
    from shebao.core import crypto
    from shebao.roster.models import ID_PURPOSE

    return emp, F.PersonRef(name="爱丽丝", id_number=crypto.decrypt(emp.id_number_enc, purpose=ID_PURPOSE))


def test_employer_and_employee_parts_from_two_rows_make_one_month(org, system, alice):
    emp, ref = alice
    run, result = _apply(
        org,
        system,
        [
            _row(2, ref, _fact(ref, P, "2025-03", base=D("8000"), employer_due=D("1280.00"))),
            _row(3, ref, _fact(ref, P, "2025-03", base=D("8000"), employee_due=D("640.00"))),
        ],
    )
    rec = ContributionRecord.objects.get()
    assert (rec.period, rec.insurance, rec.base, rec.employer_due, rec.employee_due) == (
        202503,
        "pension",
        D("8000.00"),
        D("1280.00"),
        D("640.00"),
    )
    assert rec.status == ContributionRecord.Status.DECLARED
    assert rec.evidence == "assessed"
    assert rec.unit.entity == org["bj"]
    assert rec.person.employee == emp
    assert rec.source_row == 3 and rec.first_run == run and rec.last_run == run
    assert result.counts["records_created"] == 1 and result.counts["records_changed"] == 0
    assert not ContributionRevision.objects.exists()  # the run's own month, stated twice
    assert SourceRow.objects.filter(run=run).count() == 2
    assert result.employees == [emp.pk]


def test_same_facts_twice_change_nothing(org, system, alice):
    _, ref = alice
    rows = lambda: [  # noqa: E731
        _row(2, ref, _fact(ref, P, "2025-03", base=D("8000"), employer_due=D("1280"), employee_due=D("640"))),
        _row(3, ref, _fact(ref, M, "2025-03", base=D("8000"), employer_due=D("800"), employee_due=D("160"))),
    ]
    _apply(org, system, rows())
    before = list(ContributionRecord.objects.values_list("id", "base", "employer_due", "status", "last_run"))
    run2, result = _apply(org, system, rows())
    assert result.counts["records_created"] == 0 and result.counts["records_unchanged"] == 2
    after = list(ContributionRecord.objects.values_list("id", "base", "employer_due", "status", "last_run"))
    assert before == after
    assert not ContributionRevision.objects.exists()
    assert not ChangeEvent.objects.filter(run=run2).exists()


def test_later_file_changing_a_month_keeps_history_and_announces_it(org, system, alice):
    emp, ref = alice
    _apply(org, system, [_row(2, ref, _fact(ref, M, "2025-03", base=D("8000"), employer_due=D("800")))])
    run2, result = _apply(
        org,
        system,
        [
            _row(
                5,
                ref,
                _fact(
                    ref,
                    M,
                    "2025-03",
                    base=D("9000"),
                    employer_paid=D("900"),
                    evidence=F.Evidence.PAID,
                ),
            )
        ],
    )
    rec = ContributionRecord.objects.get()
    assert rec.base == D("9000.00") and rec.employer_due == D("800.00") and rec.employer_paid == D("900.00")
    assert rec.status == "paid" and rec.evidence == "paid" and rec.last_run == run2 and rec.source_row == 5
    rev = ContributionRevision.objects.get()
    assert rev.run == run2
    assert rev.changes["base"] == ["8000.00", "9000.00"]
    assert rev.changes["status"] == ["declared", "paid"]
    event = ChangeEvent.objects.get(run=run2)
    assert event.kind == "month_changed" and event.employee == emp and event.period == 202503


def test_assessed_file_does_not_downgrade_a_paid_month(org, system, alice):
    _, ref = alice
    _apply(
        org,
        system,
        [_row(2, ref, _fact(ref, P, "2025-04", employer_paid=D("1280"), evidence=F.Evidence.PAID))],
    )
    _apply(org, system, [_row(2, ref, _fact(ref, P, "2025-04", employer_due=D("1280")))])
    rec = ContributionRecord.objects.get()
    assert rec.status == "paid" and rec.evidence == "paid"


def test_explicit_status_from_the_source_wins(org, system, alice):
    _, ref = alice
    _apply(
        org,
        system,
        [_row(2, ref, _fact(ref, P, "2025-04", employer_due=D("1280"), status=F.ContributionStatus.ARREARS))],
    )
    assert ContributionRecord.objects.get().status == "arrears"
    _apply(
        org,
        system,
        [
            _row(
                2,
                ref,
                _fact(
                    ref,
                    P,
                    "2025-04",
                    employer_paid=D("1280"),
                    payment_type=F.PaymentType.BACKPAY,
                    posting_period=YearMonth(2025, 6),
                    evidence=F.Evidence.PAID,
                ),
            )
        ],
    )
    rec = ContributionRecord.objects.get()
    assert rec.status == "backpaid" and rec.posting_period == 202506 and rec.payment_type == "backpay"


def test_another_units_month_is_its_own_record(org, system, alice):
    _, ref = alice
    _apply(
        org,
        system,
        [
            _row(2, ref, _fact(ref, M, "2025-03", employer_due=D("800"))),
            _row(
                3,
                ref,
                _fact(
                    ref,
                    M,
                    "2025-03",
                    unit_no="44010000001",
                    unit_name="前东家有限公司",
                    employer_due=D("700"),
                ),
            ),
        ],
    )
    units = {r.unit.key: r.unit for r in ContributionRecord.objects.select_related("unit")}
    assert len(units) == 2
    other = LedgerUnit.objects.get(key="no:44010000001")
    assert other.entity is None and other.name == "前东家有限公司"


def test_our_unit_number_maps_to_our_entity(org, system, alice):
    _, ref = alice
    org["sz"].si_unit_no = "4403001234"
    org["sz"].save()
    _apply(org, system, [_row(2, ref, _fact(ref, M, "2025-03", unit_no="4403001234", employer_due=D("1")))])
    assert ContributionRecord.objects.get().unit.entity == org["sz"]


def test_unknown_people_are_kept_and_announced(org, system):
    stranger = F.PersonRef(name="陌生人", id_number=make_resident_id("440305", dt.date(1991, 2, 3), 17))
    run, result = _apply(
        org, system, [_row(2, stranger, _fact(stranger, P, "2025-03", employer_due=D("100")))]
    )
    person = LedgerPerson.objects.get()
    assert person.employee is None and person.match == "none"
    assert person.id_number_enc and stranger.id_number not in person.id_number_enc
    assert person.id_number_masked.startswith("4403") and "*" in person.id_number_masked
    assert result.counts["unknown_people"] == 1
    assert ChangeEvent.objects.filter(run=run, kind="person_unknown").count() == 1


def test_person_seen_first_and_hired_later_is_matched(org, system, make_employee):
    number = make_resident_id("110105", dt.date(1992, 5, 6), 21)
    ref = F.PersonRef(name="后入职", id_number=number)
    _apply(org, system, [_row(2, ref, _fact(ref, P, "2025-01", employer_due=D("1")))])
    emp = make_employee(name="后入职", id_number=number)
    _apply(org, system, [_row(2, ref, _fact(ref, P, "2025-02", employer_due=D("1")))])
    assert LedgerPerson.objects.get().employee == emp


def test_rows_with_errors_or_skipped_are_not_applied_but_kept(org, system, alice):
    _, ref = alice
    bad = F.SourceRow(
        row=4,
        cells={"证件号码": "1101**"},
        errors=[{"column": "证件号码", "code": "checksum", "message": "第4行“证件号码”：校验码错误"}],
    )
    total = F.SourceRow(row=9, cells={"序号": "合计"}, skipped="合计行")
    run, result = _apply(
        org, system, [_row(2, ref, _fact(ref, P, "2025-03", employer_due=D("1"))), bad, total]
    )
    assert result.counts["rows"] == 3 and result.counts["rejected"] == 1 and result.counts["skipped"] == 1
    assert result.errors == [
        {"row": 4, "column": "证件号码", "code": "checksum", "message": "第4行“证件号码”：校验码错误"}
    ]
    assert SourceRow.objects.filter(run=run).count() == 3
    assert ContributionRecord.objects.count() == 1


def test_account_only_person_matched_by_unique_name_and_flagged(org, system, make_employee):
    emp = make_employee(name="王小明")
    ref = F.PersonRef(name="王小明", account_no="HZ0001")
    _apply(
        org, system, [_row(2, ref, _fact(ref, F.Insurance.HOUSING_FUND, "2026-02", employer_due=D("500")))]
    )
    person = LedgerPerson.objects.get()
    assert person.employee == emp and person.match == "account" and not person.id_number_enc


def test_account_only_person_with_ambiguous_name_is_not_matched(org, system, make_employee):
    make_employee(name="李雷")
    make_employee(name="李雷")
    ref = F.PersonRef(name="李雷", account_no="HZ0002")
    _apply(
        org, system, [_row(2, ref, _fact(ref, F.Insurance.HOUSING_FUND, "2026-02", employer_due=D("500")))]
    )
    assert LedgerPerson.objects.get().employee is None


def test_enrollment_state_changes_are_revised_and_announced(org, system, alice):
    emp, ref = alice
    active = F.EnrollmentFact(
        person=ref, insurance=M, state=F.EnrollmentState.ACTIVE, since=dt.date(2025, 3, 1)
    )
    _apply(org, system, [_row(2, ref, enrollments=[active])])
    stopped = F.EnrollmentFact(
        person=ref, insurance=M, state=F.EnrollmentState.SUSPENDED, since=dt.date(2025, 9, 1)
    )
    run2, result = _apply(org, system, [_row(2, ref, enrollments=[stopped])])
    st = EnrollmentStatus.objects.get()
    assert st.state == "suspended" and st.since == dt.date(2025, 9, 1) and st.run == run2
    assert EnrollmentRevision.objects.get().changes["state"] == ["active", "suspended"]
    assert result.counts["enrollments_changed"] == 1
    assert ChangeEvent.objects.filter(run=run2, kind="status_changed", employee=emp).exists()
    # the same report again changes nothing
    run3, result = _apply(org, system, [_row(2, ref, enrollments=[stopped])])
    assert result.counts["enrollments_unchanged"] == 1 and not ChangeEvent.objects.filter(run=run3).exists()


def test_new_month_events_are_one_per_person(org, system, alice):
    _, ref = alice
    rows = [
        _row(i, ref, _fact(ref, P, f"2025-{m:02d}", employer_due=D("1")))
        for i, m in enumerate(range(1, 13), 2)
    ]
    run, _ = _apply(org, system, rows)
    event = ChangeEvent.objects.get(run=run)
    assert event.kind == "month_new" and event.detail["insurances"]["pension"] == [202501, 202512, 12]
    assert SyncRun.objects.get(pk=run.pk).change_count == 12


def test_new_persons_month_stated_again_in_a_later_chunk_is_merged(org, system, monkeypatch):
    # A person this run creates is not looked up while first seen; a later chunk that states the
    # same month again (the employee part) must still find the month the first chunk inserted.
    from shebao.ledger import services

    monkeypatch.setattr(services, "CHUNK", 2)
    stranger = F.PersonRef(name="陌生人", id_number=make_resident_id("440305", dt.date(1991, 2, 3), 17))
    rows = [
        _row(2, stranger, _fact(stranger, P, "2025-03", base=D("8000"), employer_due=D("1280.00"))),
        _row(3, stranger, _fact(stranger, P, "2025-04", base=D("8000"), employer_due=D("1280.00"))),
        _row(4, stranger, _fact(stranger, P, "2025-03", employee_due=D("640.00"))),
    ]
    run, result = _apply(org, system, rows)
    rec = ContributionRecord.objects.get(period=202503)
    assert (rec.employer_due, rec.employee_due, rec.source_row) == (D("1280.00"), D("640.00"), 4)
    assert result.counts["records_created"] == 2 and result.counts["records_changed"] == 0
    assert not ContributionRevision.objects.exists()
    assert SourceRow.objects.filter(run=run).count() == 3


def test_source_rows_are_stored_as_json_lists_aligned_with_the_run_columns(org, system, alice):
    _, ref = alice
    row = F.SourceRow(
        row=2,
        cells={"姓名": ref.name, "备注": 'a "quoted" \\ note\n', "证件号码": "1101**********0003"},
        contributions=[_fact(ref, P, "2025-03", employer_due=D("1"))],
    )
    run, _ = _apply(org, system, [row])
    run.refresh_from_db()
    stored = SourceRow.objects.get(run=run)
    assert run.columns == ["姓名", "备注", "证件号码"]
    assert stored.cells == [ref.name, 'a "quoted" \\ note\n', "1101**********0003"]


def test_a_file_that_breaks_while_streaming_fails_and_writes_nothing(
    org, system, alice, tmp_path, monkeypatch
):
    from types import SimpleNamespace

    from shebao.imports.readers import ImportFileError
    from shebao.ledger import services

    _, ref = alice

    def rows():
        yield _row(2, ref, _fact(ref, P, "2025-03", employer_due=D("1")))
        raise ImportFileError("encoding", "第3行起无法按 GB18030 解码：请另存为 UTF-8 后重新上传")

    parsed = SimpleNamespace(
        profile=SimpleNamespace(code="generic_long"), rows=rows, warnings=[], context_found={}
    )
    monkeypatch.setattr(services, "_parse", lambda *a, **k: parsed)
    path = tmp_path / "x.csv"
    path.write_bytes(b"x")
    run = services.ledger_file_ingest(
        entity=org["bj"], path=path, filename="x.csv", source="cli", actor=system
    )
    assert run.status == "failed" and run.errors == [
        {"message": "第3行起无法按 GB18030 解码：请另存为 UTF-8 后重新上传", "code": "encoding"}
    ]
    assert not ContributionRecord.objects.exists() and not SourceRow.objects.exists()
