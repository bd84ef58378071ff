"""Header aliases and cell normalisers of the roster import (pure functions, no database)."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from decimal import Decimal

import pytest

from shebao.core.identity import IdentityError, make_legacy15_id, make_resident_id, parse_identity
from shebao.imports import fields as F
from shebao.roster.models import EmploymentType, HukouType

ID = make_resident_id("110105", dt.date(1990, 3, 7), 123)
ID_X = next(
    make_resident_id("110105", dt.date(1990, 3, 7), s)
    for s in range(1000)
    if make_resident_id("110105", dt.date(1990, 3, 7), s).endswith("X")
)
LEGACY = make_legacy15_id("110105", dt.date(1975, 3, 9), 77)


# --- headers ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "header,field",
    [
        ("姓名", "name"),
        ("员工姓名", "name"),
        ("Name", "name"),
        ("姓名（必填）", "name"),
        ("*姓名", "name"),
        ("姓名*", "name"),
        ("姓名 ＊", "name"),
        ("身份证号", "id_number"),
        ("身份证号码", "id_number"),
        ("证件号码", "id_number"),
        ("公民身份号码", "id_number"),
        ("社会保障号码", "id_number"),
        ("ID Number", "id_number"),
        ("ｉｄ　ｎｕｍｂｅｒ", "id_number"),  # full-width letters and space
        ("证件号码(必填)", "id_number"),
        ("证件类型", "id_kind"),
        ("工号", "employee_no"),
        ("员工编号", "employee_no"),
        ("Employee No", "employee_no"),
        ("employee_no", "employee_no"),
        ("入职日期", "hire_date"),
        ("入职时间", "hire_date"),
        ("到岗日期", "hire_date"),
        ("Hire Date", "hire_date"),
        ("入职日期\n(yyyy-mm-dd)", "hire_date"),  # a trailing note in brackets
        ("离职日期", "leave_date"),
        ("Leave date", "leave_date"),
        ("参保主体", "entity"),
        ("用人单位", "entity"),
        ("所属公司", "entity"),
        ("Entity", "entity"),
        ("部门", "department"),
        ("门店", "department"),
        ("Department", "department"),
        ("手机", "phone"),
        ("手机号", "phone"),
        ("联系电话", "phone"),
        ("Phone", "phone"),
        ("邮箱", "email"),
        ("E-mail", "email"),
        ("用工类型", "employment_type"),
        ("户籍类型", "hukou_type"),
        ("户口性质", "hukou_type"),
        ("申报工资", "declared_wage"),
        ("月工资", "declared_wage"),
        ("缴费工资", "declared_wage"),
        ("申报工资（元）", "declared_wage"),
        ("Wage", "declared_wage"),
        ("序号", F.IGNORE),
        ("备注", F.IGNORE),
        ("爱好", None),
        ("", None),
    ],
)
def test_header_aliases(header, field):
    assert F.header_field(header) == field


def test_every_roster_field_has_chinese_and_english_aliases():
    for spec in F.FIELDS.values():
        assert any("\u4e00" <= c <= "\u9fff" for a in spec.aliases for c in a), spec.key
        assert any(a.isascii() for a in spec.aliases), spec.key
        assert F.header_field(spec.label) == spec.key
        assert F.header_field(spec.label + "*") == spec.key  # the template's required marker


def test_header_score_counts_recognised_names_only():
    assert F.header_score(["姓名", "身份证号码", "备注", "爱好", "", "入职日期（必填）"]) == 3
    assert F.header_score(["张三", "110105199003071239", "2024-03-01"]) == 0


def test_header_signature_ignores_order_spacing_and_markers():
    a = F.header_signature(["姓名", "身份证号", "入职日期"])
    assert a == F.header_signature(["入职日期*", " 姓名 ", "身份证号（必填）", ""])
    assert a != F.header_signature(["姓名", "身份证号码", "入职日期"])


# --- text ----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "value,text",
    [
        (None, ""),
        ("  a ", "  a "),
        (1001.0, "1001"),
        (12000.5, "12000.5"),
        (7, "7"),
        (dt.date(2024, 3, 5), "2024-03-05"),
        (dt.datetime(2024, 3, 5), "2024-03-05"),
        (dt.datetime(2024, 3, 5, 8, 30), "2024-03-05 08:30:00"),
        (1.1010519900307e17, "1.1010519900307e+17"),  # an ID that Excel stored as a number
    ],
)
def test_cell_text(value, text):
    assert F.cell_text(value) == text


def test_clean_text_full_width_and_stray_spaces():
    assert F.clean_text("　研发部　 ／ 后端组 ") == "研发部 / 后端组"
    assert F.clean_text("ＡＢＣ１２３") == "ABC123"


def test_sensitive_values_are_masked_wherever_they_are_quoted():
    assert F.looks_sensitive(f"张三 {ID}")
    assert F.looks_sensitive("138 0013 8000")
    assert not F.looks_sensitive("2024-03-05") and not F.looks_sensitive("12,000.00")
    assert ID not in F.shown(f"备注{ID}") and ID[:6] in F.shown(f"备注{ID}")
    assert "13800138000" not in F.mask_sensitive("电话 13800138000")


# --- people --------------------------------------------------------------------------------------


def test_name():
    assert F.parse_name(" 李　 雷 ") == "李 雷"
    with pytest.raises(F.FieldError, match="姓名不能为空") as info:
        F.parse_name("  ")
    assert info.value.code == "required"
    with pytest.raises(F.FieldError, match="不能超过60个字符"):
        F.parse_name("张" * 61)


@pytest.mark.parametrize(
    "raw",
    [
        ID,
        f" {ID[:6]} {ID[6:14]} {ID[14:]} ",
        ID.translate(str.maketrans("0123456789", "０１２３４５６７８９")),
    ],
)
def test_id_number_normalised(raw):
    identity = F.parse_id_number(raw)
    assert identity.number == ID and identity.birth_date == dt.date(1990, 3, 7)


def test_id_number_lower_case_x_and_legacy_upgrade():
    assert F.parse_id_number(ID_X.lower()).number == ID_X
    legacy = F.parse_id_number(LEGACY)
    assert legacy.upgraded_from_15 and len(legacy.number) == 18
    assert F.parse_id_number(float(LEGACY)).number == legacy.number  # 15 digits survive as a number


def test_invalid_id_number_keeps_the_identity_modules_exact_message():
    bad = ID[:-1] + ("0" if ID[-1] != "0" else "1")
    with pytest.raises(IdentityError) as expected:
        parse_identity(bad)
    with pytest.raises(F.FieldError) as info:
        F.parse_id_number(bad)
    assert info.value.message == expected.value.message == f"身份证号校验位错误：应为 {ID[-1]}"
    assert info.value.code == "invalid_id_number" and info.value.reason == "checksum"


@pytest.mark.parametrize("raw", [float(ID), "1.10105E+17", "1.101051990030712e+17"])
def test_id_number_stored_as_a_number_by_excel(raw):
    with pytest.raises(F.FieldError, match="被 Excel 存成了数字") as info:
        F.parse_id_number(raw)
    assert info.value.code == "id_number_as_number"


def test_id_number_blank_and_undetectable_kind():
    with pytest.raises(F.FieldError, match="证件号码不能为空"):
        F.parse_id_number(None)
    with pytest.raises(F.FieldError) as info:
        F.parse_id_number("E12345678")
    assert info.value.reason == "kind"
    assert F.parse_id_number("E12345678", "护照").kind.value == "passport"


def test_id_kind_by_label_value_or_short_name():
    assert F.parse_id_kind("居民身份证") == "resident_id"
    assert F.parse_id_kind("身份证") == "resident_id"
    assert F.parse_id_kind("passport") == "passport"
    assert F.parse_id_kind("台胞证") == "taiwan_permit"
    assert F.parse_id_kind("") is None
    with pytest.raises(F.FieldError, match="未知的证件类型") as info:
        F.parse_id_kind("驾照")
    assert "护照" in info.value.message


def test_employee_no():
    assert F.parse_employee_no(1001.0) == "1001"
    assert F.parse_employee_no(" e 001 ") == "E001"
    assert F.parse_employee_no("Ｅ－００１") == "E-001"
    with pytest.raises(F.FieldError, match="工号不能为空"):
        F.parse_employee_no(None)
    with pytest.raises(F.FieldError, match="不能超过32个字符"):
        F.parse_employee_no("E" * 33)


@pytest.mark.parametrize(
    "raw,phone",
    [
        ("13800138000", "13800138000"),
        ("+86 138-0013-8000", "13800138000"),
        ("+8613800138000", "13800138000"),
        ("0086 138 0013 8000", "13800138000"),
        ("１３８００１３８０００", "13800138000"),
        (13800138000.0, "13800138000"),
        ("010-12345678", "010-12345678"),
        ("(0755)8888 6666", "0755-88886666"),
        ("", ""),
        (None, ""),
    ],
)
def test_phone(raw, phone):
    assert F.parse_phone(raw) == phone


def test_invalid_phone_message_does_not_repeat_the_number():
    with pytest.raises(F.FieldError) as info:
        F.parse_phone("1380013800")
    assert info.value.code == "invalid_phone"
    assert "1380013800" not in info.value.message and "10位数字" in info.value.message


def test_email():
    assert F.parse_email(" zhang.san@Example.com ") == "zhang.san@Example.com"
    assert F.parse_email("") == ""
    with pytest.raises(F.FieldError, match="邮箱“zhangsan”格式无效"):
        F.parse_email("zhangsan")


# --- dates ---------------------------------------------------------------------------------------

MARCH_5 = dt.date(2024, 3, 5)


@pytest.mark.parametrize(
    "raw",
    [
        MARCH_5,
        dt.datetime(2024, 3, 5, 9, 30),
        45356.0,  # Excel serial number (1900 date system)
        45356,
        45356.75,  # a serial with a time of day
        "45356",  # a date cell that became a number on its way to CSV
        "2024/3/5",
        "2024-03-05",
        "2024-3-5",
        "2024.3.5",
        "2024年3月5日",
        "2024 年 3 月 5 日",
        "２０２４年３月５日",
        "２０２４－０３－０５",
        "20240305",
        20240305.0,  # yyyymmdd typed as a number, read by calamine
        "20240305.0",
        "2024-03-05 00:00:00",
        "2024-03-05T08:00:00",
    ],
)
def test_dates(raw):
    assert F.parse_date(raw) == MARCH_5


@pytest.mark.parametrize(
    "serial,day",
    [
        (1, dt.date(1900, 1, 1)),
        (59, dt.date(1900, 2, 28)),
        (61, dt.date(1900, 3, 1)),
        (36526, dt.date(2000, 1, 1)),
    ],
)
def test_excel_serials_around_the_1900_leap_year_bug(serial, day):
    assert F.parse_date(float(serial)) == day


def test_excel_serial_60_is_the_nonexistent_1900_02_29():
    with pytest.raises(F.FieldError, match="1900-02-29"):
        F.parse_date(60.0)


def test_blank_dates_are_none():
    assert F.parse_date(None) is None and F.parse_date("  ") is None


@pytest.mark.parametrize(
    "raw,message",
    [
        ("2024-02-30", "入职日期“2024-02-30”不是有效日期"),
        ("20241301", "入职日期“20241301”不是有效日期"),
        ("下周一", "入职日期“下周一”无法识别：请填写如 2024-03-05 的日期"),
        ("3/5/2024", "入职日期“3/5/2024”无法识别"),
        ("1850-01-01", "超出合理范围"),
        (True, "无法识别为日期"),
        (-3.0, "无法识别为日期"),
    ],
)
def test_invalid_dates(raw, message):
    with pytest.raises(F.FieldError, match=message) as info:
        F.parse_date(raw, label="入职日期")
    assert info.value.code == "invalid_date"


# --- choices -------------------------------------------------------------------------------------


def test_choice_tables_cover_the_roster_choices():
    assert set(F.EMPLOYMENT_TYPE_LABELS) == set(EmploymentType.values)
    assert set(F.HUKOU_TYPE_LABELS) == set(HukouType.values)


@pytest.mark.parametrize(
    "raw,value",
    [
        ("全日制", "full_time"),
        ("full_time", "full_time"),
        ("Full Time", "full_time"),
        ("全职", "full_time"),
        ("非全日制", "part_time"),
        ("兼职", "part_time"),
        ("实习", "intern"),
        ("退休返聘", "retiree_rehire"),
        ("外籍", "foreign"),
        ("劳务派遣", "dispatched"),
        ("", None),
    ],
)
def test_employment_type(raw, value):
    assert F.parse_employment_type(raw) == value


@pytest.mark.parametrize(
    "raw,value",
    [
        ("本地城镇", "local_urban"),
        ("本市城镇", "local_urban"),
        ("本市非农业", "local_urban"),
        ("local_rural", "local_rural"),
        ("外地城镇", "nonlocal_urban"),
        ("外埠农业", "nonlocal_rural"),
        ("外地农村户口", "nonlocal_rural"),
        (None, None),
    ],
)
def test_hukou_type(raw, value):
    assert F.parse_hukou_type(raw) == value


def test_unknown_choices_list_the_options():
    with pytest.raises(F.FieldError, match="未知用工类型“合伙人”：可填写 全日制、非全日制"):
        F.parse_employment_type("合伙人")
    with pytest.raises(F.FieldError, match="未知户籍类型“火星”：可填写 本地城镇"):
        F.parse_hukou_type("火星")


# --- money ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "raw,amount",
    [
        (12000, Decimal("12000.00")),
        (12000.5, Decimal("12000.50")),
        (3000.0000000000005, Decimal("3000.00")),  # a formula's binary artefact
        (0.1 + 0.2, Decimal("0.30")),
        (8765.435, Decimal("8765.44")),  # repr "8765.435", not the binary 8765.434999…
        ("12,000.00元", Decimal("12000.00")),
        ("￥8000", Decimal("8000.00")),
        ("１２０００", Decimal("12000.00")),
        (" 0 ", Decimal("0.00")),
        ("", None),
        (None, None),
    ],
)
def test_wage(raw, amount):
    result = F.parse_wage(raw)
    assert result == amount
    if amount is not None:
        assert str(result) == str(amount)


@pytest.mark.parametrize(
    "raw,message",
    [
        (-1, "申报工资不能为负数"),
        ("-500", "申报工资不能为负数"),
        ("一万", "申报工资“一万”不是有效金额"),
        (float("nan"), "不是有效金额"),
        (1e12, "过大"),
        (True, "不是有效金额"),
    ],
)
def test_invalid_wage(raw, message):
    with pytest.raises(F.FieldError, match=message) as info:
        F.parse_wage(raw)
    assert info.value.code == "invalid_wage"


@pytest.mark.parametrize(
    "parse,raw",
    [
        (F.parse_date, 45356.0),
        (F.parse_date, 20240305.0),
        (F.parse_date, dt.datetime(2024, 3, 5)),
        (F.parse_wage, 12000.5),
        (F.parse_wage, 3000.0000000000005),
        (F.parse_phone, 13800138000.0),
        (F.parse_employee_no, 1001.0),
    ],
)
def test_a_cell_and_its_stored_text_normalise_alike(parse, raw):
    assert parse(raw) == parse(F.cell_text(raw))


# --- entities and departments --------------------------------------------------------------------


@dataclass(frozen=True)
class E:
    id: int
    code: str
    name: str


@dataclass(frozen=True)
class D:
    id: int
    entity_id: int
    parent_id: int | None
    name: str
    code: str = ""


ENTITIES = [E(1, "BJ01", "北京示例科技有限公司"), E(2, "SZ01", "深圳示例零售（福田）有限公司")]
DEPTS = [
    D(10, 1, None, "研发中心", "RD"),
    D(11, 1, 10, "后端组"),
    D(12, 1, 10, "前端组"),
    D(13, 1, None, "销售部"),
    D(14, 1, 13, "前端组"),  # same name under another parent
    D(20, 2, None, "研发中心"),
]


@pytest.mark.parametrize(
    "raw,entity_id",
    [
        ("BJ01", 1),
        ("北京示例科技有限公司", 1),
        ("bj01", 1),
        (" 北京示例科技 有限公司 ", 1),
        ("深圳示例零售(福田)有限公司", 2),
    ],
)
def test_entity_by_code_or_name(raw, entity_id):
    assert F.EntityIndex(ENTITIES).resolve(raw).id == entity_id


def test_unknown_entity():
    with pytest.raises(F.FieldError, match="未找到参保主体“上海分公司”") as info:
        F.EntityIndex(ENTITIES).resolve("上海分公司")
    assert info.value.code == "entity_unknown"


def test_departments_by_name_path_or_code():
    index = F.DepartmentIndex(DEPTS)
    assert index.resolve(1, "后端组").id == 11
    assert index.resolve(1, "研发中心/后端组").id == 11
    assert index.resolve(1, "研发中心 ／ 后端组").id == 11
    assert index.resolve(1, "rd").id == 10
    assert index.resolve(2, "研发中心").id == 20  # within the row's entity
    assert index.resolve(1, "销售部/前端组").id == 14
    assert index.resolve(1, "") is None


def test_departments_to_create():
    index = F.DepartmentIndex(DEPTS)
    top = index.resolve(1, "市场部")
    assert (top.id, top.parent_id, top.new, top.label) == (None, None, ("市场部",), "市场部")
    nested = index.resolve(1, "研发中心/数据组/数仓")
    assert (nested.parent_id, nested.new, nested.label) == (10, ("数据组", "数仓"), "研发中心/数据组/数仓")
    assert nested.new_key == index.resolve(1, "研发中心 / 数据组 / 数仓").new_key


def test_ambiguous_department_name_asks_for_the_path():
    with pytest.raises(F.FieldError, match="有2个同名部门（研发中心/前端组、销售部/前端组）") as info:
        F.DepartmentIndex(DEPTS).resolve(1, "前端组")
    assert info.value.code == "department_ambiguous"
