"""A simulated social-insurance data platform serving the API of docs/connector-api.md.

It is a demo and test tool, labelled as such everywhere (``"simulator": true`` in every JSON
response, a red banner on ``/``). ``build_dataset`` generates the data from the organisation in
the database — one unit per entity (its 社保单位编号, else its code), the roster's people and
employment spells — over the last ``months`` months up to the current one:

- monthly records from each spell's hire month (some registered a month late) to its leave
  month, amounts from the policy calculator at the declared wage (``null`` where the library
  lacks a figure: nothing is invented), ``paid`` except the current month (``declared``);
- medical interruptions of 1–4 months; job changes where the previous employer keeps paying
  pension and medical for 1–3 months after the hire (records of another unit); late payments
  (``arrears`` for recent months, ``backpaid`` with a later ``posting_period`` and version 2 for
  older ones); leavers not stopped (1–2 months after leaving); a few people paid for who are not
  on the roster; part-time staff insured for work injury only.

The same seed (and the same roster and month) gives the same data. ``Simulator`` serves a
dataset over HTTP with optional HMAC verification and fault injection (slow, 500, 429,
malformed rows, a duplicate page); ``serve_in_thread()`` runs it inside a test.
"""

from __future__ import annotations

import datetime as dt
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

from shebao.core.identity import make_resident_id
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


def _rid(prefix: str, *parts: object) -> str:
    return prefix + hashlib.sha256("|".join(str(p) for p in parts).encode()).hexdigest()[:20]


def _ym(m: YearMonth) -> str:
    return f"{m.year:04d}-{m.month:02d}"


def _money(d: Decimal | None) -> str | None:
    return None if d is None else fmt(d)


def _other_unit(rng: random.Random) -> tuple[str, str]:
    i = rng.randrange(len(words.OTHER_EMPLOYERS))
    return f"SIM{910000000 + i * 7919:09d}", words.OTHER_EMPLOYERS[i]


