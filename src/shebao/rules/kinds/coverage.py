"""Kinds judged straight from the roster and the ledger: registration after hire (社保 and 公积金),
interruptions of coverage, and the medical waiting-period risk.

Each kind is one query over the current employment spells with correlated EXISTS probes on the
ledger's (person, insurance, period, unit) unique index, so the database returns only the spells
that match; the evidence (last covered month, the unit, the statuses since) is then read for
those employees alone.
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from typing import Any, Literal

from django.db.models import Case, Exists, F, Func, IntegerField, Max, OuterRef, Q, Subquery, When
from django.utils import timezone
from django.utils.translation import gettext_noop as N_
from pydantic import Field, field_validator

from shebao.core.money import fmt
from shebao.core.yearmonth import YearMonth
from shebao.ledger.models import ContributionRecord, EnrollmentStatus
from shebao.policy.calculators.medical_gap import medical_gap
from shebao.policy.terms import INSURANCE_LABELS, Insurance
from shebao.roster.models import EmploymentType
from shebao.rules.context import (
    EXEMPT_TYPES,
    HOUSING_FUND,
    NOT_COVERING,
    SOCIAL_INSURANCES,
    Context,
    Scope,
    month_ints,
    ym_int,
    ym_of,
    ym_text,
)
from shebao.rules.kinds.base import Match, Params, RuleKind
from shebao.rules.kinds.money import months_cost
from shebao.rules.models import Severity

S = ContributionRecord.Status
WORK_INJURY = Insurance.WORK_INJURY.value
PART_TIME = EmploymentType.PART_TIME.value
_STATUS_LABELS = dict(S.choices)


def _status_label(status: str) -> str:
    """The status's label as text in the active language (what the stored JSON holds): a lazy label
    would be rendered by the encoder's fallback, once per record."""
    return str(_STATUS_LABELS[status])


def _label(insurance: str) -> str:
    return INSURANCE_LABELS[Insurance(insurance)]


class YearMonthOf(Func):
    """A date's month as yyyymm, in native SQL (Django's ExtractYear on SQLite is a Python
    function called for every probe of a correlated subquery)."""

    output_field = IntegerField()
    template = "(CAST(EXTRACT(YEAR FROM %(expressions)s) AS INTEGER) * 100 + CAST(EXTRACT(MONTH FROM %(expressions)s) AS INTEGER))"

    def as_sqlite(self, compiler, connection, **extra):
        return self.as_sql(
            compiler, connection, template="CAST(strftime('%%%%Y%%%%m', %(expressions)s) AS INTEGER)", **extra
        )


_SPELL_FIELDS = (
    "id",
    "employee_id",
    "entity_id",
    "department_id",
    "hire_date",
    "leave_date",
    "declared_wage",
    "employee__name",
    "employee__employee_no",
)


def _spell_values(qs):
    return qs.values_list(*_SPELL_FIELDS)


def _entities_with(
    ctx: Context,
    spells,
    insurances: tuple[str, ...],
    *,
    month: int | None = None,
    candidates: list[int] | None = None,
) -> list[int]:
    """The entities among the spells (or ``candidates``) whose data holds the insurances (reaching
    ``month`` if given)."""
    out = []
    if candidates is None:
        known = ctx.spell_entities()
        candidates = known if known is not None else spells.values_list("entity_id", flat=True).distinct()
    for entity_id in candidates:
        if month is None:
            if ctx.side_has_data(entity_id, insurances):
                out.append(entity_id)
        elif (h := ctx.side_horizon(entity_id, insurances)) is not None and h >= month:
            out.append(entity_id)
    return out


def _seen_through(ctx: Context, entity_id: int, insurances: tuple[str, ...]) -> dt.date | None:
    """The last day the entity's data speaks about for the insurances: the last day of the last
    month its records hold, or the day of its latest status report if later (cached)."""
    key = ("seen_through", entity_id, insurances)
    if key not in ctx.cache:
        h = ctx.side_horizon(entity_id, insurances)
        days = [ym_of(h).last_day] if h is not None else []
        if any(ctx.has_statuses(entity_id, i) for i in insurances):
            reported = (
                EnrollmentStatus.objects.filter(entity_id=entity_id, insurance__in=insurances)
                .order_by()
                .aggregate(m=Max("reported_at"))["m"]
            )
            if reported is not None:
                days.append(timezone.localtime(reported).date())
        ctx.cache[key] = max(days) if days else None
    return ctx.cache[key]


# --- registration ---------------------------------------------------------------------------------


class RegistrationParams(Params):
    days: int = Field(30, ge=1, le=365, description=N_("入职后多少天内应完成登记"))
    warn_days: int = Field(7, ge=0, le=60, description=N_("到期前多少天开始提醒"))


def _warn_from(ctx: Context, params: RegistrationParams) -> dt.date:
    """Spells hired on or after this day are not yet judged (nor warned about)."""
    return ctx.as_of - dt.timedelta(days=max(params.days - params.warn_days, 0))


