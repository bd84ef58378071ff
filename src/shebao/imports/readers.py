"""Read an uploaded roster spreadsheet (.xlsx/.xlsm, .xls, .csv/.txt) into a :class:`Table`.

Pure functions, no Django: the import engine passes the raw bytes and a ``header_score`` callback
(how many recognised column names a row has) and gets back the header and the data rows with
their Excel row numbers, or an :class:`ImportFileError` whose Chinese message tells HR what to do.

Nothing is executed: calamine returns the cached values of formulas, macros are never run, and
text such as ``=HYPERLINK(...)`` stays text.
"""

from __future__ import annotations

import codecs
import csv
import datetime as dt
import io
import logging
import os
import pickle
import posixpath
import re
import resource
import subprocess
import sys
import zipfile
import zlib
from collections import Counter
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from xml.etree import ElementTree

import python_calamine
from python_calamine import CalamineError, CalamineWorkbook, PasswordError

MB = 1024 * 1024
ZIP_MAX_TOTAL = 200 * MB  # sum of the uncompressed sizes of all members
ZIP_MAX_RATIO = 100  # uncompressed / compressed, for members larger than ZIP_RATIO_MIN_SIZE
ZIP_RATIO_MIN_SIZE = 1 * MB
CSV_SNIFF_CHARS = 64 * 1024
MAX_CELLS = 20_000_000  # rows × columns of the rectangle a sheet spans (calamine fills it all)
CHILD_MEMORY_LIMIT = 8192 * MB  # address space of the process that runs calamine
CHILD_TIMEOUT = 120  # seconds

log = logging.getLogger(__name__)
# what zipfile raises on damaged or exotic archives
_ZIP_ERRORS = (
    zipfile.BadZipFile,
    zipfile.LargeZipFile,
    NotImplementedError,
    RuntimeError,
    zlib.error,
    KeyError,
    OSError,
    ValueError,
    EOFError,
)

_FORMATS = {".xlsx": "xlsx", ".xlsm": "xlsx", ".xls": "xls", ".csv": "csv", ".txt": "csv"}
_ZIP_MAGIC = b"PK\x03\x04"
_OLE2_MAGIC = b"\xd0\xcf\x11\xe0"