class _Amounts:
    """Contribution lines per (entity, month, wage) from the policy library, cached."""

    def __init__(self) -> None:
        self._periods: dict[tuple[int, YearMonth], Any] = {}
        self._last: dict[int, Any] = {}
        self._lines: dict[tuple[int, Decimal | None], dict[Insurance, tuple]] = {}

    def _period(self, entity, month: YearMonth):
        key = (entity.pk, month)
        if key not in self._periods:
            from shebao.policy.selectors import policy_period_for_entity

            try:
                period = policy_period_for_entity(entity, month.first_day)
            except LookupError:
                period = None
            last = self._last.get(entity.pk)
            if period is not None and last is not None and last == period:
                period = last  # the same object for the same terms: results are cached per object
            self._last[entity.pk] = period
            self._periods[key] = period
        return self._periods[key]

    def lines(self, entity, month: YearMonth, wage: Decimal | None) -> dict[Insurance, tuple]:
        """insurance → (base, employer_due, employee_due), each Decimal or None."""
        period = self._period(entity, month)
        if period is None:
            return dict.fromkeys(DEFAULT_INSURANCES, (None, None, None))
        key = (id(period), wage)
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
            out: dict[Insurance, tuple] = dict.fromkeys(wanted, (None, None, None))
            if wage is not None and wage > 0:
                from shebao.policy.calculators._base import CalcError
                from shebao.policy.calculators.contribution import contribution

                try:
                    result = contribution(period, month=month, base=wage, insurances=wanted)
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
    hire: dt.date
    leave: dt.date | None
    wage: Decimal | None
    employment_type: str


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
    ) -> None:
        base, employer, employee = amounts
        record = Record(
            kind="c",
            record_id=_rid("c-", unit_no, person["id_number"], insurance.value, _ym(month)),
            person=person,
            insurance=insurance.value,
            unit_no=unit_no,
            unit_name=unit_name,
            period=_ym(month),
            posting_period=_ym(month),
            base=_money(base),
            employer_due=_money(employer),
            employee_due=_money(employee),
            payment_type="normal",
        )
        months_ago = (self.last.year - month.year) * 12 + self.last.month - month.month
        if month == self.last:
            record.status = "declared"  # this month's bill: declared, not yet seen paid
        elif late and months_ago <= 2:
            record.status = "arrears"
        elif late:
            delay = min(months_ago, rng.randint(1, 3))
            posting = month
            for _ in range(delay):
                posting = posting.next()
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
                record_id=_rid("e-", unit_no, person["id_number"], insurance.value),
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

    def person(self, person: dict[str, str], spells: list[_Spell], rng: random.Random) -> None:
        under = tuple(dict.fromkeys(s.unit_no for s in spells))
        # medical interruption: 1–4 months somewhere in the person's covered months
        interruption: set[YearMonth] = set()
        enrolled: dict[tuple[str, Insurance], tuple[str, dt.date | None, str]] = {}
        for spell in spells:
            start = YearMonth.of(spell.hire)
            late_registration = rng.random() < 0.1
            if late_registration:
                start = start.next()
            end = YearMonth.of(spell.leave) if spell.leave else self.last
            not_stopped = spell.leave is not None and rng.random() < 0.3
            if not_stopped:
                for _ in range(rng.randint(1, 2)):
                    end = end.next()
            end = min(end, self.last)
            first = max(start, self.first)
            if spell.employment_type in ("full_time", "foreign"):
                kinds = None  # every insurance of the city
            elif spell.employment_type == "part_time":
                kinds = {Insurance.WORK_INJURY}
            else:
                continue  # interns, retirees re-hired, dispatched staff: not insured by this unit
            months = list(YearMonth.range(first, end))
            if months and not interruption and rng.random() < 0.08:
                length = rng.randint(1, 4)
                begin = rng.randrange(len(months))
                interruption = set(months[begin : begin + length])
            insured: set[Insurance] = set()
            for month in months:
                months_ago = (self.last.year - month.year) * 12 + self.last.month - month.month
                # arrears of the last two months are still open (more likely: not yet chased)
                late = rng.random() < (0.08 if 1 <= months_ago <= 2 else 0.03)
                for insurance, amounts in self.amounts.lines(spell.entity, month, spell.wage).items():
                    if kinds is not None and insurance not in kinds:
                        continue
                    if insurance is Insurance.MEDICAL and month in interruption:
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
            # job change: the previous employer keeps paying pension and medical after the hire
            hired = YearMonth.of(spell.hire)
            if kinds is None and self.first < hired <= self.last and rng.random() < 0.12:
                other_no, other_name = _other_unit(rng)
                months_paid = list(YearMonth.range(hired, min(self.last, _plus(hired, rng.randint(0, 2)))))
                for month in months_paid:
                    lines = self.amounts.lines(spell.entity, month, spell.wage)
                    for insurance in (Insurance.PENSION, Insurance.MEDICAL):
                        self.contribution(
                            rng,
                            person,
                            month,
                            insurance,
                            lines.get(insurance, (None, None, None)),
                            other_no,
                            other_name,
                            under,
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
            all_insurances = set(
                self.amounts.lines(spell.entity, max(self.first, min(end, self.last)), spell.wage)
            )
            for insurance in sorted(all_insurances | {Insurance.WORK_INJURY}, key=list(Insurance).index):
                if insurance not in insured:
                    if kinds is not None and insurance not in kinds:
                        enrolled[(spell.unit_no, insurance)] = ("not_enrolled", None, spell.unit_name)
                    continue
                if end < self.last:
                    state, since = "terminated", end.next().first_day
                elif insurance is Insurance.MEDICAL and self.last in interruption:
                    state, since = "suspended", min(interruption).first_day
                else:
                    state, since = "active", registered
                enrolled[(spell.unit_no, insurance)] = (state, since, spell.unit_name)
        for (unit_no, insurance), (state, since, unit_name) in enrolled.items():
            self.enrollment(person, insurance, unit_no, unit_name, state, since, under)

    def strangers(self, entity, unit_no: str, unit_name: str, rng: random.Random, taken: set[str]) -> None:
        """People paid for under our unit who are not on the roster."""
        for _ in range(rng.randint(1, 3)):
            while True:
                birth = dt.date(1970 + rng.randrange(35), rng.randint(1, 12), rng.randint(1, 28))
                number = make_resident_id(rng.choice(words.AREAS), birth, rng.randrange(1000))
                if number not in taken:
                    taken.add(number)
                    break
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
                    self.contribution(rng, person, month, insurance, amounts, unit_no, unit_name, (unit_no,))
            for insurance in self.amounts.lines(entity, end, wage):
                state = "active" if end == self.last else "terminated"
                since = start.first_day if state == "active" else end.next().first_day
                self.enrollment(person, insurance, unit_no, unit_name, state, since, (unit_no,))


def _plus(m: YearMonth, n: int) -> YearMonth:
    total = m.year * 12 + (m.month - 1) + n
    return YearMonth(total // 12, total % 12 + 1)


def _account(id_number: str) -> str:
    return "1" + str(int(hashlib.sha256(("acct" + id_number).encode()).hexdigest(), 16))[:11]


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
    from shebao.roster.models import ID_PURPOSE, EmploymentSpell

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
    taken: set[str] = set()
    people = []
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
                hire=s.hire_date,
                leave=s.leave_date,
                wage=s.declared_wage,
                employment_type=s.employment_type,
            )
            for s in spells
        ]
        people.append((number, person, sim_spells))
    for number, person, sim_spells in sorted(people, key=lambda p: p[0]):
        builder.person(person, sim_spells, random.Random(f"{seed}:{number}"))
    for entity in entities:
        unit_no, unit_name = unit_of[entity.pk]
        builder.strangers(entity, unit_no, unit_name, random.Random(f"{seed}:stranger:{unit_no}"), taken)

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
                else:
                    number = bad["person"]["id_number"]
                    bad["person"]["id_number"] = number[:-1] + ("0" if number[-1] != "0" else "1")
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
