"""Reads of the policy library: periods as the calculators' value types (shebao.policy.terms),
summaries for the pages and the CLI, and the export layouts."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field, replace
from decimal import Decimal
from typing import Any

from django.db.models import Count, Max, Prefetch, Q, QuerySet

from shebao.core.exceptions import ApplicationError
from shebao.policy import terms
from shebao.policy.loader import FIELD_LABELS, NATIONAL_KEY_LABELS, ROUNDING_LABELS, plain_number
from shebao.policy.models import (
    DAY_FIELDS,
    INSURANCE_FIELDS,
    RATE_FIELDS,
    TEXT_FIELDS,
    City,
    CityRule,
    EntityPolicySetting,
    FigureField,
    NationalRule,
    PolicyFigure,
    PolicyFigureRevision,
    PolicyPeriod,
    PolicySource,
    UnverifiedCandidate,
)
from shebao.policy.terms import CONFIDENCE_LABELS, INSURANCE_LABELS, Confidence, Insurance, Rounding

INSURANCE_ORDER = list(Insurance)


def city_resolve(value: str) -> City:
    """Find a city by GB/T 2260 code, full name (北京市) or short name (北京)."""
    text = (value or "").strip()
    if not text:
        raise ApplicationError("请指定参保城市", field_errors={"city": "必填"})
    city = (
        City.objects.filter(code=text).first()
        or City.objects.filter(name=text).first()
        or City.objects.filter(short_name=text).first()
    )
    if city is None:
        raise ApplicationError(
            f"未知城市“{text}”：请使用城市名称（如 北京、深圳市）或6位行政区划代码（如 440300）",
            field_errors={"city": "未知城市"},
        )
    return city


def _city(city: City | str) -> City:
    return city if isinstance(city, City) else city_resolve(city)


def city_search(q: str, *, limit: int = 30) -> QuerySet[City]:
    q = (q or "").strip()
    if not q:
        return City.objects.none()
    return City.objects.filter(
        Q(code__startswith=q) | Q(name__icontains=q) | Q(short_name__icontains=q) | Q(province__icontains=q)
    ).order_by("code")[:limit]


def policy_periods(city: City | str) -> QuerySet[PolicyPeriod]:
    """A city's periods, oldest first, with their figures and sources."""
    return (
        PolicyPeriod.objects.filter(city=_city(city))
        .select_related("city")
        .prefetch_related(
            Prefetch(
                "figures",
                queryset=PolicyFigure.objects.select_related("source", "verified_by").order_by("id"),
            )
        )
        .order_by("effective_from", "id")
    )


# --- value types ------------------------------------------------------------------------------


def tidy(value: Decimal | None) -> Decimal | None:
    """6821.000000 → 6821, 0.160000 → 0.16 (no exponent notation)."""
    if value is None:
        return None
    if value == value.to_integral_value():
        return value.quantize(Decimal(1))
    return value.normalize()


def source_summary(source: PolicySource | None) -> str:
    """Human-readable: document number, publisher, URL — or the quoted text when it has none."""
    if source is None:
        return ""
    parts = [source.doc_no, source.publisher, source.url]
    return "；".join(p for p in parts if p) or source.text


def figure_value(figure: PolicyFigure) -> terms.Figure:
    if figure.field in TEXT_FIELDS:
        value: Any = None
    elif figure.field in DAY_FIELDS and figure.value is not None:
        value = int(figure.value)
    else:
        value = tidy(figure.value)
    return terms.Figure(
        value=value,
        confidence=Confidence(figure.confidence),
        source=source_summary(figure.source),
        verified=figure.verified_at is not None,
    )


def period_terms(period: PolicyPeriod) -> terms.PolicyPeriod:
    """The frozen value type the calculators take, built from a period's rows."""
    by_insurance: dict[str, dict[str, PolicyFigure]] = {}
    for f in period.figures.all():
        by_insurance.setdefault(f.insurance, {})[f.field] = f
    level = by_insurance.pop("", {})
    items = {}
    for key in sorted(by_insurance, key=lambda k: INSURANCE_ORDER.index(Insurance(k))):
        figs = by_insurance[key]
        rounding = figs.get(FigureField.ROUNDING)
        merged = figs.get(FigureField.MERGED_INTO)
        items[Insurance(key)] = terms.InsuranceTerms(
            insurance=Insurance(key),
            **{name: figure_value(figs[name]) for name in INSURANCE_FIELDS if name in figs},
            rounding=Rounding(rounding.text_value) if rounding and rounding.text_value else Rounding.FEN,
            merged_into=Insurance(merged.text_value) if merged and merged.text_value else None,
            note=(period.insurance_notes or {}).get(key, ""),
        )
    return terms.PolicyPeriod(
        city_code=period.city.code,
        city_name=period.city.name,
        label=period.label,
        effective_from=period.effective_from,
        effective_to=period.effective_to,
        items=items,
        **{
            name: figure_value(level[name])
            for name in ("average_wage", "payment_due_day", "cutoff_day")
            if name in level
        },
        period_id=period.pk,
    )


