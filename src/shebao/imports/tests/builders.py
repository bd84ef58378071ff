"""Roster files built in memory (xlsxwriter / csv) for the engine and CLI tests."""

from __future__ import annotations

import csv
import datetime as dt
import io
import itertools
from collections.abc import Sequence

import xlsxwriter

from shebao.core.identity import make_legacy15_id, make_resident_id

HEADERS = ["姓名", "身份证号", "工号", "入职日期", "参保主体", "部门", "手机号", "申报工资"]
_seq = itertools.count(500)


def new_id(year: int = 1990) -> str:
    # 110108 (海淀区), not conftest's 110105: the two counters would meet after ~500 employees
    n = next(_seq)
    return make_resident_id("110108", dt.date(year, 1, 1) + dt.timedelta(days=n), n % 1000)


def legacy_id() -> str:
    n = next(_seq)
    return make_legacy15_id("110105", dt.date(1970, 1, 1) + dt.timedelta(days=n), n % 1000)


def xlsx_bytes(
    headers: Sequence[str], rows: Sequence[Sequence[object]], *, title: str | None = None
) -> bytes:
    """Strings as text, numbers as numbers, dates as date cells (like HR's Excel files)."""
    buf = io.BytesIO()
    with xlsxwriter.Workbook(buf, {"in_memory": True}) as wb:
        ws = wb.add_worksheet("花名册")
        date_fmt = wb.add_format({"num_format": "yyyy-mm-dd"})
        start = 0
        if title:
            ws.write_string(0, 0, title)
            start = 2
        for c, h in enumerate(headers):
            ws.write_string(start, c, h)
        for r, row in enumerate(rows, start=start + 1):
            for c, value in enumerate(row):
                if value is None:
                    continue
                if isinstance(value, dt.date):
                    ws.write_datetime(r, c, dt.datetime.combine(value, dt.time()), date_fmt)
                elif isinstance(value, int | float) and not isinstance(value, bool):
                    ws.write_number(r, c, value)
                else:
                    ws.write_string(r, c, str(value))
    return buf.getvalue()


def csv_bytes(headers: Sequence[str], rows: Sequence[Sequence[object]], encoding: str = "utf-8-sig") -> bytes:
    out = io.StringIO(newline="")
    writer = csv.writer(out)
    writer.writerow(headers)
    for row in rows:
        writer.writerow(["" if v is None else v for v in row])
    return out.getvalue().encode(encoding)


def person(
    name: str,
    id_number: str,
    no: str,
    *,
    hired: object = dt.date(2024, 3, 1),
    entity: str = "BJ01",
    dept: str | None = "研发部",
    phone: object = None,
    wage: object = None,
) -> list[object]:
    return [name, id_number, no, hired, entity, dept, phone, wage]


def row_errors(batch) -> list[tuple[int, str, str, str]]:
    from shebao.imports.selectors import import_batch_errors

    return [(e["row"], e["column"], e["code"], e["message"]) for e in import_batch_errors(batch=batch)]
