"""Parse a source with a profile into ``facts.SourceRow`` objects, one row at a time.

``parse()`` does the per-file work once (find the header, resolve every column, read the title
block and the file name, settle the defaults) and returns a ParseResult whose ``rows()`` is a
generator: a CSV read from a path is never held in memory. The per-row loop indexes
pre-resolved column positions, and memoises identity numbers, months, amounts and vocabulary
lookups, because a wide file repeats them across millions of rows.
"""

from __future__ import annotations

import datetime as dt
import operator
import re
import unicodedata
from collections.abc import Iterator
from dataclasses import dataclass, field
from decimal import Decimal

from shebao.core.identity import IdentityError, IdKind, mask_identity, normalize_text, parse_identity
from shebao.core.money import q2
from shebao.core.yearmonth import YearMonth
from shebao.imports.readers import ImportFileError
from shebao.ledger.facts import (
    ContributionFact,
    ContributionStatus,
    EnrollmentFact,
    EnrollmentState,
    Evidence,
    Insurance,
    PaymentType,
    PersonRef,
    SourceRow,
)
from shebao.ledger.parsing.detect import locate, missing_headers
from shebao.ledger.parsing.layout import Layout, Resolution
from shebao.ledger.parsing.schema import Profile, profile_get
from shebao.ledger.parsing.source import Source
from shebao.ledger.parsing.text import (
    cell_text,
    is_dash,
    norm_header,
    norm_value,
    to_date,
    to_decimal,
    to_period,
    to_rate,
)
from shebao.ledger.parsing.vocab import (
    EMPLOYEE,
    EMPLOYER,
    EMPLOYER_ONLY,
    IGNORE,
    classify_insurance,
    classify_side,
    lookup_payment_type,
    lookup_state,
    lookup_status,
)

__all__ = ["ContextRequired", "ParseContext", "ParseResult", "parse"]

MAX_SPAN_MONTHS = 120
MAX_ROW_WARNINGS = 20  # per kind; the rest are counted
MAX_REASON = 60  # ledger.models.SourceRow.skipped

# Title-block extractors every profile gets after its own (export_formats.md §0.5).
_MONTH = r"\d{4}\s*[-./年]?\s*\d{1,2}\s*月?"
DEFAULT_HEADER_BLOCK = [
    re.compile(
        rf"费款所属期(?:起止)?:?\s*(?P<period>{_MONTH})(?:\s*(?:至|~|—+|-)\s*(?P<period_end>{_MONTH}))?"
    ),
    re.compile(
        rf"(?:业务年月|汇缴年月|缴存年月|所属年月|结算年月|账单年月|帐单年月):\s*(?P<period>{_MONTH})"
    ),
    re.compile(r"单位社保号:\s*(?P<unit_no>[0-9A-Za-z-]+)"),
    re.compile(
        r"(?:单位编号|单位账号|单位客户号|单位代码|单位社保编号|单位管理码):\s*(?P<unit_no>[0-9A-Za-z-]+)"
    ),
    re.compile(
        r"(?:纳税人名称|缴费单位名称|单位名称|缴费单位|导出人|参保单位):\s*"
        r"(?P<unit_name>[^\t:]+?)(?=\t|\s{2,}|\s+\S{2,12}:|$)"
    ),
    re.compile(r"统一社会信用代码(?:\(纳税人识别号\))?:\s*(?P<uscc>[0-9A-Z]{18})"),
]
# File-name extractors (§0.4): `_2025-08至2025-08_`, `2026-04——`, `2026年2月`, `202602`.
DEFAULT_FILENAME = [
    re.compile(r"(?P<period>20\d{2}-\d{1,2})至(?P<period_end>20\d{2}-\d{1,2})"),
    re.compile(r"(?P<period>20\d{2}-\d{1,2})(?:——|—|--)"),
    re.compile(r"(?P<period>20\d{2}年\d{1,2}月)"),
    re.compile(r"(?<!\d)(?P<period>20\d{2}(?:0[1-9]|1[0-2]))(?!\d)"),
]
_ITEM_IN_NAME = re.compile(
    r"(?P<item>(?:企业)?(?:职工)?(?:基本|大额)?(?:医疗互助|养老|医疗|失业|工伤|生育|住房公积金|公积金)"
    r"(?:保险)?费?(?:\((?:单位|个人)(?:缴纳)?(?:部分)?\))?)"
)

_TOTAL_WORDS = ("合计", "小计", "总计", "本页合计", "累计", "总合计", "共计")
_FOOTER_WORDS = (
    "制表人",
    "打印日期",
    "经办网点",
    "盖章",
    "审核人",
    "制表日期",
    "填报人",
    "打印时间",
    "经办人:",
)
_SECTION_LABELS = frozenset({"在职人员", "退休人员", "家属统筹人员", "增员", "减员", "离职人员", "新增人员"})
# Header words that mark a sub-table header inside a sheet (agency bills: 增员 / 减员 tables).
_HEADER_WORDS = frozenset(
    norm_header(w)
    for w in (
        "序号",
        "姓名",
        "证件号码",
        "身份证号",
        "身份证号码",
        "证件类型",
        "公司全称",
        "客户名称",
        "缴纳地",
        "参保地",
        "户籍性质",
        "备注",
        "社保起缴时间",
        "公积金起缴时间",
        "社保停缴时间",
        "公积金停缴时间",
        "离职原因",
        "缴费基数",
        "费款所属期",
        "险种",
    )
)
_ID_LIKE = re.compile(r"(?<![0-9A-Za-z])(?:\d{17}[0-9Xx]|\d{15})(?![0-9A-Za-z])")
_SIDES = {"employer": EMPLOYER, "employee": EMPLOYEE, "单位": EMPLOYER, "个人": EMPLOYEE}


