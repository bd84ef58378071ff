"""Reading and writing the city policy library files — no database here.

``parse_library`` turns the YAML schema of ``data/city_policies.yaml`` into flat records (one per
figure) following the file's own rules: every value keeps the confidence the file gives it; a
null stays missing (never a guessed zero); example and unverified keys become candidates, never
values; national rules stay national. The services load these records into the database.

``read_rows`` reads an import file (that YAML schema, or the Excel layout ``export_xlsx``
writes) into rows with their line numbers, for ``services.policy_import``.
"""

from __future__ import annotations

import datetime as dt
import io
import re
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any

import yaml

from shebao.policy.models import (
    AMOUNT_FIELDS,
    DAY_FIELDS,
    FIXED_FIELDS,
    INSURANCE_FIELDS,
    PERIOD_FIELDS,
    RATE_FIELDS,
    TEXT_FIELDS,
    FigureField,
)
from shebao.policy.terms import CONFIDENCE_LABELS, INSURANCE_LABELS, Confidence, Insurance, Rounding

SHIPPED = Path(__file__).resolve().parent / "data" / "city_policies.yaml"
UNVERIFIED = Confidence.UNVERIFIED.value

# Keys of a per-period `confidence` / `source` map, and the figures each one covers.
GROUP_FIELDS = {
    "bases": (
        FigureField.BASE_MIN,
        FigureField.BASE_MAX,
        FigureField.AVERAGE_WAGE,
        FigureField.AVERAGE_WAGE_PROVINCE,
    ),
    "employer_rates": (FigureField.EMPLOYER_RATE, FigureField.EMPLOYER_FIXED, FigureField.MERGED_INTO),
    "employee_rates": (FigureField.EMPLOYEE_RATE, FigureField.EMPLOYEE_FIXED),
    "rates": (
        FigureField.EMPLOYER_RATE,
        FigureField.EMPLOYEE_RATE,
        FigureField.EMPLOYER_FIXED,
        FigureField.EMPLOYEE_FIXED,
        FigureField.MERGED_INTO,
    ),
}
EXTRA_SOURCE_LABELS = {
    "medical_3_yuan": "医疗附加固定金额（未核实）",
    "housing_fund_min_candidate": "公积金基数下限候选值（未采用）",
    "pension_calc_base_2025": "养老金计发基数（非缴费基数）",
    "dispute": "争议说明",
}
# The file formats are Chinese whatever the UI language: plain strings, not lazy translations.
FIELD_LABELS = {
    "base_min": "基数下限",
    "base_max": "基数上限",
    "employer_rate": "单位费率",
    "employee_rate": "个人费率",
    "employer_fixed": "单位固定金额",
    "employee_fixed": "个人固定金额",
    "rounding": "舍入规则",
    "merged_into": "并入险种",
    "average_wage": "上年度社平工资",
    "average_wage_province": "省级上年度社平工资",
    "payment_due_day": "缴费截止日",
    "cutoff_day": "增减员截止日",
}
SHORT_INSURANCE = {
    "养老": Insurance.PENSION,
    "医疗": Insurance.MEDICAL,
    "生育": Insurance.MATERNITY,
    "失业": Insurance.UNEMPLOYMENT,
    "工伤": Insurance.WORK_INJURY,
    "公积金": Insurance.HOUSING_FUND,
    "医疗附加": Insurance.MEDICAL_SUPPLEMENT,
}
ROUNDING_LABELS = {r.value: r.label for r in Rounding}
NATIONAL_KEY_LABELS = {
    "employee_rate": "个人费率",
    "employer_rate": "单位费率",
    "employer_rate_typical": "单位费率（一般）",
    "min_rate_each_side": "单位和个人最低缴存比例",
    "max_rate_each_side": "单位和个人最高缴存比例",
    "late_fee_per_day": "滞纳金（每日）",
}

