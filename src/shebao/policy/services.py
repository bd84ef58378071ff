"""Writes to the policy library: loading the shipped data, verifications, corrections, imports and
employer settings. Each write that a person makes checks permissions and records an audit row in
the same transaction; each change to a figure also keeps a revision."""

from __future__ import annotations

import datetime as dt
import hashlib
from collections import Counter, defaultdict
from decimal import Decimal
from typing import Any

from django.apps import apps as django_apps
from django.db import transaction
from django.utils import timezone

from shebao.accounts.permissions import can_admin
from shebao.audit.services import audit_record
from shebao.core.context import Actor
from shebao.core.exceptions import ApplicationError, PermissionDenied
from shebao.policy.divisions import current_cities, short_name
from shebao.policy.loader import (
    FIELD_LABELS,
    ImportRow,
    Library,
    LibraryError,
    confidence_key,
    shipped_library,
    text_figure_key,
    to_decimal,
    value_problems,
)
from shebao.policy.models import (
    TEXT_FIELDS,
    EntityPolicySetting,
    FigureField,
    PolicyFigure,
    PolicyFigureRevision,
    PolicyPeriod,
    PolicySource,
    source_parts,
)
from shebao.policy.terms import INSURANCE_LABELS, Confidence, Insurance

HF_MIN_RATE = Decimal("0.05")  # 住房公积金管理条例 第十八条
HF_COMMON_CAP = Decimal("0.12")  # 建金〔2005〕5号 as commonly cited; original not verified
HF_MIN_MESSAGE = (
    "住房公积金缴存比例不得低于5%（住房公积金管理条例第十八条：职工和单位住房公积金的缴存比例"
    "均不得低于职工上一年度月平均工资的5%）"
)
HF_CAP_MESSAGE = (
    "缴存比例高于12%：12%是常见的上限口径（建金〔2005〕5号），但该文件原文未核实。"
    "如已向当地住房公积金管理中心确认允许，请勾选“确认高于12%”后保存"
)


def city_table_load(*, city_model=None) -> int:
    """Load the GB/T 2260 city list (idempotent). Used by migration 0002 and after test flushes."""
    City = city_model or django_apps.get_model("policy", "City")
    existing = set(City.objects.values_list("code", flat=True))
    rows = [
        City(code=code, name=name, short_name=short_name(name), province=province)
        for code, name, province in current_cities()
        if code not in existing
    ]
    City.objects.bulk_create(rows)
    return len(rows)


# --- loading the shipped library ---------------------------------------------------------------


def _source_get(Source, text: str, cache: dict[str, Any] | None = None):
    text = (text or "").strip()
    if not text:
        return None
    if cache is not None and text in cache:
        return cache[text]
    digest = hashlib.sha256(text.encode()).hexdigest()
    parts = source_parts(text)
    source, _created = Source.objects.get_or_create(
        digest=digest,
        defaults={
            "text": text,
            "doc_no": parts["doc_no"][:80],
            "title": parts["title"][:200],
            "publisher": parts["publisher"][:100],
            "url": parts["url"][:500],
        },
    )
    if cache is not None:
        cache[text] = source
    return source


def _city_find(City, text: str):
    text = (text or "").strip()
    return (
        City.objects.filter(code=text).first()
        or City.objects.filter(name=text).first()
        or City.objects.filter(short_name=text).first()
    )


