"""Write spreadsheets back to HR: the rows that need fixing, the import template, CSV exports.

Pure functions, no Django. Every text goes through :func:`neutralise` and is written with
``write_string``, so nothing a user typed can become a formula (CSV/formula injection, OWASP).
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import math
import re
import unicodedata
from collections.abc import Collection, Iterable, Sequence
from decimal import Decimal

import xlsxwriter
from xlsxwriter.format import Format
from xlsxwriter.utility import xl_col_to_name
from xlsxwriter.worksheet import Worksheet

_FORMULA_START = ("=", "+", "-", "@")
_CONTROL_START = ("\t", "\r")
TEXT_COLUMN_KEYWORDS = ("身份证", "证件", "手机", "电话", "联系方式", "号码", "账号", "卡号", "工号", "编号")
DATE_COLUMN_KEYWORDS = ("日期",)
TEXT_FORMAT = 49  # Excel's built-in "@" (Text)
MAX_LIST_CHARS = 255  # Excel's limit for an inline drop-down list
TEMPLATE_ROWS = 10_000  # rows of the template that get formats and drop-downs
AUTHOR = "社保合规助手"
_BAD = {"bg_color": "#FFC7CE", "font_color": "#9C0006"}
_INVALID_SHEET_CHARS = re.compile(r"[\[\]:*?/\\]")


def neutralise(value: object) -> object:
    """Prefix ``'`` to a string that a spreadsheet could run as a formula; other values unchanged."""
    if isinstance(value, str) and (
        value.startswith(_CONTROL_START) or value.lstrip().startswith(_FORMULA_START)
    ):
        return "'" + value
    return value


def error_workbook(
    *,
    headers: list[str],
    rows: list[tuple[int, list[object], dict[int, str]]],
    sheet_name: str = "需修正的行",
) -> bytes:
    """An .xlsx of the rows to fix: 原行号, the original columns, 错误说明; bad cells red with a comment.

    An error keyed by an index outside ``headers`` (e.g. -1) is a row-level error: it appears only
    in 错误说明.
    """
    buf = io.BytesIO()
    with xlsxwriter.Workbook(buf, {"in_memory": True}) as wb:
        ws = wb.add_worksheet(_sheet_title(sheet_name))
        styles = _Styles(wb)
        titles = ["原行号", *headers, "错误说明"]
        for col, title in enumerate(titles):
            ws.write_string(0, col, str(neutralise(title)), styles.header)
        widths = [_width(t) for t in titles]
        for r, (row_no, values, errors) in enumerate(rows, start=1):
            ws.write_number(r, 0, row_no)
            for i, value in enumerate(values[: len(headers)]):
                bad = i in errors
                widths[i + 1] = max(widths[i + 1], _write(ws, r, i + 1, value, styles, bad=bad))
                if bad:
                    ws.write_comment(r, i + 1, errors[i], {"author": AUTHOR, "x_scale": 2, "y_scale": 1.5})
            for i in errors:  # a bad cell beyond the supplied values still gets its red fill
                if 0 <= i < len(headers) and i >= len(values):
                    ws.write_blank(r, i + 1, None, styles.get("text", bad=True))
                    ws.write_comment(r, i + 1, errors[i], {"author": AUTHOR, "x_scale": 2, "y_scale": 1.5})
            summary = "；".join(
                f"{headers[i] or xl_col_to_name(i) + '列'}：{msg}" if 0 <= i < len(headers) else msg
                for i, msg in sorted(errors.items(), key=lambda e: (not 0 <= e[0] < len(headers), e[0]))
            )
            ws.write_string(r, len(titles) - 1, str(neutralise(summary)), styles.wrap)
        for col, width in enumerate(widths):
            ws.set_column(col, col, min(max(width, 8), 50))
        ws.set_column(len(titles) - 1, len(titles) - 1, 60)
        ws.freeze_panes(1, 1)
        ws.autofilter(0, 0, max(len(rows), 1), len(titles) - 1)
    return buf.getvalue()