# Notes the library adds to figures that the file's header explains.
NATIONAL_NOTES = {
    (
        Insurance.PENSION,
        FigureField.EMPLOYEE_RATE,
    ): "个人 8% 为全国统一规定（国发〔2005〕38号，见全国性规则），并非本市来源中的独立数据",
    (Insurance.WORK_INJURY, FigureField.EMPLOYEE_RATE): "职工不缴纳工伤保险费（社会保险法第33条）",
    (Insurance.MATERNITY, FigureField.EMPLOYEE_RATE): "职工不缴纳生育保险费（社会保险法第53条）",
    (Insurance.WORK_INJURY, FigureField.EMPLOYER_RATE): (
        "工伤保险单位费率按行业差别费率和浮动档次由经办机构核定（工伤保险条例第8条），不是城市常数；"
        "请在参保主体费率设置中填写本单位费率"
    ),
}

COLUMNS = [
    "城市",
    "城市代码",
    "期间",
    "生效日期",
    "失效日期",
    "险种",
    "项目",
    "数值",
    "可信度",
    "来源",
    "备注",
]


class LibraryError(Exception):
    """The file cannot be read; ``errors`` lists each problem (「第N行：…」)."""

    def __init__(self, errors: list[str]):
        super().__init__("\n".join(errors))
        self.errors = errors


@dataclass
class FigureRecord:
    insurance: str  # "" for a period-level figure
    field: str
    value: Decimal | None = None
    text_value: str = ""
    confidence: str = UNVERIFIED
    source: str = ""
    note: str = ""
    assumed: bool = False  # a documented default, not from the file
    explicit: bool = True  # written in the file (imports apply only these)
    line: int | None = None


@dataclass
class CandidateRecord:
    values: str
    source: str = ""
    note: str = ""
    period_label: str | None = None


@dataclass
class RuleRecord:
    text: str
    document: str = ""
    effective_from: dt.date | None = None
    effective_to: dt.date | None = None
    source: str = ""
    confidence: str = UNVERIFIED


@dataclass
class PeriodRecord:
    label: str
    effective_from: dt.date
    effective_to: dt.date | None = None
    published: dt.date | None = None
    notes: str = ""
    insurance_notes: dict[str, str] = field(default_factory=dict)
    figures: list[FigureRecord] = field(default_factory=list)
    line: int | None = None


@dataclass
class CityRecord:
    city: str  # as written: short name, full name or code
    periods: list[PeriodRecord] = field(default_factory=list)
    candidates: list[CandidateRecord] = field(default_factory=list)
    rules: list[RuleRecord] = field(default_factory=list)
    line: int | None = None


@dataclass
class NationalRecord:
    insurance: str
    key: str
    value: Decimal | None
    confidence: str = UNVERIFIED
    source: str = ""
    note: str = ""


@dataclass
class Library:
    cities: list[CityRecord] = field(default_factory=list)
    national: list[NationalRecord] = field(default_factory=list)


# --- YAML with line numbers ------------------------------------------------------------------


class _LineLoader(yaml.SafeLoader):
    """Records the line of every mapping (``__line__``) and of each of its keys (``__lines__``)."""

    def construct_mapping(self, node, deep=False):
        mapping = super().construct_mapping(node, deep=deep)
        mapping["__line__"] = node.start_mark.line + 1
        mapping["__lines__"] = {
            k.value: k.start_mark.line + 1 for k, _v in node.value if isinstance(k, yaml.ScalarNode)
        }
        return mapping


# Dates stay strings until to_date reads them, so a bad date is reported with its line.
_LineLoader.yaml_implicit_resolvers = {
    first: [(tag, regexp) for tag, regexp in resolvers if tag != "tag:yaml.org,2002:timestamp"]
    for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}


def _clean(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _clean(v) for k, v in value.items() if k not in ("__line__", "__lines__")}
    if isinstance(value, list):
        return [_clean(v) for v in value]
    return value


def yaml_load(text: str) -> dict:
    try:
        data = yaml.load(text, Loader=_LineLoader)  # a SafeLoader subclass
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"第{mark.line + 1}行：" if mark else ""
        raise LibraryError([f"{where}YAML 格式错误（{getattr(exc, 'problem', exc)}）"]) from exc
    if not isinstance(data, dict):
        raise LibraryError(["第1行：文件内容不是政策库格式（缺少 cities）"])
    return data