_REGISTRATION_PLAN = "registration_plan"  # ctx.cache: scope → {(insurances, exempt, warn_from)}
_REGISTRATION_ROWS = "registration_rows"  # ctx.cache: (scope, insurances, exempt, warn_from) → rows


def _unregistered(
    ctx: Context, scope: Scope, insurances: tuple[str, ...], exempt: tuple[str, ...], warn_from: dt.date
) -> list[tuple]:
    """The current spells in scope (not of the ``exempt`` types, hired on or before ``warn_from``)
    that the entity's data shows no registration for: no record of ``insurances`` by a unit of the
    entity since the hire month, no status report of one (``_spell_values`` rows).

    The other registration rules of the evaluation (``RuleKind.prepare``) over the same scope are
    read in the same pass over the spells: the probes of one employee read the same index pages."""
    done = ctx.cache.setdefault(_REGISTRATION_ROWS, {})
    key = (insurances, exempt, warn_from)
    if (scope, *key) in done:
        return done[(scope, *key)]
    planned = ctx.cache.get(_REGISTRATION_PLAN, {}).get(scope, {})
    todo = []
    for ins, ex, wf in (key, *(k for k in planned if k != key and (scope, *k) not in done)):
        reach = _registration_reach(ctx, scope, ins, ex, wf)
        if reach is None:
            done[(scope, ins, ex, wf)] = []
        else:
            todo.append((ins, ex, wf, *reach))
    if todo and todo[0][:3] == key:
        for (ins, ex, wf, _e, _s), rows in zip(todo, _registration_rows(ctx, scope, todo), strict=True):
            done[(scope, ins, ex, wf)] = rows
    return done[(scope, *key)]


def _registration_reach(
    ctx: Context, scope: Scope, insurances: tuple[str, ...], exempt: tuple[str, ...], warn_from: dt.date
) -> tuple[list[int], dict[int, dt.date]] | None:
    """The entities whose data holds the insurances and the last day each one's data speaks about,
    or None when no spell can match."""
    spells = ctx.current_spells(scope).exclude(employment_type__in=exempt).filter(hire_date__lte=warn_from)
    rows = ctx.current_spell_rows()
    if rows is not None and all(
        hire > warn_from
        or kind in exempt
        or ctx.registered_since(emp, ent, insurances, ym_int(YearMonth.of(hire)))
        for emp, ent, hire, kind in rows
    ):
        return None  # incremental: every spell is registered (or not yet in the window)
    entities = _entities_with(ctx, spells, insurances)
    # Only spells the entity's data can speak about: hired on or before the last day its
    # records reach (or its latest status report). A hire after the data's last month shows no
    # record whether registered or not, so its absence says nothing yet.
    seen = {}
    for entity_id in entities:
        day = _seen_through(ctx, entity_id, insurances)
        if day is not None:
            seen[entity_id] = day
    return (entities, seen) if seen else None


def _registration_rows(ctx: Context, scope: Scope, todo: list[tuple]) -> list[list[tuple]]:
    """The unregistered spells of each (insurances, exempt, warn_from, entities, seen) of ``todo``,
    in one query over the spells."""
    hire_ym = YearMonthOf(OuterRef("hire_date"))
    parts = []
    for insurances, _x, _w, _e, seen in todo:
        reach = Q()
        for entity_id, day in seen.items():
            reach |= Q(entity_id=entity_id, hire_date__lte=day)
        record = ContributionRecord.objects.filter(
            person__employee_id=OuterRef("employee_id"),
            unit__entity_id=OuterRef("entity_id"),
            insurance__in=insurances,
            period__gte=hire_ym,
        ).exclude(status=S.REFUNDED)
        status = EnrollmentStatus.objects.filter(
            Q(state=EnrollmentStatus.State.ACTIVE) | Q(since__gte=OuterRef("hire_date")),
            person__employee_id=OuterRef("employee_id"),
            unit__entity_id=OuterRef("entity_id"),
            insurance__in=insurances,
        ).exclude(state=EnrollmentStatus.State.NOT_ENROLLED)
        parts.append((reach, record, status))
    if len(todo) == 1:
        (_i, exempt, warn_from, entities, _s), (reach, record, status) = todo[0], parts[0]
        spells = (
            ctx.current_spells(scope)
            .exclude(employment_type__in=exempt)
            .filter(hire_date__lte=warn_from)
            .filter(reach)
        )
        return [list(_spell_values(spells.filter(~Exists(record), ~Exists(status), entity_id__in=entities)))]
    # One pass: a spell is read when one of the rules finds it unregistered; each rule's hire
    # window, reach, entities and exempt types are applied below (outside the OR, so the spells
    # are read in the same order as by one rule).
    common = [t for t in todo[0][1] if all(t in exempt for _i, exempt, *_r in todo)]
    match = Q()
    flags = {}
    for n, ((_i, exempt, _w, _e, _s), (_r, record, status)) in enumerate(zip(todo, parts, strict=True)):
        q = Q(~Exists(record), ~Exists(status))
        if extra := [t for t in exempt if t not in common]:
            q &= ~Q(employment_type__in=extra)
        match |= q
        flags[f"_record{n}"], flags[f"_status{n}"] = Exists(record), Exists(status)
    every = sorted({e for *_r, entities, _s in todo for e in entities})
    found = list(
        ctx.current_spells(scope)
        .exclude(employment_type__in=common)
        .filter(hire_date__lte=max(warn_from for _i, _x, warn_from, *_r in todo))
        .filter(match, entity_id__in=every)
        .annotate(**flags)
        .values_list(*_SPELL_FIELDS, "employment_type", *flags)
    )
    width = len(_SPELL_FIELDS)
    out = []
    for n, (_i, exempt, warn_from, entities, seen) in enumerate(todo):
        allowed = set(entities)
        out.append(
            [
                r[:width]
                for r in found
                if r[4] <= warn_from  # hire_date
                and r[2] in allowed
                and r[2] in seen
                and r[4] <= seen[r[2]]
                and r[width] not in exempt
                and not r[width + 1 + 2 * n]
                and not r[width + 2 + 2 * n]
            ]
        )
    return out