class ImportFileError(Exception):
    """The whole file cannot be read. ``code`` is stable for programs, ``message`` is for HR."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code  # too_large | unsupported | encoding | empty | no_header | zip_bomb | corrupt
        self.message = message


@dataclass(frozen=True)
class Table:
    headers: list[str]
    header_row: int  # Excel row number (1-based)
    rows: list[tuple[int, list[object]]]  # (Excel row number, cells aligned with headers)
    sheet: str  # "" for CSV
    format: str  # "xlsx" | "xls" | "csv"
    encoding: str | None  # CSV only: "utf-8-sig" | "utf-8" | "gb18030" | "utf-16"
    hidden_columns: list[int]  # xlsx only, best effort


def read_table(
    data: bytes,
    *,
    filename: str,
    header_score: Callable[[list[str]], int],
    max_bytes: int = 20 * MB,
    max_rows: int = 200_000,
    scan_rows: int = 30,
    isolate: bool = True,
) -> Table:
    """Read the first visible sheet (or the CSV) of an upload; raise ImportFileError if impossible.

    ``isolate`` runs calamine in a child process (see _workbook_rows); keep it on for uploads.
    """
    fmt = _format_from_name(filename)
    if len(data) > max_bytes:
        raise ImportFileError(
            "too_large",
            f"文件太大（{_mb(len(data))} MB），上限为 {_mb(max_bytes)} MB："
            "请删除多余的工作表和图片，或拆分成多个文件后分别上传",
        )
    if not data.strip():
        raise ImportFileError("empty", "文件是空的：请确认选择了正确的文件后重新上传")
    _check_magic(data, fmt, filename)

    encoding: str | None = None
    hidden: set[int] = set()
    sheet = ""
    if fmt == "csv":
        text, encoding = _decode(data)
        grid: Iterable[tuple[int, list[object]]] = _csv_rows(text)
    else:
        if fmt == "xlsx":
            _check_zip(data)
        sheet, grid, hidden = _workbook_rows(data, fmt, limit=max_rows + scan_rows, isolate=isolate)
    return _build_table(
        _nonempty(grid, limit=max_rows + scan_rows),
        header_score=header_score,
        scan_rows=scan_rows,
        max_rows=max_rows,
        sheet=sheet,
        fmt=fmt,
        encoding=encoding,
        hidden=hidden,
    )


# --- file type, size, zip ------------------------------------------------------------------------


def _mb(n: int) -> str:
    return f"{n / MB:.1f}".removesuffix(".0")


def _format_from_name(filename: str) -> str:
    ext = posixpath.splitext(filename.replace("\\", "/").strip().lower())[1]
    if ext not in _FORMATS:
        raise ImportFileError("unsupported", f"不支持的文件类型“{filename}”：请上传 .xlsx、.xls 或 .csv 文件")
    return _FORMATS[ext]


def _check_magic(data: bytes, fmt: str, filename: str) -> None:
    if fmt == "csv":
        if data.startswith(_ZIP_MAGIC) or data.startswith(_OLE2_MAGIC):
            real = ".xlsx" if data.startswith(_ZIP_MAGIC) else ".xls"
            raise ImportFileError(
                "unsupported", f"文件“{filename}”实际是 Excel 文件而不是 CSV：请把扩展名改为 {real} 后再上传"
            )
        return
    want = _ZIP_MAGIC if fmt == "xlsx" else _OLE2_MAGIC
    if data.startswith(want):
        return
    if fmt == "xlsx" and data.startswith(_OLE2_MAGIC):
        hint = "可能是设置了打开密码的文件，或把 .xls 改成了 .xlsx：请用 Excel 打开，取消密码后另存为 .xlsx 再上传"
    elif fmt == "xls" and data.startswith(_ZIP_MAGIC):
        hint = "它实际是 .xlsx 格式：请把扩展名改为 .xlsx 后再上传"
    elif data.lstrip(b"\xef\xbb\xbf \t\r\n").startswith(b"<"):
        hint = "它是其他系统导出的网页/XML 格式：请用 Excel 打开后“另存为” .xlsx 再上传"
    else:
        hint = "请用 Excel 打开后另存为 .xlsx 再上传"
    raise ImportFileError("unsupported", f"文件“{filename}”的内容与扩展名不符，不是有效的 Excel 文件，{hint}")


def _check_zip(
    data: bytes,
    *,
    max_total: int = ZIP_MAX_TOTAL,
    max_ratio: float = ZIP_MAX_RATIO,
    ratio_min_size: int = ZIP_RATIO_MIN_SIZE,
) -> zipfile.ZipFile:
    """Refuse zip bombs before calamine inflates anything; return the opened archive."""
    try:
        zf = zipfile.ZipFile(io.BytesIO(data))
        members = zf.infolist()
    except _ZIP_ERRORS as exc:
        raise _corrupt() from exc
    bomb = sum(m.file_size for m in members) > max_total or any(
        m.file_size > ratio_min_size and m.file_size > max_ratio * max(m.compress_size, 1) for m in members
    )
    if bomb:
        raise ImportFileError(
            "zip_bomb",
            "文件解压后异常巨大，为安全起见已拒绝读取：请用 Excel 打开后另存为新文件再上传；"
            "如果数据确实很多，请拆分成多个文件",
        )
    return zf


_TOO_BIG_TO_READ = "文件内容过多，内存不足以读取：请删除多余的工作表、行和列，或拆分成多个文件后分别上传"


def _corrupt() -> ImportFileError:
    return ImportFileError(
        "corrupt", "文件已损坏，无法读取：请用 Excel 打开确认内容正常，另存为 .xlsx 后重新上传"
    )


# --- workbooks -----------------------------------------------------------------------------------
#
# calamine is native code: a damaged or crafted file can make it panic, or ask for hundreds of GB
# at once (two cells at A1 and XFD1048576 make it allocate the whole rectangle), which aborts the
# process. So the sheet's extent is checked from its XML first, and calamine runs in a child
# process with an address-space limit: a crash there becomes a "corrupt" error, not a dead worker.


def _workbook_rows(
    data: bytes, fmt: str, *, limit: int, isolate: bool
) -> tuple[str, list[tuple[int, list[object]]], set[int]]:
    if not isolate or not sys.executable:
        return _load_workbook(data, fmt, limit)
    return _in_child((data, fmt, limit))


def read_sheets(
    data: bytes, fmt: str, *, limit: int, isolate: bool = True
) -> list[tuple[str, list[tuple[int, list[object]]]]]:
    """Every visible worksheet that has a value, in workbook order: (name, non-empty rows with
    their Excel row numbers, "" as None). The same protections as ``read_table`` (run
    ``_check_magic`` and, for xlsx, ``_check_zip`` first); [] when no sheet has a value."""
    if not isolate or not sys.executable:
        return _load_sheets(data, fmt, limit)
    return _in_child((data, fmt, limit, "all"))


def _in_child(payload: tuple[object, ...]) -> Any:
    """Run ``_child_main`` on ``payload`` in a child process; its result, or ImportFileError."""
    src = str(Path(__file__).resolve().parents[2])  # so the child imports this very package
    env = {**os.environ, "RUST_BACKTRACE": "0"}
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [src, env.get("PYTHONPATH")]))
    try:
        proc = subprocess.run(
            [sys.executable, "-m", "shebao.imports.readers"],
            input=pickle.dumps(payload),
            capture_output=True,
            timeout=CHILD_TIMEOUT,
            env=env,
            check=False,
        )
    except subprocess.TimeoutExpired as exc:
        raise ImportFileError(
            "corrupt", "读取文件超时：文件可能已损坏或结构异常，请用 Excel 打开后另存为 .xlsx 再上传"
        ) from exc
    try:
        result = pickle.loads(proc.stdout) if proc.returncode == 0 else None
    except (pickle.UnpicklingError, EOFError, ValueError):
        result = None
    if result is None:
        stderr = proc.stderr[-2000:].decode(errors="replace")
        log.warning("spreadsheet reader child exited with %s: %s", proc.returncode, stderr)
        raise _corrupt()
    if result[0] == "error":
        raise ImportFileError(result[1], result[2])
    return result[1]


def _child_main() -> None:
    """``python -m shebao.imports.readers``: pickled (data, fmt, limit[, "all"]) in, pickled result out."""
    resource.setrlimit(resource.RLIMIT_AS, (CHILD_MEMORY_LIMIT, CHILD_MEMORY_LIMIT))
    data, fmt, limit, *mode = pickle.load(sys.stdin.buffer)
    load = _load_sheets if mode == ["all"] else _load_workbook
    try:
        result: tuple[object, ...] = ("ok", load(data, fmt, limit))
    except ImportFileError as exc:
        result = ("error", exc.code, exc.message)
    except MemoryError:
        result = ("error", "too_large", _TOO_BIG_TO_READ)
    sys.stdout.buffer.write(pickle.dumps(result))


def _load_workbook(data: bytes, fmt: str, limit: int) -> tuple[str, list[tuple[int, list[object]]], set[int]]:
    """The first visible worksheet that has a value: its name, its non-empty rows (Excel row
    numbers, "" as None) and, for xlsx, its hidden columns."""
    try:
        zf = zipfile.ZipFile(io.BytesIO(data)) if fmt == "xlsx" else None
        paths = _sheet_paths(zf) if zf is not None else {}
        wb = CalamineWorkbook.from_filelike(io.BytesIO(data))
        for name in _visible_sheets(wb):
            hidden: set[int] = set()
            if zf is not None and name in paths:
                hidden, extent = _scan_sheet_xml(zf, paths[name])
                _check_extent(name, *extent)
            sheet = wb.get_sheet_by_name(name)
            if sheet.end is None:
                continue
            _check_extent(name, sheet.end[0] + 1, sheet.end[1] + 1)
            cells = sheet.to_python(skip_empty_area=False)
            grid = ((i, [None if v == "" else v for v in row]) for i, row in enumerate(cells, start=1))
            rows = list(_nonempty(grid, limit=limit))
            if rows:
                return name, rows, hidden
    except PasswordError as exc:
        raise ImportFileError(
            "unsupported", "文件设置了打开密码，无法读取：请在 Excel 中取消密码后另存，再重新上传"
        ) from exc
    except (CalamineError, *_ZIP_ERRORS) as exc:
        raise _corrupt() from exc
    except BaseException as exc:  # pyo3's PanicException derives from BaseException
        if type(exc).__name__ == "PanicException":
            raise _corrupt() from exc
        raise
    raise ImportFileError("empty", "文件中没有数据：请把花名册放在第一个可见的工作表中后重新上传")


def _load_sheets(data: bytes, fmt: str, limit: int) -> list[tuple[str, list[tuple[int, list[object]]]]]:
    """All visible worksheets that have a value (see ``read_sheets``)."""
    sheets: list[tuple[str, list[tuple[int, list[object]]]]] = []
    try:
        zf = zipfile.ZipFile(io.BytesIO(data)) if fmt == "xlsx" else None
        paths = _sheet_paths(zf) if zf is not None else {}
        wb = CalamineWorkbook.from_filelike(io.BytesIO(data))
        for name in _visible_sheets(wb):
            if zf is not None and name in paths:
                _check_extent(name, *_scan_sheet_xml(zf, paths[name])[1])
            sheet = wb.get_sheet_by_name(name)
            if sheet.end is None:
                continue
            _check_extent(name, sheet.end[0] + 1, sheet.end[1] + 1)
            cells = sheet.to_python(skip_empty_area=False)
            grid = ((i, [None if v == "" else v for v in row]) for i, row in enumerate(cells, start=1))
            rows = list(_nonempty(grid, limit=limit))
            if rows:
                sheets.append((name, rows))
    except PasswordError as exc:
        raise ImportFileError(
            "unsupported", "文件设置了打开密码，无法读取：请在 Excel 中取消密码后另存，再重新上传"
        ) from exc
    except (CalamineError, *_ZIP_ERRORS) as exc:
        raise _corrupt() from exc
    except BaseException as exc:  # pyo3's PanicException derives from BaseException
        if type(exc).__name__ == "PanicException":
            raise _corrupt() from exc
        raise
    return sheets


def _visible_sheets(wb: CalamineWorkbook) -> list[str]:
    visible = getattr(python_calamine, "SheetVisibleEnum", None)
    worksheet = getattr(python_calamine, "SheetTypeEnum", None)
    metadata = getattr(wb, "sheets_metadata", None)
    if metadata is None or visible is None or worksheet is None:  # older python-calamine
        return list(wb.sheet_names)
    return [m.name for m in metadata if m.visible == visible.Visible and m.typ == worksheet.WorkSheet]


def _check_extent(sheet: str, rows: int, cols: int) -> None:
    if rows * cols > MAX_CELLS:
        raise ImportFileError(
            "too_large",
            f"工作表“{sheet}”的使用范围过大（延伸到 {_col_name(cols - 1)}{rows} 单元格）："
            "表格下方或右侧可能有误填的内容，请删除数据区以外多余的行和列，另存后再上传",
        )


def _col_name(index: int) -> str:
    name = ""
    index += 1
    while index:
        index, rem = divmod(index - 1, 26)
        name = chr(65 + rem) + name
    return name


def _local(tag: str) -> str:
    return tag.rpartition("}")[2]


def _sheet_paths(zf: zipfile.ZipFile) -> dict[str, str]:
    """Sheet name → path of its XML inside the xlsx; empty when the workbook can't be mapped."""
    try:
        rels = {
            el.get("Id"): el.get("Target", "")
            for el in ElementTree.fromstring(zf.read("xl/_rels/workbook.xml.rels")).iter()
        }
        paths: dict[str, str] = {}
        for el in ElementTree.fromstring(zf.read("xl/workbook.xml")).iter():
            if _local(el.tag) != "sheet":
                continue
            rid = next((v for k, v in el.attrib.items() if _local(k) == "id"), None)
            target = rels.get(rid, "")
            if target:
                path = target.lstrip("/") if target.startswith("/") else posixpath.normpath(f"xl/{target}")
                paths[el.get("name", "")] = path
        return paths
    except (ElementTree.ParseError, *_ZIP_ERRORS):
        return {}