class ContextRequired(ImportFileError):
    """The file does not say something the facts need (the month, the 征收品目): ask the user
    and parse again with it in ParseContext. ``field`` is "period", "insurance" or "side"."""

    def __init__(self, field_name: str, message: str) -> None:
        super().__init__(f"need_{field_name}", message)
        self.field = field_name


@dataclass
class ParseContext:
    """What the user (or the connector) says about a file; it overrides the title block and the
    file name. Columns of the rows themselves still win over it."""

    period: YearMonth | str | int | None = None
    insurance: Insurance | str | None = None  # item files: an Insurance or a 险种 text
    side: str | None = None  # "employer" | "employee" | "单位" | "个人"
    item: str | None = None  # a 征收品目 text, e.g. 职工基本养老保险(个人缴纳): insurance and side at once
    unit_no: str | None = None
    unit_name: str | None = None
    sheet: str | None = None
    today: dt.date | None = None


@dataclass(eq=False)
class ParseResult:
    profile: Profile
    source: Source
    sheet: str
    header_row: int
    context_found: dict[str, str]  # what the title block / file name said
    warnings: list[str]  # Chinese; rows() appends row-level summaries when it finishes
    columns: list[str]  # resolved column labels
    column_fields: dict[str, str]  # label → field key ("pension.employer_due", "name", "" …)
    _engine: _Engine = field(repr=False)

    def rows(self) -> Iterator[SourceRow]:
        """A generator of SourceRow, in file order (streams a CSV read from a path)."""
        return self._engine.rows()


def parse(source: Source, profile: Profile | str, *, context: ParseContext | None = None) -> ParseResult:
    """Read ``source`` with ``profile`` (or its code). The per-file work happens here, so a wrong
    layout or a missing month fails now: ImportFileError ("no_header" …) or ContextRequired
    (ask the user for ``field`` and parse again). Rows are produced lazily by ``rows()``."""
    context = context or ParseContext()
    if isinstance(profile, str):
        profile = profile_get(profile)
    found = locate(profile, source, sheet=context.sheet)
    if found is None:
        missing = missing_headers(profile, source, sheet=context.sheet)
        raise ImportFileError(
            "no_header",
            f"文件不符合“{profile.title}”的格式：没有找到包含“{'”“'.join(missing)}”的表头，"
            "请确认选择的格式，或选择“按列对应导入”",
        )
    engine = _Engine(profile, source, found.layout, found.resolution, context)
    return ParseResult(
        profile=profile,
        source=source,
        sheet=found.sheet,
        header_row=found.header_row,
        context_found=engine.found,
        warnings=engine.warnings,
        columns=list(found.layout.labels),
        column_fields=dict(found.resolution.fields),
        _engine=engine,
    )


def _extract(patterns: list[re.Pattern[str]], texts: list[str], found: dict[str, str]) -> None:
    for text in texts:
        for pattern in patterns:
            for m in pattern.finditer(text):
                for key, value in m.groupdict().items():
                    if value and key not in found:
                        found[key] = value.strip()


def _month_of(text: str | None) -> YearMonth | None:
    if not text:
        return None
    try:
        period = to_period(text)
    except ValueError:
        return None
    return period[0] if period else None


class _Warnings:
    """Row-level warnings of one kind: the first few verbatim, then a count."""

    def __init__(self, sink: list[str]) -> None:
        self.sink = sink
        self.counts: dict[str, int] = {}
        self.summaries: dict[str, str] = {}

    def add(self, kind: str, message: str, summary: str) -> None:
        n = self.counts.get(kind, 0) + 1
        self.counts[kind] = n
        self.summaries[kind] = summary
        if n <= MAX_ROW_WARNINGS:
            self.sink.append(message)

    def finish(self) -> None:
        for kind, n in self.counts.items():
            if n > MAX_ROW_WARNINGS:
                self.sink.append(self.summaries[kind].format(n=n, more=n - MAX_ROW_WARNINGS))
        self.counts.clear()


