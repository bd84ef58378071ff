"""Roster import columns: header aliases and cell normalisers.

Pure functions (no database): each takes a cell as a spreadsheet reader returns it (str, float,
int, date, datetime or None) or as its stored text, and returns the normalised value or raises
:class:`FieldError` whose Chinese message tells HR what to fix in the file.

Every normaliser gives the same result for a cell and for :func:`cell_text` of that cell, so a
row can be normalised again from its stored text (see ``services``).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import math
import re
import unicodedata
from collections.abc import Iterable
from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation
from typing import Any

from shebao.core.identity import (
    Identity,
    IdentityError,
    IdKind,
    mask_identity,
    mask_phone,
    normalize_phone,
    normalize_text,
    parse_identity,
)

__all__ = [
    "EMPLOYMENT_TYPE_LABELS",
    "FIELDS",
    "HUKOU_TYPE_LABELS",
    "IGNORE",
    "IGNORED_HEADERS",
    "REQUIRED",
    "DepartmentIndex",
    "DeptRef",
    "EntityIndex",
    "FieldError",
    "FieldSpec",
    "cell_text",
    "clean_text",
    "header_field",
    "header_score",
    "header_signature",
    "looks_sensitive",
    "mask_cell",
    "mask_sensitive",
    "normalize_header",
    "parse_date",
    "parse_email",
    "parse_employee_no",
    "parse_employment_type",
    "parse_hukou_type",
    "parse_id_kind",
    "parse_id_number",
    "parse_name",
    "parse_phone",
    "parse_wage",
    "shown",
]


class FieldError(ValueError):
    """A cell that cannot be imported; ``message`` is for HR (Chinese), ``code`` for programs."""

    def __init__(self, message: str, code: str = "invalid", reason: str = "") -> None:
        super().__init__(message)
        self.message = message
        self.code = code
        self.reason = reason  # finer cause, e.g. the identity module's code ("checksum", "kind"…)


# --- columns and header aliases --------------------------------------------------------------------


@dataclass(frozen=True)
class FieldSpec:
    key: str
    label: str  # the template's header
    aliases: tuple[str, ...]
    help: str = ""


IGNORE = "ignore"

FIELDS: dict[str, FieldSpec] = {
    f.key: f
    for f in [
        FieldSpec(
            "name",
            "姓名",
            ("姓名", "员工姓名", "职工姓名", "名字", "name", "employee name", "full name"),
            "与证件上的姓名一致",
        ),
        FieldSpec(
            "id_number",
            "身份证号",
            (
                "身份证号",
                "身份证号码",
                "身份证",
                "证件号码",
                "证件号",
                "公民身份号码",
                "社会保障号码",
                "社保号码",
                "id number",
                "id no",
                "id card",
                "id card no",
                "identity number",
            ),
            "18位居民身份证号（15位旧号自动升位），或其他证件号码；请把该列设为文本格式",
        ),
        FieldSpec(
            "id_kind",
            "证件类型",
            ("证件类型", "证件种类", "id type", "id kind", "document type"),
            "留空时按号码自动识别；护照、台胞证必须填写",
        ),
        FieldSpec(
            "employee_no",
            "工号",
            (
                "工号",
                "员工编号",
                "员工工号",
                "职工编号",
                "人员编号",
                "employee no",
                "employee number",
                "employee id",
                "staff no",
                "staff id",
            ),
            "在本单位内唯一",
        ),
        FieldSpec(
            "hire_date",
            "入职日期",
            ("入职日期", "入职时间", "到岗日期", "hire date", "start date", "date of hire", "joined"),
            "如 2024-03-05",
        ),
        FieldSpec(
            "leave_date",
            "离职日期",
            ("离职日期", "离职时间", "leave date", "end date", "termination date"),
            "在职员工留空",
        ),
        FieldSpec(
            "entity",
            "参保主体",
            (
                "参保主体",
                "用人单位",
                "所属公司",
                "所属单位",
                "参保单位",
                "公司",
                "entity",
                "employer",
                "company",
            ),
            "参保主体的编码或全称",
        ),
        FieldSpec(
            "department",
            "部门",
            ("部门", "门店", "所属部门", "部门/门店", "所属门店", "department", "dept", "store"),
            "部门名称，或完整路径如“研发中心/后端组”；不存在的部门将在确认导入时新建",
        ),
        FieldSpec(
            "phone",
            "手机号",
            (
                "手机",
                "手机号",
                "手机号码",
                "联系电话",
                "电话",
                "移动电话",
                "phone",
                "mobile",
                "phone number",
                "mobile phone",
            ),
            "11位手机号或带区号的固定电话",
        ),
        FieldSpec("email", "邮箱", ("邮箱", "电子邮箱", "电子邮件", "邮件", "email", "e-mail", "mail"), ""),
        FieldSpec(
            "employment_type",
            "用工类型",
            ("用工类型", "用工形式", "用工性质", "employment type"),
            "全日制、非全日制、实习、退休返聘、外籍、劳务派遣；留空为全日制",
        ),
        FieldSpec(
            "hukou_type",
            "户籍类型",
            ("户籍类型", "户口性质", "户籍性质", "户口类型", "hukou", "hukou type"),
            "本地城镇、本地农村、外地城镇、外地农村",
        ),
        FieldSpec(
            "declared_wage",
            "申报工资",
            (
                "申报工资",
                "申报月工资",
                "月工资",
                "缴费工资",
                "wage",
                "monthly wage",
                "declared wage",
                "salary",
            ),
            "元/月，非负数",
        ),
    ]
}
REQUIRED = ("name", "id_number", "employee_no", "hire_date", "entity")
# Columns HR spreadsheets often carry that the roster does not import: ignored without asking.
IGNORED_HEADERS = ("序号", "no.", "no", "#", "备注", "说明", "remark", "remarks", "note", "notes")

_MARKER_RE = re.compile(r"(?:\((?:必填|必填项|必须|选填|可选|非必填|required|optional)\)|\*|:)+$")
_TRAILING_PAREN_RE = re.compile(r"\([^()]*\)$")
_HEADER_STRIP_RE = re.compile(r"[\s_\-]+")


def normalize_header(text: object) -> str:
    """NFKC (full-width → half-width), lower-case, no spaces/underscores/hyphens, no required markers."""
    value = unicodedata.normalize("NFKC", "" if text is None else str(text)).lower()
    value = _HEADER_STRIP_RE.sub("", value).lstrip("*")
    previous = None
    while previous != value:
        previous, value = value, _MARKER_RE.sub("", value)
    return value


_ALIASES: dict[str, str] = {}
for _spec in FIELDS.values():
    for _alias in _spec.aliases:
        _ALIASES[normalize_header(_alias)] = _spec.key
for _alias in IGNORED_HEADERS:
    _ALIASES.setdefault(normalize_header(_alias), IGNORE)


def header_field(text: object) -> str | None:
    """The field a header names (or IGNORE), None when unknown. A trailing note in brackets
    ("入职日期（yyyy-mm-dd）", "工资（元）") is ignored when the whole header is not an alias."""
    key = normalize_header(text)
    if not key:
        return None
    if key in _ALIASES:
        return _ALIASES[key]
    stripped = _TRAILING_PAREN_RE.sub("", key)
    return _ALIASES.get(stripped) if stripped and stripped != key else None


def header_score(texts: list[str]) -> int:
    """How many cells of a row are recognised column names (the header-row detector of read_table)."""
    return sum(1 for t in texts if header_field(t) not in (None, IGNORE))


def header_signature(headers: Iterable[str]) -> str:
    """Identifies a file layout: sha256 of the sorted normalised non-blank headers."""
    keys = sorted(k for k in (normalize_header(h) for h in headers) if k)
    return hashlib.sha256("\x1f".join(keys).encode()).hexdigest()


# --- text helpers --------------------------------------------------------------------------------


def cell_text(value: object) -> str:
    """A cell as the text HR sees: 1001.0 → "1001", dates ISO; numbers Excel cannot hold exactly
    (≥ 10^15) keep their float repr so lost digits are detected, not hidden."""
    if value is None:
        return ""
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "TRUE" if value else "FALSE"
    if isinstance(value, float):
        if not math.isfinite(value):
            return ""
        if value.is_integer() and abs(value) < 1e15:
            return str(int(value))
        return repr(value)
    if isinstance(value, dt.datetime):
        if value.time() == dt.time() and value.tzinfo is None:
            return value.date().isoformat()
        return value.isoformat(sep=" ")
    if isinstance(value, dt.date | dt.time):
        return value.isoformat()
    return str(value)


def clean_text(value: object) -> str:
    """NFKC (full-width → half-width) with runs of whitespace collapsed to one space, trimmed."""
    return " ".join(unicodedata.normalize("NFKC", cell_text(value)).split())


# An identity number or a mobile number somewhere in a text (after separators are removed).
_SENSITIVE_RE = re.compile(r"\d{17}[\dX]|\d{15}|1[3-9]\d{9}", re.ASCII)
_DIGIT_RUN_RE = re.compile(r"[0-9０-９][0-9０-９\s\-]{5,}[0-9０-９xX]")


def looks_sensitive(value: object) -> bool:
    """True when the text holds something that looks like an identity or mobile number."""
    text = cell_text(value)
    if len(text) < 11:  # fewer characters than the shortest such number (most cells)
        return False
    return bool(_SENSITIVE_RE.search(normalize_text(text)))


def mask_sensitive(value: object) -> str:
    """The text with every run of 7 or more digits masked (for display of a suspicious cell)."""

    def repl(m: re.Match[str]) -> str:
        run = re.sub(r"[\s\-]", "", unicodedata.normalize("NFKC", m.group(0)))
        keep = 3 if len(run) < 15 else 6
        return run[:keep] + "*" * (len(run) - keep - 2) + run[-2:]

    return _DIGIT_RUN_RE.sub(repl, cell_text(value))


def shown(value: object, limit: int = 40) -> str:
    """A cell as quoted in an error message: never a full identity or phone number, never huge."""
    text = clean_text(value)
    if looks_sensitive(text):
        text = mask_sensitive(text)
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _blank(value: object) -> bool:
    return value is None or (isinstance(value, str) and not value.strip())


# --- people --------------------------------------------------------------------------------------


def parse_name(value: object) -> str:
    name = clean_text(value)
    if not name:
        raise FieldError("姓名不能为空", "required")
    if len(name) > 60:
        raise FieldError(f"姓名不能超过60个字符（本行{len(name)}个）", "invalid_name")
    return name


_SCIENTIFIC_RE = re.compile(r"[+-]?\d+(?:\.\d*)?[eE][+-]?\d+")


def parse_id_number(value: object, kind: IdKind | str | None = None) -> Identity:
    """Validate an identity number (``shebao.core.identity``): lower-case x, spaces and full-width
    digits are fine, a 15-digit number is upgraded and flagged. An 18-digit number that Excel
    stored as a number has lost its last digits: that is said plainly."""
    if isinstance(value, float) and (abs(value) >= 1e15 or not value.is_integer()):
        raise FieldError(_SCIENTIFIC_MESSAGE, "id_number_as_number")
    text = cell_text(value).strip()
    if not text:
        raise FieldError("证件号码不能为空", "required")
    if _SCIENTIFIC_RE.fullmatch(unicodedata.normalize("NFKC", text).replace(" ", "")):
        raise FieldError(_SCIENTIFIC_MESSAGE, "id_number_as_number")
    try:
        return parse_identity(text, kind or None)
    except IdentityError as exc:
        raise FieldError(exc.message, "invalid_id_number", exc.code) from exc


_SCIENTIFIC_MESSAGE = (
    "证件号码被 Excel 存成了数字（显示为 1.10105E+17 这样的科学计数法），末尾几位已经丢失："
    "请把该列设置为“文本”格式，重新填写完整号码"
)


def parse_id_kind(value: object) -> str | None:
    """证件类型 by value, Chinese label or common short name (身份证, 护照, 台胞证…); blank → None."""
    text = clean_text(value)
    if not text:
        return None
    try:
        return IdKind.from_value(text).value
    except IdentityError as exc:
        options = "、".join(k.label for k in IdKind)
        raise FieldError(f"{exc.message}：可填写 {options}", "invalid_id_kind") from exc


def parse_employee_no(value: object) -> str:
    """Upper-case, no spaces; 1001.0 from a spreadsheet is "1001"."""
    text = "".join(unicodedata.normalize("NFKC", cell_text(value)).split()).upper()
    if not text:
        raise FieldError("工号不能为空", "required")
    if len(text) > 32:
        raise FieldError(f"工号不能超过32个字符（本行{len(text)}个）", "invalid_employee_no")
    return text


def parse_phone(value: object) -> str:
    """Mainland mobile (+86 / 0086 / separators removed) or landline "010-12345678"; blank → ""."""
    text = cell_text(value)
    if not text.strip():
        return ""
    try:
        return normalize_phone(text)
    except IdentityError:
        digits = sum(c.isdigit() for c in unicodedata.normalize("NFKC", text))
        raise FieldError(
            f"手机号码格式无效（{digits}位数字）：应为11位手机号，或带区号的固定电话如 010-12345678",
            "invalid_phone",
        ) from None


_EMAIL_RE = re.compile(r"[^@\s]+@[^@\s]+\.[^@\s.]{2,}")


def parse_email(value: object) -> str:
    text = clean_text(value).replace(" ", "")
    if not text:
        return ""
    if len(text) > 254 or not _EMAIL_RE.fullmatch(text):
        raise FieldError(f"邮箱“{shown(text)}”格式无效：应如 name@example.com", "invalid_email")
    return text


# --- dates ---------------------------------------------------------------------------------------

_EXCEL_EPOCH = dt.date(1899, 12, 30)  # serial 61 = 1900-03-01 (Excel counts a 1900-02-29)
_DATE_RES = [
    re.compile(r"(\d{4})\s*[-/.]\s*(\d{1,2})\s*[-/.]\s*(\d{1,2})(?:[ T]\d{1,2}:\d{2}(?::\d{2}(?:\.\d+)?)?)?"),
    re.compile(r"(\d{4})\s*年\s*(\d{1,2})\s*月\s*(\d{1,2})\s*[日号]?"),
    re.compile(r"(\d{4})(\d{2})(\d{2})(?:\.0*)?"),
]
_SERIAL_RE = re.compile(r"\d{5}(?:\.\d*)?")
MIN_YEAR, MAX_YEAR = 1900, 2100


def _ymd(y: int, m: int, d: int, label: str, original: object) -> dt.date:
    try:
        day = dt.date(y, m, d)
    except ValueError:
        raise FieldError(f"{label}“{shown(original)}”不是有效日期（没有这一天）", "invalid_date") from None
    if not MIN_YEAR <= day.year <= MAX_YEAR:
        raise FieldError(f"{label}“{shown(original)}”超出合理范围（{MIN_YEAR}—{MAX_YEAR}年）", "invalid_date")
    return day


def _from_number(number: float, label: str, original: object) -> dt.date:
    if not math.isfinite(number) or number < 1:
        raise FieldError(f"{label}“{shown(original)}”无法识别为日期", "invalid_date")
    whole = int(number)
    if 19000101 <= whole <= 29991231 and number == whole:  # 20240305 typed as a number
        return _ymd(whole // 10000, whole // 100 % 100, whole % 100, label, original)
    if whole == 60:
        raise FieldError(f"{label}为 Excel 日期序号 60，对应不存在的 1900-02-29", "invalid_date")
    if whole > 2958465:  # 9999-12-31
        raise FieldError(f"{label}“{shown(original)}”无法识别为日期", "invalid_date")
    day = _EXCEL_EPOCH + dt.timedelta(days=whole if whole > 60 else whole + 1)
    return _ymd(day.year, day.month, day.day, label, original)


def parse_date(value: object, *, label: str = "日期") -> dt.date | None:
    """A date from a date/datetime cell, an Excel serial number (1900 system), 20240305 (also as
    20240305.0), or text: 2024-03-05, 2024/3/5, 2024.3.5, 2024年3月5日. Blank → None."""
    if _blank(value):
        return None
    if isinstance(value, dt.datetime):
        return _ymd(value.year, value.month, value.day, label, value)
    if isinstance(value, dt.date):
        return _ymd(value.year, value.month, value.day, label, value)
    if isinstance(value, bool):
        raise FieldError(f"{label}“{shown(value)}”无法识别为日期", "invalid_date")
    if isinstance(value, int | float | Decimal):
        return _from_number(float(value), label, value)
    text = clean_text(value)
    for pattern in _DATE_RES:
        if m := pattern.fullmatch(text):
            return _ymd(int(m.group(1)), int(m.group(2)), int(m.group(3)), label, value)
    if _SERIAL_RE.fullmatch(text):  # a date cell that lost its format on the way to CSV
        return _from_number(float(text), label, value)
    raise FieldError(f"{label}“{shown(value)}”无法识别：请填写如 2024-03-05 的日期", "invalid_date")


# --- choices -------------------------------------------------------------------------------------

EMPLOYMENT_TYPE_LABELS = {
    "full_time": "全日制",
    "part_time": "非全日制",
    "intern": "实习",
    "retiree_rehire": "退休返聘",
    "foreign": "外籍",
    "dispatched": "劳务派遣",
}
HUKOU_TYPE_LABELS = {
    "local_urban": "本地城镇",
    "local_rural": "本地农村",
    "nonlocal_urban": "外地城镇",
    "nonlocal_rural": "外地农村",
}
_EMPLOYMENT_SYNONYMS = {
    "全职": "full_time",
    "正式": "full_time",
    "正式工": "full_time",
    "全日制用工": "full_time",
    "full time": "full_time",
    "兼职": "part_time",
    "小时工": "part_time",
    "非全日制用工": "part_time",
    "part time": "part_time",
    "实习生": "intern",
    "internship": "intern",
    "返聘": "retiree_rehire",
    "外籍员工": "foreign",
    "派遣": "dispatched",
}
_HUKOU_SYNONYMS = {
    **{
        f"{a}{b}": v
        for a in ("本地", "本市")
        for b, v in (
            ("城镇", "local_urban"),
            ("非农", "local_urban"),
            ("非农业", "local_urban"),
            ("农村", "local_rural"),
            ("农业", "local_rural"),
        )
    },
    **{
        f"{a}{b}": v
        for a in ("外地", "外埠", "外省", "外省市", "非本市", "非本地")
        for b, v in (
            ("城镇", "nonlocal_urban"),
            ("非农", "nonlocal_urban"),
            ("非农业", "nonlocal_urban"),
            ("农村", "nonlocal_rural"),
            ("农业", "nonlocal_rural"),
        )
    },
}


def _choice_key(text: str) -> str:
    return re.sub(r"[\s_\-]+", "", unicodedata.normalize("NFKC", text).lower())


def _choice_lookup(labels: dict[str, str], synonyms: dict[str, str]) -> dict[str, str]:
    table = {_choice_key(k): v for k, v in synonyms.items()}
    table.update({_choice_key(v): k for k, v in labels.items()})
    table.update({_choice_key(k): k for k in labels})
    return table


_EMPLOYMENT_LOOKUP = _choice_lookup(EMPLOYMENT_TYPE_LABELS, _EMPLOYMENT_SYNONYMS)
_HUKOU_LOOKUP = _choice_lookup(HUKOU_TYPE_LABELS, _HUKOU_SYNONYMS)


def parse_employment_type(value: object) -> str | None:
    """用工类型 by Chinese label, value or common name (全职, 兼职…); blank → None."""
    text = clean_text(value)
    if not text:
        return None
    found = _EMPLOYMENT_LOOKUP.get(_choice_key(text))
    if found is None:
        options = "、".join(EMPLOYMENT_TYPE_LABELS.values())
        raise FieldError(f"未知用工类型“{shown(text)}”：可填写 {options}", "invalid_employment_type")
    return found


def parse_hukou_type(value: object) -> str | None:
    """户籍类型 by Chinese label, value or common name (本市城镇, 外埠农业, 外地农村户口…); blank → None."""
    text = clean_text(value)
    if not text:
        return None
    key = _choice_key(text)
    found = _HUKOU_LOOKUP.get(key) or _HUKOU_LOOKUP.get(re.sub(r"(户口|户籍)$", "", key))
    if found is None:
        options = "、".join(HUKOU_TYPE_LABELS.values())
        raise FieldError(f"未知户籍类型“{shown(text)}”：可填写 {options}", "invalid_hukou_type")
    return found


# --- money ---------------------------------------------------------------------------------------

_CENT = Decimal("0.01")
MAX_WAGE = Decimal("10000000000")  # DecimalField(max_digits=12, decimal_places=2)
_MONEY_NOISE_RE = re.compile(r"[\s,，¥￥元]|rmb|cny", re.IGNORECASE)


def parse_wage(value: object) -> Decimal | None:
    """申报工资 as a non-negative Decimal rounded to the cent. A float from a spreadsheet goes
    through its shortest repr (3000.0000000000005 → 3000.00), never its binary expansion."""
    if _blank(value):
        return None
    original = value
    try:
        if isinstance(value, bool):
            raise InvalidOperation
        if isinstance(value, float):
            amount = Decimal(repr(value))
        elif isinstance(value, int | Decimal):
            amount = Decimal(value)
        else:
            text = _MONEY_NOISE_RE.sub("", unicodedata.normalize("NFKC", cell_text(value)))
            if not text:
                return None
            amount = Decimal(text)
        if not amount.is_finite():
            raise InvalidOperation
    except (InvalidOperation, ValueError):
        raise FieldError(
            f"申报工资“{shown(original)}”不是有效金额：请填写数字，如 8000.00", "invalid_wage"
        ) from None
    if amount < 0:
        raise FieldError(f"申报工资不能为负数（本行为 {shown(original)}）", "invalid_wage")
    amount = amount.quantize(_CENT, rounding=ROUND_HALF_UP)
    if amount >= MAX_WAGE:
        raise FieldError(f"申报工资“{shown(original)}”过大：请确认单位为元/月", "invalid_wage")
    return amount + 0  # normalise -0.00


# --- entities and departments --------------------------------------------------------------------


def _lookup_key(text: str) -> str:
    return "".join(unicodedata.normalize("NFKC", text).casefold().split())


class EntityIndex:
    """参保主体 by code or name: exact first, then ignoring case, spaces and full-width forms.

    ``entities`` are objects with ``id``, ``code`` and ``name`` (model instances or stand-ins).
    """

    def __init__(self, entities: Iterable[Any]) -> None:
        self.entities = list(entities)
        self._exact: dict[str, Any] = {}
        self._loose: dict[str, list[Any]] = {}
        for e in self.entities:
            for text in (e.code, e.name):
                self._exact.setdefault(text, e)
                bucket = self._loose.setdefault(_lookup_key(text), [])
                if e not in bucket:
                    bucket.append(e)

    def resolve(self, value: object) -> Any:
        raw = cell_text(value).strip()
        if not raw:
            raise FieldError("参保主体不能为空", "required")
        if raw in self._exact:
            return self._exact[raw]
        found = self._loose.get(_lookup_key(raw), [])
        if len(found) == 1:
            return found[0]
        raise FieldError(
            f"未找到参保主体“{shown(raw)}”：请填写系统中已有参保主体的编码或全称", "entity_unknown"
        )


@dataclass(frozen=True)
class DeptRef:
    """A resolved 部门 cell: an existing department (``id``), or ``new`` names to create under
    ``parent_id`` (None = top level of the entity). ``path`` is the full path of names."""

    entity_id: int
    id: int | None
    path: tuple[str, ...]
    parent_id: int | None = None
    new: tuple[str, ...] = ()

    @property
    def label(self) -> str:
        return "/".join(self.path)

    @property
    def new_key(self) -> tuple[int, int | None, tuple[str, ...]]:
        return (self.entity_id, self.parent_id, tuple(_lookup_key(n) for n in self.new))


_PATH_SPLIT_RE = re.compile(r"\s*[/\\>›»]\s*")


class DepartmentIndex:
    """Departments of each entity by code, by name (unique within the entity) or by path
    "研发中心/后端组" from the top; names not found become departments to create.

    ``departments`` are objects with ``id``, ``entity_id``, ``parent_id``, ``name`` and ``code``.
    """

    def __init__(self, departments: Iterable[Any]) -> None:
        self._by_id: dict[int, Any] = {}
        self._children: dict[tuple[int, int | None, str], Any] = {}
        self._by_name: dict[tuple[int, str], list[Any]] = {}
        self._by_code: dict[tuple[int, str], Any] = {}
        for d in departments:
            self._by_id[d.id] = d
            self._children.setdefault((d.entity_id, d.parent_id, _lookup_key(d.name)), d)
            self._by_name.setdefault((d.entity_id, _lookup_key(d.name)), []).append(d)
            if d.code:
                self._by_code.setdefault((d.entity_id, _lookup_key(d.code)), d)

    def path(self, dept_id: int | None) -> tuple[str, ...]:
        names: list[str] = []
        seen: set[int] = set()
        while dept_id is not None and dept_id in self._by_id and dept_id not in seen:
            seen.add(dept_id)
            d = self._by_id[dept_id]
            names.append(d.name)
            dept_id = d.parent_id
        return tuple(reversed(names))

    def label(self, dept_id: int | None) -> str:
        return "/".join(self.path(dept_id))

    def _ref(self, entity_id: int, dept: Any) -> DeptRef:
        return DeptRef(entity_id, dept.id, self.path(dept.id))

    def _unique(self, entity_id: int, name: str, original: str) -> Any | None:
        found = self._by_name.get((entity_id, _lookup_key(name)), [])
        if len(found) > 1:
            roots = [d for d in found if d.parent_id is None]
            if len(roots) == 1:
                return roots[0]
            paths = "、".join(self.label(d.id) for d in found[:3])
            raise FieldError(
                f"部门“{shown(original)}”在该参保主体下有{len(found)}个同名部门（{paths}）："
                f"请填写完整路径，如“{self.label(found[0].id)}”",
                "department_ambiguous",
            )
        return found[0] if found else None

    def resolve(self, entity_id: int, value: object) -> DeptRef | None:
        text = clean_text(value)
        if not text:
            return None
        if dept := self._by_code.get((entity_id, _lookup_key(text))):
            return self._ref(entity_id, dept)
        if (whole := self._unique(entity_id, text, text)) is not None:
            return self._ref(entity_id, whole)
        parts = [p for p in _PATH_SPLIT_RE.split(text) if p]
        if not parts:
            raise FieldError(f"部门“{shown(text)}”无效", "invalid_department")
        for part in parts:
            if len(part) > 100:
                raise FieldError(f"部门名称不能超过100个字符：“{shown(part)}”", "invalid_department")
        current = self._unique(entity_id, parts[0], text) if len(parts) > 1 else None
        if current is None:
            return DeptRef(entity_id, None, tuple(parts), None, tuple(parts))
        for i, part in enumerate(parts[1:], start=1):
            child = self._children.get((entity_id, current.id, _lookup_key(part)))
            if child is None:
                return DeptRef(
                    entity_id, None, self.path(current.id) + tuple(parts[i:]), current.id, tuple(parts[i:])
                )
            current = child
        return self._ref(entity_id, current)


def mask_cell(field: str, value: object, kind: str | None = None) -> str:
    """The stored, displayable copy of an original cell of an identity or phone column."""
    text = cell_text(value).strip()
    if not text:
        return ""
    if field == "id_number":
        return mask_identity(text, kind or IdKind.RESIDENT)
    return mask_phone(text)
