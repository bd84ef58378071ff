"""Builders of the messy files HR really uploads, made in memory (xlsxwriter, csv, hand-made BIFF8)."""

from __future__ import annotations

import csv
import datetime as dt
import io
import struct
import zipfile
from collections.abc import Callable, Sequence

import xlsxwriter

ALIASES = {"姓名", "身份证号", "证件号码", "手机号", "入职日期", "部门", "备注", "工资"}
ID_1 = "110101199003077777"
ID_FULLWIDTH = "１１０１０１１９９００３０７７７７７"


def header_score(texts: list[str]) -> int:
    """Stands in for the engine's callback: how many recognised column names the row has."""
    return sum(t in ALIASES for t in texts)


def xlsx(build: Callable[[xlsxwriter.Workbook], None]) -> bytes:
    buf = io.BytesIO()
    with xlsxwriter.Workbook(buf, {"in_memory": True}) as wb:
        build(wb)
    return buf.getvalue()


def messy_xlsx() -> bytes:
    """A hidden sheet and an empty sheet first; then 员工花名册 with a merged title, a note, a
    blank row, the header on row 4 (a blank header between named ones, formatted blank columns
    after it), a hidden column, formulas, full-width digits, blank and whitespace-only rows."""

    def build(wb: xlsxwriter.Workbook) -> None:
        hidden = wb.add_worksheet("旧数据")
        hidden.write_row(0, 0, ["姓名", "身份证号", "手机号"])
        hidden.write_row(1, 0, ["不该读到", "x", "y"])
        hidden.hide()
        wb.add_worksheet("空白")
        ws = wb.add_worksheet("员工花名册")
        ws.activate()
        date = wb.add_format({"num_format": "yyyy-mm-dd"})
        border = wb.add_format({"border": 1})
        ws.merge_range("A1:H1", "2024年度员工花名册", wb.add_format({"bold": True, "align": "center"}))
        ws.write_string("A2", "说明：带*为必填；身份证号请以文本格式填写")
        ws.write_row("A4", ["姓名", "身份证号", "手机号", "入职日期", "", "部门", "工资"])
        for col in range(7, 12):  # formatted but empty trailing columns
            ws.write_blank(3, col, None, border)
        ws.write_blank("I5", None, border)
        ws.set_column("C:C", 14, None, {"hidden": True})
        ws.write_row("A5", ["张三", ID_1, "13800138000"])
        ws.write_datetime("D5", dt.datetime(2024, 3, 1), date)
        ws.write_string("F5", "研发部")
        ws.write_formula("G5", "=1+1", None, 2)
        # row 6 blank
        ws.write_string("A7", "李四")
        ws.write_string("B7", ID_FULLWIDTH)
        ws.write_formula("C7", '=HYPERLINK("http://x","y")', None, "y")
        ws.write_string("F7", '=HYPERLINK("http://evil","点我")')
        ws.write_formula("G7", "=1+1")  # no cached value: must not come back as 2
        ws.write_string("A8", "   ")  # whitespace only: an empty row
        ws.write_row("A9", ["王五", "110101199003071234", None, None, None, "市场部", 8000])
        ws.write_boolean("E9", True)

    return xlsx(build)


def simple_xlsx(rows: Sequence[Sequence[object]], sheet: str = "Sheet1") -> bytes:
    def build(wb: xlsxwriter.Workbook) -> None:
        ws = wb.add_worksheet(sheet)
        for r, row in enumerate(rows):
            for c, value in enumerate(row):
                if value is not None:
                    ws.write(r, c, value)

    return xlsx(build)


def patch_xlsx(data: bytes, member: str, transform: Callable[[bytes], bytes]) -> bytes:
    """The same xlsx with one member's bytes transformed."""
    src = zipfile.ZipFile(io.BytesIO(data))
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as dst:
        for item in src.infolist():
            content = src.read(item.filename)
            dst.writestr(item, transform(content) if item.filename == member else content)
    return out.getvalue()


def far_cells_xlsx(*, hide_from_scan: bool) -> bytes:
    """A few-KB sheet spanning A1:XFD1048576, which makes calamine allocate ~550 GB and abort.
    With ``hide_from_scan`` the far row's cell has no ``r`` attribute (legal: its position is
    implied), so only the process isolation can save the caller."""
    data = simple_xlsx([["姓名", "部门"], ["张三", "研发部"]], sheet="花名册")
    if hide_from_scan:
        far = b'<c r="XFD1" t="inlineStr"><is><t>far</t></is></c></row><row r="1048576"><c t="inlineStr">'
    else:
        far = b'</row><row r="1048576"><c r="XFD1048576" t="inlineStr">'
    extra = far + b"<is><t>x</t></is></c></row></sheetData>"
    return patch_xlsx(
        data, "xl/worksheets/sheet1.xml", lambda xml: xml.replace(b"</row></sheetData>", extra, 1)
    )


def csv_file(
    rows: Sequence[Sequence[object]], *, encoding: str = "utf-8", delimiter: str = ",", bom: bool = False
) -> bytes:
    out = io.StringIO(newline="")
    csv.writer(out, delimiter=delimiter, lineterminator="\r\n").writerows(rows)
    return (b"\xef\xbb\xbf" if bom else b"") + out.getvalue().encode(encoding)