class _Registration(RuleKind):
    insurances: tuple[str, ...]
    params = RegistrationParams
    volatile = ("days_since", "days_left", "days_over")

    def live(self, values: dict[str, Any], today: dt.date) -> dict[str, Any]:
        if "hire_date" not in values or "deadline" not in values:
            return values
        hire, deadline = dt.date.fromisoformat(values["hire_date"]), dt.date.fromisoformat(values["deadline"])
        return {
            **values,
            "days_since": (today - hire).days,
            "days_left": (deadline - today).days,
            "days_over": (today - deadline).days,
        }

    exempt: tuple[str, ...] = EXEMPT_TYPES

    def prepare(self, ctx: Context, params: RegistrationParams, scope: Scope) -> None:
        key = (self.insurances, self.exempt, _warn_from(ctx, params))
        ctx.cache.setdefault(_REGISTRATION_PLAN, {}).setdefault(scope, {})[key] = None

    def evaluate(self, ctx: Context, params: RegistrationParams, scope: Scope) -> list[Match]:
        rows = _unregistered(ctx, scope, self.insurances, self.exempt, _warn_from(ctx, params))
        matches = []
        for spell_id, emp_id, entity_id, dept_id, hire, _leave, wage, name, emp_no in rows:
            deadline = hire + dt.timedelta(days=params.days)
            overdue = ctx.as_of > deadline
            since = (ctx.as_of - hire).days
            months = month_ints(hire.year * 100 + hire.month, ctx.as_of.year * 100 + ctx.as_of.month)
            amount, missing = months_cost(ctx, entity_id, self._cost_insurances(), wage, months)
            data_through = ctx.side_horizon(entity_id, self.insurances)
            args = {
                "name": name,
                "hire_date": hire.isoformat(),
                "days": params.days,
                "days_since": since,
                "deadline": deadline.isoformat(),
                "days_left": (deadline - ctx.as_of).days,
                "days_over": (ctx.as_of - deadline).days,
                "data_through": ym_text(data_through) or "无",
            }
            matches.append(
                Match(
                    subject=f"spell{spell_id}",
                    entity_id=entity_id,
                    employee_id=emp_id,
                    department_id=dept_id,
                    variant="overdue" if overdue else "due_soon",
                    args=args,
                    details={
                        "employee_no": emp_no,
                        "hire_date": hire.isoformat(),
                        "deadline_rule": f"入职之日起 {params.days} 日内",
                        "registered": False,
                        "checked": "本单位（该参保主体）在入职当月及以后的缴费记录和参保状态",
                        "data_through": ym_text(data_through),
                        "months_since_hire": [ym_text(m) for m in months],
                        "cost": {"amount": fmt(amount) if amount is not None else None, "missing": missing},
                    },
                    deadline=deadline,
                    amount=amount,
                    severity=None if overdue else Severity.WARNING,
                )
            )
        return matches

    def _cost_insurances(self) -> tuple[str, ...]:
        return self.insurances


