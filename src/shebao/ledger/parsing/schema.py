"""Import profiles: the declarative description of one export layout.

A profile is a dict (YAML in ``shebao/ledger/profiles/<code>.yaml`` for the shipped ones, JSON in
``ExportProfile.definition`` for the ones users save from a column mapping). ``ProfileDefinition``
validates it; ``Profile`` is the compiled form the detector and the parser use (normalised
aliases, compiled regexes).

Keys (see the shipped YAML files for examples)::

    code, title, note, grade          identity; grade A/B/C/D as in export_formats.md
    evidence                          assessed | agency_billed | paid | certificate
    shape                             long | wide | item_file | status_list
    header_rows                       1 or 2 (two-row headers: a leaf is read under its parent)
    detect:                           signature
      required: [[alt, alt], …]       every entry: one of its header texts must be present
      optional / absent               headers that add to the score / rule the profile out
      sheet / title / filename        sheet-name keywords, title-row keywords, file-name regexes
      sheet_required / title_required / filename_required
      groups_min                      wide: at least this many insurance-group columns
      header_row_min / header_row_max   the row numbers the (first) header row may be on
      priority                        added to the score (generic profiles are negative)
    columns: {field: [header, …]}     header aliases per target field (FIELD_LABELS)
    group_columns: {insurance: {role: [header, …]}}   explicit wide columns (saved mappings)
    groups: [{match: [text], insurance, side}]        group/parent header text → insurance
    ignore_groups: [text, …]          groups skipped with a visible warning (职业年金 …)
    values: {insurance|status|payment_type|state: {text: value}}   value dictionaries
    defaults: {insurance, side}       when no column and no file name says
    header_block: [regex, …]          over the title rows: (?P<period>…) (?P<unit_no>…) …
    filename_patterns: [regex, …]     over the file name, same group names
    section_labels: [text, …]         extra section-label rows to skip
    span: first | per_month           a row whose 所属期起 < 止: amounts per month or in total
    derive_amounts                    单位/个人 amounts = base × rate (Shenzhen 公积金)
    emit_contributions                status_list: also contributions when a month is known
"""

from __future__ import annotations

import functools
import logging
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from shebao.ledger.facts import ContributionStatus, EnrollmentState, Evidence, Insurance, PaymentType
from shebao.ledger.parsing.text import norm_header, norm_value
from shebao.ledger.parsing.vocab import IGNORE
from shebao.policy.terms import INSURANCE_LABELS

__all__ = [
    "FIELD_LABELS",
    "GROUP_ROLES",
    "Profile",
    "ProfileDefinition",
    "ProfileError",
    "field_choices",
    "mapping_profile",
    "profile_get",
    "profile_list",
    "profile_validate",
    "shipped_profiles",
]

log = logging.getLogger(__name__)

PROFILE_DIR = Path(__file__).resolve().parents[1] / "profiles"

