from __future__ import annotations

import datetime as dt
import io
import re
import zipfile
from decimal import Decimal

import pytest
from python_calamine import CalamineWorkbook

from shebao.imports.readers import read_table
from shebao.imports.tests import messy
from shebao.imports.writers import csv_bytes, error_workbook, neutralise, template_workbook

EVIL = "=cmd|' /C calc'!A0"


def cells(data: bytes, sheet: str) -> list[list[object]]:
    return CalamineWorkbook.from_filelike(io.BytesIO(data)).get_sheet_by_name(sheet).to_python()


def xml(data: bytes, name: str) -> str:
    return zipfile.ZipFile(io.BytesIO(data)).read(name).decode()


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("=1+1", "'=1+1"),
        ("+86 138", "'+86 138"),
        ("-2+3", "'-2+3"),
        ("@SUM(A1)", "'@SUM(A1)"),
        ("  =1+1", "'  =1+1"),
        ("\t1", "'\t1"),
        ("\r=1", "'\r=1"),
        ("张三", "张三"),
        ("a=b", "a=b"),
        ("", ""),
        (-5, -5),
        (None, None),
        (dt.date(2024, 1, 1), dt.date(2024, 1, 1)),
    ],
)
def test_neutralise(value: object, expected: object) -> None:
    assert neutralise(value) == expected


@pytest.fixture(scope="module")
def errors_xlsx() -> bytes:
    return error_workbook(
        headers=["姓名", "身份证号", "入职日期", "工资", "备注"],
        rows=[
            (
                5,
                ["张三", "11010119900307777X", dt.date(2024, 3, 1), 8000.0, EVIL],
                {1: "身份证号校验位不对，请核对"},
            ),
            (
                9,
                ["李四", 110101199003071234, dt.datetime(2024, 3, 2, 9, 30), None, "+86 138"],
                {2: "入职日期不能晚于今天", 3: "工资必填", -1: "与第5行重复"},
            ),
        ],
    )


def test_error_workbook_values(errors_xlsx: bytes) -> None:
    header, first, second = cells(errors_xlsx, "需修正的行")
    assert header == ["原行号", "姓名", "身份证号", "入职日期", "工资", "备注", "错误说明"]
    assert first == [
        5.0,
        "张三",
        "11010119900307777X",
        dt.date(2024, 3, 1),
        8000.0,
        "'" + EVIL,
        "身份证号：身份证号校验位不对，请核对",
    ]
    assert second[:6] == [9.0, "李四", "110101199003071234", dt.datetime(2024, 3, 2, 9, 30), "", "'+86 138"]
    assert second[6] == "入职日期：入职日期不能晚于今天；工资：工资必填；与第5行重复"


def test_error_workbook_markup(errors_xlsx: bytes) -> None:
    sheet = xml(errors_xlsx, "xl/worksheets/sheet1.xml")
    assert "<f>" not in sheet and "<f " not in sheet  # nothing written as a formula
    assert 'state="frozen"' in sheet and "<autoFilter" in sheet
    comments = xml(errors_xlsx, "xl/comments1.xml")
    for message in ["身份证号校验位不对，请核对", "入职日期不能晚于今天", "工资必填"]:
        assert message in comments
    assert "与第5行重复" not in comments  # a row-level error has no cell
    assert len(re.findall(r"<comment ", comments)) == 3
    assert "FFC7CE" in xml(errors_xlsx, "xl/styles.xml")


def test_error_workbook_reads_back_with_the_reader(errors_xlsx: bytes) -> None:
    t = read_table(errors_xlsx, filename="需修正.xlsx", header_score=messy.header_score)
    assert (t.sheet, t.header_row, t.headers[0], t.headers[-1]) == ("需修正的行", 1, "原行号", "错误说明")
    assert [n for n, _ in t.rows] == [2, 3]


def test_error_workbook_odd_values_and_sheet_name() -> None:
    data = error_workbook(
        headers=["姓名", "金额", ""],
        rows=[(3, [dt.time(8, 0), Decimal("1.5"), float("nan")], {2: "空列名"}), (4, ["x"], {1: "缺少"})],
        sheet_name="错误:[2024]/第一批?*" * 3,
    )
    (name,) = CalamineWorkbook.from_filelike(io.BytesIO(data)).sheet_names
    assert len(name) == 31 and not set(name) & set("[]:*?/\\")
    _, row3, row4 = cells(data, name)
    assert row3 == [3.0, "08:00:00", 1.5, "nan", "C列：空列名"]
    assert row4 == [4.0, "x", "", "", "金额：缺少"]