class RegistrationOverdue(_Registration):
    code = "registration_overdue"
    label = N_("入职未办理社保登记")
    summary = N_("入职后规定天数内未查到本单位的社保参保登记或缴费记录；到期前提前提醒")
    default_name = N_("入职30日内未办理社保登记")
    severity = Severity.CRITICAL
    citations = ("SIL-58", "SIL-84")
    insurances = SOCIAL_INSURANCES
    titles = {
        "overdue": N_(
            "{name}入职已 {days_since} 天，仍未查到本单位的社保登记（期限 {deadline}，已超 {days_over} 天）"
        ),
        "due_soon": N_(
            "{name}入职已 {days_since} 天，尚未查到本单位的社保登记，{days_left} 天后到期（{deadline}）"
        ),
        "default": N_("{name}未办理社保登记"),
    }
    explanations = {
        "default": N_(
            "{name}于 {hire_date} 入职。用人单位应当自用工之日起三十日内为职工申请办理社会保险登记"
            "（规则设置为 {days} 天，期限 {deadline}）。台账（数据截至 {data_through}）中没有本单位为其参保或缴费的记录。"
        ),
    }
    next_steps = {
        "overdue": N_(
            "立即为其办理参保登记（增员）；若因原单位未停保或医保中断无法参保，书面告知员工需提供的材料并保留回执；已办理的请导入最新的参保数据。"
        ),
        "due_soon": N_("在 {deadline} 前办理参保登记（增员）；若无法参保，先查明原因并书面告知员工。"),
        "default": N_("办理参保登记。"),
    }
    resolved_reason = N_("已查到本单位的参保登记或缴费记录")


class HousingFundUnregistered(_Registration):
    code = "housing_fund_unregistered"
    label = N_("入职未办理公积金缴存登记")
    summary = N_("入职后规定天数内未查到本单位的住房公积金缴存登记或缴存记录（仅判断已导入公积金数据的主体）")
    default_name = N_("入职30日内未办理公积金缴存登记")
    severity = Severity.WARNING
    citations = ("HFR-15",)
    insurances = (HOUSING_FUND,)
    # 住房公积金管理条例第十五条 speaks of the employees a unit 录用; part-time staff (非全日制) are
    # commonly outside the 缴存 obligation, so their absence of a 公积金 account is not flagged.
    exempt = (*EXEMPT_TYPES, PART_TIME)
    titles = {
        "overdue": N_(
            "{name}入职已 {days_since} 天，仍未查到公积金缴存登记（期限 {deadline}，已超 {days_over} 天）"
        ),
        "due_soon": N_(
            "{name}入职已 {days_since} 天，尚未查到公积金缴存登记，{days_left} 天后到期（{deadline}）"
        ),
        "default": N_("{name}未办理公积金缴存登记"),
    }
    explanations = {
        "default": N_(
            "{name}于 {hire_date} 入职。单位录用职工的，应当自录用之日起30日内向住房公积金管理中心办理缴存登记"
            "（规则设置为 {days} 天，期限 {deadline}）。台账（公积金数据截至 {data_through}）中没有本单位为其缴存的记录。"
        ),
    }
    next_steps = {
        "overdue": N_("到住房公积金管理中心为其办理缴存登记并设立个人账户；已办理的请导入最新的公积金数据。"),
        "due_soon": N_("在 {deadline} 前办理公积金缴存登记。"),
        "default": N_("办理公积金缴存登记。"),
    }
    resolved_reason = N_("已查到本单位的公积金缴存登记或缴存记录")


# --- interruptions --------------------------------------------------------------------------------


class _GapRow:
    __slots__ = ("spell", "insurance", "last", "unit", "after")

    def __init__(self, spell, insurance, last, unit, after):
        self.spell, self.insurance, self.last, self.unit, self.after = spell, insurance, last, unit, after


def _gap_exempt(insurance: str) -> tuple[str, ...]:
    """Part-time staff (非全日制) are judged for work injury only: the employer must insure them for
    work injury (工伤保险条例第九条 counts them among the employees each employer insures), while
    pension and medical they may pay themselves as flexible workers (社会保险法第十条、第二十三条),
    which the employer's data never shows."""
    return EXEMPT_TYPES if insurance == WORK_INJURY else (*EXEMPT_TYPES, PART_TIME)


def _gaps(ctx: Context, scope: Scope, insurance: str, threshold: int) -> list[_GapRow]:
    """Current, non-exempt spells whose employee has had ``insurance`` covered (by any unit) at some
    time but not in ``threshold`` (yyyymm) or later, where the entity's data reaches ``threshold``
    (see ``_gap_exempt`` for who is exempt)."""
    return _gaps_of(ctx, scope, (insurance,), threshold)[insurance]