# Target fields, in the order the mapping UI lists them.
FIELD_LABELS: dict[str, str] = {
    "name": "姓名",
    "id_number": "证件号码",
    "account_no": "个人编号/个人账号",
    "insurance": "险种/征收品目",
    "period": "费款所属期（起）",
    "period_end": "费款所属期止",
    "posting_period": "建账年月/账单年月",
    "base": "缴费基数",
    "employer_due": "单位应缴",
    "employee_due": "个人应缴",
    "employer_paid": "单位实缴",
    "employee_paid": "个人实缴",
    "late_fee": "滞纳金",
    "status": "缴费状态/参保状态",
    "payment_type": "缴费类型",
    "unit_no": "单位编号",
    "unit_name": "单位名称",
    # less common
    "id_kind": "证件类型",
    "amount": "应缴金额（单位/个人由险种名称判断）",
    "paid_amount": "实缴金额（单位/个人由险种名称判断）",
    "side": "单位/个人部分",
    "employer_rate": "单位费率/比例",
    "employee_rate": "个人费率/比例",
    "total": "金额合计（用于核对）",
    "since": "参保日期/状态变更日期",
    "hf_period": "公积金费用所属月",
}
FieldKey = Literal[
    "name",
    "id_number",
    "account_no",
    "insurance",
    "period",
    "period_end",
    "posting_period",
    "base",
    "employer_due",
    "employee_due",
    "employer_paid",
    "employee_paid",
    "late_fee",
    "status",
    "payment_type",
    "unit_no",
    "unit_name",
    "id_kind",
    "amount",
    "paid_amount",
    "side",
    "employer_rate",
    "employee_rate",
    "total",
    "since",
    "hf_period",
]
GROUP_ROLES: dict[str, str] = {
    "base": "基数",
    "employer_due": "单位应缴",
    "employee_due": "个人应缴",
    "employer_paid": "单位实缴",
    "employee_paid": "个人实缴",
    "late_fee": "滞纳金",
}
GroupRole = Literal["base", "employer_due", "employee_due", "employer_paid", "employee_paid", "late_fee"]
Shape = Literal["long", "wide", "item_file", "status_list"]
Side = Literal["employer", "employee"]
EXTRACT_GROUPS = frozenset({"period", "period_end", "posting_period", "unit_no", "unit_name", "uscc", "item"})
_AMOUNT_FIELDS = ("base", "amount", "employer_due", "employee_due", "employer_paid", "employee_paid", "total")