@transaction.atomic
def policy_library_load(*, library: Library | None = None, apps=None) -> Counter:
    """Load the shipped city policy library (idempotent, keyed by city + period label).

    Figures an HR admin has verified or corrected are never overwritten: theirs win. Called by
    migration 0004 (``apps`` = the migration's historical models) so ``shebao migrate`` loads it.
    """
    registry = apps or django_apps

    def model(name: str):
        return registry.get_model("policy", name)

    City, Period, Figure = model("City"), model("PolicyPeriod"), model("PolicyFigure")
    Source, Candidate, Rule, National = (
        model("PolicySource"),
        model("UnverifiedCandidate"),
        model("CityRule"),
        model("NationalRule"),
    )
    library = library or shipped_library()
    counts: Counter = Counter()
    cache: dict[str, Any] = {}
    for rec in library.national:
        National.objects.update_or_create(
            insurance=rec.insurance,
            key=rec.key,
            defaults={
                "value": rec.value,
                "confidence": rec.confidence,
                "source": _source_get(Source, rec.source, cache),
                "note": rec.note,
            },
        )
        counts["national"] += 1
    for city_rec in library.cities:
        city = _city_find(City, city_rec.city)
        if city is None:
            raise LibraryError([f"第{city_rec.line}行：未知城市“{city_rec.city}”"])
        periods = {}
        for p in city_rec.periods:
            period, created = Period.objects.update_or_create(
                city=city,
                label=p.label,
                defaults={
                    "effective_from": p.effective_from,
                    "effective_to": p.effective_to,
                    "published": p.published,
                    "notes": p.notes,
                    "insurance_notes": p.insurance_notes,
                },
            )
            periods[p.label] = period
            counts["periods_created" if created else "periods"] += 1
            existing = {(f.insurance, f.field): f for f in Figure.objects.filter(period=period)}
            for f in p.figures:
                values = {
                    "value": f.value,
                    "text_value": f.text_value,
                    "confidence": f.confidence,
                    "source": _source_get(Source, f.source, cache),
                    "note": f.note,
                    "assumed": f.assumed,
                }
                current = existing.get((f.insurance, f.field))
                if current is None:
                    Figure.objects.create(period=period, insurance=f.insurance, field=f.field, **values)
                    counts["figures_created"] += 1
                elif current.verified_at is not None or current.corrected_at is not None:
                    counts["figures_kept"] += 1  # a person's verification or correction wins
                elif any(getattr(current, k) != v for k, v in values.items()):
                    Figure.objects.filter(pk=current.pk).update(**values)
                    counts["figures_updated"] += 1
        for cand in city_rec.candidates:
            Candidate.objects.update_or_create(
                city=city,
                period=periods.get(cand.period_label) if cand.period_label else None,
                values=cand.values,
                defaults={"source": _source_get(Source, cand.source, cache), "note": cand.note},
            )
            counts["candidates"] += 1
        for rule in city_rec.rules:
            Rule.objects.update_or_create(
                city=city,
                text=rule.text,
                defaults={
                    "document": rule.document,
                    "effective_from": rule.effective_from,
                    "effective_to": rule.effective_to,
                    "source": _source_get(Source, rule.source, cache),
                    "confidence": rule.confidence,
                },
            )
            counts["rules"] += 1
    return counts


# --- verifying and correcting figures ----------------------------------------------------------


def _check_admin(actor: Actor, *, allow_system: bool) -> None:
    # Actors without a user are the CLI and the worker, which run with the operator's trust.
    if actor.user is None and allow_system:
        return
    if not can_admin(actor.user):
        raise PermissionDenied("只有HR管理员可以核验或更正政策数据")


def _shown(figure_field: str, value: Decimal | None, text_value: str = "") -> str:
    if figure_field in TEXT_FIELDS:
        return text_value
    return "" if value is None else format(value.normalize(), "f")


def _revision(*, actor: Actor, figure: PolicyFigure, kind: str, before: dict[str, Any], reason: str) -> None:
    PolicyFigureRevision.objects.create(
        figure=figure,
        kind=kind,
        old_value=before["shown"],
        new_value=_shown(figure.field, figure.value, figure.text_value),
        old_confidence=before["confidence"],
        new_confidence=figure.confidence,
        old_source=before["source"],
        new_source=figure.source,
        changed_by=actor.user,
        changed_by_label=actor.user.username if actor.user else f"系统（{actor.via}）",
        reason=reason,
    )


def _snapshot(figure: PolicyFigure) -> dict[str, Any]:
    return {
        "shown": _shown(figure.field, figure.value, figure.text_value),
        "confidence": figure.confidence,
        "source": figure.source,
        "note": figure.note,
    }