def _gaps_of(
    ctx: Context, scope: Scope, insurances: tuple[str, ...], threshold: int
) -> dict[str, list[_GapRow]]:
    """``_gaps`` for several insurances: those not in the evaluation's cache are read with one
    query over the spells (one pass, the probes per insurance), their evidence per insurance.

    The cache (per ``Context``, so per evaluation): the rows of a threshold T are exactly the spells
    whose last covered month is before T, so the rows of a smaller threshold over the same scope and
    the same entities are those of T filtered — medical_interrupted (T = as_of − 30 days) serves
    waiting_period_risk (as_of − 3 months) and a medical insurance_interrupted."""
    wanted = dict.fromkeys(insurances)
    # the insurances other rules of this evaluation will ask for at this threshold: read in the
    # same pass (one probe more per spell, on index pages the pass reads anyway)
    planned = [i for i in ctx.cache.get(_PLAN, {}).get((scope, threshold), ()) if i not in wanted]
    out: dict[str, list[_GapRow]] = {}
    todo: list[tuple[str, tuple[str, ...], list[int]]] = []
    rows = ctx.current_spell_rows()
    for insurance in (*wanted, *planned):
        exempt = _gap_exempt(insurance)
        if rows is not None and all(
            kind in exempt or ctx.covered_since(emp, insurance, threshold) for emp, _e, _h, kind in rows
        ):
            out[insurance] = []  # incremental: covered at the threshold or later
            continue
        entities = _entities_with(
            ctx, None, (insurance,), month=threshold, candidates=_spell_entities(ctx, scope, exempt)
        )
        if not entities:
            out[insurance] = []
            continue
        cached = ctx.cache.get(("gaps", insurance, scope, exempt))
        if cached is not None and threshold <= cached[0] and cached[1] == frozenset(entities):
            out[insurance] = [g for g in cached[2] if g.last < threshold]
            continue
        todo.append((insurance, exempt, entities))
    if any(insurance in wanted for insurance, _x, _e in todo):
        for (insurance, exempt, entities), found in zip(
            todo, _gap_rows(ctx, scope, todo, threshold), strict=True
        ):
            key = ("gaps", insurance, scope, exempt)
            cached = ctx.cache.get(key)
            if cached is None or threshold >= cached[0]:
                ctx.cache[key] = (threshold, frozenset(entities), found)
            out[insurance] = list(found)
    return {insurance: out[insurance] for insurance in wanted}


_PLAN = "gap_plan"  # ctx.cache: (scope, threshold) → the insurances the evaluation's rules will read


def _plan_gaps(ctx: Context, scope: Scope, insurances: tuple[str, ...], threshold: int) -> None:
    """Note (``RuleKind.prepare``) that a rule will read the gaps of ``insurances`` at ``threshold``."""
    ctx.cache.setdefault(_PLAN, {}).setdefault((scope, threshold), {}).update(dict.fromkeys(insurances))


def _spell_entities(ctx: Context, scope: Scope, exempt: tuple[str, ...]) -> list[int]:
    """The entities of the current, non-exempt spells in scope (read once per evaluation)."""
    known = ctx.spell_entities()
    if known is not None:
        return list(known)
    key = ("spell_entities", scope, exempt)
    if key not in ctx.cache:
        ctx.cache[key] = list(
            ctx.current_spells(scope)
            .exclude(employment_type__in=exempt)
            .values_list("entity_id", flat=True)
            .distinct()
        )
    return ctx.cache[key]


def _last_covered(insurance: str) -> Subquery:
    """The employee's last month covered for the insurance by any unit (yyyymm), or NULL."""
    return Subquery(
        ContributionRecord.objects.filter(person__employee_id=OuterRef("employee_id"), insurance=insurance)
        .exclude(status__in=NOT_COVERING)
        .order_by()
        .annotate(m=Func(F("period"), function="MAX", output_field=IntegerField()))
        .values("m"),
        output_field=IntegerField(),
    )


def _gap_rows(
    ctx: Context, scope: Scope, todo: list[tuple[str, tuple[str, ...], list[int]]], threshold: int
) -> list[list[_GapRow]]:
    """The gap rows of each (insurance, exempt types, entities) of ``todo``, in that order: one
    query for the spells (the last covered month of each insurance read in it), then the evidence
    (the last month's unit, the not-covering records since) per insurance."""
    covering = {
        insurance: ContributionRecord.objects.filter(
            person__employee_id=OuterRef("employee_id"), insurance=insurance
        ).exclude(status__in=NOT_COVERING)
        for insurance, _x, _e in todo
    }
    lasts: dict[str, Any] = {
        f"_last{n}": _last_covered(insurance) for n, (insurance, _x, _e) in enumerate(todo)
    }
    if len(todo) > 1:
        # read the last covered month only where the spell has no cover since the threshold (the
        # others have no gap in that insurance): a gapless insurance costs a probe, not a scan
        lasts = {
            name: Case(
                When(~Exists(covering[insurance].filter(period__gte=threshold)), then=last),
                default=None,
                output_field=IntegerField(),
            )
            for (name, last), (insurance, _x, _e) in zip(lasts.items(), todo, strict=True)
        }
    if len(todo) == 1:
        insurance, exempt, entities = todo[0]
        spells = (
            ctx.current_spells(scope)
            .exclude(employment_type__in=exempt)
            .filter(
                ~Exists(covering[insurance].filter(period__gte=threshold)),
                Exists(covering[insurance]),
                entity_id__in=entities,
            )
        )
    else:
        # One pass over the spells: a spell is read when it has a gap in any of the insurances
        # (each insurance's entities and exempt types are applied below). The entities are
        # filtered outside the OR, so the spells are read in the same order as by one insurance.
        common = [t for t in todo[0][1] if all(t in exempt for _i, exempt, _e in todo)]
        gap = Q()
        for insurance, exempt, _e in todo:
            q = Q(~Exists(covering[insurance].filter(period__gte=threshold)), Exists(covering[insurance]))
            if extra := [t for t in exempt if t not in common]:
                q &= ~Q(employment_type__in=extra)
            gap |= q
        every = sorted({e for _i, _x, entities in todo for e in entities})
        spells = (
            ctx.current_spells(scope).exclude(employment_type__in=common).filter(gap, entity_id__in=every)
        )
    found = list(spells.annotate(**lasts).values_list(*_SPELL_FIELDS, "employment_type", *lasts))
    out = []
    width = len(_SPELL_FIELDS)
    for n, (insurance, exempt, entities) in enumerate(todo):
        # the last covered month before the threshold is exactly "covered once, not since"
        allowed = set(entities)
        rows = [
            (r[:width], r[width + 1 + n])
            for r in found
            if r[width + 1 + n] is not None
            and r[width + 1 + n] < threshold
            and r[2] in allowed
            and r[width] not in exempt
        ]
        out.append(_gap_evidence(insurance, rows))
    return out


