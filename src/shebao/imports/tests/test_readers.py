from __future__ import annotations

import datetime as dt
import functools
import io

import pytest

from shebao.imports import readers
from shebao.imports.readers import ImportFileError, Table, read_table
from shebao.imports.tests import messy

read = functools.partial(read_table, header_score=messy.header_score)


def fails(code: str, data: bytes, filename: str, **kwargs: object) -> str:
    with pytest.raises(ImportFileError) as info:
        read(data, filename=filename, **kwargs)
    assert info.value.code == code
    assert info.value.message == str(info.value)
    return info.value.message


@pytest.fixture(scope="module")
def messy_table() -> Table:
    return read(messy.messy_xlsx(), filename="花名册.XLSX")


def test_messy_xlsx_header_and_sheet(messy_table: Table) -> None:
    t = messy_table
    assert (t.format, t.sheet, t.encoding, t.header_row) == ("xlsx", "员工花名册", None, 4)
    # the blank header between named ones is kept; formatted empty columns after 工资 are dropped
    assert t.headers == ["姓名", "身份证号", "手机号", "入职日期", "", "部门", "工资"]
    assert t.hidden_columns == [2]


def test_messy_xlsx_rows(messy_table: Table) -> None:
    rows = dict(messy_table.rows)
    assert list(rows) == [5, 7, 9]  # blank row 6 and whitespace-only row 8 skipped, numbers kept
    assert all(len(cells) == 7 for cells in rows.values())
    assert rows[5] == ["张三", messy.ID_1, "13800138000", dt.date(2024, 3, 1), None, "研发部", 2.0]
    name, ident, link, _, _, text, uncached = rows[7]
    assert (name, ident) == ("李四", messy.ID_FULLWIDTH)  # full-width digits kept as typed
    assert link == "y"  # HYPERLINK: only its cached value
    assert text == '=HYPERLINK("http://evil","点我")'  # text that looks like a formula stays text
    assert uncached != 2  # =1+1 without a cached value is not evaluated
    assert rows[9] == ["王五", "110101199003071234", None, None, True, "市场部", 8000.0]


def test_xlsm_and_title_only_rows_are_not_headers() -> None:
    data = messy.simple_xlsx([["姓名 员工表"], ["姓名", "部门"], ["张三", "研发部"]])
    t = read(data, filename="a.xlsm")
    assert (t.header_row, t.headers, t.rows) == (2, ["姓名", "部门"], [(3, ["张三", "研发部"])])


def test_data_under_an_unnamed_column_is_kept() -> None:
    data = messy.simple_xlsx([["姓名", "部门"], ["张三", "研发部", None, "另起一列的备注"]])
    t = read(data, filename="a.xlsx")
    assert t.headers == ["姓名", "部门", "", ""]
    assert t.rows == [(2, ["张三", "研发部", None, "另起一列的备注"])]


def test_duplicate_headers_kept_and_header_texts_stripped() -> None:
    data = messy.simple_xlsx([[" 姓名 ", "部门", "部门", 2024], ["张三", "a", "b", 1]])
    t = read(data, filename="a.xlsx")
    assert t.headers == ["姓名", "部门", "部门", "2024"]


def test_xls_skips_hidden_sheet() -> None:
    data = messy.xls(
        [
            ("隐藏", [["姓名", "身份证号"], ["不该读到", "x"]], True),
            (
                "花名册",
                [
                    ["员工花名册"],
                    [None],
                    ["姓名", "身份证号", "工资"],
                    ["张三", messy.ID_1, 12000],
                    [None],
                    ["李四", None, 3.5],
                ],
                False,
            ),
        ]
    )
    t = read(data, filename="老系统导出.xls")
    assert (t.format, t.sheet, t.header_row, t.headers) == ("xls", "花名册", 3, ["姓名", "身份证号", "工资"])
    assert t.rows == [(4, ["张三", messy.ID_1, 12000.0]), (6, ["李四", None, 3.5])]
    assert t.hidden_columns == []


