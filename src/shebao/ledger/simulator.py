"""A simulated social-insurance data platform serving the API of docs/connector-api.md.

It is a demo and test tool, labelled as such everywhere (``"simulator": true`` in every JSON
response, a red banner on ``/``). ``build_dataset`` generates the data from the organisation in
the database — one unit per entity (its 社保单位编号, else its code), the roster's people and
employment spells — over the last ``months`` months up to the current one:

- monthly records from each spell's hire month to its leave month (some registered a month
  late), amounts from the policy calculator at the declared wage (``null`` where the library
  lacks a figure: nothing is invented), ``paid`` except the current month (``declared``);
  part-time staff insured for work injury only;
- 住房公积金 (``housing_fund``, under the entity's 公积金单位账号) for the full-time staff of the
  entities whose city (or own setting) has a 公积金 rate in the library, amounts from the same
  calculator, ``null`` in months without figures;
- planned anomalies, a few people each and at most one per person so that most people have
  none (``_plan`` says how many): recent hires not registered after 30 days or due within the
  week, a recent hire whose previous employer still pays and reports ACTIVE, recent hires
  without 公积金, ongoing medical gaps of 2–3 and of 4–6 months, coverage stopped by mistake
  (all insurances, or a part-timer's work injury), the last month or two in ``arrears``, bases
  below the city minimum / above the maximum declared unclamped or behind a raise, a person
  whose number differs on the roster and on the platform (same name), an upgraded 15-digit
  number the platform holds by personal account only; and in the history: leavers not stopped
  for 1–2 months, previous employers paying on after a hire (refunded a few months later),
  past medical interruptions of 1–4 months;
- late payments settled later (``backpaid`` with a later ``posting_period`` and version 2) and a
  few people paid for who are not on the roster (nor named like anyone there): about 0.6 % of
  an entity's headcount.

All of it is simulated: the same seed, roster and day give the same data (the planned
anomalies follow the days since each hire; the people chosen stay the same while they qualify).
``Simulator`` serves a dataset over HTTP with optional HMAC verification and fault injection
(slow, 500, 429, malformed rows, a duplicate page); ``serve_in_thread()`` runs it inside a test.
"""

from __future__ import annotations

import datetime as dt
import functools
import hashlib
import json
import logging
import random
import re
import threading
import time
from bisect import bisect_right
from collections import Counter, OrderedDict
from collections.abc import Iterable
from dataclasses import dataclass, field, fields
from decimal import Decimal
from html import escape
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qsl, unquote, urlsplit

from shebao.core.identity import make_resident_id, resident_check_digit
from shebao.core.money import fmt, q2
from shebao.core.yearmonth import YearMonth
from shebao.ledger import simulator_data as words
from shebao.ledger.connectors.base import NonceCache, SignatureError, verify_signature
from shebao.policy.terms import Insurance

__all__ = ["FAULTS", "Dataset", "Record", "Simulator", "build_dataset"]

logger = logging.getLogger(__name__)

FAULTS = ("slow", "500", "429", "malformed", "duplicate_page")
SOCIAL_INSURANCES = (
    Insurance.PENSION,
    Insurance.MEDICAL,
    Insurance.MATERNITY,
    Insurance.UNEMPLOYMENT,
    Insurance.WORK_INJURY,
    Insurance.MEDICAL_SUPPLEMENT,
)
DEFAULT_INSURANCES = (
    Insurance.PENSION,
    Insurance.MEDICAL,
    Insurance.MATERNITY,
    Insurance.UNEMPLOYMENT,
    Insurance.WORK_INJURY,
)
KINDS = {"enrollments": "e", "contributions": "c"}
TZ = dt.timezone(dt.timedelta(hours=8))
LATE_FEE_DAILY = Decimal("0.0005")  # 社会保险法第八十六条：按日加收万分之五


# --- records ------------------------------------------------------------------------------------


@dataclass(slots=True)
class Record:
    """One record as served. ``kind`` "c" (contribution) or "e" (enrolment); ``seq`` is the
    change sequence number the listings are ordered and filtered by."""

    kind: str
    record_id: str
    person: dict[str, str]
    insurance: str
    unit_no: str
    unit_name: str
    version: int = 1
    seq: int = 0
    period: str = ""
    posting_period: str = ""
    base: str | None = None
    employer_due: str | None = None
    employee_due: str | None = None
    employer_paid: str | None = None
    employee_paid: str | None = None
    late_fee: str | None = None
    status: str = ""
    payment_type: str = ""
    state: str = ""
    since: str | None = None
    reported_at: str = ""

    def to_json(self) -> dict[str, Any]:
        common = {
            "record_id": self.record_id,
            "version": self.version,
            "person": self.person,
            "insurance": self.insurance,
            "unit_no": self.unit_no,
            "unit_name": self.unit_name,
        }
        if self.kind == "e":
            return common | {"state": self.state, "since": self.since, "reported_at": self.reported_at}
        return common | {
            "period": self.period,
            "posting_period": self.posting_period,
            "base": self.base,
            "employer_due": self.employer_due,
            "employee_due": self.employee_due,
            "employer_paid": self.employer_paid,
            "employee_paid": self.employee_paid,
            "late_fee": self.late_fee,
            "status": self.status,
            "payment_type": self.payment_type,
        }


_CHANGEABLE = {f.name for f in fields(Record)} - {"kind", "record_id", "seq", "version"}