def _span(p: PolicyPeriod) -> str:
    return (
        f"{p.label}（{p.effective_from:%Y-%m-%d} 至 {p.effective_to:%Y-%m-%d}）"
        if p.effective_to
        else (f"{p.label}（{p.effective_from:%Y-%m-%d} 起）")
    )


def policy_period_for(*, city: City | str, month_first_day: dt.date) -> terms.PolicyPeriod:
    """The period covering a month (its first day); LookupError (in Chinese) when none does."""
    city = _city(city)
    periods = list(policy_periods(city))
    covering = [
        p
        for p in periods
        if p.effective_from <= month_first_day
        and (p.effective_to is None or month_first_day <= p.effective_to)
    ]
    if not covering:
        known = "；".join(_span(p) for p in periods) or "暂无收录的政策数据"
        raise LookupError(f"{city.name}没有覆盖{month_first_day:%Y年%m月%d日}的政策期间（已收录：{known}）")
    return period_terms(max(covering, key=lambda p: (p.effective_from, p.pk)))


def entity_overrides(entity, day: dt.date | None = None) -> terms.EntityOverrides:
    """An employer's own rates (work injury by industry class, housing fund within 5–12 %).

    Not yet effective on ``day`` → no overrides. The figures are marked verified when the HR admin
    recorded the document they rest on (依据)."""
    setting = EntityPolicySetting.objects.filter(entity=entity).first()
    if setting is None or (day and setting.effective_from and day < setting.effective_from):
        return terms.EntityOverrides()
    source = "；".join(
        x
        for x in (
            f"参保主体设置：{entity.name}",
            f"行业类别 {setting.industry_class}" if setting.industry_class else "",
            f"依据：{setting.basis}" if setting.basis else "",
        )
        if x
    )

    def figure(value: Decimal | None) -> terms.Figure:
        if value is None:
            return terms.MISSING
        return terms.Figure(tidy(value), Confidence.UNVERIFIED, source, verified=bool(setting.basis))

    return terms.EntityOverrides(
        work_injury_rate=figure(setting.work_injury_rate),
        housing_fund_employer_rate=figure(setting.housing_fund_employer_rate),
        housing_fund_employee_rate=figure(setting.housing_fund_employee_rate),
    )


def policy_period_for_entity(entity, day: dt.date) -> terms.PolicyPeriod:
    """The city's period for ``day`` with the employer's own rates in place of the city's: the
    work-injury employer rate and the housing-fund rates (an item the city lacks is added with
    only that figure, the rest 未收录)."""
    period = policy_period_for(city=entity.city, month_first_day=day)
    overrides = entity_overrides(entity, day)
    items = dict(period.items)
    for insurance, changes in (
        (Insurance.WORK_INJURY, {"employer_rate": overrides.work_injury_rate}),
        (
            Insurance.HOUSING_FUND,
            {
                "employer_rate": overrides.housing_fund_employer_rate,
                "employee_rate": overrides.housing_fund_employee_rate,
            },
        ),
    ):
        changes = {k: v for k, v in changes.items() if v.known}
        if changes:
            items[insurance] = replace(items.get(insurance) or terms.InsuranceTerms(insurance), **changes)
    return replace(period, items=items)


def entity_setting_warnings(setting: EntityPolicySetting | None) -> list[str]:
    if setting is None:
        return []
    cap = Decimal("0.12")
    if any(
        r is not None and r > cap
        for r in (setting.housing_fund_employer_rate, setting.housing_fund_employee_rate)
    ):
        return [
            "公积金缴存比例高于12%：12%是常见的上限口径（建金〔2005〕5号），原文未核实，请向当地住房公积金管理中心确认"
        ]
    return []


# --- pages ------------------------------------------------------------------------------------


