"""invalid_identity: a 15-digit number upgraded to 18 digits and not yet seen in government data,
a ledger person matched by account number and name only, and a namesake with a different number."""

from __future__ import annotations

import datetime as dt

import pytest

from shebao.core import crypto
from shebao.core.identity import make_legacy15_id, make_resident_id
from shebao.ledger.models import PERSON_ID_PURPOSE, LedgerPerson
from shebao.rules.models import Finding
from shebao.rules.tests.factories import Book, evaluate, found, months, only_rule

F = Finding.Status
ID = "invalid_identity"
DAY = dt.date(2025, 6, 20)


@pytest.fixture
def book(org):
    return Book(org["bj"])


def namesake(book, name: str, number: str, *, entity=None) -> LedgerPerson:
    """A ledger person nobody employs, with an identity number, first seen at the entity."""
    return LedgerPerson.objects.create(
        key=crypto.blind_index(number, purpose=PERSON_ID_PURPOSE),
        id_number_enc=crypto.encrypt(number, purpose=PERSON_ID_PURPOSE),
        id_number_bidx=crypto.blind_index(number, purpose=PERSON_ID_PURPOSE),
        id_kind="resident_id",
        name=name,
        first_entity=entity or book.entity,
    )


def test_upgraded_15_digit_number_until_matched(book, make_employee):
    old = make_employee(
        id_number=make_legacy15_id("110105", dt.date(1968, 3, 4), 21), hire_date=dt.date(2024, 7, 1)
    )
    new = make_employee(hire_date=dt.date(2024, 7, 1))
    assert old.id_upgraded_from_15 and len(old.id_number_masked) == 18
    evaluate(DAY, ID)
    (f,) = found(ID)
    assert f.employee_id == old.pk and f.key == f"e{old.pk}:id15"
    assert f.details["variant"] == "upgraded_15" and "15位旧号升位" in f.title
    assert found(ID, employee=new) == []

    # Seen in government data under the 18-digit number: verified, the finding resolves.
    book.pay(book.person(old), "pension", months("2025-05"))
    r = evaluate(DAY, ID)
    f.refresh_from_db()
    assert r.resolved == 1 and f.status == F.RESOLVED and f.resolved_reason == "身份信息已核对一致"


def test_upgraded_15_matched_by_account_only_is_still_unverified(book, make_employee):
    old = make_employee(
        id_number=make_legacy15_id("110105", dt.date(1970, 1, 2), 33), hire_date=dt.date(2024, 7, 1)
    )
    p = book.person(old, match="account")
    LedgerPerson.objects.filter(pk=p.pk).update(account_no="1100123")
    evaluate(DAY, ID)
    got = {f.details["variant"]: f for f in found(ID, employee=old)}
    assert set(got) == {"upgraded_15", "account_only"}
    acct = got["account_only"]
    assert acct.key == f"e{old.pk}:acct{p.pk}" and acct.person_id == p.pk
    assert "1100123" in acct.title


def test_account_only_match(book, make_employee):
    emp = make_employee(hire_date=dt.date(2024, 7, 1))
    byid = make_employee(hire_date=dt.date(2024, 7, 1))
    book.person(byid)
    p = book.person(emp, match="account")
    evaluate(DAY, ID)
    (f,) = found(ID)
    assert (f.employee_id, f.person_id, f.details["variant"]) == (emp.pk, p.pk, "account_only")
    # turned into an identity-number match by a later file: resolves
    LedgerPerson.objects.filter(pk=p.pk).update(match="id_number")
    evaluate(DAY, ID)
    assert found(ID) == []


def test_namesake_with_a_different_number_in_the_ledger(book, make_employee, org):
    emp = make_employee(name="张伟", hire_date=dt.date(2024, 7, 1))
    other = namesake(book, "张伟", make_resident_id("110105", dt.date(1985, 5, 5), 77))
    namesake(book, "李娜", make_resident_id("110105", dt.date(1985, 5, 6), 78))  # nobody of that name
    evaluate(DAY, ID)
    (f,) = found(ID)
    assert f.employee_id == emp.pk and f.person_id == other.pk
    assert f.key == f"e{emp.pk}:name{other.pk}" and f.details["variant"] == "name_only"
    assert f.details["ledger_id_masked"] == other.id_number_masked and other.id_number_masked in f.title
    assert other.id_number_masked != emp.id_number_masked


def test_namesake_not_flagged_when_the_employee_is_matched_or_elsewhere(book, make_employee, org):
    matched = make_employee(name="王芳", hire_date=dt.date(2024, 7, 1))
    book.person(matched)
    namesake(book, "王芳", make_resident_id("110105", dt.date(1986, 6, 6), 79))
    make_employee(name="刘洋", entity=org["sz"], department=org["store"], hire_date=dt.date(2024, 7, 1))
    namesake(book, "刘洋", make_resident_id("110105", dt.date(1986, 6, 7), 80))  # first seen at BJ
    make_employee(name="陈静", hire_date=dt.date(2024, 7, 1))
    book.person(name="陈静")  # an account-keyed person without a number: nothing to compare
    evaluate(DAY, ID)
    assert found(ID) == []


def test_params_switch_checks_off(book, make_employee):
    rule = only_rule(ID, params={"upgraded_15": False, "name_only": False})
    make_employee(
        id_number=make_legacy15_id("110105", dt.date(1968, 3, 4), 22), hire_date=dt.date(2024, 7, 1)
    )
    make_employee(name="赵磊", hire_date=dt.date(2024, 7, 1))
    namesake(book, "赵磊", make_resident_id("110105", dt.date(1987, 7, 7), 81))
    acct = make_employee(hire_date=dt.date(2024, 7, 1))
    book.person(acct, match="account")
    evaluate(DAY, ID)
    assert [f.employee_id for f in found(ID, rule=rule)] == [acct.pk]


def test_incremental_evaluation_for_the_namesake_keeps_the_finding(book, make_employee):
    """A sync touching only the unmatched namesake names that ledger person: the employee's finding
    is not judged in that evaluation, so it must not be resolved by it."""
    emp = make_employee(name="孙丽", hire_date=dt.date(2024, 7, 1))
    other = namesake(book, "孙丽", make_resident_id("110105", dt.date(1988, 8, 8), 82))
    evaluate(DAY, ID)
    (f,) = found(ID)
    book.pay(other, "pension", months("2025-05"))
    r = evaluate(DAY, ID, person_ids=[other.pk])
    f.refresh_from_db()
    assert f.status == F.OPEN and r.resolved == 0
    evaluate(DAY, ID, employee_ids=[emp.pk])
    f.refresh_from_db()
    assert f.status == F.OPEN