CSV_ROWS: list[list[object]] = [
    ["员工花名册（导出于2024-05-01）"],
    [],
    ["姓名", "身份证号", "部门", "备注"],
    ["张三", ID_1, "研发部", "含,逗号与\n换行"],
    ["", "", "", ""],
    ["赵六", ID_FULLWIDTH, "財務部", "=1+1"],
]


def zip_with(members: dict[str, bytes | int], *, level: int = 1) -> bytes:
    """A zip whose members are bytes, or ints = that many zero bytes (streamed in 1 MB chunks)."""
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED, compresslevel=level) as zf:
        for name, content in members.items():
            if isinstance(content, bytes):
                zf.writestr(name, content)
                continue
            chunk = b"\0" * (1 << 20)
            with zf.open(name, "w") as fh:
                left = content
                while left > 0:
                    fh.write(chunk[: min(left, len(chunk))])
                    left -= len(chunk)
    return buf.getvalue()


# --- .xls (BIFF8 in an OLE2 compound file), enough for calamine --------------------------------


def _rec(rtype: int, payload: bytes) -> bytes:
    return struct.pack("<HH", rtype, len(payload)) + payload


def _bof(kind: int) -> bytes:
    return _rec(0x0809, struct.pack("<HHHHII", 0x0600, kind, 0x0DBB, 0x07CC, 0, 0x06))


def xls(sheets: Sequence[tuple[str, Sequence[Sequence[object]], bool]]) -> bytes:
    """An .xls with (name, rows, hidden) sheets; cells are str, numbers or None."""
    strings: dict[str, int] = {}
    bodies = []
    for _name, rows, _hidden in sheets:
        ncols = max((len(r) for r in rows), default=0)
        body = _bof(0x0010) + _rec(0x0200, struct.pack("<IIHHH", 0, len(rows), 0, ncols, 0))
        for r, row in enumerate(rows):
            for c, value in enumerate(row):
                if isinstance(value, str):
                    index = strings.setdefault(value, len(strings))
                    body += _rec(0x00FD, struct.pack("<HHHI", r, c, 15, index))  # LABELSST
                elif value is not None:
                    body += _rec(0x0203, struct.pack("<HHHd", r, c, 15, float(value)))  # NUMBER
        bodies.append(body + _rec(0x000A, b""))
    sst = struct.pack("<II", len(strings), len(strings)) + b"".join(
        struct.pack("<HB", len(s), 1) + s.encode("utf-16-le") for s in strings
    )
    head = _bof(0x0005) + _rec(0x0042, struct.pack("<H", 1200))
    tail = _rec(0x00FC, sst) + _rec(0x000A, b"")

    def boundsheets(offsets: list[int]) -> bytes:
        return b"".join(
            _rec(0x0085, struct.pack("<IBBBB", off, int(hidden), 0, len(name), 1) + name.encode("utf-16-le"))
            for (name, _rows, hidden), off in zip(sheets, offsets, strict=True)
        )

    offsets, pos = [], len(head) + len(boundsheets([0] * len(sheets))) + len(tail)
    for body in bodies:
        offsets.append(pos)
        pos += len(body)
    return _compound_file(head + boundsheets(offsets) + tail + b"".join(bodies))


def _compound_file(stream: bytes) -> bytes:
    """OLE2 (v3, 512-byte sectors): FAT in sector 0, directory in 1, the Workbook stream after.
    The stream is padded to 4096 bytes so it lives in regular sectors, not the mini stream."""
    end, free, fat_sector, none = 0xFFFFFFFE, 0xFFFFFFFF, 0xFFFFFFFD, 0xFFFFFFFF
    stream = stream.ljust(max(4096, -(-len(stream) // 512) * 512), b"\0")
    n = len(stream) // 512
    if n + 2 > 128:
        raise ValueError("fixture too large for a one-sector FAT")
    fat = [fat_sector, end, *range(3, n + 2), end]
    fat += [free] * (128 - len(fat))

    def entry(name: str, kind: int, child: int, start: int, size: int) -> bytes:
        raw = name.encode("utf-16-le") + b"\0\0" if name else b""
        return (
            raw.ljust(64, b"\0")
            + struct.pack("<HBBIII", len(raw), kind, 1, none, none, child)
            + b"\0" * 16
            + struct.pack("<IQQIQ", 0, 0, 0, start, size)
        )

    directory = entry("Root Entry", 5, 1, end, 0) + entry("Workbook", 2, none, 2, len(stream))
    directory += entry("", 0, none, 0, 0) * 2
    header = (
        b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"
        + b"\0" * 16
        + struct.pack("<HHHHH", 0x3E, 3, 0xFFFE, 9, 6)
        + b"\0" * 6
        + struct.pack("<IIIIIIIII", 0, 1, 1, 0, 4096, end, 0, end, 0)
        + struct.pack("<I", 0)
        + struct.pack("<I", free) * 108
    )
    return header + struct.pack("<128I", *fat) + directory + stream