def shipped_library() -> Library:
    return parse_library(yaml_load(SHIPPED.read_text(encoding="utf-8")))


# --- values ------------------------------------------------------------------------------------


def to_decimal(value: Any) -> Decimal | None:
    """A number from YAML/Excel as Decimal (floats through their shortest repr: 0.098 → 0.098)."""
    if value is None or value == "":
        return None
    if isinstance(value, bool):
        raise ValueError(f"不是数字：{value}")
    if isinstance(value, int | Decimal):
        return Decimal(value)
    if isinstance(value, float):
        return Decimal(repr(value))
    text = str(value).strip().replace(",", "").replace("，", "")
    try:
        if text.endswith("%"):
            return Decimal(text[:-1]) / 100
        return Decimal(text)
    except InvalidOperation as exc:
        raise ValueError(f"不是数字：{value}") from exc


def to_date(value: Any) -> dt.date | None:
    if value is None or value == "":
        return None
    if isinstance(value, dt.datetime):
        return value.date()
    if isinstance(value, dt.date):
        return value
    text = str(value).strip()
    m = re.fullmatch(r"(\d{4})[-/.年](\d{1,2})[-/.月](\d{1,2})日?", text)
    if not m:
        raise ValueError(f"日期格式错误：{value}（应为 YYYY-MM-DD）")
    try:
        return dt.date(int(m[1]), int(m[2]), int(m[3]))
    except ValueError as exc:
        raise ValueError(f"日期无效：{value}") from exc


def plain_number(value: Decimal | None) -> int | float | None:
    """For YAML/Excel output: 6821, 0.098."""
    if value is None:
        return None
    value = value.normalize()
    return int(value) if value == value.to_integral_value() else float(value)


def insurance_key(text: str) -> str:
    """险种 from a key (pension), a label (养老保险) or a short name (养老); "" for period-level."""
    text = (text or "").strip()
    if text in ("", "—", "-", "（期间）", "期间"):
        return ""
    for ins in Insurance:
        if text in (ins.value, INSURANCE_LABELS[ins]):
            return ins.value
    if text in SHORT_INSURANCE:
        return SHORT_INSURANCE[text].value
    raise ValueError(f"未知险种“{text}”")


def field_key(text: str) -> str:
    text = (text or "").strip()
    for key, label in FIELD_LABELS.items():
        if text in (key, label):
            return key
    raise ValueError(f"未知项目“{text}”")


def confidence_key(text: str) -> str:
    text = (text or "").strip()
    for c in Confidence:
        if text in (c.value, CONFIDENCE_LABELS[c]):
            return c.value
    raise ValueError(f"未知可信度“{text}”")


def text_figure_key(field_name: str, text: str) -> str:
    text = (text or "").strip()
    if field_name == FigureField.ROUNDING:
        for key, label in ROUNDING_LABELS.items():
            if text in (key, label):
                return key
        raise ValueError(f"未知舍入规则“{text}”（可用：{'、'.join(ROUNDING_LABELS.values())}）")
    return insurance_key(text)


# --- parsing the YAML schema --------------------------------------------------------------------


def _pick(spec: Any, insurance: str, field_name: str) -> str:
    """The confidence or source a period's map gives one figure: a fine key (pension.base_min or
    average_wage) first, then its group (bases / employer_rates / employee_rates / rates)."""
    if spec is None:
        return ""
    if not isinstance(spec, dict):
        return str(spec)
    fine = f"{insurance}.{field_name}" if insurance else field_name
    if fine in spec:
        return str(spec[fine] or "")
    for group in ("bases", "employer_rates", "employee_rates", "rates"):
        if field_name in GROUP_FIELDS[group] and group in spec:
            return str(spec[group] or "")
    return ""


def _is_fine_key(key: str) -> bool:
    ins, _dot, name = key.partition(".")
    if _dot:
        return ins in Insurance._value2member_map_ and name in FIELD_LABELS
    return key in FIELD_LABELS