def _gap_evidence(insurance: str, rows: list[tuple[tuple, int]]) -> list[_GapRow]:
    """Gap rows from (spell values, last covered month): the unit of the last covered month and
    the not-covering records after it, read for these employees alone."""
    if not rows:
        return []
    months = {spell[1]: month for spell, month in rows}
    last: dict[int, int] = {}
    units: dict[int, str] = {}
    after: dict[int, list[dict]] = defaultdict(list)
    for chunk in _chunks(sorted(months)):
        last.update((emp, months[emp]) for emp in chunk)
        recs = ContributionRecord.objects.filter(
            person__employee_id__in=chunk, insurance=insurance
        ).order_by()
        for emp, period, unit_name, unit_no in (
            recs.exclude(status__in=NOT_COVERING)
            .filter(period__in=sorted(set(last.values())))
            .values_list("person__employee_id", "period", "unit__name", "unit__unit_no")
        ):
            if last.get(emp) == period:
                units[emp] = unit_name or unit_no
        for emp, period, status, unit_name in recs.filter(status__in=NOT_COVERING).values_list(
            "person__employee_id", "period", "status", "unit__name"
        ):
            if period > last.get(emp, 0):
                after[emp].append(
                    {"period": ym_text(period), "status": _status_label(status), "unit": unit_name}
                )
    return [
        _GapRow(spell, insurance, month, units.get(spell[1], ""), after.get(spell[1], []))
        for spell, month in rows
    ]


def _chunks(items: list[int], size: int = 900):
    for i in range(0, len(items), size):
        yield items[i : i + size]


def _gap_match(ctx: Context, g: _GapRow, *, subject: str, citations: tuple[str, ...] | None = None) -> Match:
    spell_id, emp_id, entity_id, dept_id, hire, _leave, wage, name, emp_no = g.spell
    last = ym_of(g.last)
    gap_from = last.next()
    days = (ctx.as_of - last.last_day).days
    months_missed = YearMonth.of(ctx.as_of) - last  # the months since the last covered one, this one included
    missed = month_ints(ym_int(gap_from), ctx.as_of.year * 100 + ctx.as_of.month)
    data_through = ctx.horizon(entity_id, g.insurance)
    amount, missing = months_cost(ctx, entity_id, (g.insurance,), wage, missed)
    args = {
        "name": name,
        "insurance": _label(g.insurance),
        "last": str(last),
        "gap_from": str(gap_from),
        "days": days,
        "months": months_missed,
        "unit": g.unit or "未知单位",
        "hire_date": hire.isoformat(),
        "data_through": ym_text(data_through),
    }
    details = {
        "employee_no": emp_no,
        "insurance": g.insurance,
        "last_covered_month": str(last),
        "last_covered_unit": g.unit,
        "gap_from": str(gap_from),
        "gap_days": days,
        "months_missed": months_missed,
        "uncovered_records": g.after,
        "hire_date": hire.isoformat(),
        "gap_began_before_hire": gap_from.first_day < hire,
        "data_through": ym_text(data_through),
        "backpay_estimate": {
            "months": [ym_text(m) for m in missed],
            "amount": fmt(amount) if amount is not None else None,
            "missing": missing,
        },
    }
    return Match(
        subject=subject,
        entity_id=entity_id,
        employee_id=emp_id,
        department_id=dept_id,
        args=args,
        details=details,
        amount=amount,
        citations=citations,
    )


def _medical_gap(ctx: Context, gap_months: int, city_code: str | None):
    """The policy library's medical-gap assessment (pure), once per (months, city) per evaluation."""
    key = ("medical_gap", gap_months, city_code)
    if key not in ctx.cache:
        ctx.cache[key] = medical_gap(gap_months=gap_months, city_code=city_code)
    return ctx.cache[key]