class _Engine:
    def __init__(
        self, profile: Profile, source: Source, layout: Layout, res: Resolution, context: ParseContext
    ) -> None:
        self.profile = profile
        self.source = source
        self.layout = layout
        self.res = res
        self.context = context
        self.warnings: list[str] = []
        self.found: dict[str, str] = {"sheet": layout.sheet.name, "header_row": str(layout.header_row)}
        # title block: one line per row above the header, cells separated by tabs
        lines = [
            unicodedata.normalize("NFKC", "\t".join(cell_text(v) for v in cells if not _blank(v)))
            for _, cells in layout.title_rows
        ]
        block: dict[str, str] = {}
        _extract([*profile.header_block, *DEFAULT_HEADER_BLOCK], lines, block)
        stem = unicodedata.normalize("NFKC", source.filename.replace("\\", "/").rsplit("/", 1)[-1])
        stem = stem.rsplit(".", 1)[0]
        named: dict[str, str] = {}
        _extract([*profile.filename_patterns, *DEFAULT_FILENAME], [stem], named)
        if profile.shape == "item_file" and "item" not in named and (m := _ITEM_IN_NAME.search(stem)):
            named["item"] = m.group("item")
        for key, value in [*block.items(), *named.items()]:
            if key in ("period", "period_end", "posting_period"):
                value = str(_month_of(value) or value)
            self.found.setdefault(key, value)
        self.found = {k: v for k, v in self.found.items() if v}

        # defaults: the user's context, then the title block, then the file name
        self.default_period: YearMonth | None = None
        self.default_period_end: YearMonth | None = None
        if context.period is not None and context.period != "":
            try:
                self.default_period = YearMonth.parse(context.period)
            except (ValueError, TypeError) as exc:
                raise ImportFileError("period", f"无法识别的月份“{context.period}”：请使用 2026-02") from exc
        else:
            self.default_period = _month_of(block.get("period")) or _month_of(named.get("period"))
            end_text = block.get("period_end") if block.get("period") else named.get("period_end")
            self.default_period_end = _month_of(end_text)
        self.default_posting = _month_of(block.get("posting_period") or named.get("posting_period"))
        self.default_unit_no = (
            context.unit_no if context.unit_no is not None else block.get("unit_no", "")
        ).strip()
        self.default_unit_name = (
            context.unit_name if context.unit_name is not None else block.get("unit_name", "")
        ).strip()
        self.default_insurance, self.default_side = self._default_item(named)
        if self.default_insurance is not None:
            self.found.setdefault("insurance", self.default_insurance.value)
        if self.default_side:
            self.found.setdefault("side", self.default_side)
        self._ident_memo: dict[str | tuple[str, str], tuple[str, str, str, str, str]] = {}
        self._ins_memo: dict[str, tuple[Insurance | str | None, str | None]] = {}
        self._status_memo: dict[str, ContributionStatus | None] = {"": None}
        self._ptype_memo: dict[str, PaymentType | None] = {"": None}
        self._num_memo: dict[object, Decimal | None] = {"": None, None: None}
        self._check()
        self._file_warnings = len(self.warnings)  # rows() adds the row-level ones after these

    # --- per file ------------------------------------------------------------------------------

    def _default_item(self, named: dict[str, str]) -> tuple[Insurance | None, str | None]:
        ctx, d = self.context, self.profile.definition
        insurance: Insurance | None = None
        side: str | None = None
        given = ctx.insurance or ctx.item
        text = given if given else (named.get("item") if d.shape == "item_file" else None)
        if isinstance(text, Insurance):
            insurance = text
        elif text:
            found, _ = classify_insurance(
                text, exact=self.profile.insurance_exact, keywords=self.profile.insurance_keywords
            )
            if found == IGNORE:
                raise ImportFileError("ignored_item", f"“{text}”不是本系统核算的险种，无需导入")
            if found is None and given:
                raise ImportFileError("insurance", f"无法识别的险种“{text}”")
            insurance = found  # type: ignore[assignment]
            side = classify_side(text)
        if insurance is None:
            insurance = d.defaults.insurance
        if ctx.side:
            side = _SIDES.get(str(ctx.side).strip())
            if side is None:
                raise ImportFileError("side", f"无法识别的缴费方“{ctx.side}”：请选择“单位”或“个人”")
        side = side or d.defaults.side
        if side is None and insurance in EMPLOYER_ONLY:
            side = EMPLOYER
        return insurance, side

    def _check(self) -> None:
        d, fx, res = self.profile.definition, self.res.fixed, self.res
        shape = d.shape
        label = self.layout.labels
        if "id_number" not in fx and "account_no" not in fx:
            raise ImportFileError(
                "no_header",
                f"文件缺少“证件号码”列（格式“{self.profile.title}”）：无法确定每一行是谁",
            )
        if "id_number" not in fx:
            self.warnings.append(
                f"文件没有证件号码列：将按“{label[fx['account_no']]}”加姓名匹配人员，匹配结果需要人工核对"
            )
        contributions = shape != "status_list" or d.emit_contributions
        if shape == "wide" and not res.groups:
            raise ImportFileError("no_header", "没有识别到任何险种列（如“养老保险单位缴费”）：请检查表头")
        if shape == "item_file" and self.default_insurance is None:
            raise ContextRequired(
                "insurance",
                "无法从文件名判断这是哪个征收品目（如“职工基本养老保险(单位缴纳)”）：请选择险种和单位/个人部分后重新导入",
            )
        if shape == "item_file" and self.default_side is None:
            raise ContextRequired(
                "side",
                f"无法判断文件中的{self.default_insurance.label}是单位缴纳还是个人缴纳部分：请选择后重新导入",  # type: ignore[union-attr]
            )
        if shape in ("long", "status_list") and "insurance" not in fx and self.default_insurance is None:
            raise ContextRequired("insurance", "文件没有险种列：请选择这份文件的险种后重新导入")
        needs_period = contributions and shape != "status_list"
        if needs_period and "period" not in fx and self.default_period is None:
            hf = "hf_period" in fx and all(g.insurance == Insurance.HOUSING_FUND for g in res.groups)
            if not hf:
                raise ContextRequired(
                    "period",
                    "文件中没有费款所属期（表格、标题和文件名中都没有找到月份）：请选择这份文件对应的月份后重新导入",
                )
        if res.ignored_items:
            self.warnings.append(
                f"已忽略本系统不核算的险种列：{'、'.join(res.ignored_items)}（共 {len(res.ignored)} 列）"
            )
        if res.unsided:
            self.warnings.append(f"无法判断以下列属于单位还是个人部分，已忽略：{'、'.join(res.unsided)}")
        if self.default_period_end and self.default_period and self.default_period_end > self.default_period:
            self.warnings.append(
                f"标题中的费款所属期为 {self.default_period}至{self.default_period_end}，跨多个月："
                f"没有所属期列的行按 {self.default_period} 记录"
            )

    # --- per row -------------------------------------------------------------------------------

    def _index(self) -> None:
        """Column positions of every field (-1: absent; a row's last cell is an empty sentinel)."""
        g = self.res.fixed.get
        for key in (
            "name",
            "id_number",
            "id_kind",
            "account_no",
            "insurance",
            "side",
            "period",
            "period_end",
            "posting_period",
            "hf_period",
            "unit_no",
            "unit_name",
            "status",
            "payment_type",
            "since",
            "base",
            "amount",
            "employer_due",
            "employee_due",
            "paid_amount",
            "employer_paid",
            "employee_paid",
            "late_fee",
            "employer_rate",
            "employee_rate",
            "total",
        ):
            setattr(self, f"i_{key}", g(key, -1))
        self.number_columns = [
            c
            for key in (
                "base",
                "amount",
                "employer_due",
                "employee_due",
                "paid_amount",
                "employer_paid",
                "employee_paid",
                "late_fee",
                "employer_rate",
                "employee_rate",
                "total",
            )
            if (c := g(key, -1)) >= 0
        ] + [c for grp in self.res.groups for c in grp.slots.values()]
        self.month_columns = [
            c for key in ("period", "period_end", "posting_period", "hf_period") if (c := g(key, -1)) >= 0
        ]

    def label(self, column: int, default: str) -> str:
        return self.layout.labels[column] if column >= 0 else default

    def rows(self) -> Iterator[SourceRow]:
        """The row loop. Kept flat, with locals, because it runs millions of times."""
        del self.warnings[self._file_warnings :]  # a second pass must not repeat them
        self._status_memo = {"": None}
        self._ptype_memo = {"": None}
        self._index()
        profile, d, layout = self.profile, self.profile.definition, self.layout
        labels = layout.labels
        width = len(labels)
        width_1 = width + 1  # a row's cells and the empty sentinel
        i_name, i_id, i_kind, i_acct = self.i_name, self.i_id_number, self.i_id_kind, self.i_account_no
        i_period, i_period_end, i_posting = self.i_period, self.i_period_end, self.i_posting_period
        i_unit_no, i_unit_name = self.i_unit_no, self.i_unit_name
        i_status, i_ptype = self.i_status, self.i_payment_type
        # Wide rows: the amount cells of a row are read in one itemgetter call and their tuple
        # looked up in a memo of what every group then states (_wide_amounts): a wide file
        # repeats a person's amounts month after month, so most rows cost one dict look-up.
        self._wide_plan()
        num_get = self.wide_get
        amounts_get = self._amounts_memo.get
        month_lists: dict[object, tuple[YearMonth | None, YearMonth | None, list[YearMonth] | None]] = {}
        month_lists_get = month_lists.get
        ident_get = self._ident_memo.get
        id_label = labels[i_id] if i_id >= 0 else ""
        others_get = operator.itemgetter(*[c for c in range(width) if c != i_id], -1, -1)
        shape = d.shape
        wide = shape == "wide"
        per_month = d.span == "per_month"
        evidence_default = d.evidence
        default_posting = self.default_posting
        # A blank 所属期 cell takes the month the user chose, never one guessed from the title or
        # the file name (an agency bill is named after its billing month, not the covered one).
        default_period = self.default_period if self.i_period < 0 or self.context.period else None
        unit_no_default, unit_name_default = self.default_unit_no, self.default_unit_name
        is_csv = self.source.format == "csv"
        last_header = layout.last_header_row
        self.header_leaves = {t for t in layout.leaves if t}
        self.known = profile.known | _HEADER_WORDS | self.header_leaves
        self.sections = _SECTION_LABELS | profile.section_labels
        self.warn = warn = _Warnings(self.warnings)
        period_of = to_period
        ident = self._ident
        status_of, ptype_of = self._status_of, self._ptype_of
        non_person = self._non_person
        period_label = self.label(i_period, "费款所属期")

        stop_reason = ""
        section = ""
        rows = layout.sheet.rows()
        try:
            for number, raw in rows:
                if number <= last_header:
                    continue
                if is_csv:
                    vals = raw + [""] * (width - len(raw) + 1) if len(raw) <= width else [*raw, ""]
                    texts = vals
                else:
                    vals = raw + [None] * (width - len(raw) + 1) if len(raw) <= width else [*raw, None]
                    texts = [cell_text(v) for v in vals]
                errors: list[dict[str, str]] = []
                contributions: list[ContributionFact] = []
                enrollments: list[EnrollmentFact] = []
                reason = kind = ""
                masked_id = ""
                person: PersonRef | None = None
                id_text = texts[i_id].strip() if i_id >= 0 else ""
                if stop_reason:
                    kind, reason = non_person(texts)
                    if kind == "section":
                        section = reason.partition("：")[2]
                        stop_reason = f"位于子表“{section}”中，不是本表明细"
                    elif kind != "subtable":
                        reason = stop_reason
                elif id_text:
                    hit = ident_get(id_text) if i_kind < 0 else None
                    number_, kind_, masked, code, message = hit or ident(id_text, texts[i_kind].strip())
                    if number_:
                        masked_id = masked
                        acct = texts[i_acct].strip() if i_acct >= 0 else ""
                        person = PersonRef(texts[i_name].strip() if i_name >= 0 else "", number_, kind_, acct)
                    else:
                        kind, reason = non_person(texts)
                        if not reason:
                            masked_id = masked
                            errors.append(_error(number, labels[i_id], code, message))
                else:
                    kind, reason = non_person(texts)
                    if not reason:
                        name = texts[i_name].strip() if i_name >= 0 else ""
                        acct = texts[i_acct].strip() if i_acct >= 0 else ""
                        if not name and not acct:
                            reason = "无姓名和证件号码"
                        elif i_id >= 0:
                            errors.append(_error(number, labels[i_id], "empty", "证件号码为空"))
                        elif not acct:
                            errors.append(_error(number, labels[i_acct], "empty", "个人编号/账号为空"))
                        else:
                            person = PersonRef(name, "", "", acct)
                if reason and not stop_reason:
                    if kind == "subtable":
                        stop_reason = f"位于子表“{section or '（未命名）'}”中，不是本表明细"
                    elif kind == "section":
                        section = reason.partition("：")[2]

                if person is not None:
                    try:
                        period = period_end = month_list = None
                        if i_period >= 0:
                            raw_period = vals[i_period]
                            resolved = month_lists_get(raw_period)
                            if resolved is None:
                                if len(month_lists) > 10_000:
                                    month_lists.clear()
                                p = period_of(raw_period) or (None, None)
                                resolved = month_lists[raw_period] = (*p, [p[0]] if p[1] is None else None)
                            period, period_end, month_list = resolved
                        if period is None:
                            period, month_list = default_period, None
                        if i_period_end >= 0 and (p := period_of(vals[i_period_end])) is not None:
                            end = p[1] or p[0]
                            if period_end is None or end > period_end:
                                period_end = end
                        posting = default_posting
                        if i_posting >= 0 and (p := period_of(vals[i_posting])) is not None:
                            posting = p[0]
                        unit_no = (texts[i_unit_no].strip() if i_unit_no >= 0 else "") or unit_no_default
                        unit_name = (
                            texts[i_unit_name].strip() if i_unit_name >= 0 else ""
                        ) or unit_name_default
                        status = (
                            status_of(texts[i_status]) if i_status >= 0 and shape != "status_list" else None
                        )
                        ptype = ptype_of(texts[i_ptype]) if i_ptype >= 0 else None
                        if wide:
                            if period_end is None and month_list is not None:
                                periods = month_list
                            else:
                                periods = self._periods(number, period, period_end, per_month)
                            raw_nums = num_get(vals)
                            amounts = amounts_get(raw_nums)
                            if amounts is None:
                                amounts = self._wide_amounts(raw_nums)  # ValueError: a bad number
                            for ins, ihf, base, er, ee, erp, eep, late in amounts:
                                months = periods
                                if ihf >= 0 and (hp := period_of(vals[ihf])) is not None:
                                    months = self._periods(number, hp[0], hp[1], per_month)
                                if not months:
                                    errors.append(_error(number, period_label, "empty", "费款所属期为空"))
                                    break
                                if status is None and erp is None and eep is None:
                                    evidence, st = evidence_default, None
                                else:
                                    evidence, st, erp, eep = _settle(
                                        status, er, ee, erp, eep, evidence_default
                                    )
                                for month in months:
                                    contributions.append(
                                        ContributionFact(
                                            person,
                                            ins,
                                            month,
                                            number,
                                            posting,
                                            unit_no,
                                            unit_name,
                                            base,
                                            er,
                                            ee,
                                            erp,
                                            eep,
                                            late,
                                            st,
                                            ptype,
                                            evidence,
                                        )
                                    )
                            if not contributions and not errors:
                                reason = "没有任何险种的金额"
                        elif shape == "status_list":
                            self._status_row(
                                number,
                                vals,
                                texts,
                                person,
                                unit_no,
                                unit_name,
                                enrollments,
                                contributions,
                                errors,
                            )
                        else:
                            self._long_row(
                                number,
                                vals,
                                texts,
                                _Row(person, period, period_end, posting, unit_no, unit_name, status, ptype),
                                contributions,
                                errors,
                            )
                    except _Skip as skip:
                        contributions, enrollments, reason = [], [], skip.reason
                    except ValueError:
                        contributions, enrollments = [], []
                        self._value_errors(number, vals, errors)
                    if errors:
                        contributions, enrollments = [], []

                # what is kept of the row: its cells, identity numbers masked (the empty ones
                # left out; a row with none, the common case, needs no filtering)
                if len(texts) == width_1 and texts.index("") == width:
                    cells = dict(zip(labels, texts, strict=False))
                else:
                    cells = {label: t for label, t in zip(labels, texts, strict=False) if t}
                if masked_id:
                    cells[id_label] = masked_id
                if len(texts) > width + 1:
                    cells.update({f"第{c + 1}列": t for c, t in enumerate(texts[width:-1], start=width) if t})
                    suspect = True
                else:
                    # only a cell of 15+ characters can hold an identity number
                    suspect = person is None or max(map(len, others_get(texts))) >= 15
                if suspect and _ID_LIKE.search("\x1f".join(cells.values())):
                    cells = {k: _ID_LIKE.sub(_mask_match, v) for k, v in cells.items()}
                if len(reason) > MAX_REASON:
                    reason = reason[: MAX_REASON - 1] + "…"
                yield SourceRow(number, cells, contributions, enrollments, reason, errors)
        finally:
            close = getattr(rows, "close", None)
            if close is not None:
                close()
            warn.finish()

    def _wide_plan(self) -> None:
        """The amount cells of a wide row, read by one itemgetter (``wide_get``: each column
        once, then the empty sentinel so it is always a tuple), and per group where its 8 slots
        are in that tuple (-1: absent, None)."""
        slots = ("base", "base_er", "base_ee", "er", "ee", "er_paid", "ee_paid", "late")
        wanted = [self.i_base] + [grp.index(k) for grp in self.res.groups for k in slots]
        columns = sorted({c for c in wanted if c >= 0})
        at = {c: i for i, c in enumerate(columns)}
        self.wide_get = operator.itemgetter(*columns, -1)
        self.wide_base = at.get(self.i_base, -1)  # a base shared by the groups without their own
        self.wide_groups = [
            (
                grp.insurance,
                self.i_hf_period if grp.insurance == Insurance.HOUSING_FUND else -1,
                grp.insurance != Insurance.MEDICAL_SUPPLEMENT,  # a fixed amount: no shared base
                any(k in grp.slots for k in ("base", "base_er", "base_ee")),
                tuple(at[c] if c >= 0 else -1 for c in (grp.index(k) for k in slots)),
            )
            for grp in self.res.groups
        ]
        self._amounts_memo: dict[tuple[object, ...], list[tuple]] = {}

    def _wide_amounts(self, raw: tuple[object, ...]) -> list[tuple]:
        """What the groups of a wide row state, from its amount cells (``wide_get``):
        (insurance, housing-fund period column, base, er, ee, er paid, ee paid, late fee) for each
        insurance the person is in. Memoised by the cells; ValueError for a bad number."""
        nums = self._numbers(raw)  # its last, the empty sentinel, is None: what a slot at -1 reads
        shared_base = nums[self.wide_base]
        out = []
        for ins, ihf, shares, own, at in self.wide_groups:
            base, base_er, base_ee, er, ee, erp, eep, late = [nums[i] for i in at]
            if base is None:
                base = base_er if base_er is not None else base_ee
            if not (er or ee or erp or eep or late or (own and base)):
                continue  # an insurance this person is not in
            if base is None and shares:
                base = shared_base
            out.append((ins, ihf, base, er, ee, erp, eep, late))
        memo = self._amounts_memo
        if len(memo) >= 20_000:  # bounded: the keys hold the row's cells
            memo.clear()
        memo[raw] = out
        return out

    def _numbers(self, raw: tuple[object, ...]) -> list[Decimal | None]:
        """Convert the values the memo has not seen yet (ValueError for a bad one)."""
        memo = self._num_memo
        if len(memo) > 200_000:
            memo.clear()
            memo.update({"": None, None: None})
        for value in raw:
            if value not in memo:
                memo[value] = to_decimal(value)
        return [memo[value] for value in raw]

    def _ident(self, text: str, kind_text: str) -> tuple[str, str, str, str, str]:
        """(number, kind, masked, error code, error message) of an identity cell (memoised)."""
        key: str | tuple[str, str] = (text, kind_text) if kind_text else text
        hit = self._ident_memo.get(key)
        if hit is not None:
            return hit
        kind: IdKind | None = None
        if kind_text:
            try:
                kind = IdKind.from_value(kind_text)
            except IdentityError:
                kind = None
        clean = text.strip().lstrip("'")
        try:
            identity = parse_identity(clean, kind, today=self.context.today)
        except IdentityError as exc:
            masked = mask_identity(clean, "resident_id" if len(normalize_text(clean)) == 18 else "")
            result = ("", "", masked, exc.code, exc.message)
        else:
            result = (identity.number, identity.kind.value, identity.masked, "", "")
        if len(self._ident_memo) > 300_000:
            self._ident_memo.clear()
        self._ident_memo[key] = result
        return result

    def _insurance_of(self, text: str) -> tuple[Insurance | str | None, str | None]:
        hit = self._ins_memo.get(text)
        if hit is None:
            found, _ = classify_insurance(
                text, exact=self.profile.insurance_exact, keywords=self.profile.insurance_keywords
            )
            hit = self._ins_memo[text] = (found, classify_side(text))
        return hit

    def _status_of(self, text: str) -> ContributionStatus | None:
        if text in self._status_memo:
            return self._status_memo[text]
        value = self._status_memo[text] = lookup_status(text, self.profile.status_values)
        if value is None and text.strip() and not is_dash(text.strip()):
            self.warnings.append(f"无法识别的缴费状态“{text.strip()}”：这些行不记录状态")
        return value

    def _ptype_of(self, text: str) -> PaymentType | None:
        if text in self._ptype_memo:
            return self._ptype_memo[text]
        value = self._ptype_memo[text] = lookup_payment_type(text, self.profile.payment_values)
        if value is None and text.strip() and not is_dash(text.strip()):
            self.warnings.append(f"无法识别的缴费类型“{text.strip()}”：这些行不记录缴费类型")
        return value

    def _periods(
        self, number: int, start: YearMonth | None, end: YearMonth | None, per_month: bool
    ) -> list[YearMonth]:
        if start is None:
            return []
        if end is None or end <= start:
            return [start]
        if per_month and end - start < MAX_SPAN_MONTHS:
            return list(YearMonth.range(start, end))
        self.warn.add(
            "span",
            f"第{number}行费款所属期为 {start}至{end}，跨多个月：已按 {start} 记录，金额可能是整段合计，请核对",
            "另有 {more} 行的费款所属期跨多个月（共 {n} 行），均按起始月记录",
        )
        return [start]

    def _long_row(
        self,
        number: int,
        vals: list[object],
        texts: list[str],
        row: _Row,
        out: list[ContributionFact],
        errors: list[dict[str, str]],
    ) -> None:
        """long and item_file: one fact per row, its side from the 征收品目 text or the file."""
        d = self.profile.definition
        insurance, side = self.default_insurance, self.default_side
        i_ins = self.i_insurance
        if i_ins >= 0 and texts[i_ins].strip():
            found, found_side = self._insurance_of(texts[i_ins])
            if found == IGNORE:
                self.warn.add(
                    "ignored",
                    f"第{number}行的险种“{texts[i_ins].strip()}”不在本系统核算范围内，已跳过",
                    "另有 {more} 行属于不核算的险种，已跳过（共 {n} 行）",
                )
                raise _Skip(f"不核算的险种：{texts[i_ins].strip()}")
            if found is None:
                message = f"无法识别的险种“{texts[i_ins].strip()}”"
                errors.append(_error(number, self.label(i_ins, "险种"), "insurance", message))
                return
            insurance, side = found, found_side or self.default_side  # type: ignore[assignment]
        if self.i_side >= 0 and texts[self.i_side].strip():
            side = classify_side(texts[self.i_side]) or side
        if insurance is None:
            errors.append(_error(number, self.label(i_ins, "险种"), "insurance", "险种为空"))
            return
        if side is None and insurance in EMPLOYER_ONLY:
            side = EMPLOYER
        num = to_decimal
        base, er, ee = num(vals[self.i_base]), num(vals[self.i_employer_due]), num(vals[self.i_employee_due])
        erp, eep = num(vals[self.i_employer_paid]), num(vals[self.i_employee_paid])
        late, total = num(vals[self.i_late_fee]), num(vals[self.i_total])
        for column, paid in ((self.i_amount, False), (self.i_paid_amount, True)):
            value = num(vals[column])
            if value is None:
                continue
            if side is None:
                message = f"无法判断“{insurance.label}”的金额是单位还是个人部分"
                errors.append(_error(number, self.label(column, ""), "side", message))
                return
            if paid:
                erp, eep = (value, eep) if side == EMPLOYER else (erp, value)
            else:
                er, ee = (value, ee) if side == EMPLOYER else (er, value)
        months = self._periods(number, row.period, row.period_end, d.span == "per_month")
        if d.derive_amounts and base is not None:
            rate_er, rate_ee = to_rate(vals[self.i_employer_rate]), to_rate(vals[self.i_employee_rate])
            if er is None and rate_er is not None:
                er = q2(base * rate_er)
            if ee is None and rate_ee is not None:
                ee = q2(base * rate_ee)
            if total is not None and er is not None and ee is not None:
                monthly = er + ee
                if total not in (monthly, monthly * max(len(months), 1)):
                    self.warn.add(
                        "total",
                        f"第{number}行：按基数×比例算出的单位 {er} + 个人 {ee} 与金额合计 {total} 不符，请核对",
                        "另有 {more} 行的单位+个人金额与金额合计不符（共 {n} 行）",
                    )
        elif total is not None and er is None and ee is None:
            if side == EMPLOYER:
                er = total
            elif side == EMPLOYEE:
                ee = total
            else:
                self.warn.add(
                    "total_only",
                    f"第{number}行只有合计金额 {total}，无法拆分单位和个人部分：已记录该月，金额留空",
                    "另有 {more} 行只有合计金额、未拆分单位和个人部分（共 {n} 行）",
                )
        if not months:
            errors.append(_error(number, self.label(self.i_period, "费款所属期"), "empty", "费款所属期为空"))
            return
        evidence, status, erp, eep = _settle(row.status, er, ee, erp, eep, d.evidence)
        for month in months:
            out.append(
                ContributionFact(
                    row.person,
                    insurance,
                    month,
                    number,
                    row.posting,
                    row.unit_no,
                    row.unit_name,
                    base,
                    er,
                    ee,
                    erp,
                    eep,
                    late,
                    status,
                    row.payment_type,
                    evidence,
                )
            )

    def _status_row(
        self,
        number: int,
        vals: list[object],
        texts: list[str],
        person: PersonRef,
        unit_no: str,
        unit_name: str,
        enrollments: list[EnrollmentFact],
        contributions: list[ContributionFact],
        errors: list[dict[str, str]],
    ) -> None:
        """status_list: one EnrollmentFact per row (and a contribution when asked and known)."""
        d = self.profile.definition
        insurance = self.default_insurance
        i_ins, i_status = self.i_insurance, self.i_status
        if i_ins >= 0 and texts[i_ins].strip():
            found, _ = self._insurance_of(texts[i_ins])
            if found == IGNORE:
                raise _Skip(f"不核算的险种：{texts[i_ins].strip()}")
            if found is None:
                message = f"无法识别的险种“{texts[i_ins].strip()}”"
                errors.append(_error(number, self.label(i_ins, "险种"), "insurance", message))
                return
            insurance = found  # type: ignore[assignment]
        if insurance is None:
            errors.append(_error(number, self.label(i_ins, "险种"), "insurance", "险种为空"))
            return
        text = texts[i_status].strip()
        state = lookup_state(text, self.profile.state_values) if text else None
        if state is None:
            message = f"无法识别的参保状态“{text}”" if text else "参保状态为空"
            errors.append(_error(number, self.label(i_status, "参保状态"), "state", message))
            return
        since = to_date(vals[self.i_since])
        enrollments.append(EnrollmentFact(person, insurance, state, number, unit_no, unit_name, since))
        if d.emit_contributions and self.default_period is not None and state == EnrollmentState.ACTIVE:
            num = to_decimal
            er, ee = num(vals[self.i_employer_due]), num(vals[self.i_employee_due])
            if er is not None or ee is not None:
                evidence, status, erp, eep = _settle(None, er, ee, None, None, d.evidence)
                contributions.append(
                    ContributionFact(
                        person,
                        insurance,
                        self.default_period,
                        number,
                        self.default_posting,
                        unit_no,
                        unit_name,
                        num(vals[self.i_base]),
                        er,
                        ee,
                        evidence=evidence,
                    )
                )

    def _value_errors(self, number: int, vals: list[object], errors: list[dict[str, str]]) -> None:
        """The slow path after a ValueError: say which cells are wrong."""
        labels = self.layout.labels
        for c in self.number_columns:
            try:
                to_decimal(vals[c])
            except ValueError as exc:
                errors.append(_error(number, labels[c], "number", str(exc)))
        for c in self.month_columns:
            try:
                to_period(vals[c])
            except ValueError as exc:
                errors.append(_error(number, labels[c], "period", str(exc)))
        if self.i_since >= 0:
            try:
                to_date(vals[self.i_since])
            except ValueError as exc:
                errors.append(_error(number, labels[self.i_since], "date", str(exc)))
        if not errors:
            errors.append(_error(number, "", "value", "本行数据无法识别"))

    def _non_person(self, texts: list[str]) -> tuple[str, str]:
        """(kind, reason) for a row without a valid identity number that is not a person;
        ("", "") if it may be one. Kinds: blank, header, subtable, total, footer, dash, section."""
        filled = [t.strip() for t in texts if t and t.strip()]
        if not filled:
            return "blank", "空行"
        heads = [norm_header(t) for t in filled]
        for header in self.layout.header_sets:
            in_header = sum(1 for h in heads if h in header)
            if in_header >= 3 and in_header >= len(header) * 0.6:
                return "header", "重复的表头行"
        if sum(1 for h in heads if h in self.known) >= 3:
            return "subtable", f"子表表头（{'、'.join(filled[:4])}…），以下行不属于本表"
        for h in heads[:4]:
            if h.startswith(_TOTAL_WORDS) or h.endswith(("合计", "小计", "总计")):
                return "total", f"合计行：{h}"
        joined = "".join(heads)
        if any(w in joined for w in _FOOTER_WORDS):
            return "footer", "表尾说明"
        if all(is_dash(t) for t in filled):
            return "dash", "填充行（——）"
        values = [norm_value(t) for t in filled]
        label = next((v for v in values if v in self.sections), None)
        if label is None and len(filled) == 1 and _number_or_none(filled[0]) is None:
            label = filled[0]
        if label is not None:
            return "section", f"分组标题：{label}"
        if "(空白)" in values or "空白" in values:
            return "blank", "空白行"
        return "", ""