class ProfileError(Exception):
    """An unknown profile code or an invalid saved definition; ``message`` is Chinese."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


# --- the definition ------------------------------------------------------------------------------


class _Spec(BaseModel):
    model_config = ConfigDict(extra="forbid")


def _texts(value: Any) -> Any:
    """A single string where a list is expected is a list of one."""
    return [value] if isinstance(value, str) else value


def _check_regex(pattern: str) -> str:
    try:
        compiled = re.compile(pattern)
    except re.error as exc:
        raise ValueError(f"正则表达式“{pattern}”无效：{exc}") from None
    unknown = set(compiled.groupindex) - EXTRACT_GROUPS
    if unknown:
        raise ValueError(
            f"正则表达式“{pattern}”中的命名组 {'、'.join(sorted(unknown))} 无效，"
            f"可用：{'、'.join(sorted(EXTRACT_GROUPS))}"
        )
    return pattern


class DetectSpec(_Spec):
    required: list[list[str]] = []
    optional: list[str] = []
    absent: list[str] = []
    sheet: list[str] = []
    sheet_required: bool = False
    title: list[str] = []
    title_required: bool = False
    filename: list[str] = []
    filename_required: bool = False
    groups_min: int = Field(0, ge=0, le=50)
    header_row_min: int = Field(1, ge=1, le=200)
    header_row_max: int = Field(30, ge=1, le=200)
    priority: int = Field(0, ge=-100, le=100)

    @field_validator("required", mode="before")
    @classmethod
    def _alternatives(cls, value: Any) -> Any:
        if isinstance(value, list):
            return [_texts(v) for v in value]
        return value

    @field_validator("optional", "absent", "sheet", "title", "filename", mode="before")
    @classmethod
    def _lists(cls, value: Any) -> Any:
        return _texts(value)

    @field_validator("filename")
    @classmethod
    def _regexes(cls, value: list[str]) -> list[str]:
        return [_check_regex(p) for p in value]

    @field_validator("required")
    @classmethod
    def _nonempty(cls, value: list[list[str]]) -> list[list[str]]:
        if any(not alternatives for alternatives in value):
            raise ValueError("每一项必需表头至少要有一个可选列名")
        return value


class GroupSpec(_Spec):
    match: list[str] = Field(min_length=1)
    insurance: Insurance | Literal["ignore"]
    side: Side | None = None

    @field_validator("match", mode="before")
    @classmethod
    def _lists(cls, value: Any) -> Any:
        return _texts(value)


class ValueSpec(_Spec):
    insurance: dict[str, Insurance | Literal["ignore"]] = {}
    status: dict[str, ContributionStatus] = {}
    payment_type: dict[str, PaymentType] = {}
    state: dict[str, EnrollmentState] = {}


class DefaultSpec(_Spec):
    insurance: Insurance | None = None
    side: Side | None = None


class ProfileDefinition(_Spec):
    code: str = Field(pattern=r"^[a-z0-9][a-z0-9_-]{1,79}$")
    title: str = Field(min_length=1, max_length=120)
    note: str = ""
    grade: str = ""
    evidence: Evidence = Evidence.ASSESSED
    shape: Shape
    header_rows: Literal[1, 2] = 1
    detect: DetectSpec = DetectSpec()
    columns: dict[FieldKey, list[str]] = {}
    group_columns: dict[Insurance, dict[GroupRole, list[str]]] = {}
    groups: list[GroupSpec] = []
    ignore_groups: list[str] = []
    values: ValueSpec = ValueSpec()
    defaults: DefaultSpec = DefaultSpec()
    header_block: list[str] = []
    filename_patterns: list[str] = []
    section_labels: list[str] = []
    span: Literal["first", "per_month"] = "first"
    derive_amounts: bool = False
    emit_contributions: bool = False

    @field_validator("ignore_groups", "header_block", "filename_patterns", "section_labels", mode="before")
    @classmethod
    def _lists(cls, value: Any) -> Any:
        return _texts(value)

    @field_validator("columns", mode="before")
    @classmethod
    def _column_lists(cls, value: Any) -> Any:
        if isinstance(value, dict):
            return {k: _texts(v) for k, v in value.items()}
        return value

    @field_validator("header_block", "filename_patterns")
    @classmethod
    def _regexes(cls, value: list[str]) -> list[str]:
        return [_check_regex(p) for p in value]

    @model_validator(mode="after")
    def _coherent(self) -> ProfileDefinition:
        problems: list[str] = []
        for key, aliases in self.columns.items():
            if not [a for a in aliases if norm_header(a)]:
                problems.append(f"列映射“{FIELD_LABELS[key]}”没有列名")
        if not self.detect.required:
            problems.append("识别规则（detect.required）至少要有一项必需表头")
        cols = set(self.columns)
        if not cols & {"id_number", "account_no"}:
            problems.append("必须映射“证件号码”列，或在没有证件号码时映射“个人编号/个人账号”列")
        if self.shape == "long" and "insurance" not in cols and self.defaults.insurance is None:
            problems.append("长表（long）需要映射“险种/征收品目”列，或在 defaults.insurance 中指定险种")
        if self.shape in ("long", "item_file") and not cols & set(_AMOUNT_FIELDS):
            problems.append("至少要映射一个金额列（缴费基数、单位应缴、个人应缴、应缴金额等）")
        if self.shape == "status_list" and "status" not in cols:
            problems.append("参保状态名单（status_list）需要映射“缴费状态/参保状态”列")
        if self.shape == "wide" and self.detect.groups_min == 0 and not self.group_columns:
            problems.append("宽表（wide）需要 group_columns，或在 detect.groups_min 中要求至少一个险种列")
        if problems:
            raise ValueError("；".join(problems))
        return self


# --- Chinese validation messages -----------------------------------------------------------------

_KEY_LABELS = {
    "code": "编码",
    "title": "名称",
    "note": "说明",
    "evidence": "依据",
    "shape": "表格形态",
    "header_rows": "表头行数",
    "detect": "识别规则",
    "columns": "列映射",
    "group_columns": "险种列映射",
    "groups": "险种分组",
    "ignore_groups": "忽略的险种",
    "values": "取值对照",
    "defaults": "默认值",
    "header_block": "标题区提取规则",
    "filename_patterns": "文件名提取规则",
    "section_labels": "分组标题",
    "span": "跨月处理",
    "required": "必需表头",
    "optional": "可选表头",
    "absent": "排除表头",
    "sheet": "工作表关键词",
    "title_required": "必须匹配标题",
    "groups_min": "最少险种列数",
    "header_row_min": "表头最小行号",
    "header_row_max": "表头最大行号",
    "priority": "优先级",
    "match": "匹配文字",
    "insurance": "险种",
    "side": "单位/个人",
}


def _where(loc: Sequence[int | str]) -> str:
    parts = []
    for item in loc:
        if item == "[key]":
            continue
        if isinstance(item, int):
            parts.append(f"第{item + 1}项")
        else:
            parts.append(_KEY_LABELS.get(item) or FIELD_LABELS.get(item) or str(item))
    return "“" + " › ".join(parts) + "”" if parts else "格式定义"


def _zh(error: Mapping[str, Any]) -> str:
    kind, ctx, given = error["type"], error.get("ctx") or {}, error.get("input")
    if kind == "missing":
        text = "缺少必填项"
    elif kind == "extra_forbidden":
        text = "是未知的设置项"
    elif kind in ("literal_error", "enum"):
        expected = str(ctx.get("expected", "")).replace("'", "").replace(" or ", "、").replace(", ", "、")
        text = f"取值“{given}”无效，可选：{expected}"
    elif kind == "string_type":
        text = "应为文本"
    elif kind == "list_type":
        text = "应为列表"
    elif kind in ("dict_type", "model_type", "model_attributes_type"):
        text = "应为“键: 值”映射"
    elif kind in ("int_type", "int_parsing", "int_from_float"):
        text = "应为整数"
    elif kind in ("bool_type", "bool_parsing"):
        text = "应为 true 或 false"
    elif kind == "string_pattern_mismatch":
        text = "格式无效：只能使用小写字母、数字、下划线和连字符，2 到 80 位"
    elif kind == "string_too_short" or kind == "too_short":
        text = "不能为空"
    elif kind == "string_too_long":
        text = f"太长（最多 {ctx.get('max_length')} 个字符）"
    elif kind in ("greater_than_equal", "less_than_equal"):
        text = "超出允许范围"
    elif kind == "value_error":
        return str(ctx.get("error") or error.get("msg", "")).removeprefix("Value error, ")
    else:
        text = "取值无效"
    return f"{_where(error.get('loc', ()))}{text}"


def _validated(definition: Mapping[str, Any]) -> ProfileDefinition:
    return ProfileDefinition.model_validate(dict(definition))


def profile_validate(definition: Mapping[str, Any], *, saved: bool = True) -> list[str]:
    """Chinese problems with a profile definition; [] when it is valid. ``saved`` (a user's
    profile) also refuses a code that a shipped profile already uses."""
    if not isinstance(definition, Mapping):
        return ["格式定义应为“键: 值”映射"]
    try:
        parsed = _validated(definition)
    except ValidationError as exc:
        return [_zh(e) for e in exc.errors(include_url=False)]
    if saved and parsed.code in _shipped():
        return [f"编码“{parsed.code}”与系统内置格式重复，请换一个编码"]
    return []


# --- the compiled profile ------------------------------------------------------------------------


@dataclass(eq=False)
class Profile:
    definition: ProfileDefinition
    origin: str = "shipped"  # "shipped" | "saved"
    aliases: dict[str, tuple[str, int]] = field(default_factory=dict)  # header → (field, rank)
    group_aliases: dict[str, tuple[Insurance, str, int]] = field(default_factory=dict)
    required: list[list[str]] = field(default_factory=list)
    optional: list[str] = field(default_factory=list)
    absent: frozenset[str] = frozenset()
    known: frozenset[str] = frozenset()  # every header text this profile knows
    header_block: list[re.Pattern[str]] = field(default_factory=list)
    filename_patterns: list[re.Pattern[str]] = field(default_factory=list)
    detect_filename: list[re.Pattern[str]] = field(default_factory=list)
    insurance_exact: dict[str, Insurance | str] = field(default_factory=dict)
    insurance_keywords: list[tuple[str, Insurance | str]] = field(default_factory=list)
    group_sides: dict[str, str] = field(default_factory=dict)  # group keyword → side
    status_values: dict[str, ContributionStatus] = field(default_factory=dict)
    payment_values: dict[str, PaymentType] = field(default_factory=dict)
    state_values: dict[str, EnrollmentState] = field(default_factory=dict)
    section_labels: frozenset[str] = frozenset()

    @classmethod
    def compile(
        cls, definition: ProfileDefinition | Mapping[str, Any], *, origin: str = "shipped"
    ) -> Profile:
        d = definition if isinstance(definition, ProfileDefinition) else _validated(definition)
        profile = cls(d, origin)
        for key, aliases in d.columns.items():
            for rank, alias in enumerate(aliases):
                text = norm_header(alias)
                if text and text not in profile.aliases:
                    profile.aliases[text] = (key, rank)
        for insurance, roles in d.group_columns.items():
            for role, aliases in roles.items():
                for rank, alias in enumerate(aliases):
                    profile.group_aliases.setdefault(norm_header(alias), (insurance, role, rank))
        profile.required = [[norm_header(a) for a in alts] for alts in d.detect.required]
        profile.optional = [norm_header(a) for a in d.detect.optional]
        profile.absent = frozenset(norm_header(a) for a in d.detect.absent)
        profile.known = frozenset(
            {*profile.aliases, *profile.group_aliases, *profile.optional}
            | {a for alts in profile.required for a in alts}
        )
        profile.header_block = [re.compile(p) for p in d.header_block]
        profile.filename_patterns = [re.compile(p) for p in d.filename_patterns]
        profile.detect_filename = [re.compile(p) for p in d.detect.filename]
        profile.insurance_exact = {norm_value(k): v for k, v in d.values.insurance.items()}
        keywords: list[tuple[str, Insurance | str]] = [(norm_value(t), IGNORE) for t in d.ignore_groups]
        for group in d.groups:
            for text in group.match:
                keywords.append((norm_value(text), group.insurance))
                if group.side:
                    profile.group_sides[norm_value(text)] = group.side
        profile.insurance_keywords = keywords
        profile.status_values = {norm_value(k): v for k, v in d.values.status.items()}
        profile.payment_values = {norm_value(k): v for k, v in d.values.payment_type.items()}
        profile.state_values = {norm_value(k): v for k, v in d.values.state.items()}
        profile.section_labels = frozenset(norm_value(t) for t in d.section_labels)
        return profile

    @property
    def code(self) -> str:
        return self.definition.code

    @property
    def title(self) -> str:
        return self.definition.title

    @property
    def note(self) -> str:
        return self.definition.note

    @property
    def shape(self) -> str:
        return self.definition.shape

    @property
    def evidence(self) -> Evidence:
        return self.definition.evidence

    @property
    def header_rows(self) -> int:
        return self.definition.header_rows

    def as_dict(self) -> dict[str, Any]:
        return self.definition.model_dump(mode="json", exclude_defaults=True)

    def __repr__(self) -> str:
        return f"<Profile {self.code}>"


# --- loading -------------------------------------------------------------------------------------


@functools.cache
def _shipped() -> dict[str, Profile]:
    profiles: dict[str, Profile] = {}
    for path in sorted(PROFILE_DIR.glob("*.yaml")):
        raw = yaml.safe_load(path.read_text(encoding="utf-8"))
        try:
            profile = Profile.compile(raw)
        except ValidationError as exc:
            problems = "；".join(_zh(e) for e in exc.errors(include_url=False))
            raise ProfileError(f"内置格式 {path.name} 无效：{problems}") from exc
        if profile.code != path.stem:
            raise ProfileError(f"内置格式 {path.name} 的编码应为“{path.stem}”，实际为“{profile.code}”")
        profiles[profile.code] = profile
    return profiles


def shipped_profiles() -> list[Profile]:
    return list(_shipped().values())


def _saved(codes: Iterable[str] | None = None) -> list[Profile]:
    from shebao.ledger.models import ExportProfile

    shipped = _shipped()
    rows = ExportProfile.objects.order_by("code")
    if codes is not None:
        rows = rows.filter(code__in=list(codes))
    out = []
    for row in rows:
        if row.code in shipped:
            log.warning("saved export profile %s shadows a shipped one; ignored", row.code)
            continue
        try:
            out.append(Profile.compile({**row.definition, "code": row.code}, origin="saved"))
        except ValidationError:
            log.warning("saved export profile %s is invalid; ignored", row.code)
    return out


def profile_list(*, saved: bool = True) -> list[Profile]:
    """Shipped profiles, then the valid user-saved ones (ExportProfile) unless ``saved=False``."""
    return shipped_profiles() + (_saved() if saved else [])


def profile_get(code: str) -> Profile:
    """A shipped profile, else a saved one; ProfileError if there is none (or it is invalid)."""
    shipped = _shipped()
    if code in shipped:
        return shipped[code]
    from shebao.ledger.models import ExportProfile

    row = ExportProfile.objects.filter(code=code).first()
    if row is None:
        raise ProfileError(f"没有编码为“{code}”的文件格式")
    try:
        return Profile.compile({**row.definition, "code": row.code}, origin="saved")
    except ValidationError as exc:
        problems = "；".join(_zh(e) for e in exc.errors(include_url=False))
        raise ProfileError(f"文件格式“{row.title}”的定义无效：{problems}") from exc


# --- mapping → profile ---------------------------------------------------------------------------


def field_choices(shape: str | None = None) -> list[tuple[str, str]]:
    """(target field key, Chinese label) for the column-mapping dropdown; for ``shape="wide"``
    also one choice per insurance × amount (``pension.employer_due`` → 养老保险·单位应缴)."""
    choices = list(FIELD_LABELS.items())
    if shape == "wide":
        choices += [
            (f"{ins.value}.{role}", f"{INSURANCE_LABELS[ins]}·{label}")
            for ins in Insurance
            for role, label in GROUP_ROLES.items()
        ]
    return choices


def mapping_profile(
    headers: Sequence[str],
    mapping: Mapping[str, str],
    *,
    code: str,
    title: str,
    shape: str,
    evidence: str = Evidence.ASSESSED.value,
    header_rows: int = 1,
    defaults: Mapping[str, str] | None = None,
) -> dict[str, Any]:
    """A profile definition from a user's column mapping {header text → field key}, ready for
    ``profile_validate`` and ``ExportProfile.definition``. Headers mapped to "" are ignored.
    Wide files map amounts to "<insurance>.<role>" keys (see ``field_choices(shape="wide")``)."""
    present = {norm_header(h) for h in headers if norm_header(h)}
    columns: dict[str, list[str]] = {}
    group_columns: dict[str, dict[str, list[str]]] = {}
    for header, key in mapping.items():
        if not key or not norm_header(header):
            continue
        if norm_header(header) not in present:
            raise ProfileError(f"列“{header}”不在表头中")
        if "." in key:
            insurance, _, role = key.partition(".")
            group_columns.setdefault(insurance, {}).setdefault(role, []).append(header)
        else:
            columns.setdefault(key, []).append(header)
    required = [[h] for hs in columns.values() for h in hs] + [
        [h] for roles in group_columns.values() for hs in roles.values() for h in hs
    ]
    definition: dict[str, Any] = {
        "code": code,
        "title": title,
        "note": "由用户的列对应关系保存",
        "evidence": evidence,
        "shape": shape,
        "header_rows": header_rows,
        "detect": {"required": required, "priority": 5},
        "columns": columns,
    }
    if group_columns:
        definition["group_columns"] = group_columns
    if defaults:
        definition["defaults"] = dict(defaults)
    return definition