@dataclass
class CitySummary:
    city: City
    periods: int = 0
    figures: int = 0  # figures with a value
    missing: int = 0
    by_confidence: dict[str, int] = field(default_factory=dict)
    candidates: int = 0
    rules: int = 0
    verified: int = 0
    last_verified: dt.datetime | None = None
    latest_period: str = ""

    @property
    def confidence_rows(self) -> list[tuple[str, str, int]]:
        return [
            (c.value, CONFIDENCE_LABELS[c], self.by_confidence.get(c.value, 0))
            for c in Confidence
            if self.by_confidence.get(c.value)
        ]


def city_library_summary() -> list[CitySummary]:
    """Cities with any library data: those with periods first, then those with only candidates or
    rules. Figure counts leave out documented defaults (the assumed rounding rule)."""
    summaries: dict[int, CitySummary] = {}

    def get(city_id: int) -> CitySummary:
        return summaries.setdefault(city_id, CitySummary(city=None))  # type: ignore[arg-type]

    for row in PolicyPeriod.objects.values("city_id").annotate(n=Count("id")):
        get(row["city_id"]).periods = row["n"]
    latest = {}
    for p in PolicyPeriod.objects.order_by("effective_from").values("city_id", "label"):
        latest[p["city_id"]] = p["label"]
    figures = PolicyFigure.objects.filter(assumed=False).exclude(field__in=TEXT_FIELDS)
    for row in figures.values("period__city_id", "confidence").annotate(
        known=Count("id", filter=Q(value__isnull=False)), missing=Count("id", filter=Q(value__isnull=True))
    ):
        s = get(row["period__city_id"])
        s.figures += row["known"]
        s.missing += row["missing"]
        if row["known"]:
            s.by_confidence[row["confidence"]] = s.by_confidence.get(row["confidence"], 0) + row["known"]
    for row in (
        PolicyFigure.objects.filter(verified_at__isnull=False)
        .values("period__city_id")
        .annotate(n=Count("id"), last=Max("verified_at"))
    ):
        s = get(row["period__city_id"])
        s.verified, s.last_verified = row["n"], row["last"]
    for row in UnverifiedCandidate.objects.values("city_id").annotate(n=Count("id")):
        get(row["city_id"]).candidates = row["n"]
    for row in CityRule.objects.values("city_id").annotate(n=Count("id")):
        get(row["city_id"]).rules = row["n"]
    cities = City.objects.in_bulk(list(summaries))
    for city_id, s in summaries.items():
        s.city = cities[city_id]
        s.latest_period = latest.get(city_id, "")
    return sorted(summaries.values(), key=lambda s: (s.periods == 0, s.city.code))


@dataclass
class InsuranceRow:
    insurance: str
    label: str
    cells: dict[str, PolicyFigure | None]
    rounding: PolicyFigure | None
    merged_into: PolicyFigure | None
    note: str


@dataclass
class PeriodView:
    period: PolicyPeriod
    rows: list[InsuranceRow]
    level: list[PolicyFigure]
    candidates: list[UnverifiedCandidate]
    sources: list[PolicySource]


def city_policy_detail(city: City) -> dict[str, Any]:
    """What the city page shows: periods newest first, each an insurance × figure table."""
    periods = []
    for period in reversed(list(policy_periods(city))):
        by_insurance: dict[str, dict[str, PolicyFigure]] = {}
        sources: dict[int, PolicySource] = {}
        for f in period.figures.all():
            by_insurance.setdefault(f.insurance, {})[f.field] = f
            if f.source_id:
                sources.setdefault(f.source_id, f.source)
        level_figs = by_insurance.pop("", {})
        rows = [
            InsuranceRow(
                insurance=key,
                label=INSURANCE_LABELS[Insurance(key)],
                cells={name: by_insurance[key].get(name) for name in INSURANCE_FIELDS},
                rounding=by_insurance[key].get(FigureField.ROUNDING),
                merged_into=by_insurance[key].get(FigureField.MERGED_INTO),
                note=(period.insurance_notes or {}).get(key, ""),
            )
            for key in sorted(by_insurance, key=lambda k: INSURANCE_ORDER.index(Insurance(k)))
        ]
        level = [level_figs[name] for name in FigureField if name in level_figs]
        candidates = list(period.candidates.select_related("source"))
        periods.append(PeriodView(period, rows, level, candidates, list(sources.values())))
    return {
        "periods": periods,
        "rules": list(CityRule.objects.filter(city=city).select_related("source")),
        "candidates": list(
            UnverifiedCandidate.objects.filter(city=city, period=None).select_related("source")
        ),
    }


def figure_get(pk: int) -> PolicyFigure | None:
    return PolicyFigure.objects.select_related("period__city", "source", "verified_by").filter(pk=pk).first()


