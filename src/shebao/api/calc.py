"""/api/v1/calc — the policy calculators, with the same answers as the UI and `shebao calc`.

Reads only, so a read-scoped token is enough. Money values are strings with two decimals and
every result carries ``citations`` (law-library ids such as SIL-86). Bad input → 422.
"""

from __future__ import annotations

from typing import Any

from django.http import HttpRequest
from ninja import Query, Router, Schema

from shebao.api.schemas import ErrorOut
from shebao.core.exceptions import ApplicationError
from shebao.policy import calc
from shebao.policy.calculators import CalcError

router = Router(tags=["计算器"])
ERRORS = {401: ErrorOut, 403: ErrorOut, 422: ErrorOut}


def _run(fn, **kwargs) -> dict[str, Any]:
    try:
        result = fn(**kwargs)
    except CalcError as exc:
        raise ApplicationError(exc.message, field_errors={exc.field or "__all__": exc.message}) from exc
    return calc.result_data(result)


class ContributionQuery(Schema):
    month: str
    base: str
    city: str = ""
    entity: str = ""
    insurance: list[str] = []


class LateFeeQuery(Schema):
    amount: str
    due: str
    paid: str


class BackpayQuery(Schema):
    start: str
    end: str
    base: str
    paid: str
    city: str = ""
    entity: str = ""
    due_day: str = ""
    insurance: list[str] = []


class CompensationQuery(Schema):
    hired: str
    left: str
    monthly_wage: str
    city: str = ""


class DeadlinesQuery(Schema):
    hired: str = ""
    left: str = ""


class MedicalGapQuery(Schema):
    months: str
    city: str = ""


@router.get("/calc/contribution", response={200: dict, **ERRORS}, summary="月度缴费计算")
def contribution(request: HttpRequest, q: Query[ContributionQuery]):
    """城市（或参保主体）某月的五险一金：基数按该月政策期间的上下限取值，逐险种单位/个人金额及可信度。"""
    return _run(
        calc.run_contribution,
        city=q.city,
        entity=q.entity or None,
        month=q.month,
        base=q.base,
        insurances=q.insurance,
    )


@router.get("/calc/late-fee", response={200: dict, **ERRORS}, summary="滞纳金")
def late_fee(request: HttpRequest, q: Query[LateFeeQuery]):
    """金额 × 0.0005 × 天数（缴纳日期 − 应缴日期），四舍五入到分（SIL-86）。"""
    return _run(calc.run_late_fee, amount=q.amount, due=q.due, paid=q.paid)


@router.get("/calc/backpay", response={200: dict, **ERRORS}, summary="补缴")
def backpay(request: HttpRequest, q: Query[BackpayQuery]):
    """逐月本金与滞纳金、合计，以及法律规定的罚款区间（SIL-86、SIL-84）。"""
    return _run(
        calc.run_backpay,
        city=q.city,
        entity=q.entity or None,
        start=q.start,
        end=q.end,
        base=q.base,
        paid=q.paid,
        due_day=q.due_day or None,
        insurances=q.insurance,
    )


@router.get("/calc/compensation", response={200: dict, **ERRORS}, summary="经济补偿")
def compensation(request: HttpRequest, q: Query[CompensationQuery]):
    """按工作年限计算经济补偿月数与金额，含三倍社平工资封顶（LCL-47）。"""
    return _run(calc.run_compensation, hired=q.hired, left=q.left, monthly_wage=q.monthly_wage, city=q.city)


@router.get("/calc/deadlines", response={200: dict, **ERRORS}, summary="法定时限")
def deadlines(request: HttpRequest, q: Query[DeadlinesQuery]):
    """入职/离职相关的法定办理期限（SIL-58、HFR-15、LCL-50、SIL-50）。"""
    return _run(calc.run_deadlines, hire=q.hired or None, leave=q.left or None)


@router.get("/calc/medical-gap", response={200: dict, **ERRORS}, summary="医保中断后果")
def medical_gap(request: HttpRequest, q: Query[MedicalGapQuery]):
    """中断月数对应的补缴与等待期规则；城市规则未收录时如实说明。"""
    return _run(calc.run_medical_gap, gap_months=q.months, city=q.city)