def _fmt(value: Any) -> str:
    if isinstance(value, dict):
        return "，".join(f"{k}={_fmt(v)}" for k, v in value.items())
    if isinstance(value, float):
        return repr(value)
    return str(value)


def _figure(period: dict, errors: list[str], *, insurance: str, name: str, raw: Any, line: int | None):
    """One figure from a raw YAML value with the confidence and source its period map assigns."""
    name = str(name)
    rec = FigureRecord(insurance=insurance, field=name, line=line)
    where = f"第{line}行：" if line else ""
    try:
        if name in TEXT_FIELDS:
            rec.text_value = text_figure_key(name, raw) if raw not in (None, "") else ""
        else:
            rec.value = to_decimal(raw)
    except ValueError as exc:
        errors.append(f"{where}{exc}")
        return rec
    known = rec.text_value != "" if name in TEXT_FIELDS else rec.value is not None
    rec.source = _pick(period.get("source"), insurance, name)
    confidence = _pick(period.get("confidence"), insurance, name) or UNVERIFIED
    try:
        confidence = confidence_key(confidence)
    except ValueError as exc:
        errors.append(f"{where}{exc}")
    # A missing value has no confidence of its own: it is 未收录, whatever its neighbours are.
    rec.confidence = confidence if known else UNVERIFIED
    notes = []
    if (insurance, name) in NATIONAL_NOTES and (known or name == FigureField.EMPLOYER_RATE):
        notes.append(NATIONAL_NOTES[(insurance, name)])
    dispute = period.get("source", {}).get("dispute") if isinstance(period.get("source"), dict) else None
    if dispute and rec.confidence == Confidence.DISPUTED:
        notes.append(f"争议说明：{dispute}")
    rec.note = "；".join(notes)
    return rec


def _candidate_source(period: dict, insurance: str) -> str:
    src = period.get("source")
    if not isinstance(src, dict):
        return str(src or "")
    for key, text in src.items():
        if key.startswith(f"{insurance}_") and not key.endswith("_candidate"):
            return str(text)
    return str(src.get("rates") or src.get("employee_rates") or src.get("employer_rates") or "")


def _parse_period(raw: dict, errors: list[str], candidates: list[CandidateRecord]) -> PeriodRecord | None:
    lines = raw.get("__lines__", {})
    line = raw.get("__line__")
    label = str(raw.get("label") or "").strip()
    if not label:
        errors.append(f"第{line}行：期间缺少 label")
        return None
    try:
        start = to_date(raw.get("effective_from"))
        end = to_date(raw.get("effective_to"))
        published = to_date(raw.get("published"))
    except ValueError as exc:
        errors.append(f"第{line}行：期间“{label}”：{exc}")
        return None
    if start is None:
        errors.append(f"第{line}行：期间“{label}”缺少生效日期 effective_from")
        return None
    if end is not None and end < start:
        errors.append(f"第{line}行：期间“{label}”的失效日期早于生效日期")
    period = PeriodRecord(label=label, effective_from=start, effective_to=end, published=published, line=line)
    notes: list[str] = []
    for key, value in raw.items():
        if key in ("__line__", "__lines__", "label", "effective_from", "effective_to", "published"):
            continue
        if key in ("source", "confidence"):
            if isinstance(value, dict) and key == "source":
                for extra, text in value.items():
                    if extra in GROUP_FIELDS or _is_fine_key(extra) or extra.startswith("__"):
                        continue
                    if extra.endswith("_candidate"):  # a value seen but not adopted
                        candidates.append(
                            CandidateRecord(values=str(text), period_label=label, note="未采用")
                        )
                    else:
                        notes.append(f"{EXTRA_SOURCE_LABELS.get(extra, extra)}：{text}")
            continue
        if key in ("caveat", "note"):
            notes.append(str(value))
        elif key == "average_wage_prev_year":
            period.figures.append(
                _figure(
                    raw, errors, insurance="", name=FigureField.AVERAGE_WAGE, raw=value, line=lines.get(key)
                )
            )
        elif key.startswith("average_wage_prev_year_"):
            rec = _figure(
                raw,
                errors,
                insurance="",
                name=FigureField.AVERAGE_WAGE_PROVINCE,
                raw=value,
                line=lines.get(key),
            )
            region = key.removeprefix("average_wage_prev_year_")
            rec.note = f"省级数据（{region}），不是本市社平工资，不用于计算"
            period.figures.append(rec)
        elif key in (FigureField.PAYMENT_DUE_DAY, FigureField.CUTOFF_DAY):
            period.figures.append(
                _figure(raw, errors, insurance="", name=key, raw=value, line=lines.get(key))
            )
        elif key in Insurance._value2member_map_ and isinstance(value, dict):
            _parse_insurance(raw, key, value, period, errors, candidates)
        else:
            notes.append(f"{key}：{_fmt(_clean(value))}")
    period.notes = "\n".join(notes)
    present = {f.field for f in period.figures if not f.insurance}
    for name in PERIOD_FIELDS:
        if name not in present and name != FigureField.AVERAGE_WAGE_PROVINCE:
            period.figures.append(FigureRecord(insurance="", field=str(name), explicit=False))
    return period