class Dataset:
    """Records per (our unit, kind), each list ordered by ``seq``. A record may be listed under
    several of our units (a person who worked for two of them): it is the same object."""

    def __init__(self, *, units: dict[str, str], as_of: dt.date, seed: int, months: int) -> None:
        self.units = dict(units)  # unit_no → unit name, our units only
        self.as_of, self.seed, self.months = as_of, seed, months
        self.seq = 0
        self.planned: Counter = Counter()  # planned anomaly → people (see ``_plan``)
        self._lists: dict[tuple[str, str], list[Record]] = {(u, k): [] for u in units for k in "ec"}
        self._by_id: dict[str, Record] = {}
        self._listed_under: dict[str, list[str]] = {}
        self._lock = threading.RLock()

    # building ----------------------------------------------------------------------------------

    def add(self, record: Record, *, units: Iterable[str]) -> Record:
        with self._lock:
            if record.record_id in self._by_id:
                raise ValueError(f"duplicate record id {record.record_id}")
            self.seq += 1
            record.seq = self.seq
            self._by_id[record.record_id] = record
            under = list(dict.fromkeys(units))
            self._listed_under[record.record_id] = under
            for unit in under:
                self._lists[(unit, record.kind)].append(record)
            return record

    def update(self, record_id: str, **changes: Any) -> Record:
        """Change a record as the platform would: a new version and a new change sequence."""
        unknown = set(changes) - _CHANGEABLE
        if unknown:
            raise ValueError(f"cannot change {sorted(unknown)}")
        with self._lock:
            record = self._by_id[record_id]
            if record.kind == "e" and "reported_at" not in changes:
                changes["reported_at"] = dt.datetime.now(TZ).replace(microsecond=0).isoformat()
            for name, value in changes.items():
                setattr(record, name, value)
            record.version += 1
            self.seq += 1
            record.seq = self.seq
            for unit in self._listed_under[record_id]:
                items = self._lists[(unit, record.kind)]
                items.remove(record)
                items.append(record)
            return record

    # reading -----------------------------------------------------------------------------------

    def get(self, record_id: str) -> Record:
        return self._by_id[record_id]

    def records(self, kind: str | None = None, unit_no: str | None = None) -> list[Record]:
        """Distinct records (of a kind, listed under a unit)."""
        with self._lock:
            if unit_no is not None:
                return [r for k in ("ec" if kind is None else kind) for r in self._lists[(unit_no, k)]]
            return [r for r in self._by_id.values() if kind is None or r.kind == kind]

    def listing(
        self, unit_no: str, kind: str, *, since: int, after: int, watermark: int, limit: int
    ) -> tuple[list[Record], int | None]:
        """Records with max(since, after) < seq ≤ watermark, ``limit`` at most, and the seq to
        continue after (None at the end)."""
        with self._lock:
            items = self._lists[(unit_no, kind)]
            start = bisect_right(items, max(since, after), key=lambda r: r.seq)
            end = bisect_right(items, watermark, key=lambda r: r.seq)
            page = items[start : min(end, start + limit)]
            more = start + limit < end
            return list(page), (page[-1].seq if more and page else None)

    def stats(self) -> dict[str, Any]:
        with self._lock:
            return {
                unit: {
                    "name": name,
                    "enrollments": len(self._lists[(unit, "e")]),
                    "contributions": len(self._lists[(unit, "c")]),
                }
                for unit, name in self.units.items()
            }


# --- generation -------------------------------------------------------------------------------------

HF = Insurance.HOUSING_FUND
_NULL: tuple[None, None, None] = (None, None, None)
_INSURED_TYPES = ("full_time", "foreign")
# Planned anomalies about the current spell that leave the unit without any record of it.
_NOT_REGISTERED = ("unregistered", "due_soon", "blocked")
# Planned anomalies over the spell's last ``_Plan.months`` months.
_RECENT = ("medical_gap", "stopped", "wi_stopped", "below_min", "above_max", "mismatch")


def _rid(prefix: str, *parts: object) -> str:
    return prefix + hashlib.sha256("|".join(str(p) for p in parts).encode()).hexdigest()[:20]


@functools.lru_cache(maxsize=4096)
def _ym(m: YearMonth) -> str:
    return f"{m.year:04d}-{m.month:02d}"


@functools.lru_cache(maxsize=65536)
def _fmt(d: Decimal) -> str:
    return fmt(d)


def _money(d: Decimal | None) -> str | None:
    return None if d is None else _fmt(d)


def _who(person: dict[str, str]) -> str:
    """What identifies a served person in record ids: the number, else the personal account."""
    return person["id_number"] or "acct" + person["account_no"]


def _other_unit(rng: random.Random) -> tuple[str, str]:
    i = rng.randrange(len(words.OTHER_EMPLOYERS))
    return f"SIM{910000000 + i * 7919:09d}", words.OTHER_EMPLOYERS[i]


def _misentered(number: str) -> str:
    """Another valid number for the same person: two digits of the sequence code transposed (or
    one changed when they are equal) with its own check digit — a number entered wrongly on one
    side that still passes validation. Birth date and gender digit are kept."""
    digits = list(number[:17])
    if digits[14] != digits[15]:
        digits[14], digits[15] = digits[15], digits[14]
    else:
        digits[14] = str((int(digits[14]) + 1) % 10)
    first17 = "".join(digits)
    return first17 + resident_check_digit(first17)


class _Amounts:
    """Contribution lines per (entity, month, wage) from the policy library, cached. Housing fund
    (公积金) lines are added for the entities in ``hf_entities``."""

    def __init__(self) -> None:
        self.hf_entities: set[int] = set()
        self._periods: dict[tuple[int, YearMonth], Any] = {}
        self._spans: dict[int, list[tuple[int, dt.date, dt.date | None]]] = {}
        self._settings: dict[int, Any] = {}
        self._terms: dict[tuple[int, int, bool], Any] = {}
        self._unbounded: dict[int, Any] = {}
        self._lines: dict[tuple, dict[Insurance, tuple]] = {}

    def _period(self, entity, month: YearMonth):
        """The entity's policy period covering the month, or None. The library is asked once per
        (period, entity overrides in force), not once per month, and gives one object per period
        (results are cached per object)."""
        key = (entity.pk, month)
        if key not in self._periods:
            from shebao.policy.models import EntityPolicySetting, PolicyPeriod
            from shebao.policy.selectors import policy_period_for_entity

            if entity.city_id not in self._spans:
                self._spans[entity.city_id] = list(
                    PolicyPeriod.objects.filter(city_id=entity.city_id).values_list(
                        "pk", "effective_from", "effective_to"
                    )
                )
            if entity.pk not in self._settings:
                self._settings[entity.pk] = EntityPolicySetting.objects.filter(entity=entity).first()
            day = month.first_day
            covering = [
                s for s in self._spans[entity.city_id] if s[1] <= day and (s[2] is None or day <= s[2])
            ]
            period = None
            if covering:
                pk = max(covering, key=lambda s: (s[1], s[0]))[0]
                setting = self._settings[entity.pk]
                overrides = setting is not None and not (
                    setting.effective_from and day < setting.effective_from
                )
                terms_key = (entity.pk, pk, overrides)
                if terms_key not in self._terms:
                    try:
                        self._terms[terms_key] = policy_period_for_entity(entity, day)
                    except LookupError:
                        self._terms[terms_key] = None
                period = self._terms[terms_key]
            self._periods[key] = period
        return self._periods[key]

    def housing_fund_rates_known(self, entity, months: Iterable[YearMonth]) -> bool:
        """Whether the library (or the entity's own setting) has a 公积金 rate for the entity in
        one of the months."""
        for month in months:
            period = self._period(entity, month)
            terms = period.items.get(HF) if period is not None else None
            if terms is not None and (terms.employer_rate.known or terms.employee_rate.known):
                return True
        return False

    def _without_bounds(self, period):
        """The period with no base bounds: amounts at a base the unit declared unclamped."""
        if id(period) not in self._unbounded:
            from dataclasses import replace

            from shebao.policy.terms import MISSING

            items = {i: replace(t, base_min=MISSING, base_max=MISSING) for i, t in period.items.items()}
            self._unbounded[id(period)] = replace(period, items=items)
        return self._unbounded[id(period)]

    def lines(
        self, entity, month: YearMonth, wage: Decimal | None, *, unbounded: bool = False
    ) -> dict[Insurance, tuple]:
        """insurance → (base, employer_due, employee_due), each Decimal or None. ``unbounded``:
        the base is the wage even outside the city's bounds (the amounts follow it)."""
        period = self._period(entity, month)
        hf = entity.pk in self.hf_entities
        if period is None:
            out = dict.fromkeys(DEFAULT_INSURANCES, _NULL)
            if hf:
                out[HF] = _NULL
            return out
        key = (id(period), wage, unbounded, hf)
        if key not in self._lines:
            merged = {i for i, t in period.items.items() if t.merged_into is not None}
            # Every social insurance is served, with null amounts where the library lacks the
            # figures (Guangzhou has only pension figures on record; its employees still have
            # medical insurance every month), except one merged into another in this period.
            wanted = [
                i
                for i in SOCIAL_INSURANCES
                if i not in merged and (i in DEFAULT_INSURANCES or i in period.items)
            ]
            if hf:
                wanted.append(HF)
            out: dict[Insurance, tuple] = dict.fromkeys(wanted, _NULL)
            if wage is not None and wage > 0:
                from shebao.policy.calculators._base import CalcError
                from shebao.policy.calculators.contribution import contribution

                terms = self._without_bounds(period) if unbounded else period
                try:
                    result = contribution(terms, month=month, base=wage, insurances=wanted)
                except CalcError:
                    result = None
                if result is not None:
                    for line in result.lines:
                        base = None if line.insurance is Insurance.MEDICAL_SUPPLEMENT else line.base
                        out[line.insurance] = (base, line.employer_amount, line.employee_amount)
            self._lines[key] = out
        return self._lines[key]