@pytest.mark.parametrize(
    ("encoding", "bom", "delimiter", "expected"),
    [
        ("gb18030", False, ",", "gb18030"),
        ("utf-8", True, ",", "utf-8-sig"),
        ("utf-8", False, ";", "utf-8"),
        ("utf-8", False, "\t", "utf-8"),
        ("utf-16", False, "\t", "utf-16"),  # Excel's "Unicode 文本": BOM written by the codec
    ],
)
def test_csv(encoding: str, bom: bool, delimiter: str, expected: str) -> None:
    data = messy.csv_file(messy.CSV_ROWS, encoding=encoding, delimiter=delimiter, bom=bom)
    t = read(data, filename="export.CSV" if delimiter != "\t" else "export.txt")
    assert (t.format, t.sheet, t.encoding, t.header_row, t.hidden_columns) == ("csv", "", expected, 3, [])
    assert t.headers == ["姓名", "身份证号", "部门", "备注"]
    assert t.rows == [
        (4, ["张三", messy.ID_1, "研发部", "含,逗号与\n换行"]),
        (6, ["赵六", messy.ID_FULLWIDTH, "財務部", "=1+1"]),
    ]


def test_csv_short_and_long_records_are_aligned() -> None:
    data = messy.csv_file([["姓名", "部门", "备注"], ["张三"], ["李四", "a", "b", "多出来的"]])
    t = read(data, filename="a.csv")
    assert t.headers == ["姓名", "部门", "备注", ""]
    assert t.rows == [(2, ["张三", None, None, None]), (3, ["李四", "a", "b", "多出来的"])]


def test_csv_undecodable() -> None:
    message = fails("encoding", "姓名,部门\n".encode("gb18030") + b"\x80\xff\xfe\n", "a.csv")
    assert "UTF-8" in message and "GB18030" in message


def test_csv_with_nul_bytes_is_an_encoding_error() -> None:
    fails("encoding", "姓名,部门\n".encode("utf-16-le"), "a.csv")


@pytest.mark.parametrize("filename", ["roster.pdf", "roster", "roster.xlsb", "roster.numbers"])
def test_unsupported_extension(filename: str) -> None:
    message = fails("unsupported", b"%PDF-1.4", filename)
    assert message == f"不支持的文件类型“{filename}”：请上传 .xlsx、.xls 或 .csv 文件"


def test_magic_mismatch() -> None:
    xls_data = messy.xls([("S", [["姓名", "部门"], ["张三", "a"]], False)])
    assert "密码" in fails("unsupported", xls_data, "a.xlsx")  # OLE2 named .xlsx (or encrypted)
    assert "改为 .xlsx" in fails("unsupported", messy.simple_xlsx([["姓名"]]), "a.xls")
    assert "网页" in fails(
        "unsupported", "<html><table><tr><td>姓名</td></tr></table></html>".encode(), "a.xls"
    )
    assert "改为 .xlsx" in fails("unsupported", messy.simple_xlsx([["姓名"]]), "a.csv")
    fails("unsupported", b"just text", "a.xlsx")


def test_too_large() -> None:
    message = fails("too_large", b"x" * (2 * 1024 * 1024 + 1), "a.csv", max_bytes=2 * 1024 * 1024)
    assert "上限为 2 MB" in message
    assert "20 MB" in fails("too_large", b"x" * (20 * 1024 * 1024 + 1), "a.xlsx")


def test_too_many_rows() -> None:
    rows = [["姓名", "部门"]] + [[f"员工{i}", "a"] for i in range(11)]
    assert "10 行" in fails("too_large", messy.csv_file(rows), "a.csv", max_rows=10)
    assert "10 行" in fails("too_large", messy.simple_xlsx(rows), "a.xlsx", max_rows=10)
    assert len(read(messy.csv_file(rows[:11]), filename="a.csv", max_rows=10).rows) == 10


def test_zip_bomb_by_total_size() -> None:
    data = messy.zip_with({"[Content_Types].xml": b"<Types/>", "xl/worksheets/sheet1.xml": 300 * 1024 * 1024})
    assert len(data) < 2 * 1024 * 1024
    fails("zip_bomb", data, "a.xlsx")