def _parse_insurance(
    period_raw: dict,
    insurance: str,
    raw: dict,
    period: PeriodRecord,
    errors: list[str],
    candidates: list[CandidateRecord],
) -> None:
    lines = raw.get("__lines__", {})
    label = INSURANCE_LABELS[Insurance(insurance)]
    seen: set[str] = set()
    notes: list[str] = []
    for key, value in raw.items():
        if key in ("__line__", "__lines__"):
            continue
        line = lines.get(key, raw.get("__line__"))
        if key in FIELD_LABELS and key in (*INSURANCE_FIELDS, *TEXT_FIELDS):
            period.figures.append(
                _figure(period_raw, errors, insurance=insurance, name=key, raw=value, line=line)
            )
            seen.add(key)
        elif key in ("note", "rate_range_note"):
            notes.append(str(value))
        elif key.endswith("_example"):
            name = key.removesuffix("_example")
            shown = _fmt(value)
            if name in RATE_FIELDS and isinstance(value, int | float):
                shown = f"{(to_decimal(value) * 100).normalize():f}%（{shown}）"
            candidates.append(
                CandidateRecord(
                    values=f"{label} {FIELD_LABELS.get(name, name)}示例：{shown}",
                    source=_candidate_source(period_raw, insurance),
                    note="示例值，不作为城市数据",
                    period_label=period.label,
                )
            )
        elif key.endswith("_unverified"):
            what = {
                "employee_fixed_monthly_unverified": "个人固定金额（元/月）",
                "candidates_unverified": "",
            }.get(key, key)
            candidates.append(
                CandidateRecord(
                    values=f"{label} {what}：{_fmt(_clean(value))}".replace(" ：", "："),
                    source=_candidate_source(period_raw, insurance),
                    note="来源未核实，未采用",
                    period_label=period.label,
                )
            )
        else:
            notes.append(f"{key}：{_fmt(_clean(value))}")
    if notes:
        period.insurance_notes[insurance] = "；".join(notes)
    if FigureField.MERGED_INTO in seen:
        return  # merged into another insurance: no figures of its own
    for name in INSURANCE_FIELDS:
        if name not in seen:
            period.figures.append(FigureRecord(insurance=insurance, field=str(name), explicit=False))
    if FigureField.ROUNDING not in seen:
        period.figures.append(
            FigureRecord(
                insurance=insurance,
                field=FigureField.ROUNDING.value,
                text_value=Rounding.FEN.value,
                assumed=True,
                explicit=False,
                note="舍入规则未收录，按四舍五入到分计算",
            )
        )