class _Gap(RuleKind):
    """Gap kinds: the days since the end of the last covered month are recomputed when shown."""

    volatile = ("days", "gap_days")

    def live(self, values: dict[str, Any], today: dt.date) -> dict[str, Any]:
        last = values.get("last") or values.get("last_covered_month")
        if not last:
            return values
        days = (today - YearMonth.parse(last).last_day).days
        key = "days" if "last" in values else "gap_days"
        return {**values, key: days}


class InterruptionParams(Params):
    days: int = Field(30, ge=1, le=3650, description=N_("中断超过多少天"))


def _days_threshold(ctx: Context, params: InterruptionParams) -> int:
    """The month (yyyymm) an interruption of more than ``params.days`` days ends before."""
    return ym_int(YearMonth.of(ctx.as_of - dt.timedelta(days=params.days)))


class MedicalInterrupted(_Gap):
    code = "medical_interrupted"
    label = N_("医保中断")
    summary = N_(
        "职工医保自最后一个有缴费的月份月末起中断超过规定天数（任何单位缴纳均算有缴费），并判断能否补缴免等待期"
    )
    default_name = N_("医保中断超过30天")
    severity = Severity.CRITICAL
    # National articles; a city's own rule (Shanghai's 医疗保障条例) is added per finding from the
    # medical-gap assessment, so a Beijing employee is not told about a Shanghai regulation.
    citations = ("SIL-23", "SIL-58")
    params = InterruptionParams
    titles = {
        "within": N_(
            "{name}的医保自 {gap_from} 起中断 {days} 天（最后缴费 {last}，{unit}），{deadline} 前补缴可免等待期"
        ),
        "beyond": N_(
            "{name}的医保自 {gap_from} 起中断 {days} 天（最后缴费 {last}，{unit}），已超过3个月，可能设待遇等待期"
        ),
        "default": N_("{name}的医保中断 {days} 天"),
    }
    explanations = {
        "within": N_(
            "台账（数据截至 {data_through}）显示{name}的职工医保最后一个有缴费的月份是 {last}（{unit}），此后 {months} 个月没有缴费。"
            "据《基本医疗保险关系转移接续暂行办法》的报道（二手来源），中断缴费3个月（含）以内的可补缴、不设待遇等待期；"
            "按此在 {deadline} 前补缴仍不设等待期。中断期间发生的医疗费用可能无法报销。"
        ),
        "beyond": N_(
            "台账（数据截至 {data_through}）显示{name}的职工医保最后一个有缴费的月份是 {last}（{unit}），此后 {months} 个月没有缴费，"
            "已超过3个月。据《基本医疗保险关系转移接续暂行办法》的报道（二手来源），统筹地区可对中断3个月以上的设置不超过6个月的待遇等待期，"
            "以参保地规定为准。"
        ),
        "default": N_("{name}的医保中断。"),
    }
    next_steps = {
        "within": N_(
            "向员工书面告知医保中断及补缴期限（{deadline}），尽快办理参保或补缴；员工原单位未停保的，告知其联系原单位办理减员。"
        ),
        "beyond": N_(
            "向员工书面告知医保中断、可能的待遇等待期及补缴安排，保留告知和确认记录；尽快恢复参保。"
        ),
        "default": N_("尽快恢复参保。"),
    }
    resolved_reason = N_("已查到最近月份的医保缴费记录")

    def prepare(self, ctx: Context, params: InterruptionParams, scope: Scope) -> None:
        _plan_gaps(ctx, scope, (Insurance.MEDICAL.value,), _days_threshold(ctx, params))

    def evaluate(self, ctx: Context, params: InterruptionParams, scope: Scope) -> list[Match]:
        threshold = _days_threshold(ctx, params)
        out = []
        for g in _gaps(ctx, scope, Insurance.MEDICAL.value, threshold):
            m = _gap_match(ctx, g, subject="medical")
            last = ym_of(g.last)
            assessment = _medical_gap(ctx, m.details["months_missed"], ctx.entity(m.entity_id).city.code)
            window_end = (last + 3).last_day
            within = assessment.within_three_months
            m.citations = tuple(dict.fromkeys((*self.citations, *assessment.citations)))
            m.variant = "within" if within else "beyond"
            m.deadline = window_end if within else None
            m.args["deadline"] = window_end.isoformat()
            m.details["waiting_period"] = {
                "within_three_months": within,
                "backpay_without_waiting_until": window_end.isoformat(),
                "waiting_period_max_months": assessment.waiting_period_max_months,
                "statements": [
                    {"text": s.text, "confidence": s.confidence.label, "source": s.source}
                    for s in (*assessment.national, *assessment.city)
                ],
                "notes": list(assessment.notes),
            }
            out.append(m)
        return out