_COL_TAG = re.compile(rb"<(?:\w+:)?col\s[^>]*>")
# A cell with content (not self-closing): its column letters and row number.
_CELL_TAG = re.compile(rb"<(?:\w+:)?c\s[^>]*?\br=\"([A-Z]{1,3})([0-9]{1,7})\"[^>]*?(?<!/)>")
# The same for the usual form, ``<c r="A1" …>`` (what Excel, WPS and XlsxWriter write): 3× faster.
_PLAIN_CELL_ROW = re.compile(rb'<c r="[A-Z]{1,3}([0-9]{1,7})"[^>]*(?<!/)>')
_PLAIN_CELL_COL = re.compile(rb'<c r="([A-Z]{1,3})[0-9]{1,7}"[^>]*(?<!/)>')
_ATTR = re.compile(rb'(\w+)="([^"]*)"')


def _scan_sheet_xml(zf: zipfile.ZipFile, path: str) -> tuple[set[int], tuple[int, int]]:
    """One streaming pass over a sheet's XML: hidden columns (0-based) and the extent
    (rows, columns) of the cells that have content, as calamine will materialise it."""
    hidden: set[int] = set()
    max_row = 0
    letters_seen: set[bytes] = set()
    try:
        with zf.open(path) as fh:
            tail = b""
            while chunk := fh.read(MB):
                buf = tail + chunk
                for tag in _COL_TAG.findall(buf) if b"col" in buf else ():
                    attrs = dict(_ATTR.findall(tag))
                    if attrs.get(b"hidden") in {b"1", b"true"}:
                        lo, hi = int(attrs.get(b"min", b"1")), int(attrs.get(b"max", b"0"))
                        hidden.update(range(lo - 1, min(hi, 16384)))
                # A million cells: keep the per-cell work in C (regex, map, set).
                if buf.count(b"<c ") == buf.count(b'<c r="') and b":c " not in buf:
                    rows = _PLAIN_CELL_ROW.findall(buf)
                    letters_seen.update(_PLAIN_CELL_COL.findall(buf))
                else:  # prefixed tags, or r= not first: the general pattern
                    found = _CELL_TAG.findall(buf)
                    rows = [digits for _, digits in found]
                    letters_seen.update(letters for letters, _ in found)
                if rows:
                    max_row = max(max_row, max(map(int, rows)))
                tail = buf[-512:]
    except _ZIP_ERRORS:
        pass  # calamine will report the damage
    max_col = max((_col_index(letters) + 1 for letters in letters_seen), default=0)
    return hidden, (max_row, max_col)