def _parse_national(raw: dict) -> list[NationalRecord]:
    records = []
    for group, body in raw.items():
        if group.startswith("__"):
            continue
        if not isinstance(body, dict):  # a top-level figure such as late_fee_per_day
            if group.endswith(("_source", "_note")):
                continue
            body, insurance, keys = raw, "", [group]
        else:
            insurance = group if group in Insurance._value2member_map_ else ""
            keys = [
                k
                for k in body
                if not k.startswith("__")
                and not k.endswith(("_source", "_note"))
                and k not in ("confidence", "note")
            ]
        for key in keys:
            try:
                value = to_decimal(body[key])
            except ValueError:
                continue
            source = next(
                (str(v) for k, v in body.items() if k.endswith("_source") and key.startswith(k[:-7])), ""
            )
            notes = [str(v) for k, v in body.items() if k.endswith("_note") and key.startswith(k[:-5])]
            if isinstance(body.get("note"), str) and body is not raw:
                notes.append(body["note"])
            try:
                confidence = (
                    confidence_key(str(body.get("confidence") or UNVERIFIED))
                    if body is not raw
                    else UNVERIFIED
                )
            except ValueError:
                confidence = UNVERIFIED
            records.append(
                NationalRecord(
                    insurance=insurance,
                    key=key,
                    value=value,
                    confidence=confidence if value is not None else UNVERIFIED,
                    source=source,
                    note="；".join(notes),
                )
            )
    return records


def parse_library(data: dict) -> Library:
    """The records of a library file (raises LibraryError listing every problem)."""
    errors: list[str] = []
    library = Library(national=_parse_national(data.get("national_rules") or {}))
    cities = data.get("cities")
    if not isinstance(cities, list):
        raise LibraryError(["第1行：缺少 cities 列表"])
    for raw_city in cities:
        line = raw_city.get("__line__") if isinstance(raw_city, dict) else None
        if not isinstance(raw_city, dict) or not str(raw_city.get("city") or raw_city.get("city_code") or ""):
            errors.append(f"第{line or '?'}行：城市条目缺少 city")
            continue
        city = CityRecord(city=str(raw_city.get("city_code") or raw_city["city"]).strip(), line=line)
        for raw_period in raw_city.get("periods") or []:
            period = _parse_period(raw_period, errors, city.candidates)
            if period is not None:
                city.periods.append(period)
        for cand in raw_city.get("unverified_candidates") or []:
            city.candidates.append(
                CandidateRecord(
                    values=str(cand.get("values") or ""),
                    source=str(cand.get("source") or ""),
                    note=str(cand.get("note") or ""),
                    period_label=str(cand["period"]) if cand.get("period") else None,
                )
            )
        for rule in raw_city.get("other_rules") or []:
            try:
                city.rules.append(
                    RuleRecord(
                        text=str(rule.get("rule") or "").strip(),
                        document=str(rule.get("document") or ""),
                        effective_from=to_date(rule.get("effective_from")),
                        effective_to=to_date(rule.get("effective_to")),
                        source=str(rule.get("source") or ""),
                        confidence=confidence_key(str(rule.get("confidence") or UNVERIFIED)),
                    )
                )
            except ValueError as exc:
                errors.append(f"第{rule.get('__line__')}行：{exc}")
        library.cities.append(city)
    if errors:
        raise LibraryError(errors)
    return library


# --- import rows ----------------------------------------------------------------------------------


@dataclass
class ImportRow:
    """One figure to import, as found in the file (line = Excel row or YAML line)."""

    line: int
    city: str
    city_code: str
    label: str
    effective_from: dt.date | None
    effective_to: dt.date | None
    insurance: str
    field: str
    value: Decimal | None
    text_value: str
    confidence: str
    source: str
    note: str | None  # None: the file has no notes column (YAML) — leave notes as they are


def _check_figure(row: ImportRow) -> list[str]:
    """Checks one figure needs no database for: the level, the ranges."""
    problems = []
    if row.insurance and row.field in PERIOD_FIELDS:
        problems.append(f"项目“{FIELD_LABELS[row.field]}”属于期间，险种应留空")
    if not row.insurance and row.field not in PERIOD_FIELDS:
        problems.append(f"项目“{FIELD_LABELS[row.field]}”需要填写险种")
    problems += value_problems(row.field, row.value, row.text_value, insurance=row.insurance)
    return problems