@pytest.fixture(scope="module")
def template() -> bytes:
    cities = [f"城市{i:03d}" for i in range(120)]  # far beyond Excel's 255-character inline list
    return template_workbook(
        columns=[
            ("姓名", "必填"),
            ("身份证号", "18位居民身份证号；以文本填写"),
            ("手机号", ""),
            ("入职日期", "格式 2024-01-31"),
            ("用工类型", "从下拉列表选择"),
            ("参保城市", "从下拉列表选择"),
        ],
        example=["张三", 110101199003077777, "13800138000", dt.date(2024, 1, 31), "全日制", "城市001"],
        choices={"用工类型": ["全日制", "非全日制", "劳务派遣"], "参保城市": cities},
        notes=["第2行是示例，导入前请删除。", "=以等号开头的说明也只是文字"],
    )


def test_template_sheets(template: bytes) -> None:
    wb = CalamineWorkbook.from_filelike(io.BytesIO(template))
    visibility = {m.name: str(m.visible) for m in wb.sheets_metadata}
    assert list(visibility) == ["花名册", "填写说明", "下拉选项"]
    assert visibility["下拉选项"].endswith("Hidden")
    header, example = cells(template, "花名册")
    assert header == ["姓名", "身份证号", "手机号", "入职日期", "用工类型", "参保城市"]
    assert example == ["张三", "110101199003077777", "13800138000", dt.date(2024, 1, 31), "全日制", "城市001"]
    assert cells(template, "填写说明") == [
        ["填写说明"],
        ["第2行是示例，导入前请删除。"],
        ["'=以等号开头的说明也只是文字"],
    ]
    assert [row[0] for row in cells(template, "下拉选项")][:3] == ["参保城市", "城市000", "城市001"]


def test_template_validations_and_text_columns(template: bytes) -> None:
    sheet = xml(template, "xl/worksheets/sheet1.xml")
    validations = re.findall(r"<dataValidation .*?</dataValidation>", sheet)
    assert len(validations) == 2
    assert 'sqref="E2:E10001"' in validations[0] and '"全日制,非全日制,劳务派遣"' in validations[0]
    assert "'下拉选项'!$A$2:$A$121" in validations[1]
    # 身份证号 (B) and 手机号 (C) columns are text (numFmtId 49 = "@"), 入职日期 (D) a date
    styles = xml(template, "xl/styles.xml")
    xfs = re.findall(r"<xf [^>]*>", styles.split("<cellXfs")[1])
    col_styles = dict(re.findall(r'<col min="(\d+)" max="\d+"[^>]* style="(\d+)"', sheet))
    assert 'numFmtId="49"' in xfs[int(col_styles["2"])] and 'numFmtId="49"' in xfs[int(col_styles["3"])]
    assert "yyyy-mm-dd" in styles and "4" in col_styles
    assert "18位居民身份证号" in xml(template, "xl/comments1.xml")


def test_template_reads_back_with_the_reader(template: bytes) -> None:
    t = read_table(template, filename="模板.xlsx", header_score=messy.header_score)
    assert (t.sheet, t.header_row, t.headers[:2]) == ("花名册", 1, ["姓名", "身份证号"])
    assert t.rows == [
        (2, ["张三", "110101199003077777", "13800138000", dt.date(2024, 1, 31), "全日制", "城市001"])
    ]


def test_template_text_columns_override() -> None:
    data = template_workbook(
        columns=[("姓名", ""), ("工号", "")], example=["张三", 7], choices={}, notes=[], text_columns={"姓名"}
    )
    assert cells(data, "花名册")[1] == ["张三", 7.0]


def test_csv_bytes() -> None:
    data = csv_bytes(
        ["姓名", "身份证号", "入职日期", "工资", "备注"],
        [
            ["张三", "110101199003077777", dt.date(2024, 3, 1), 8000.0, EVIL],
            ["李四", None, dt.datetime(2024, 3, 2, 9, 30), 1.5, "-"],
        ],
    )
    assert data.startswith(b"\xef\xbb\xbf")
    lines = data.decode("utf-8-sig").split("\r\n")
    assert lines[1] == "张三,110101199003077777,2024-03-01,8000,'=cmd|' /C calc'!A0"
    assert lines[2] == "李四,,2024-03-02 09:30:00,1.5,'-"
    t = read_table(data, filename="导出.csv", header_score=messy.header_score)
    assert t.encoding == "utf-8-sig" and t.rows[0][1][4] == "'" + EVIL