def figure_history(figure: PolicyFigure) -> QuerySet[PolicyFigureRevision]:
    return figure.revisions.select_related("old_source", "new_source", "changed_by").order_by(
        "-changed_at", "-id"
    )


def national_rules() -> QuerySet[NationalRule]:
    return NationalRule.objects.select_related("source").order_by("insurance", "key")


def national_rule_label(rule: NationalRule) -> str:
    ins = INSURANCE_LABELS[Insurance(rule.insurance)] if rule.insurance else ""
    return f"{ins} {NATIONAL_KEY_LABELS.get(rule.key, rule.key)}".strip()


# --- CLI and export -----------------------------------------------------------------------------


def figure_display(figure: PolicyFigure) -> str:
    """A figure as text: 16%, 6821, 15日, 四舍五入到分 — or 未收录."""
    if figure.field in TEXT_FIELDS:
        if not figure.text_value:
            return "未收录"
        if figure.field == FigureField.ROUNDING:
            return ROUNDING_LABELS.get(figure.text_value, figure.text_value)
        return INSURANCE_LABELS[Insurance(figure.text_value)]
    if figure.value is None:
        return "未收录"
    if figure.field in RATE_FIELDS:
        return f"{format((figure.value * 100).normalize(), 'f')}%"
    if figure.field in DAY_FIELDS:
        return f"{int(figure.value)}日"
    return format(tidy(figure.value), "f")


def _export_value(figure: PolicyFigure) -> Any:
    if figure.field in TEXT_FIELDS:
        return figure.text_value or None
    return plain_number(figure.value)


def policy_city_json(city: City | str) -> dict[str, Any]:
    city = _city(city)
    return {
        "city": city.name,
        "city_code": city.code,
        "periods": [
            {
                "label": p.label,
                "effective_from": p.effective_from.isoformat(),
                "effective_to": p.effective_to.isoformat() if p.effective_to else None,
                "published": p.published.isoformat() if p.published else None,
                "notes": p.notes,
                "figures": [
                    {
                        "id": f.pk,
                        "insurance": f.insurance or None,
                        "field": f.field,
                        "value": None if f.value is None else format(tidy(f.value), "f"),
                        "text_value": f.text_value or None,
                        "display": figure_display(f),
                        "confidence": f.confidence,
                        "confidence_label": CONFIDENCE_LABELS[Confidence(f.confidence)],
                        "assumed": f.assumed,
                        "source": f.source.text if f.source else "",
                        "verified_at": f.verified_at.isoformat() if f.verified_at else None,
                        "verified_against": f.verified_against,
                        "note": f.note,
                    }
                    for f in p.figures.all()
                ],
            }
            for p in policy_periods(city)
        ],
        "rules": [
            {"rule": r.text, "document": r.document, "confidence": r.confidence}
            for r in CityRule.objects.filter(city=city)
        ],
        "unverified_candidates": [
            {
                "values": c.values,
                "source": c.source.text if c.source else "",
                "note": c.note,
                "period": c.period.label if c.period else None,
            }
            for c in UnverifiedCandidate.objects.filter(city=city).select_related("source", "period")
        ],
    }


def policy_export_rows() -> list[dict[str, Any]]:
    """One row per figure, in the Excel import layout (rates as fractions)."""
    rows = []
    figures = PolicyFigure.objects.select_related("period__city", "source").order_by(
        "period__city__code", "period__effective_from", "period_id", "id"
    )
    for f in figures:
        value = _export_value(f)
        if f.field == FigureField.ROUNDING and value:
            value = ROUNDING_LABELS[value]
        elif f.field == FigureField.MERGED_INTO and value:
            value = INSURANCE_LABELS[Insurance(value)]
        rows.append(
            {
                "城市": f.period.city.name,
                "城市代码": f.period.city.code,
                "期间": f.period.label,
                "生效日期": f.period.effective_from,
                "失效日期": f.period.effective_to,
                "险种": INSURANCE_LABELS[Insurance(f.insurance)] if f.insurance else "",
                "项目": FIELD_LABELS[f.field],
                "数值": value,
                "可信度": CONFIDENCE_LABELS[Confidence(f.confidence)],
                "来源": f.source.text if f.source else "",
                "备注": f.note,
            }
        )
    return rows


def policy_export_candidates() -> list[dict[str, Any]]:
    return [
        {
            "city": c.city.name,
            "period": c.period.label if c.period else "",
            "values": c.values,
            "source": c.source.text if c.source else "",
            "note": c.note,
        }
        for c in UnverifiedCandidate.objects.select_related("city", "period", "source").order_by(
            "city__code", "id"
        )
    ]