@transaction.atomic
def policy_figure_verify(
    *,
    actor: Actor,
    figure: PolicyFigure,
    verified_against: str,
    note: str = "",
    official_text_checked: bool = False,
) -> PolicyFigure:
    """Record that an HR admin checked a figure against an official notice (文号 or URL).

    The confidence becomes 官方原文 only when they say they read the official text itself.
    """
    _check_admin(actor, allow_system=False)
    against = (verified_against or "").strip()
    if not against:
        raise ApplicationError(
            "请填写核验依据：官方通知的文号或网址", field_errors={"verified_against": "必填"}
        )
    figure = PolicyFigure.objects.select_for_update().get(pk=figure.pk)
    if not figure.known:
        raise ApplicationError("该项未收录数值，无法核验；请使用“更正”录入官方通知中的数值")
    before = _snapshot(figure)
    if official_text_checked:
        figure.confidence = Confidence.OFFICIAL.value
    figure.verified_by = actor.user
    figure.verified_at = timezone.now()
    figure.verified_against = against
    figure.verification_note = (note or "").strip()
    figure.assumed = False
    figure.save()
    _revision(
        actor=actor,
        figure=figure,
        kind=PolicyFigureRevision.Kind.VERIFY,
        before=before,
        reason="；".join(x for x in (f"核验依据：{against}", figure.verification_note) if x),
    )
    audit_record(
        actor=actor,
        action="policy_figure.verify",
        obj=figure,
        changes={
            "verified_against": against,
            "official_text_checked": bool(official_text_checked),
            "confidence": [before["confidence"], figure.confidence],
            "note": figure.verification_note,
        },
    )
    return figure


def figure_value_parse(figure_field: str, value: Any) -> tuple[Decimal | None, str]:
    """(value, text_value) from user input; ValueError says what is wrong."""
    if figure_field in TEXT_FIELDS:
        text = "" if value is None else str(value).strip()
        return None, (text_figure_key(figure_field, text) if text else "")
    return to_decimal(value), ""


def _sibling_problems(
    period: PolicyPeriod, insurance: str, figure_field: str, value: Decimal | None
) -> list[str]:
    if value is None or figure_field not in (FigureField.BASE_MIN, FigureField.BASE_MAX):
        return []
    other_field = FigureField.BASE_MAX if figure_field == FigureField.BASE_MIN else FigureField.BASE_MIN
    other = PolicyFigure.objects.filter(period=period, insurance=insurance, field=other_field).first()
    if other is None or other.value is None:
        return []
    low, high = (value, other.value) if figure_field == FigureField.BASE_MIN else (other.value, value)
    if low > high:
        return [f"基数下限（{low.normalize():f}）不能高于同一期间同一险种的基数上限（{high.normalize():f}）"]
    return []


def _apply(
    *,
    actor: Actor,
    figure: PolicyFigure,
    value: Decimal | None,
    text_value: str,
    confidence: str,
    source_text: str,
    reason: str,
    kind: str,
    note: str | None = None,
) -> PolicyFigure:
    before = _snapshot(figure)
    value_changed = before["shown"] != _shown(figure.field, value, text_value)
    figure.value, figure.text_value = value, text_value
    figure.confidence = confidence
    figure.source = _source_get(PolicySource, source_text)
    if note is not None:
        figure.note = note
    figure.assumed = False
    figure.corrected_at = timezone.now()
    if value_changed:  # the checked value is gone; so is its verification
        figure.verified_by, figure.verified_at = None, None
        figure.verified_against = figure.verification_note = ""
    figure.save()
    _revision(actor=actor, figure=figure, kind=kind, before=before, reason=reason)
    changes = {
        "value": [before["shown"], _shown(figure.field, value, text_value)],
        "confidence": [before["confidence"], confidence],
        "source": [before["source"].text if before["source"] else "", source_text],
        "reason": reason,
    }
    if note is not None and note != before["note"]:
        changes["note"] = [before["note"], note]
    audit_record(actor=actor, action=f"policy_figure.{kind}", obj=figure, changes=changes)
    return figure