@dataclass
class _Spell:
    entity: Any
    unit_no: str
    unit_name: str
    hf_unit_no: str
    hire: dt.date
    leave: dt.date | None
    wage: Decimal | None
    employment_type: str


@dataclass(frozen=True)
class _Plan:
    """A person's planned anomaly: ``kind`` on the spell of index ``spell`` (-1: the current one),
    over ``months`` months where it says how long."""

    kind: str
    spell: int = -1
    months: int = 0


@dataclass
class _Person:
    number: str
    person: dict[str, str]
    spells: list[_Spell]
    id_kind: str
    upgraded_from_15: bool
    name_unique: bool  # no one else of that name at the person's entity on the roster


@dataclass
class _Builder:
    dataset: Dataset
    first: YearMonth
    last: YearMonth
    seed: int
    amounts: _Amounts = field(default_factory=_Amounts)
    pending: list[tuple[Record, tuple[str, ...]]] = field(default_factory=list)
    reported_at: str = ""

    def emit(self, record: Record, under: tuple[str, ...]) -> None:
        self.pending.append((record, under))

    def contribution(
        self,
        rng: random.Random,
        person: dict[str, str],
        month: YearMonth,
        insurance: Insurance,
        amounts: tuple,
        unit_no: str,
        unit_name: str,
        under: tuple[str, ...],
        *,
        late: bool = False,
        refunded_in: YearMonth | None = None,
    ) -> None:
        base, employer, employee = amounts
        period = _ym(month)
        record = Record(
            kind="c",
            record_id=_rid("c-", unit_no, _who(person), insurance.value, period),
            person=person,
            insurance=insurance.value,
            unit_no=unit_no,
            unit_name=unit_name,
            period=period,
            posting_period=period,
            base=_money(base),
            employer_due=_money(employer),
            employee_due=_money(employee),
            payment_type="normal",
        )
        months_ago = (self.last.year - month.year) * 12 + self.last.month - month.month
        if month == self.last:
            record.status = "declared"  # this month's bill: declared, not yet seen paid
        elif refunded_in is not None:  # paid, then refunded in a later month
            record.status, record.payment_type = "refunded", "refund"
            record.posting_period = _ym(refunded_in)
            record.version = 2
        elif late and months_ago <= 2:
            record.status = "arrears"
        elif late:
            delay = min(months_ago, rng.randint(1, 3))
            posting = _plus(month, delay)
            fee = None
            if employer is not None or employee is not None:
                total = (employer or Decimal(0)) + (employee or Decimal(0))
                fee = q2(total * LATE_FEE_DAILY * 30 * delay)
            record.status, record.payment_type = "backpaid", "backpay"
            record.posting_period, record.late_fee = _ym(posting), _money(fee)
            record.employer_paid, record.employee_paid = record.employer_due, record.employee_due
            record.version = 2  # it was "arrears" in its month
        else:
            record.status = "paid"
            record.employer_paid, record.employee_paid = record.employer_due, record.employee_due
        self.emit(record, under)

    def enrollment(
        self,
        person,
        insurance: Insurance,
        unit_no: str,
        unit_name: str,
        state: str,
        since: dt.date | None,
        under,
    ) -> None:
        self.emit(
            Record(
                kind="e",
                record_id=_rid("e-", unit_no, _who(person), insurance.value),
                person=person,
                insurance=insurance.value,
                unit_no=unit_no,
                unit_name=unit_name,
                state=state,
                since=since.isoformat() if since else None,
                reported_at=self.reported_at,
            ),
            under,
        )

    # one person ----------------------------------------------------------------------------------

    def person(
        self, person: dict[str, str], spells: list[_Spell], rng: random.Random, plan: _Plan | None = None
    ) -> None:
        """Records and enrolments of one person: the ordinary course of each spell, plus the
        person's planned anomaly if any (see ``_plan``), plus chance events — a registration a
        month late, late payments settled later (backpaid) — for people without one."""
        under = tuple(dict.fromkeys(s.unit_no for s in spells))
        enrolled: dict[tuple[str, Insurance], tuple[str, dt.date | None, str]] = {}
        planned_spell = -1 if plan is None else plan.spell % len(spells)
        for index, spell in enumerate(spells):
            kind = plan.kind if plan is not None and index == planned_spell else ""
            start = YearMonth.of(spell.hire)
            late_registration = plan is None and rng.random() < 0.05
            if late_registration:
                start = start.next()
            end = YearMonth.of(spell.leave) if spell.leave else self.last
            if kind == "not_stopped":  # the unit kept paying after the leave
                end = _plus(end, plan.months)
            end = min(end, self.last)
            first = max(start, self.first)
            if spell.employment_type in _INSURED_TYPES:
                kinds = None  # every insurance of the city
            elif spell.employment_type == "part_time":
                kinds = {Insurance.WORK_INJURY}
            else:
                continue  # interns, retirees re-hired, dispatched staff: not insured by this unit
            if kind in _NOT_REGISTERED:
                if kind == "blocked":
                    self._still_enrolled_elsewhere(rng, person, spell, under, enrolled)
                continue
            months = list(YearMonth.range(first, end))
            recent = set(months[-plan.months :]) if kind in _RECENT and plan.months else set()
            medical_gap: set[YearMonth] = set()
            if kind == "medical_gap":
                medical_gap = recent
            elif kind == "medical_hist":  # an interruption that ended at least two months ago
                early = [m for m in months if m <= _plus(self.last, -3)]
                if len(early) > plan.months:
                    begin = rng.randrange(1, len(early) - plan.months + 1)
                    medical_gap = set(early[begin : begin + plan.months])
            arrears = (
                {_plus(self.last, -k) for k in range(1, plan.months + 1)} if kind == "arrears" else set()
            )
            lower = None
            if kind == "mismatch" and spell.wage:  # a raise the base was not adjusted for
                lower = (spell.wage * Decimal("0.9") / 10).quantize(Decimal(1)) * 10
            insured: set[Insurance] = set()
            for month in months:
                months_ago = (self.last.year - month.year) * 12 + self.last.month - month.month
                if kind == "arrears":
                    late = month in arrears
                else:  # paid late and settled since (补缴)
                    late = months_ago >= 3 and rng.random() < 0.03
                wage = lower if lower is not None and month in recent else spell.wage
                unbounded = kind in ("below_min", "above_max") and month in recent
                for insurance, amounts in self.amounts.lines(
                    spell.entity, month, wage, unbounded=unbounded
                ).items():
                    if insurance is HF:
                        # 公积金: full-time staff only, paid to the fund centre under its own unit account
                        if kinds is None and kind != "hf_unregistered":
                            insured.add(HF)
                            self.contribution(
                                rng, person, month, HF, amounts, spell.hf_unit_no, spell.unit_name, under
                            )
                        continue
                    if kinds is not None and insurance not in kinds:
                        continue
                    if insurance is Insurance.MEDICAL and month in medical_gap:
                        continue
                    if month in recent and (
                        kind == "stopped" or (kind == "wi_stopped" and insurance is Insurance.WORK_INJURY)
                    ):
                        continue
                    insured.add(insurance)
                    self.contribution(
                        rng,
                        person,
                        month,
                        insurance,
                        amounts,
                        spell.unit_no,
                        spell.unit_name,
                        under,
                        late=late,
                    )
            # job change: the previous employer keeps paying pension and medical after the hire;
            # the months paid twice are refunded to it a few months later (清退), when that is
            # already past, so only recent overlaps are still open
            hired = YearMonth.of(spell.hire)
            if kind == "job_change" and kinds is None and self.first < hired <= self.last:
                other_no, other_name = _other_unit(rng)
                months_paid = list(YearMonth.range(hired, min(self.last, _plus(hired, plan.months))))
                refunded_in = _plus(months_paid[-1], rng.randint(2, 5))
                if refunded_in >= self.last:
                    refunded_in = None
                for month in months_paid:
                    lines = self.amounts.lines(spell.entity, month, spell.wage)
                    for insurance in (Insurance.PENSION, Insurance.MEDICAL):
                        self.contribution(
                            rng,
                            person,
                            month,
                            insurance,
                            lines.get(insurance, _NULL),
                            other_no,
                            other_name,
                            under,
                            refunded_in=refunded_in,
                        )
                stop = months_paid[-1].next()
                for insurance in (Insurance.PENSION, Insurance.MEDICAL):
                    if stop > self.last:
                        state, since = "active", _plus(hired, -12).first_day
                    else:
                        state, since = "terminated", stop.first_day
                    enrolled[(other_no, insurance)] = (state, since, other_name)
            # the unit's enrolment, as the latest spell leaves it
            registered = spell.hire if not late_registration else start.first_day
            stopped = {
                i
                for i in SOCIAL_INSURANCES
                if self.last in recent
                and (kind == "stopped" or (kind == "wi_stopped" and i is Insurance.WORK_INJURY))
            }
            all_insurances = set(
                self.amounts.lines(spell.entity, max(self.first, min(end, self.last)), spell.wage)
            )
            for insurance in sorted(all_insurances | {Insurance.WORK_INJURY}, key=list(Insurance).index):
                unit_no = spell.hf_unit_no if insurance is HF else spell.unit_no
                if insurance not in insured:
                    if kinds is not None and insurance not in kinds and insurance is not HF:
                        enrolled[(unit_no, insurance)] = ("not_enrolled", None, spell.unit_name)
                    continue
                if end < self.last:
                    state, since = "terminated", end.next().first_day
                elif insurance is Insurance.MEDICAL and self.last in medical_gap:
                    state, since = "suspended", min(medical_gap).first_day
                elif insurance in stopped:  # 减员 by mistake: stopped while still employed
                    state, since = "terminated", min(recent).first_day
                else:
                    state, since = "active", registered
                enrolled[(unit_no, insurance)] = (state, since, spell.unit_name)
        for (unit_no, insurance), (state, since, unit_name) in enrolled.items():
            self.enrollment(person, insurance, unit_no, unit_name, state, since, under)

    def _still_enrolled_elsewhere(
        self,
        rng: random.Random,
        person: dict[str, str],
        spell: _Spell,
        under: tuple[str, ...],
        enrolled: dict,
    ) -> None:
        """A recent hire the previous employer has not stopped (减员): it keeps paying pension and
        medical and reports both ACTIVE, so the unit cannot register the person yet."""
        other_no, other_name = _other_unit(rng)
        hired = YearMonth.of(spell.hire)
        for month in YearMonth.range(max(self.first, _plus(hired, -6)), self.last):
            lines = self.amounts.lines(spell.entity, month, spell.wage)
            for insurance in (Insurance.PENSION, Insurance.MEDICAL):
                self.contribution(
                    rng, person, month, insurance, lines.get(insurance, _NULL), other_no, other_name, under
                )
        since = _plus(hired, -rng.randint(18, 60)).first_day
        for insurance in (Insurance.PENSION, Insurance.MEDICAL):
            enrolled[(other_no, insurance)] = ("active", since, other_name)

    def strangers(
        self,
        entity,
        unit_no: str,
        unit_name: str,
        hf_unit_no: str,
        rng: random.Random,
        taken: set[str],
        names: set[str],
        count: int,
    ) -> None:
        """People paid for under our unit who are not on the roster (nor named like anyone there)."""
        for _ in range(count):
            while True:
                birth = dt.date(1970 + rng.randrange(35), rng.randint(1, 12), rng.randint(1, 28))
                number = make_resident_id(rng.choice(words.AREAS), birth, rng.randrange(1000))
                if number not in taken:
                    taken.add(number)
                    break
            name = rng.choice(words.SURNAMES) + rng.choice(words.GIVEN)
            while name in names:
                name = rng.choice(words.SURNAMES) + rng.choice(words.GIVEN)
            person = {
                "name": name,
                "id_type": "resident_id",
                "id_number": number,
                "account_no": _account(number),
            }
            wage = Decimal(rng.randrange(6000, 16000, 500))
            length = rng.randint(2, 6)
            start = max(self.first, _plus(self.last, -(length - 1) - rng.randint(0, 6)))
            end = min(self.last, _plus(start, length - 1))
            for month in YearMonth.range(start, end):
                for insurance, amounts in self.amounts.lines(entity, month, wage).items():
                    to = hf_unit_no if insurance is HF else unit_no
                    self.contribution(rng, person, month, insurance, amounts, to, unit_name, (unit_no,))
            for insurance in self.amounts.lines(entity, end, wage):
                state = "active" if end == self.last else "terminated"
                since = start.first_day if state == "active" else end.next().first_day
                to = hf_unit_no if insurance is HF else unit_no
                self.enrollment(person, insurance, to, unit_name, state, since, (unit_no,))