def _group_maps(figures: list[PolicyFigure]) -> tuple[dict[str, str], dict[str, str]]:
    """The period's confidence and source maps: a group key (bases / rates) where all its known
    figures agree, per-figure keys (pension.base_min) where they do not."""
    from shebao.policy.loader import GROUP_FIELDS

    confidence: dict[str, str] = {}
    source: dict[str, str] = {}
    stated = [f for f in figures if f.known and not f.assumed]
    grouped: set[int] = set()
    for group in ("bases", "rates"):
        members = [f for f in stated if f.field in GROUP_FIELDS[group]]
        if not members:
            continue
        confs = {f.confidence for f in members}
        srcs = {f.source.text if f.source else "" for f in members}
        if len(confs) == 1 and len(srcs) == 1:
            confidence[group] = confs.pop()
            text = srcs.pop()
            if text:
                source[group] = text
            grouped |= {f.pk for f in members}
    for f in stated:
        if f.pk in grouped:
            continue
        key = f"{f.insurance}.{f.field}" if f.insurance else f.field
        confidence[key] = f.confidence
        if f.source:
            source[key] = f.source.text
    return confidence, source


def policy_export_data() -> dict[str, Any]:
    """The library in the schema of data/city_policies.yaml (importable with `shebao policy import`)."""
    national: dict[str, Any] = {}
    for rule in national_rules():
        body = national.setdefault(rule.insurance, {}) if rule.insurance else national
        body[rule.key] = plain_number(rule.value)
        if rule.source:
            body[f"{rule.key}_source"] = rule.source.text
        if rule.note:
            body[f"{rule.key}_note"] = rule.note
        if rule.insurance:
            body.setdefault("confidence", rule.confidence)
    cities: dict[int, dict[str, Any]] = {}

    def city_entry(city: City) -> dict[str, Any]:
        return cities.setdefault(city.pk, {"city": city.short_name, "city_code": city.code, "periods": []})

    for period in (
        PolicyPeriod.objects.select_related("city")
        .prefetch_related(
            Prefetch("figures", queryset=PolicyFigure.objects.select_related("source").order_by("id"))
        )
        .order_by("city__code", "effective_from")
    ):
        entry: dict[str, Any] = {
            "label": period.label,
            "effective_from": period.effective_from,
            "effective_to": period.effective_to,
        }
        if period.published:
            entry["published"] = period.published
        figures = list(period.figures.all())
        for f in figures:
            if f.insurance:
                continue
            key = {
                "average_wage": "average_wage_prev_year",
                "average_wage_province": "average_wage_prev_year_province",
            }.get(f.field, f.field)
            if f.known:
                entry[key] = _export_value(f)
        for ins in INSURANCE_ORDER:
            own = [f for f in figures if f.insurance == ins.value]
            if not own:
                continue
            body: dict[str, Any] = {}
            for f in own:
                if f.field in INSURANCE_FIELDS[:4] or (f.known and not f.assumed):
                    body[f.field] = _export_value(f)
            note = (period.insurance_notes or {}).get(ins.value)
            if note:
                body["note"] = note
            entry[ins.value] = body
        confidence, source = _group_maps(figures)
        if source:
            entry["source"] = source
        if confidence:
            entry["confidence"] = confidence
        if period.notes:
            entry["note"] = period.notes
        city_entry(period.city)["periods"].append(entry)
    for rule in CityRule.objects.select_related("city", "source").order_by("city__code", "id"):
        city_entry(rule.city).setdefault("other_rules", []).append(
            {
                "rule": rule.text,
                **({"document": rule.document} if rule.document else {}),
                "effective_from": rule.effective_from,
                "effective_to": rule.effective_to,
                "source": rule.source.text if rule.source else "",
                "confidence": rule.confidence,
            }
        )
    for cand in UnverifiedCandidate.objects.select_related("city", "source", "period").order_by(
        "city__code", "id"
    ):
        item = {"values": cand.values, "source": cand.source.text if cand.source else ""}
        if cand.note:
            item["note"] = cand.note
        if cand.period:
            item["period"] = cand.period.label
        city_entry(cand.city).setdefault("unverified_candidates", []).append(item)
    for entry in cities.values():
        if not entry["periods"]:
            entry["status"] = "not_found"
    return {
        "schema_version": 1,
        "verification_status": "exported_from_shebao",
        "national_rules": national,
        "cities": sorted(cities.values(), key=lambda c: c["city_code"]),
    }