class InsuranceInterruptedParams(InterruptionParams):
    insurances: list[
        Literal["pension", "medical", "maternity", "unemployment", "work_injury", "housing_fund"]
    ] = Field(default_factory=lambda: ["pension", "unemployment", "work_injury"], min_length=1)

    @field_validator("insurances")
    @classmethod
    def _unique(cls, value: list[str]) -> list[str]:
        return list(dict.fromkeys(value))


class InsuranceInterrupted(_Gap):
    code = "insurance_interrupted"
    label = N_("险种中断")
    summary = N_("所选险种自最后一个有缴费的月份月末起中断超过规定天数（任何单位缴纳均算有缴费）")
    default_name = N_("养老/失业/工伤中断超过30天")
    severity = Severity.WARNING
    citations = ("SIL-58", "SIL-60")
    params = InsuranceInterruptedParams
    titles = {"default": N_("{name}的{insurance}自 {gap_from} 起中断 {days} 天（最后缴费 {last}，{unit}）")}
    explanations = {
        "default": N_(
            "台账（数据截至 {data_through}）显示{name}的{insurance}最后一个有缴费的月份是 {last}（{unit}），此后 {months} 个月没有缴费。"
            "用人单位应当自行申报、按时足额缴纳社会保险费。"
        )
    }
    next_steps = {
        "default": N_(
            "核实{name}的{insurance}为何中断（未增员、欠缴或已被原单位之外的单位减员），尽快恢复并补缴。"
        )
    }
    resolved_reason = N_("已查到最近月份的缴费记录")

    def prepare(self, ctx: Context, params: InsuranceInterruptedParams, scope: Scope) -> None:
        _plan_gaps(ctx, scope, tuple(params.insurances), _days_threshold(ctx, params))

    def evaluate(self, ctx: Context, params: InsuranceInterruptedParams, scope: Scope) -> list[Match]:
        threshold = _days_threshold(ctx, params)
        out = []
        gaps = _gaps_of(ctx, scope, tuple(params.insurances), threshold)
        for insurance in params.insurances:
            cites = ("HFR-15", "HFR-20") if insurance == HOUSING_FUND else None
            out += [_gap_match(ctx, g, subject=insurance, citations=cites) for g in gaps[insurance]]
        return out


class WaitingPeriodParams(Params):
    months: int = Field(3, ge=1, le=24, description=N_("医保中断超过多少个月"))


class WaitingPeriodRisk(_Gap):
    code = "waiting_period_risk"
    label = N_("医保待遇等待期风险")
    summary = N_("职工医保中断超过规定月数（默认3个月），恢复参保后可能要经过待遇等待期才能报销")
    default_name = N_("医保中断超过3个月（等待期风险）")
    severity = Severity.CRITICAL
    citations = ("SIL-23",)  # + the city's own rule where the assessment knows one (see evaluate)
    params = WaitingPeriodParams
    titles = {"default": N_("{name}的医保已中断 {months} 个月（自 {gap_from}），恢复参保后可能有待遇等待期")}
    explanations = {
        "default": N_(
            "{name}的职工医保最后一个有缴费的月份是 {last}（{unit}），至今 {months} 个月没有缴费（台账数据截至 {data_through}）。"
            "据《基本医疗保险关系转移接续暂行办法》的报道（二手来源），中断3个月以上的，统筹地区可设置不超过6个月的待遇享受等待期；"
            "等待期内的医疗费用不能报销。各地规定不同，见下方的城市规则。"
        )
    }
    next_steps = {
        "default": N_("书面告知员工等待期风险及原因（保留员工确认），尽快恢复参保；核实当地等待期规定。")
    }
    resolved_reason = N_("医保已恢复缴费，或中断不再超过设定的月数")

    def prepare(self, ctx: Context, params: WaitingPeriodParams, scope: Scope) -> None:
        _plan_gaps(ctx, scope, (Insurance.MEDICAL.value,), ym_int(YearMonth.of(ctx.as_of) - params.months))

    def evaluate(self, ctx: Context, params: WaitingPeriodParams, scope: Scope) -> list[Match]:
        threshold = ym_int(YearMonth.of(ctx.as_of) - params.months)
        out = []
        for g in _gaps(ctx, scope, Insurance.MEDICAL.value, threshold):
            m = _gap_match(ctx, g, subject="medical")
            assessment = _medical_gap(ctx, m.details["months_missed"], ctx.entity(m.entity_id).city.code)
            m.details["waiting_period"] = {
                "waiting_period_max_months": assessment.waiting_period_max_months,
                "city_rule_known": assessment.city_rule_known,
                "statements": [
                    {"text": s.text, "confidence": s.confidence.label, "source": s.source}
                    for s in (*assessment.national, *assessment.city)
                ],
                "notes": list(assessment.notes),
            }
            m.citations = tuple(dict.fromkeys((*self.citations, *assessment.citations)))
            out.append(m)
        return out


__all__ = [
    "HousingFundUnregistered",
    "InsuranceInterrupted",
    "MedicalInterrupted",
    "RegistrationOverdue",
    "WaitingPeriodRisk",
]