def _col_index(letters: bytes) -> int:
    index = 0
    for ch in letters:
        index = index * 26 + ch - 64
    return index - 1


# --- CSV -----------------------------------------------------------------------------------------


def _decode(data: bytes) -> tuple[str, str]:
    if data.startswith(codecs.BOM_UTF8):
        candidates = ["utf-8-sig"]
    elif data.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        candidates = ["utf-16"]  # Excel's "Unicode 文本 (*.txt)"
    else:
        candidates = ["utf-8", "gb18030"]
    for encoding in candidates:
        try:
            text = data.decode(encoding)
        except UnicodeDecodeError:
            continue
        if "\x00" not in text:
            return text, encoding
    raise ImportFileError(
        "encoding",
        "无法识别文件编码：请另存为 UTF-8 或 GB18030 编码的 CSV（Excel 中选“另存为 → CSV UTF-8（逗号分隔）”）",
    )


def _delimiter(text: str) -> str:
    """The candidate that splits the most records into the same number (≥ 2) of fields.

    csv.Sniffer guesses wrong when title or note rows sit above the header, which is the normal
    case for HR exports, so each candidate is tried on a sample instead; "," when none splits.
    """
    sample = text[:CSV_SNIFF_CHARS]
    if len(text) > CSV_SNIFF_CHARS and "\n" in sample:
        sample = sample[: sample.rindex("\n")]
    best, best_score = ",", (0, 0)
    for candidate in (",", ";", "\t"):
        try:
            counts = Counter(len(r) for r in csv.reader(io.StringIO(sample, newline=""), delimiter=candidate))
        except csv.Error:
            continue
        score = max(((n, width) for width, n in counts.items() if width >= 2), default=(0, 0))
        if score > best_score:
            best, best_score = candidate, score
    return best


