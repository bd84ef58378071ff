"""Money at stake, from the policy library's calculators (the same cached lines reconciliation uses)."""

from __future__ import annotations

from decimal import Decimal

from shebao.ledger.reconciliation.months import mi_of
from shebao.ledger.reconciliation.policy import EntityPolicy, line_missing
from shebao.rules.context import Context

ZERO = Decimal("0")


def entity_policy(ctx: Context, entity_id: int) -> EntityPolicy:
    key = ("policy", entity_id)
    if key not in ctx.cache:
        ctx.cache[key] = EntityPolicy(ctx.entity(entity_id))
    return ctx.cache[key]


def months_cost(
    ctx: Context, entity_id: int, insurances: tuple[str, ...], wage: Decimal | None, months: list[int]
) -> tuple[Decimal | None, list[str]]:
    """Employer + employee contributions for ``months`` (yyyymm) of ``insurances`` at ``wage``
    (clamped to the base bounds). (None, why) when a figure is 未收录 or no wage is declared."""
    if wage is None:
        return None, ["申报工资未填写"]
    if not months:
        return ZERO, []
    # Memoised for the evaluation: a pure function of its arguments, and several kinds price the
    # same months of one employee (medical_interrupted and waiting_period_risk, …).
    key = ("months_cost", entity_id, insurances, str(wage), tuple(months))
    cached = ctx.cache.get(key)
    if cached is None:
        cached = ctx.cache[key] = _months_cost(ctx, entity_id, insurances, wage, months)
    return cached[0], list(cached[1])


def _months_cost(
    ctx: Context, entity_id: int, insurances: tuple[str, ...], wage: Decimal, months: list[int]
) -> tuple[Decimal | None, list[str]]:
    policy = entity_policy(ctx, entity_id)
    # months under one policy period cost the same: price one month per period, times the count
    counts: dict[object, list[int]] = {}
    for month in months:
        mi = mi_of(month)
        key = policy.period_key(mi)
        if key in counts:
            counts[key][1] += 1
        else:
            counts[key] = [mi, 1]
    total = ZERO
    missing: list[str] = []
    for insurance in insurances:
        for mi, n in counts.values():
            line = policy.line(insurance, mi, wage)
            gaps = line_missing(line)
            if gaps:
                missing.extend(g for g in gaps if g not in missing)
                continue
            total += (line.employer_amount + line.employee_amount) * n
    return (None if missing else total), missing