def test_zip_bomb_by_ratio() -> None:
    fails("zip_bomb", messy.zip_with({"xl/sharedStrings.xml": 2 * 1024 * 1024}, level=9), "a.xlsx")


def test_zip_limits_are_parameters() -> None:
    data = messy.simple_xlsx([["姓名", "部门"], ["张三", "a"]])
    readers._check_zip(data)
    with pytest.raises(ImportFileError, match="异常巨大"):
        readers._check_zip(data, max_total=1000)


@pytest.mark.parametrize("isolate", [True, False])
def test_sheet_spanning_the_whole_grid_is_refused_before_calamine(isolate: bool) -> None:
    message = fails("too_large", messy.far_cells_xlsx(hide_from_scan=False), "a.xlsx", isolate=isolate)
    assert "XFD1048576" in message


def test_calamine_crash_is_contained_in_the_child_process(caplog: pytest.LogCaptureFixture) -> None:
    assert "损坏" in fails("corrupt", messy.far_cells_xlsx(hide_from_scan=True), "a.xlsx")
    assert "memory allocation" in caplog.text  # calamine aborted the child, not this process


def test_in_process_reading_gives_the_same_table(messy_table: Table) -> None:
    assert read(messy.messy_xlsx(), filename="花名册.xlsx", isolate=False) == messy_table


@pytest.mark.parametrize(
    "data",
    [
        b"PK\x03\x04" + b"\x00garbage" * 50,
        messy.simple_xlsx([["姓名"]])[:300],  # truncated download
        messy.zip_with({"hello.txt": b"not a workbook"}),
    ],
)
def test_corrupt_xlsx(data: bytes) -> None:
    assert "损坏" in fails("corrupt", data, "a.xlsx")


def test_corrupt_xls() -> None:
    fails("corrupt", b"\xd0\xcf\x11\xe0" + b"\x00" * 600, "a.xls")


def test_no_header() -> None:
    data = messy.simple_xlsx([["员工花名册"], ["姓名", "电话"], ["张三", "1"]])
    message = fails("no_header", data, "a.xlsx")
    assert message.startswith("未找到表头：前30行中没有识别出“姓名”“身份证号”等列名")
    # the header must be within the first scan_rows non-empty rows
    rows = [[f"说明{i}"] for i in range(5)] + [["姓名", "部门"], ["张三", "a"]]
    assert "前5行" in fails("no_header", messy.csv_file(rows), "a.csv", scan_rows=5)
    assert read(messy.csv_file(rows), filename="a.csv", scan_rows=6).header_row == 6


def test_empty_inputs() -> None:
    fails("empty", b"", "a.csv")
    fails("empty", b"\xef\xbb\xbf\r\n,,\r\n", "a.csv")
    fails("empty", messy.xlsx(lambda wb: wb.add_worksheet("空")), "a.xlsx")
    assert "第2行起" in fails("empty", messy.csv_file([["姓名", "部门"]]), "a.csv")


@pytest.mark.parametrize(
    ("cells", "extent"),
    [
        # the usual form (fast path); a styled empty cell further out does not count
        (b'<c r="B2" t="inlineStr"><is><t>x</t></is></c><c r="Z90" s="1"/>', (2, 2)),
        # a prefixed tag, r not first (general path): same answer
        (b'<x:c s="1" r="C7" t="n"><x:v>1</x:v></x:c><c r="Z90" s="1"/>', (7, 3)),
        (b'<c r="B2"><v>1</v></c><c s="2" r="AA10"><v>2</v></c>', (10, 27)),
    ],
)
def test_sheet_extent_scan(cells: bytes, extent: tuple[int, int]) -> None:
    import zipfile

    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        zf.writestr("s.xml", b"<worksheet><sheetData><row>" + cells + b"</row></sheetData></worksheet>")
    with zipfile.ZipFile(buf) as zf:
        assert readers._scan_sheet_xml(zf, "s.xml") == (set(), extent)