@transaction.atomic
def policy_figure_correct(
    *,
    actor: Actor,
    figure: PolicyFigure,
    value: Any,
    confidence: str,
    source_text: str,
    reason: str,
) -> PolicyFigure:
    """Correct a figure (a revision and an audit row keep the previous value). ``value`` None or ""
    marks it 未收录; rates are fractions (0.16 = 16 %)."""
    _check_admin(actor, allow_system=True)
    figure = PolicyFigure.objects.select_for_update().select_related("period").get(pk=figure.pk)
    errors: dict[str, str] = {}
    reason = (reason or "").strip()
    source_text = (source_text or "").strip()
    try:
        parsed, text_value = figure_value_parse(figure.field, value)
    except ValueError as exc:
        parsed, text_value = None, ""
        errors["value"] = str(exc)
    try:
        confidence = confidence_key(confidence or Confidence.UNVERIFIED.value)
    except ValueError as exc:
        errors["confidence"] = str(exc)
    known = bool(text_value) if figure.field in TEXT_FIELDS else parsed is not None
    if "value" not in errors:
        problems = value_problems(figure.field, parsed, text_value, insurance=figure.insurance)
        problems += _sibling_problems(figure.period, figure.insurance, figure.field, parsed)
        if problems:
            errors["value"] = "；".join(problems)
    if known and not source_text:
        errors["source_text"] = "请填写来源：文号、发布机关或网址"
    if not reason:
        errors["reason"] = "请填写更正原因"
    if errors:
        raise ApplicationError(next(iter(errors.values())), field_errors=errors)
    if not known:
        confidence = Confidence.UNVERIFIED.value  # a missing value has no confidence of its own
    current_source = figure.source.text if figure.source else ""
    if (
        _shown(figure.field, figure.value, figure.text_value) == _shown(figure.field, parsed, text_value)
        and figure.confidence == confidence
        and current_source == source_text
    ):
        raise ApplicationError("数值、可信度和来源都没有变化")
    return _apply(
        actor=actor,
        figure=figure,
        value=parsed,
        text_value=text_value,
        confidence=confidence,
        source_text=source_text,
        reason=reason,
        kind=PolicyFigureRevision.Kind.CORRECT,
    )


# --- imports ----------------------------------------------------------------------------------


def _differs(figure: PolicyFigure, row: ImportRow) -> bool:
    if _shown(figure.field, figure.value, figure.text_value) != _shown(row.field, row.value, row.text_value):
        return True
    if row.note is not None and row.note != figure.note:
        return True
    if not figure.known:
        return False  # a missing value: nothing else to compare
    source = figure.source.text if figure.source else ""
    return figure.confidence != row.confidence or source != row.source


def _import_check(rows: list[ImportRow]) -> tuple[dict, list[tuple[int, str]]]:
    """Resolve cities and periods for the rows; every problem with its line number."""
    from shebao.policy.models import City

    errors: list[tuple[int, str]] = []
    cities: dict[tuple[str, str], City | None] = {}
    resolved: dict[int, tuple[City, PolicyPeriod | None]] = {}
    period_dates: dict[tuple[int, str], tuple[dt.date, dt.date | None, int]] = {}
    seen: dict[tuple, int] = {}
    for row in rows:
        key = (row.city, row.city_code)
        if key not in cities:
            by_code = _city_find(City, row.city_code) if row.city_code else None
            by_name = _city_find(City, row.city) if row.city else None
            if row.city_code and row.city and by_code and by_name and by_code != by_name:
                cities[key] = None
            else:
                cities[key] = by_code or by_name
        city = cities[key]
        if city is None:
            errors.append((row.line, f"未知城市“{row.city or row.city_code}”或城市名称与代码不一致"))
            continue
        dates = (row.effective_from, row.effective_to)
        first = period_dates.setdefault((city.pk, row.label), (*dates, row.line))
        if first[:2] != dates:
            errors.append((row.line, f"期间“{row.label}”的日期与第{first[2]}行不一致"))
            continue
        dup = (city.pk, row.label, row.insurance, row.field)
        if dup in seen:
            errors.append((row.line, f"与第{seen[dup]}行重复（同一城市、期间、险种和项目）"))
            continue
        seen[dup] = row.line
        period = PolicyPeriod.objects.filter(city=city, label=row.label).first()
        if period is not None and (period.effective_from, period.effective_to) != dates:
            to = period.effective_to.isoformat() if period.effective_to else "长期"
            errors.append(
                (
                    row.line,
                    f"期间“{row.label}”已存在（{period.effective_from.isoformat()} 至 {to}），"
                    "与文件中的日期不一致；期间日期不能通过导入修改",
                )
            )
            continue
        resolved[row.line] = (city, period)
    # New periods must not overlap a city's other periods — except an open-ended one that started
    # earlier: the newer period supersedes it from its own start (selectors pick the latest start).
    for (city_pk, label), (start, end, line) in period_dates.items():
        if PolicyPeriod.objects.filter(city_id=city_pk, label=label).exists():
            continue
        clash = (
            PolicyPeriod.objects.filter(city_id=city_pk, effective_from__lte=end or dt.date.max)
            .exclude(effective_to__lt=start)
            .exclude(effective_to__isnull=True, effective_from__lt=start)
        )
        for other in clash:
            errors.append((line, f"新期间“{label}”与已有期间“{other.label}”的日期重叠"))
    # 基数下限 ≤ 基数上限, with the file's values over the database's.
    bases: dict[tuple, dict[str, tuple[Decimal | None, int | None]]] = defaultdict(dict)
    for row in rows:
        if row.line in resolved and row.field in (FigureField.BASE_MIN, FigureField.BASE_MAX):
            city, period = resolved[row.line]
            bases[(city.pk, row.label, row.insurance)][row.field] = (row.value, row.line)
            if period is not None:
                other = FigureField.BASE_MAX if row.field == FigureField.BASE_MIN else FigureField.BASE_MIN
                stored = PolicyFigure.objects.filter(
                    period=period, insurance=row.insurance, field=other
                ).first()
                if stored is not None:
                    bases[(city.pk, row.label, row.insurance)].setdefault(other, (stored.value, None))
    for pair in bases.values():
        low, low_line = pair.get(FigureField.BASE_MIN, (None, None))
        high, high_line = pair.get(FigureField.BASE_MAX, (None, None))
        if low is not None and high is not None and low > high:
            line = low_line or high_line
            errors.append((line, f"基数下限（{low.normalize():f}）高于基数上限（{high.normalize():f}）"))
    return resolved, errors