def _csv_rows(text: str) -> Iterator[tuple[int, list[object]]]:
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=_delimiter(text))
    try:
        for number, record in enumerate(reader, start=1):
            yield number, [v if v != "" else None for v in record]
    except csv.Error as exc:
        raise _corrupt() from exc


# --- header and rows -----------------------------------------------------------------------------


def _is_blank(value: object) -> bool:
    return value is None or (isinstance(value, str) and not value.strip())


def _nonempty(grid: Iterable[tuple[int, list[object]]], *, limit: int) -> Iterator[tuple[int, list[object]]]:
    """Skip fully empty rows; stop (too_large) once more than ``limit`` non-empty rows were seen."""
    count = 0
    for number, cells in grid:
        if all(_is_blank(v) for v in cells):
            continue
        count += 1
        if count > limit:
            raise _too_many_rows(limit)
        yield number, cells


def _too_many_rows(max_rows: int) -> ImportFileError:
    return ImportFileError("too_large", f"数据超过 {max_rows} 行的上限：请拆分成多个文件后分别上传")


def _text(value: object) -> str:
    if value is None:
        return ""
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    if isinstance(value, dt.date | dt.time):
        return value.isoformat()
    return str(value).strip()


def _trim(texts: list[str]) -> list[str]:
    end = len(texts)
    while end and not texts[end - 1]:
        end -= 1
    return texts[:end]