def _plus(m: YearMonth, n: int) -> YearMonth:
    total = m.year * 12 + (m.month - 1) + n
    return YearMonth(total // 12, total % 12 + 1)


def _account(id_number: str) -> str:
    return "1" + str(int(hashlib.sha256(("acct" + id_number).encode()).hexdigest(), 16))[:11]


def _scaled(n: int, rate: float, low: int, high: int) -> int:
    return max(low, min(high, round(n * rate)))


def _plan(
    people: list[_Person], *, first: YearMonth, last: YearMonth, today: dt.date, seed: int, amounts: _Amounts
) -> dict[str, _Plan]:
    """Who gets which anomaly (number → plan), at most one each so that a finding has one cause.

    Counts follow the number of people currently insured (n) so that most people have none: a
    handful of recent hires not registered after 30 days (and a couple due within the week), a
    previous employer still reporting a recent hire ACTIVE, recent hires without 公积金, about
    0.3 % with an ongoing medical gap of 2–3 months and 0.1 % of 4–6 (the waiting-period risk), a
    couple stopped by mistake (all insurances, or a part-timer's work injury), 1 % with the last
    month or two in arrears, a couple of bases below the city minimum / above the maximum /
    behind a raise, one person whose number differs on the roster and on the platform (same
    name), one or two with an upgraded 15-digit number whom the platform holds by personal account
    only; among everyone, 3 % of leavers not stopped for 1–2 months, 2 % of hires still paid for
    by the previous employer for a while, 3 % with a past medical interruption of 1–4 months.
    The rare cases need a roster of 100 people currently insured (30 for the medical gaps);
    the common ones appear once at least wherever someone qualifies."""
    plan: dict[str, _Plan] = {}
    Pool = list[tuple[_Person, int]]

    def current(p: _Person) -> _Spell | None:
        s = p.spells[-1]
        if s.hire > today or (s.leave is not None and s.leave < today):
            return None
        return s

    insured = [p for p in people if (s := current(p)) is not None and s.employment_type in _INSURED_TYPES]
    n = len(insured)
    single = [p for p in insured if len(p.spells) == 1]

    def days(p: _Person) -> int:
        return (today - p.spells[-1].hire).days

    def hired(low: int, high: int, pool: list[_Person] = single) -> Pool:
        return [(p, -1) for p in pool if low <= days(p) <= high]

    def assign(kind: str, pool: Pool, count: int, months=lambda r: 0) -> None:
        # Each person's rank and draw depend on the seed, the kind and the person alone, so the
        # same people are chosen from one day to the next while they still qualify.
        free = [(p, i) for p, i in pool if p.number not in plan]
        free.sort(key=lambda pi: _rid("", seed, kind, pi[0].number, pi[1]))
        for p, i in free[: max(count, 0)]:
            plan[p.number] = _Plan(kind, i, months(random.Random(f"{seed}:{kind}:{p.number}")))

    # registration after hire
    assign("unregistered", hired(31, 60), _scaled(n, 0.002, 1, 6))
    assign("due_soon", hired(25, 29), 2 if n >= 500 else 1)
    if n >= 500:
        assign("blocked", hired(31, 50), 1)
        assign("blocked", hired(8, 22), 1)
    else:
        assign("blocked", hired(8, 50), 1)
    hf_people = [p for p in single if p.spells[-1].entity.pk in amounts.hf_entities]
    if hf_people:
        n_hf = sum(1 for p in insured if p.spells[-1].entity.pk in amounts.hf_entities)
        assign("hf_unregistered", hired(25, 29, hf_people), 1)
        assign("hf_unregistered", hired(31, 60, hf_people), _scaled(n_hf, 0.004, 1, 3))
    # identity
    if n >= 100:
        assign(
            "namesake",
            [
                (p, -1)
                for p in single
                if p.id_kind == "resident_id" and p.name_unique and 61 <= days(p) <= 400
            ],
            1,
        )
        assign(
            "account_only",
            [(p, -1) for p in single if p.upgraded_from_15 and p.name_unique and days(p) >= 61],
            2 if n >= 1500 else 1,
        )
    # coverage stopping while employed
    if last - first >= 8:
        settled = [(p, -1) for p in insured if YearMonth.of(p.spells[-1].hire) <= last - 8]
        if n >= 30:
            assign("medical_gap", settled, _scaled(n, 0.003, 1, 8), lambda r: r.choice((2, 3)))
            assign("medical_gap", settled, _scaled(n, 0.001, 1, 3), lambda r: r.randint(4, 6))
        if n >= 100:
            assign("stopped", settled, _scaled(n, 0.001, 1, 2), lambda r: 2)
            part_time = [
                (p, -1)
                for p in people
                if (s := current(p)) is not None
                and s.employment_type == "part_time"
                and YearMonth.of(s.hire) <= last - 8
            ]
            assign("wi_stopped", part_time, 1, lambda r: r.choice((2, 3)))
    assign(
        "arrears",
        [(p, -1) for p in insured if YearMonth.of(p.spells[-1].hire) <= last - 3],
        _scaled(n, 0.01, 1, 25),
        lambda r: r.choice((1, 1, 2)),
    )
    # bases
    if n >= 100:
        below, above, within = [], [], []
        for p in insured:
            s = p.spells[-1]
            if s.wage is None or YearMonth.of(s.hire) > last - 6:
                continue
            base = amounts.lines(s.entity, last, s.wage).get(Insurance.PENSION, _NULL)[0]
            lower = (s.wage * Decimal("0.9") / 10).quantize(Decimal(1)) * 10
            if base is None:
                continue
            if base > s.wage:
                below.append((p, -1))
            elif base < s.wage:
                above.append((p, -1))
            elif amounts.lines(s.entity, last, lower).get(Insurance.PENSION, _NULL)[0] == lower:
                within.append((p, -1))
        assign("below_min", below, 2 if n >= 500 else 1, lambda r: 6)
        assign("above_max", above, 2 if n >= 500 else 1, lambda r: 6)
        assign("mismatch", within, _scaled(n, 0.0015, 1, 4), lambda r: r.randint(4, 8))
    # history
    leavers, hires, covered = [], [], []
    for p in people:
        for i, s in enumerate(p.spells):
            if s.employment_type not in (*_INSURED_TYPES, "part_time"):
                continue
            hire, leave = YearMonth.of(s.hire), YearMonth.of(s.leave) if s.leave else None
            if leave is not None and first <= leave < last:
                leavers.append((p, i))
            if s.employment_type == "part_time":
                continue
            if first < hire <= last:
                hires.append((p, i))
            if (min(leave or last, last - 3) - max(hire, first)) >= 5:
                covered.append((p, i))
    assign("not_stopped", leavers, max(1, round(len(leavers) * 0.03)), lambda r: r.randint(1, 2))
    assign("job_change", hires, max(1, round(len(hires) * 0.02)), lambda r: r.randint(0, 2))
    assign("medical_hist", covered, max(1, round(len(covered) * 0.03)), lambda r: r.randint(1, 4))
    return plan


def build_dataset(
    *,
    entity_codes: Iterable[str] | None = None,
    months: int = 36,
    seed: int = 2026,
    today: dt.date | None = None,
) -> Dataset:
    """Generate the simulator's data from the organisation in the database (see the module doc)."""
    from shebao.core import crypto
    from shebao.org.models import Entity
    from shebao.roster.models import ID_PURPOSE, Employee, EmploymentSpell

    if not 1 <= months <= 240:
        raise ValueError("months must be between 1 and 240")
    today = today or dt.date.today()
    last = YearMonth.of(today)
    first = _plus(last, -(months - 1))
    entities = Entity.objects.filter(is_active=True).select_related("city").order_by("code")
    if entity_codes is not None:
        codes = list(entity_codes)
        entities = entities.filter(code__in=codes)
        missing = set(codes) - {e.code for e in entities}
        if missing:
            raise ValueError(f"未知的参保主体编码：{'、'.join(sorted(missing))}")
    entities = list(entities)
    unit_of = {e.pk: ((e.si_unit_no or "").strip() or e.code, e.name) for e in entities}
    dataset = Dataset(units=dict(unit_of.values()), as_of=today, seed=seed, months=months)
    builder = _Builder(dataset=dataset, first=first, last=last, seed=seed)
    builder.reported_at = dt.datetime.combine(today, dt.time(8, 0), TZ).isoformat()

    spells_by_employee: dict[int, list] = {}
    qs = (
        EmploymentSpell.objects.filter(entity__in=entities)
        .filter(hire_date__lte=last.last_day)
        .exclude(leave_date__lt=first.first_day)
        .select_related("employee")
        .order_by("employee_id", "hire_date", "pk")
    )
    for spell in qs.iterator(chunk_size=2000):
        spells_by_employee.setdefault(spell.employee_id, []).append(spell)
    entity_by_pk = {e.pk: e for e in entities}
    builder.amounts.hf_entities = {
        e.pk for e in entities if builder.amounts.housing_fund_rates_known(e, YearMonth.range(first, last))
    }
    hf_unit = {e.pk: (e.hf_unit_no or "").strip() or unit_of[e.pk][0] for e in entities}
    names = Counter(Employee.objects.values_list("entity_id", "name"))
    taken: set[str] = set()
    people: list[_Person] = []
    for spells in spells_by_employee.values():
        employee = spells[0].employee
        number = crypto.decrypt(employee.id_number_enc, purpose=ID_PURPOSE)
        taken.add(number)
        person = {
            "name": employee.name,
            "id_type": employee.id_kind,
            "id_number": number,
            "account_no": _account(number),
        }
        sim_spells = [
            _Spell(
                entity=entity_by_pk[s.entity_id],
                unit_no=unit_of[s.entity_id][0],
                unit_name=unit_of[s.entity_id][1],
                hf_unit_no=hf_unit[s.entity_id],
                hire=s.hire_date,
                leave=s.leave_date,
                wage=s.declared_wage,
                employment_type=s.employment_type,
            )
            for s in spells
        ]
        people.append(
            _Person(
                number=number,
                person=person,
                spells=sim_spells,
                id_kind=employee.id_kind,
                upgraded_from_15=employee.id_upgraded_from_15,
                name_unique=names[(employee.entity_id, employee.name)] == 1,
            )
        )
    people.sort(key=lambda p: p.number)
    plan = _plan(people, first=first, last=last, today=today, seed=seed, amounts=builder.amounts)
    for p in people:
        person, planned = p.person, plan.get(p.number)
        if planned is not None and planned.kind == "account_only":
            # held by the platform under the personal account only (records from before the
            # 18-digit number): matched by account + name, never by the upgraded number
            person = {**person, "id_number": ""}
        elif planned is not None and planned.kind == "namesake":
            # the platform holds another number for the same name: one side entered it wrongly
            person = {**person, "id_number": _misentered(p.number)}
            person["account_no"] = _account(person["id_number"])
            taken.add(person["id_number"])
        builder.person(person, p.spells, random.Random(f"{seed}:{p.number}"), planned)
    roster_names: dict[int, set[str]] = {}
    for entity_id, name in names:
        roster_names.setdefault(entity_id, set()).add(name)
    # strangers: about 0.6 % of an entity's people, one at least in the whole dataset
    headcount = Counter(p.spells[-1].entity.pk for p in people)
    rngs = {e.pk: random.Random(f"{seed}:stranger:{unit_of[e.pk][0]}") for e in entities}
    counts = {e.pk: int(headcount[e.pk] * 0.006 + rngs[e.pk].random()) for e in entities}
    if entities and not any(counts.values()):
        counts[max(entities, key=lambda e: (headcount[e.pk], e.code)).pk] = 1
    for entity in entities:
        unit_no, unit_name = unit_of[entity.pk]
        builder.strangers(
            entity,
            unit_no,
            unit_name,
            hf_unit[entity.pk],
            rngs[entity.pk],
            taken,
            roster_names.get(entity.pk, set()),
            counts[entity.pk],
        )
    dataset.planned = Counter(p.kind for p in plan.values())

    # One record per key (the last one generated wins, e.g. a rehire within the same month), in
    # a stable order: the change sequence follows the months.
    unique: dict[str, tuple[Record, tuple[str, ...]]] = {}
    for record, under in builder.pending:
        if record.record_id in unique:
            under = tuple(dict.fromkeys(unique[record.record_id][1] + under))
        unique[record.record_id] = (record, under)
    for record, under in sorted(
        unique.values(), key=lambda ru: (ru[0].kind != "e", ru[0].period, ru[0].record_id)
    ):
        dataset.add(record, units=under)
    return dataset


# --- the HTTP server ------------------------------------------------------------------------------

_CURSOR_RE = re.compile(r"w(\d{1,12})a(\d{1,12})")
_TOKEN_RE = re.compile(r"s(\d{1,12})")


class _Reply(Exception):
    def __init__(self, status: int, code: str, message: str, headers: dict[str, str] | None = None) -> None:
        super().__init__(message)
        self.status, self.code, self.message, self.headers = status, code, message, headers or {}


@dataclass
class Response:
    status: int
    body: bytes
    headers: dict[str, str] = field(default_factory=dict)
    delay: float = 0.0  # seconds to wait before answering (the "slow" fault)
    fault: str = ""


class Simulator:
    """Serves a ``Dataset`` (see docs/connector-api.md). ``faults`` ⊆ FAULTS are injected into
    data requests (enrolments and contributions pages) with probability ``fault_rate`` each,
    drawn from ``random.Random(seed)``. With a ``secret`` every /v1 request must be signed."""

    def __init__(
        self,
        dataset: Dataset,
        *,
        faults: Iterable[str] = (),
        fault_rate: float = 0.1,
        secret: str = "",
        client_id: str = "shebao",
        seed: int = 0,
        slow_seconds: float = 25.0,
        retry_after: int = 2,
        default_limit: int = 100,
        max_limit: int = 500,
        host: str = "127.0.0.1",
        port: int = 0,
    ) -> None:
        self.dataset = dataset
        self.faults = tuple(dict.fromkeys(faults))
        unknown = set(self.faults) - set(FAULTS)
        if unknown:
            raise ValueError(f"未知的故障类型：{'、'.join(sorted(unknown))}（可用：{', '.join(FAULTS)}）")
        if not 0 <= fault_rate <= 1:
            raise ValueError("fault_rate 应在 0 到 1 之间")
        self.fault_rate = fault_rate
        self.secret, self.client_id = secret, client_id
        self.slow_seconds, self.retry_after = slow_seconds, retry_after
        self.default_limit, self.max_limit = default_limit, max_limit
        self.host, self.port = host, port
        self._rng = random.Random(seed)
        self._lock = threading.Lock()
        self._nonces = NonceCache()
        self._pages: OrderedDict[tuple[str, str, str], list[dict]] = OrderedDict()  # by next_cursor
        self.injected: Counter = Counter()  # fault → times injected
        self.bad_records: set[str] = set()  # record ids of injected malformed rows
        self.requests = 0
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    # faults ------------------------------------------------------------------------------------

    def _fault(self, *, has_cursor: bool) -> str:
        with self._lock:
            if not self.faults or self._rng.random() >= self.fault_rate:
                return ""
            choices = [f for f in self.faults if f != "duplicate_page" or has_cursor]
            return self._rng.choice(choices) if choices else ""

    def _malformed(self, page: list[dict], kind: str) -> list[dict]:
        """One or two invalid copies of the page's records, with their own record ids."""
        if not page:
            return page
        out = list(page)
        with self._lock:
            for _ in range(self._rng.randint(1, 2)):
                bad = json.loads(json.dumps(self._rng.choice(page)))
                bad["record_id"] = f"bad-{self._rng.getrandbits(40):010x}"
                if kind == "c":
                    corruption = self._rng.choice(("period", "base", "insurance", "status", "name", "id"))
                else:
                    corruption = self._rng.choice(("state", "since", "insurance", "name", "id"))
                if corruption == "period":
                    bad["period"] = bad["period"][:5] + "13"
                elif corruption == "base":
                    bad["base"] = "12,3x4"
                elif corruption == "insurance":
                    bad["insurance"] = "pensoin"
                elif corruption == "status":
                    bad["status"] = "paied"
                elif corruption == "state":
                    bad["state"] = "actve"
                elif corruption == "since":
                    bad["since"] = "2025-02-30"
                elif corruption == "name":
                    bad["person"]["name"] = ""
                elif bad["person"]["id_number"]:
                    number = bad["person"]["id_number"]
                    bad["person"]["id_number"] = number[:-1] + ("0" if number[-1] != "0" else "1")
                else:  # held by account only: no number to spoil
                    bad["person"]["name"] = ""
                self.bad_records.add(bad["record_id"])
                out.insert(self._rng.randrange(len(out) + 1), bad)
        return out

    # requests ----------------------------------------------------------------------------------

    def _json(self, status: int, payload: dict, headers: dict[str, str] | None = None) -> Response:
        body = json.dumps({"simulator": True, **payload}, ensure_ascii=False).encode()
        return Response(status, body, {"Content-Type": "application/json; charset=utf-8", **(headers or {})})

    def _error(self, reply: _Reply) -> Response:
        return self._json(
            reply.status, {"error": {"code": reply.code, "message": reply.message}}, reply.headers
        )

    def handle(self, method: str, target: str, headers: dict[str, str], body: bytes = b"") -> Response:
        """Answer one request (pure: the HTTP server only sends what this returns)."""
        self.requests += 1
        parts = urlsplit(target)
        path, query = parts.path, parts.query
        try:
            if path in ("", "/"):
                return Response(200, self._banner().encode(), {"Content-Type": "text/html; charset=utf-8"})
            if method != "GET":
                raise _Reply(405, "method_not_allowed", "只支持 GET")
            if not path.startswith("/v1/"):
                raise _Reply(404, "not_found", f"没有这个接口：{path}")
            if self.secret:
                try:
                    verify_signature(
                        headers=headers,
                        secrets_by_client={self.client_id: self.secret},
                        method=method,
                        path=path,
                        query=query,
                        body=body,
                        nonces=self._nonces,
                    )
                except SignatureError as exc:
                    raise _Reply(401, exc.code, exc.message) from None
            segments = [unquote(s) for s in path.split("/")[2:]]
            if segments == ["units"]:
                units = [{"unit_no": u, "unit_name": n} for u, n in self.dataset.units.items()]
                return self._json(200, {"data": units, "next_cursor": None})
            if len(segments) == 3 and segments[0] == "units" and segments[2] in KINDS:
                return self._page(
                    segments[1], KINDS[segments[2]], dict(parse_qsl(query, keep_blank_values=True))
                )
            raise _Reply(404, "not_found", f"没有这个接口：{path}")
        except _Reply as reply:
            return self._error(reply)

    def _page(self, unit_no: str, kind: str, params: dict[str, str]) -> Response:
        if unit_no not in self.dataset.units:
            raise _Reply(404, "unit_not_found", f"没有参保单位“{unit_no}”的数据")
        try:
            limit = int(params.get("limit") or self.default_limit)
        except ValueError:
            limit = 0
        if not 1 <= limit <= self.max_limit:
            raise _Reply(400, "invalid_parameter", f"limit 应为 1 到 {self.max_limit} 之间的整数")
        cursor, since_text = params.get("cursor", ""), params.get("since", "")
        since = 0
        if cursor:
            m = _CURSOR_RE.fullmatch(cursor)
            if not m:
                raise _Reply(400, "invalid_cursor", "cursor 无效")
            watermark, after = int(m.group(1)), int(m.group(2))
        else:
            if since_text:
                m = _TOKEN_RE.fullmatch(since_text)
                if not m:
                    raise _Reply(400, "invalid_parameter", "since 无效：请使用上次响应中的 sync_token")
                since = int(m.group(1))
            watermark, after = self.dataset.seq, since
        fault = self._fault(has_cursor=bool(cursor))
        if fault:
            self.injected[fault] += 1
        if fault == "500":
            raise _Reply(500, "internal_error", "模拟平台：注入的服务器错误")
        if fault == "429":
            raise _Reply(
                429, "rate_limited", "模拟平台：请求过于频繁", {"Retry-After": str(self.retry_after)}
            )
        token = f"s{watermark}"
        key = (unit_no, kind, cursor)
        if fault == "duplicate_page" and key in self._pages:
            data = self._pages[key]  # the previous page again, pointing at the same next page
            response = self._json(
                200, {"unit_no": unit_no, "data": data, "next_cursor": cursor, "sync_token": token}
            )
            response.fault = fault
            return response
        records, next_after = self.dataset.listing(
            unit_no, kind, since=since, after=after, watermark=watermark, limit=limit
        )
        data = [r.to_json() for r in records]
        next_cursor = f"w{watermark}a{next_after}" if next_after is not None else None
        if next_cursor:
            with self._lock:
                self._pages[(unit_no, kind, next_cursor)] = data
                while len(self._pages) > 2000:
                    self._pages.popitem(last=False)
        if fault == "malformed":
            data = self._malformed(data, kind)
        response = self._json(
            200, {"unit_no": unit_no, "data": data, "next_cursor": next_cursor, "sync_token": token}
        )
        if fault == "slow":
            response.delay = self.slow_seconds
        response.fault = fault
        return response

    def _banner(self) -> str:
        first = _plus(YearMonth.of(self.dataset.as_of), -(self.dataset.months - 1))
        rows = "".join(
            f"<tr><td>{escape(u)}</td><td>{escape(s['name'])}</td><td>{s['enrollments']}</td><td>{s['contributions']}</td></tr>"
            for u, s in self.dataset.stats().items()
        )
        auth = (
            f"请求须按 HMAC-SHA256 签名（客户端标识 <code>{escape(self.client_id)}</code>）。"
            if self.secret
            else "未配置密钥：不校验签名。"
        )
        return words.BANNER_HTML.format(
            auth=auth,
            seed=self.dataset.seed,
            months=self.dataset.months,
            first=_ym(first),
            last=_ym(YearMonth.of(self.dataset.as_of)),
            faults=(f"{'、'.join(self.faults)}（概率 {self.fault_rate:g}）" if self.faults else "无"),
            rows=rows,
        )

    # serving -----------------------------------------------------------------------------------

    def _handler(self):
        sim = self

        class Handler(BaseHTTPRequestHandler):
            server_version = "ShebaoSimulator/1"

            def do_GET(self) -> None:  # noqa: N802
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else b""
                response = sim.handle("GET", self.path, dict(self.headers.items()), body)
                if response.delay:
                    time.sleep(response.delay)
                try:
                    self.send_response(response.status)
                    for name, value in response.headers.items():
                        self.send_header(name, value)
                    self.send_header("Content-Length", str(len(response.body)))
                    self.send_header("X-Shebao-Simulator", "true")
                    self.end_headers()
                    self.wfile.write(response.body)
                except OSError:  # the client gave up (timeout) before the slow answer came
                    pass

            def log_message(self, format: str, *args) -> None:  # noqa: A002
                logger.info("simulator: " + format, *args)

        return Handler

    def start(self) -> str:
        """Bind and return the base URL (the server is not yet serving)."""
        server = ThreadingHTTPServer((self.host, self.port), self._handler())
        server.daemon_threads = True
        self._server = server
        host, port = server.server_address[:2]
        self.port = port
        return f"http://{host}:{port}"

    def serve_forever(self) -> None:
        if self._server is None:
            self.start()
        assert self._server is not None
        self._server.serve_forever(poll_interval=0.2)

    def serve_in_thread(self) -> str:
        url = self.start()
        self._thread = threading.Thread(target=self.serve_forever, name="shebao-simulator", daemon=True)
        self._thread.start()
        return url

    def close(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    def __enter__(self) -> Simulator:
        return self

    def __exit__(self, *exc) -> None:
        self.close()