@transaction.atomic
def policy_import(*, actor: Actor, rows: list[ImportRow], reason: str) -> Counter:
    """Apply an import file's figures as corrections (revision + audit each). The whole file is
    checked first: any bad row rejects it all (LibraryError listing 「第N行：…」) and nothing changes."""
    _check_admin(actor, allow_system=True)
    resolved, errors = _import_check(rows)
    for row in rows:
        if row.line in resolved and row.source == "" and (row.value is not None or row.text_value):
            city, period = resolved[row.line]
            figure = (
                PolicyFigure.objects.filter(period=period, insurance=row.insurance, field=row.field).first()
                if period
                else None
            )
            if figure is None or _differs(figure, row):
                errors.append((row.line, "请填写来源：文号、发布机关或网址"))
    if errors:
        raise LibraryError([f"第{line}行：{msg}" for line, msg in sorted(set(errors))])
    counts: Counter = Counter()
    new_periods: dict[tuple[int, str], PolicyPeriod] = {}
    for row in rows:
        city, period = resolved[row.line]
        if period is None:
            period = new_periods.get((city.pk, row.label))
            if period is None:
                period = PolicyPeriod.objects.create(
                    city=city,
                    label=row.label,
                    effective_from=row.effective_from,
                    effective_to=row.effective_to,
                )
                new_periods[(city.pk, row.label)] = period
                audit_record(
                    actor=actor,
                    action="policy_period.create",
                    obj=period,
                    changes={"city": city.name, "label": row.label, "reason": reason},
                )
                counts["periods_created"] += 1
        figure, created = PolicyFigure.objects.get_or_create(
            period=period, insurance=row.insurance, field=row.field
        )
        if not created and not _differs(figure, row):
            counts["unchanged"] += 1
            continue
        confidence = (
            row.confidence if (row.value is not None or row.text_value) else Confidence.UNVERIFIED.value
        )
        _apply(
            actor=actor,
            figure=figure,
            value=row.value,
            text_value=row.text_value,
            confidence=confidence,
            source_text=row.source,
            reason=reason,
            kind=PolicyFigureRevision.Kind.IMPORT,
            note=row.note,
        )
        counts["created" if created else "updated"] += 1
    audit_record(actor=actor, action="policy.import", changes={"reason": reason, **counts})
    return counts


# --- employer settings ------------------------------------------------------------------------