@dataclass(slots=True)
class _Row:
    person: PersonRef
    period: YearMonth | None
    period_end: YearMonth | None
    posting: YearMonth | None
    unit_no: str
    unit_name: str
    status: ContributionStatus | None
    payment_type: PaymentType | None


class _Skip(Exception):  # noqa: N818 - control flow, not an error
    """A row that is a person but yields nothing (an item Shebao does not keep)."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


def _number_or_none(text: str) -> Decimal | None:
    try:
        return to_decimal(text)
    except ValueError:
        return None


def _blank(value: object) -> bool:
    return value is None or (isinstance(value, str) and not value.strip())


def _mask_match(m: re.Match[str]) -> str:
    return mask_identity(m.group(0), "resident_id" if len(m.group(0)) == 18 else "")


def _error(number: int, column: str, code: str, message: str) -> dict[str, str]:
    where = f"第{number}行“{column}”" if column else f"第{number}行"
    return {"column": column, "code": code, "message": f"{where}：{message}"}


def _settle(
    status: ContributionStatus | None,
    er: Decimal | None,
    ee: Decimal | None,
    erp: Decimal | None,
    eep: Decimal | None,
    evidence: Evidence,
) -> tuple[Evidence, ContributionStatus | None, Decimal | None, Decimal | None]:
    """Payment evidence: 实缴 amounts, or a 到账/入账/缴费状态 that says paid, make it "paid"."""
    if erp is not None or eep is not None:
        if status is None:
            paid = (erp or 0) + (eep or 0)
            due = (er or 0) + (ee or 0)
            if paid > 0 and paid >= due:
                status = ContributionStatus.PAID
            elif paid == 0 and due > 0:
                status = ContributionStatus.UNPAID
        return Evidence.PAID, status, erp, eep
    if status is ContributionStatus.PAID:
        return Evidence.PAID, status, er, ee
    return evidence, status, erp, eep