def _build_table(
    rows: Iterator[tuple[int, list[object]]],
    *,
    header_score: Callable[[list[str]], int],
    scan_rows: int,
    max_rows: int,
    sheet: str,
    fmt: str,
    encoding: str | None,
    hidden: set[int],
) -> Table:
    scanned: list[tuple[int, list[object]]] = []
    best: tuple[int, int] | None = None  # (score, index into scanned)
    for number, cells in rows:
        scanned.append((number, cells))
        score = header_score(_trim([_text(v) for v in cells]))
        if best is None or score > best[0]:
            best = (score, len(scanned) - 1)
        if len(scanned) >= scan_rows:
            break
    if best is None:
        raise ImportFileError("empty", "文件中没有数据：请填写花名册后重新上传")
    if best[0] < 2:
        raise ImportFileError(
            "no_header",
            f"未找到表头：前{scan_rows}行中没有识别出“姓名”“身份证号”等列名，"
            "请确认表头在第一个可见工作表的前几行，或下载导入模板对照填写",
        )
    header_row, header_cells = scanned[best[1]]
    data = scanned[best[1] + 1 :] + list(rows)
    if len(data) > max_rows:
        raise _too_many_rows(max_rows)
    if not data:
        raise ImportFileError(
            "empty", f"表头（第{header_row}行）下面没有员工数据：请从第{header_row + 1}行起填写后重新上传"
        )
    headers = _trim([_text(v) for v in header_cells])
    # Keep every column that has a header or any data: an unnamed column with values is not lost.
    width = max(
        [len(headers)]
        + [next((i + 1 for i in range(len(c) - 1, -1, -1) if not _is_blank(c[i])), 0) for _, c in data]
    )
    headers += [""] * (width - len(headers))
    aligned = [(n, (c + [None] * (width - len(c)))[:width]) for n, c in data]
    return Table(
        headers=headers,
        header_row=header_row,
        rows=aligned,
        sheet=sheet,
        format=fmt,
        encoding=encoding,
        hidden_columns=sorted(i for i in hidden if i < width),
    )


if __name__ == "__main__":
    _child_main()