def _rate(name: str, label: str, value: Any, errors: dict[str, str]) -> Decimal | None:
    try:
        rate = to_decimal(value)
    except ValueError:
        errors[name] = f"{label}格式错误"
        return None
    if rate is not None and not (0 <= rate <= 1):
        errors[name] = f"{label}应为0到1之间的小数（如 0.12 表示 12%）"
    return rate


@transaction.atomic
def entity_policy_setting_update(
    *,
    actor: Actor,
    entity,
    industry_class: str = "",
    work_injury_rate: Any = None,
    housing_fund_employer_rate: Any = None,
    housing_fund_employee_rate: Any = None,
    effective_from: dt.date | None = None,
    basis: str = "",
    confirm_above_cap: bool = False,
    cutoff_day: Any = None,
) -> EntityPolicySetting:
    """Set an employer's own rates. Housing-fund rates below 5 % are rejected (条例第十八条); above
    12 % need ``confirm_above_cap``, since that cap's source is not verified. Rates are fractions."""
    _check_admin(actor, allow_system=True)
    errors: dict[str, str] = {}
    wi = _rate("work_injury_rate", "工伤保险单位费率", work_injury_rate, errors)
    if wi is not None and "work_injury_rate" not in errors and wi <= 0:
        errors["work_injury_rate"] = "工伤保险单位费率应大于0"
    hf = {}
    for name, label, raw in (
        ("housing_fund_employer_rate", "公积金单位缴存比例", housing_fund_employer_rate),
        ("housing_fund_employee_rate", "公积金个人缴存比例", housing_fund_employee_rate),
    ):
        hf[name] = _rate(name, label, raw, errors)
        if hf[name] is None or name in errors:
            continue
        if hf[name] < HF_MIN_RATE:
            errors[name] = HF_MIN_MESSAGE
        elif hf[name] > HF_COMMON_CAP and not confirm_above_cap:
            errors[name] = HF_CAP_MESSAGE
    if cutoff_day in ("", None):
        cutoff_day = None
    else:
        try:
            cutoff_day = int(cutoff_day)
        except (TypeError, ValueError):
            cutoff_day = 0
        if not 1 <= cutoff_day <= 31:
            errors["cutoff_day"] = "增减员截止日应为每月 1 到 31 号之间的一天"
    industry_class = (industry_class or "").strip()
    if len(industry_class) > 40:
        errors["industry_class"] = "行业类别最多40个字"
    if errors:
        raise ApplicationError(next(iter(errors.values())), field_errors=errors)
    setting, created = EntityPolicySetting.objects.select_for_update().get_or_create(entity=entity)
    fields = (
        "industry_class",
        "work_injury_rate",
        "housing_fund_employer_rate",
        "housing_fund_employee_rate",
        "cutoff_day",
    )
    before = {f: getattr(setting, f) for f in (*fields, "effective_from", "basis")}
    setting.industry_class = industry_class
    setting.work_injury_rate = wi
    setting.housing_fund_employer_rate = hf["housing_fund_employer_rate"]
    setting.housing_fund_employee_rate = hf["housing_fund_employee_rate"]
    setting.cutoff_day = cutoff_day
    setting.effective_from = effective_from
    setting.basis = (basis or "").strip()
    setting.updated_by = actor.user
    setting.save()
    after = {f: getattr(setting, f) for f in before}
    changes: dict[str, Any] = {
        k: [_plain(before[k]), _plain(v)] for k, v in after.items() if created or before[k] != v
    }
    if any(r is not None and r > HF_COMMON_CAP for r in hf.values()):
        changes["above_12_percent_confirmed"] = True
    audit_record(actor=actor, action="entity_policy_setting.update", obj=setting, changes=changes)
    return setting


def _plain(value: Any) -> Any:
    if isinstance(value, Decimal):
        return format(value.normalize(), "f")
    if isinstance(value, dt.date):
        return value.isoformat()
    return value


def insurance_label(key: str) -> str:
    return INSURANCE_LABELS[Insurance(key)] if key else "期间"


def figure_label(figure: PolicyFigure) -> str:
    if not figure.insurance:
        return FIELD_LABELS[figure.field]
    return f"{insurance_label(figure.insurance)} {FIELD_LABELS[figure.field]}"