def value_problems(
    name: str, value: Decimal | None, text_value: str = "", *, insurance: str = ""
) -> list[str]:
    """Why a value is not acceptable for a figure (empty: it is). Shared with the correction service."""
    label = FIELD_LABELS.get(name, name)
    if name in TEXT_FIELDS:
        if name == FigureField.MERGED_INTO and text_value and text_value == insurance:
            return ["险种不能并入自身"]
        return []
    if value is None:
        return []
    if name in RATE_FIELDS and not (0 <= value <= 1):
        return [f"{label}应为0到1之间的小数（如 0.16 表示 16%），实际为 {value.normalize()}"]
    if name in AMOUNT_FIELDS and value <= 0:
        return [f"{label}应大于0"]
    if name in FIXED_FIELDS and value < 0:
        return [f"{label}不能为负数"]
    if name in DAY_FIELDS and (value != value.to_integral_value() or not 1 <= value <= 31):
        return [f"{label}应为1到31之间的整数"]
    return []


def _row_from_cells(line: int, cells: dict[str, Any], errors: list[str]) -> ImportRow | None:
    problems: list[str] = []

    def get(name: str) -> str:
        value = cells.get(name)
        return "" if value is None else str(value).strip()

    def attempt(fn, *args, default=None):
        try:
            return fn(*args)
        except ValueError as exc:
            problems.append(str(exc))
            return default

    start = attempt(to_date, cells.get("生效日期"))
    end = attempt(to_date, cells.get("失效日期"))
    if start is None and not any("日期" in p for p in problems):
        problems.append("缺少生效日期")
    if start and end and end < start:
        problems.append("失效日期早于生效日期")
    insurance = attempt(insurance_key, get("险种"), default="")
    name = attempt(field_key, get("项目"), default="")
    confidence = attempt(confidence_key, get("可信度") or UNVERIFIED, default=UNVERIFIED)
    value, text_value = None, ""
    if name in TEXT_FIELDS:
        text_value = attempt(text_figure_key, name, get("数值"), default="") if get("数值") else ""
    elif name:
        raw = cells.get("数值")
        value = attempt(to_decimal, raw)
        if isinstance(raw, str) and raw.strip().endswith("%") and name not in RATE_FIELDS:
            problems.append(f"{FIELD_LABELS[name]}不能用百分数表示")
    if not get("城市") and not get("城市代码"):
        problems.append("缺少城市")
    if not get("期间"):
        problems.append("缺少期间")
    row = ImportRow(
        line=line,
        city=get("城市"),
        city_code=get("城市代码").removesuffix(".0"),
        label=get("期间"),
        effective_from=start,
        effective_to=end,
        insurance=insurance or "",
        field=name or "",
        value=value,
        text_value=text_value or "",
        confidence=confidence,
        source=get("来源"),
        note=get("备注") if "备注" in cells else None,
    )
    if name and not problems:
        problems += _check_figure(row)
    errors.extend(f"第{line}行：{p}" for p in problems)
    return None if problems else row


def rows_from_library(library: Library) -> tuple[list[ImportRow], list[str]]:
    """The figures a YAML file states explicitly (implicit gaps and defaults are not imported)."""
    rows, errors = [], []
    for city in library.cities:
        for period in city.periods:
            for f in period.figures:
                if not f.explicit:
                    continue
                row = ImportRow(
                    line=f.line or period.line or 0,
                    city=city.city,
                    city_code="",
                    label=period.label,
                    effective_from=period.effective_from,
                    effective_to=period.effective_to,
                    insurance=f.insurance,
                    field=f.field,
                    value=f.value,
                    text_value=f.text_value,
                    confidence=f.confidence,
                    source=f.source,
                    note=None,
                )
                errors.extend(f"第{row.line}行：{p}" for p in _check_figure(row))
                rows.append(row)
    return rows, errors