def template_workbook(
    *,
    columns: list[tuple[str, str]],
    example: list[object],
    choices: dict[str, list[str]],
    notes: list[str],
    text_columns: Collection[str] | None = None,
) -> bytes:
    """The import template: sheet 花名册 (headers with help comments, one example row, drop-downs),
    a hidden sheet for long option lists, and sheet 填写说明.

    ``text_columns`` (header names) are formatted as text so Excel keeps ID numbers and phone
    numbers as typed; by default, headers containing a word of TEXT_COLUMN_KEYWORDS.
    """
    buf = io.BytesIO()
    with xlsxwriter.Workbook(buf, {"in_memory": True}) as wb:
        ws = wb.add_worksheet("花名册")
        guide = wb.add_worksheet("填写说明")
        styles = _Styles(wb)
        text_fmt = wb.add_format({"num_format": TEXT_FORMAT})
        date_fmt = wb.add_format({"num_format": "yyyy-mm-dd"})
        lists: Worksheet | None = None
        list_col = 0
        for col, (header, help_text) in enumerate(columns):
            ws.write_string(0, col, str(neutralise(header)), styles.header)
            if help_text:
                ws.write_comment(0, col, help_text, {"author": AUTHOR, "x_scale": 2, "y_scale": 1.5})
            is_text = (
                header in text_columns if text_columns is not None else _has(header, TEXT_COLUMN_KEYWORDS)
            )
            column_fmt = text_fmt if is_text else date_fmt if _has(header, DATE_COLUMN_KEYWORDS) else None
            ws.set_column(col, col, min(max(_width(header) + 4, 12), 30), column_fmt)
            if col < len(example):
                value = example[col]
                if is_text and value is not None and not isinstance(value, str):
                    value = _plain(value)
                _write(ws, 1, col, value, styles, example=True)
            options = choices.get(header)
            if not options:
                continue
            source: str | list[str] = options
            if len(",".join(options)) > MAX_LIST_CHARS or any(c in o for o in options for c in ',"'):
                if lists is None:
                    lists = wb.add_worksheet("下拉选项")
                    lists.hide()
                lists.write_string(0, list_col, str(neutralise(header)))
                for r, option in enumerate(options, start=1):
                    lists.write_string(r, list_col, str(neutralise(option)))
                letter = xl_col_to_name(list_col)
                list_col += 1
                source = f"='下拉选项'!${letter}$2:${letter}${len(options) + 1}"
            ws.data_validation(
                1,
                col,
                TEMPLATE_ROWS,
                col,
                {
                    "validate": "list",
                    "source": source,
                    "error_title": "请从下拉列表中选择",
                    "error_message": f"“{header}”只能填写下拉列表中的选项",
                },
            )
        ws.freeze_panes(1, 0)
        ws.activate()

        guide.set_column(0, 0, 100, styles.wrap)
        guide.write_string(0, 0, "填写说明", styles.header)
        for r, note in enumerate(notes, start=1):
            guide.write_string(r, 0, str(neutralise(note)), styles.wrap)
    return buf.getvalue()


def csv_bytes(headers: Sequence[str], rows: Iterable[Sequence[object]]) -> bytes:
    """CSV in UTF-8 with BOM (Excel opens it correctly), every text neutralised."""
    out = io.StringIO(newline="")
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow([neutralise(h) for h in headers])
    for row in rows:
        writer.writerow([_plain(neutralise(v)) for v in row])
    return out.getvalue().encode("utf-8-sig")


# --- helpers -------------------------------------------------------------------------------------


class _Styles:
    def __init__(self, wb: xlsxwriter.Workbook) -> None:
        self._wb = wb
        self._cache: dict[tuple[str, bool, bool], Format] = {}
        self.header = wb.add_format({"bold": True, "bg_color": "#DDEBF7", "border": 1, "text_wrap": True})
        self.wrap = wb.add_format({"text_wrap": True, "valign": "top"})

    def get(self, kind: str, *, bad: bool = False, example: bool = False) -> Format:
        key = (kind, bad, example)
        if key not in self._cache:
            props: dict[str, object] = {"num_format": TEXT_FORMAT} if kind == "text" else {}
            if kind == "date":
                props["num_format"] = "yyyy-mm-dd"
            elif kind == "datetime":
                props["num_format"] = "yyyy-mm-dd hh:mm:ss"
            if bad:
                props.update(_BAD)
            if example:
                props["font_color"] = "#808080"
            self._cache[key] = self._wb.add_format(props)
        return self._cache[key]


def _write(
    ws: Worksheet,
    row: int,
    col: int,
    value: object,
    styles: _Styles,
    *,
    bad: bool = False,
    example: bool = False,
) -> int:
    """Write one value by type; return its display width."""
    if value is None or value == "":
        if bad or example:
            ws.write_blank(row, col, None, styles.get("text", bad=bad, example=example))
        return 0
    if isinstance(value, bool):
        ws.write_boolean(row, col, value, styles.get("number", bad=bad, example=example))
        return 5
    if isinstance(value, int | float | Decimal) and _safe_number(value):
        ws.write_number(row, col, float(value), styles.get("number", bad=bad, example=example))
        return len(_plain(value))
    if isinstance(value, dt.datetime):
        kind = "date" if value.time() == dt.time() else "datetime"
        ws.write_datetime(row, col, value.replace(tzinfo=None), styles.get(kind, bad=bad, example=example))
        return 19 if kind == "datetime" else 10
    if isinstance(value, dt.date):
        ws.write_datetime(row, col, value, styles.get("date", bad=bad, example=example))
        return 10
    text = str(neutralise(_plain(value)))
    ws.write_string(row, col, text, styles.get("text", bad=bad, example=example))
    return _width(text)


def _safe_number(value: int | float | Decimal) -> bool:
    """Finite and below 10^15: Excel keeps 15 significant digits, so longer numbers (ID numbers
    passed as int) are written as text instead."""
    try:
        return math.isfinite(value) and abs(value) < 10**15
    except OverflowError:
        return False


def _plain(value: object) -> object:
    """A non-string value as text the way HR would type it (1.0 → "1", dates as yyyy-mm-dd)."""
    if value is None or isinstance(value, str):
        return value if value is not None else ""
    if isinstance(value, bool):
        return "是" if value else "否"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    if isinstance(value, dt.datetime):
        return value.isoformat(sep=" ", timespec="seconds").removesuffix(" 00:00:00")
    if isinstance(value, dt.date | dt.time):
        return value.isoformat()
    return str(value)


def _width(text: str) -> int:
    line = max(str(text).splitlines() or [""], key=len)
    return sum(2 if unicodedata.east_asian_width(ch) in "WF" else 1 for ch in line) + 2


def _has(header: str, keywords: Iterable[str]) -> bool:
    return any(k in header for k in keywords)


def _sheet_title(name: str) -> str:
    return _INVALID_SHEET_CHARS.sub("_", name).strip("'")[:31] or "Sheet1"
