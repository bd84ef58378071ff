"""Open a government export or agency bill: every visible sheet, its non-blank rows.

The same protections as the roster import (shebao.imports.readers): a size limit for uploads, the
file's magic bytes checked against its extension, zip bombs refused before anything is inflated,
calamine run in an isolated child process with a memory limit, CSV encoding detected (UTF-8 with
or without BOM, GB18030, UTF-16).

A CSV given as a path is never loaded: its rows are read lazily from the open file each time
``Sheet.rows()`` is iterated (the drop folder and the CLI ingest multi-million-row files).
"""

from __future__ import annotations

import codecs
import csv
import io
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

from shebao.imports.readers import (
    CSV_SNIFF_CHARS,
    MB,
    ImportFileError,
    _check_magic,
    _check_zip,
    _corrupt,
    _decode,
    _delimiter,
    _format_from_name,
    _mb,
    read_sheets,
)

__all__ = ["Row", "Sheet", "Source", "open_source"]

Row = tuple[int, list[object]]  # (Excel row number or CSV record number, cells)

DEFAULT_MAX_BYTES = 50 * MB
MAX_SHEET_ROWS = 1_000_000
HEAD_ROWS = 40
_ENCODING_ERROR = (
    "无法识别文件编码：请另存为 UTF-8 或 GB18030 编码的 CSV（Excel 中选“另存为 → CSV UTF-8（逗号分隔）”）"
)


@dataclass(eq=False)
class Sheet:
    """One worksheet (or the CSV). ``rows()`` yields (row number, cells), blank rows skipped;
    for a CSV read from a path each call streams the file again."""

    name: str
    _rows: list[Row] | None = None
    _stream: Callable[[], Iterator[Row]] | None = None
    _head: list[Row] | None = field(default=None, repr=False)

    def rows(self) -> Iterator[Row]:
        if self._rows is not None:
            return iter(self._rows)
        assert self._stream is not None
        return self._stream()

    def head(self, n: int = HEAD_ROWS) -> list[Row]:
        """The first ``n`` non-blank rows (what detection and the header search look at)."""
        if self._head is None or len(self._head) < n:
            out: list[Row] = []
            rows = self.rows()
            try:
                for row in rows:
                    out.append(row)
                    if len(out) >= n:
                        break
            finally:
                close = getattr(rows, "close", None)
                if close is not None:
                    close()
            self._head = out
        return self._head[:n]


@dataclass(eq=False)
class Source:
    filename: str
    format: str  # "xlsx" | "xls" | "csv"
    sheets: list[Sheet]
    encoding: str | None = None  # CSV only
    streamed: bool = False  # a CSV read lazily from a path

    def sheet(self, name: str) -> Sheet:
        for sheet in self.sheets:
            if sheet.name == name:
                return sheet
        raise ImportFileError("no_sheet", f"文件中没有名为“{name}”的可见工作表")


def open_source(
    data: bytes | Path,
    *,
    filename: str | None = None,
    max_bytes: int | None = DEFAULT_MAX_BYTES,
    isolate: bool = True,
) -> Source:
    """Open an upload (bytes) or a trusted file (Path). ``max_bytes=None`` lifts the size limit
    (CLI and drop folder); ``isolate`` runs calamine in a child process (keep it on for uploads).
    Raises ImportFileError with a Chinese message when the file cannot be read."""
    if isinstance(data, Path):
        filename = filename or data.name
        fmt = _format_from_name(filename)
        size = data.stat().st_size
        _check_size(size, max_bytes)
        if fmt == "csv":
            return _open_csv_path(data, filename, size)
        data = data.read_bytes()
    if filename is None:
        raise TypeError("open_source() needs filename= for bytes")
    fmt = _format_from_name(filename)
    _check_size(len(data), max_bytes)
    if not data.strip():
        raise _empty()
    _check_magic(data, fmt, filename)
    if fmt == "csv":
        text, encoding = _decode(data)
        delimiter = _delimiter(text)
        sheet = Sheet("", _stream=lambda: _csv_stream(io.StringIO(text, newline=""), delimiter))
        return _nonempty_source(Source(filename, fmt, [sheet], encoding=encoding))
    if fmt == "xlsx":
        _check_zip(data)
    sheets = [
        Sheet(name, _rows=rows)
        for name, rows in read_sheets(data, fmt, limit=MAX_SHEET_ROWS, isolate=isolate)
    ]
    if not sheets:
        raise _empty()
    return Source(filename, fmt, sheets)


def _check_size(size: int, max_bytes: int | None) -> None:
    if max_bytes is not None and size > max_bytes:
        raise ImportFileError(
            "too_large",
            f"文件太大（{_mb(size)} MB），上限为 {_mb(max_bytes)} MB：请拆分成多个文件后分别上传，"
            "或由管理员放入投递文件夹导入",
        )


def _empty() -> ImportFileError:
    return ImportFileError("empty", "文件中没有数据：请确认选择了正确的文件后重新上传")


def _nonempty_source(source: Source) -> Source:
    if not source.sheets[0].head(1):
        raise _empty()
    return source


def _open_csv_path(path: Path, filename: str, size: int) -> Source:
    with path.open("rb") as fh:
        sample = fh.read(CSV_SNIFF_CHARS * 4)
    if not sample.strip():
        raise _empty()
    _check_magic(sample, "csv", filename)
    encoding, text = _sniff_encoding(sample, complete=size <= len(sample))
    delimiter = _delimiter(text)

    def stream() -> Iterator[Row]:
        with path.open(encoding=encoding, newline="") as fh:
            yield from _csv_stream(fh, delimiter)

    return _nonempty_source(
        Source(filename, "csv", [Sheet("", _stream=stream)], encoding=encoding, streamed=True)
    )


def _sniff_encoding(sample: bytes, *, complete: bool) -> tuple[str, str]:
    """The encoding of a file from its first bytes, and the decoded sample (for the delimiter)."""
    if sample.startswith(codecs.BOM_UTF8):
        candidates = ["utf-8-sig"]
    elif sample.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        candidates = ["utf-16"]
    else:
        candidates = ["utf-8", "gb18030"]
    for encoding in candidates:
        try:
            # final=False: the sample may end in the middle of a character
            text = codecs.getincrementaldecoder(encoding)().decode(sample, final=complete)
        except UnicodeDecodeError:
            continue
        if "\x00" not in text:
            return encoding, text
    raise ImportFileError("encoding", _ENCODING_ERROR)


def _csv_stream(lines: Iterable[str], delimiter: str) -> Iterator[Row]:
    """CSV records as lists of str ("" for empty), numbered from 1; blank records skipped."""
    reader = csv.reader(lines, delimiter=delimiter)
    number = 0
    try:
        for number, record in enumerate(reader, start=1):
            if record and (record[0].strip() or any(v.strip() for v in record)):
                yield number, record  # type: ignore[misc]
    except UnicodeDecodeError as exc:
        raise ImportFileError(
            "encoding", f"文件第{number + 1}条记录附近的编码与文件开头不一致：{_ENCODING_ERROR}"
        ) from exc
    except csv.Error as exc:
        raise _corrupt() from exc