def read_rows(path: Path) -> list[ImportRow]:
    """The rows of an import file (.yaml/.yml or .xlsx); LibraryError lists every bad row."""
    path = Path(path)
    suffix = path.suffix.lower()
    if suffix in (".yaml", ".yml"):
        rows, errors = rows_from_library(parse_library(yaml_load(path.read_text(encoding="utf-8"))))
    elif suffix in (".xlsx", ".xls", ".ods"):
        rows, errors = _xlsx_rows(path)
    else:
        raise LibraryError([f"不支持的文件类型“{suffix}”：请使用 .yaml 或 .xlsx"])
    if errors:
        raise LibraryError(errors)
    return rows


def _xlsx_rows(path: Path) -> tuple[list[ImportRow], list[str]]:
    from python_calamine import CalamineWorkbook

    try:
        book = CalamineWorkbook.from_path(str(path))
    except Exception as exc:  # calamine raises its own error types for broken files
        raise LibraryError([f"无法读取 Excel 文件：{exc}"]) from exc
    sheet_name = "政策数据" if "政策数据" in book.sheet_names else book.sheet_names[0]
    table = book.get_sheet_by_name(sheet_name).to_python(skip_empty_area=False)
    if not table:
        raise LibraryError(["第1行：工作表为空"])
    header = [str(c).strip() for c in table[0]]
    missing = [c for c in COLUMNS if c not in header and c != "备注"]
    if missing:
        raise LibraryError([f"第1行：缺少列 {'、'.join(missing)}"])
    rows, errors = [], []
    for n, cells in enumerate(table[1:], start=2):
        if all(c in (None, "") for c in cells):
            continue
        row = _row_from_cells(n, dict(zip(header, cells, strict=False)), errors)
        if row is not None:
            rows.append(row)
    return rows, errors


# --- export ---------------------------------------------------------------------------------------


def export_xlsx(rows: list[dict[str, Any]], candidates: list[dict[str, Any]]) -> bytes:
    """The Excel layout: one row per figure on 政策数据, candidates (never imported) on a second sheet."""
    import xlsxwriter

    buffer = io.BytesIO()
    book = xlsxwriter.Workbook(buffer, {"in_memory": True})
    bold = book.add_format({"bold": True, "bg_color": "#F2F3F5"})
    date = book.add_format({"num_format": "yyyy-mm-dd"})
    sheet = book.add_worksheet("政策数据")
    sheet.write_row(0, 0, COLUMNS, bold)
    for n, row in enumerate(rows, start=1):
        for col, name in enumerate(COLUMNS):
            value = row.get(name)
            if isinstance(value, dt.date):
                sheet.write_datetime(n, col, dt.datetime.combine(value, dt.time()), date)
            elif value is None or value == "":
                sheet.write_blank(n, col, None)
            elif isinstance(value, int | float):
                sheet.write_number(n, col, value)
            else:
                sheet.write_string(n, col, str(value))
    sheet.set_column(0, 2, 14)
    sheet.set_column(3, 4, 12)
    sheet.set_column(5, 8, 16)
    sheet.set_column(9, 10, 60)
    sheet.freeze_panes(1, 0)
    extra = book.add_worksheet("未采用候选数据")
    extra.write_row(0, 0, ["城市", "期间", "候选数值", "来源", "备注", "说明"], bold)
    for n, cand in enumerate(candidates, start=1):
        extra.write_row(
            n,
            0,
            [
                cand["city"],
                cand["period"],
                cand["values"],
                cand["source"],
                cand["note"],
                "仅供核对，不参与计算，不会导入",
            ],
        )
    extra.set_column(0, 5, 30)
    book.close()
    return buffer.getvalue()


def export_yaml(data: dict[str, Any]) -> str:
    header = (
        "# Exported from Shebao (社保合规助手) — same schema as data/city_policies.yaml.\n"
        "# Confidence and source maps may use per-figure keys such as `pension.base_min`.\n"
        "# null means 未收录 (not found) — never a zero.\n"
    )
    return header + yaml.safe_dump(data, allow_unicode=True, sort_keys=False, width=1000)
