"""Profile definitions: validation in Chinese, saved profiles, the mapping UI's profile."""

from __future__ import annotations

import copy

import pytest

from shebao.ledger.models import ExportProfile
from shebao.ledger.parsing import (
    ParseContext,
    ProfileError,
    detect,
    field_choices,
    mapping_profile,
    open_source,
    parse,
    profile_get,
    profile_list,
    profile_validate,
    shipped_profiles,
)
from shebao.ledger.tests import golden as G

MINIMAL = {
    "code": "my_layout",
    "title": "我的格式",
    "shape": "long",
    "detect": {"required": [["姓名"], ["身份证"]]},
    "columns": {"name": ["姓名"], "id_number": ["身份证"], "insurance": ["项目"], "employer_due": ["公司交"]},
}


def test_shipped_profiles_are_valid_definitions() -> None:
    for profile in shipped_profiles():
        assert profile_validate(profile.as_dict(), saved=False) == [], profile.code


def test_minimal_definition_is_valid() -> None:
    assert profile_validate(MINIMAL) == []


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        ({"shape": "diagonal"}, "“表格形态”取值“diagonal”无效"),
        ({"code": "My Layout"}, "“编码”格式无效"),
        ({"title": ""}, "“名称”不能为空"),
        ({"colour": "red"}, "“colour”是未知的设置项"),
        ({"header_rows": 3}, "“表头行数”取值“3”无效"),
        ({"evidence": "rumour"}, "“依据”取值“rumour”无效"),
        (
            {"columns": {"name": ["姓名"], "insurance": ["项目"], "employer_due": ["x"]}},
            "必须映射“证件号码”列",
        ),
        (
            {"columns": {"name": ["姓名"], "id_number": ["身份证"], "employer_due": ["x"]}},
            "需要映射“险种/征收品目”列",
        ),
        ({"detect": {"required": []}}, "至少要有一项必需表头"),
        ({"header_block": ["(?P<boss>.+)"]}, "命名组 boss 无效"),
        ({"header_block": ["(unclosed"]}, "正则表达式“(unclosed”无效"),
        ({"columns": {"nickname": ["昵称"]}}, "“列映射 › nickname”取值“nickname”无效"),
    ],
)
def test_invalid_definitions_get_chinese_messages(change: dict, expected: str) -> None:
    definition = {**copy.deepcopy(MINIMAL), **change}
    problems = profile_validate(definition)
    assert problems, definition
    assert any(expected in p for p in problems), problems


def test_a_saved_profile_cannot_take_a_shipped_code() -> None:
    assert profile_validate({**MINIMAL, "code": "generic_long"}) == [
        "编码“generic_long”与系统内置格式重复，请换一个编码"
    ]
    assert profile_validate("not a dict") == ["格式定义应为“键: 值”映射"]  # type: ignore[arg-type]


def test_field_choices_cover_the_mapping_keys() -> None:
    keys = [k for k, _ in field_choices()]
    for key in (
        "name",
        "id_number",
        "account_no",
        "insurance",
        "period",
        "period_end",
        "posting_period",
        "base",
        "employer_due",
        "employee_due",
        "employer_paid",
        "employee_paid",
        "late_fee",
        "status",
        "payment_type",
        "unit_no",
        "unit_name",
    ):
        assert key in keys
    assert keys[:2] == ["name", "id_number"]
    wide = dict(field_choices(shape="wide"))
    assert wide["pension.employer_due"] == "养老保险·单位应缴"


def _custom_file() -> tuple[bytes, str]:
    a = G.new_id("110101")
    rows = [
        ["员工", "身份号", "项目", "月份", "工资基数", "公司交", "自己交"],
        ["张伟", a, "养老", "2026-02", "8000", "1280", "640"],
        ["张伟", a, "医疗", "2026-02", "8000", "800", "160"],
    ]
    return G.csv_bytes(rows), a


def test_mapping_profile_round_trip() -> None:
    data, who = _custom_file()
    headers = ["员工", "身份号", "项目", "月份", "工资基数", "公司交", "自己交"]
    mapping = {
        "员工": "name",
        "身份号": "id_number",
        "项目": "insurance",
        "月份": "period",
        "工资基数": "base",
        "公司交": "employer_due",
        "自己交": "employee_due",
    }
    definition = mapping_profile(headers, mapping, code="hr_custom", title="人事自制表", shape="long")
    assert profile_validate(definition) == []
    from shebao.ledger.parsing import Profile

    profile = Profile.compile(definition, origin="saved")
    source = open_source(data, filename="自制.csv")
    found = detect(source, profiles=[*shipped_profiles(), profile])
    assert found[0].profile.code == "hr_custom"
    facts = [G.fact_dict(f) for r in parse(source, profile).rows() for f in r.contributions]
    assert _plain(facts) == [
        ("medical", "2026-02", 8000, 800, 160, who),
        ("pension", "2026-02", 8000, 1280, 640, who),
    ]
    with pytest.raises(ProfileError):
        mapping_profile(headers, {"不存在": "name"}, code="x1", title="x", shape="long")


def test_mapping_profile_for_a_wide_file() -> None:
    a = G.new_id("110101")
    headers = ["员工", "身份号", "月份", "养老（公司）", "养老（自己）", "备注"]
    data = G.csv_bytes([headers, ["王芳", a, "2026-03", "800", "400", "x"]])
    definition = mapping_profile(
        headers,
        {
            "员工": "name",
            "身份号": "id_number",
            "月份": "period",
            "养老（公司）": "pension.employer_due",
            "养老（自己）": "pension.employee_due",
            "备注": "",
        },
        code="hr_wide",
        title="人事宽表",
        shape="wide",
    )
    assert profile_validate(definition) == []
    from shebao.ledger.parsing import Profile

    result = parse(open_source(data, filename="w.csv"), Profile.compile(definition))
    (fact,) = [f for r in result.rows() for f in r.contributions]
    assert (fact.insurance.value, fact.employer_due, fact.employee_due) == ("pension", 800, 400)


def _plain(facts: list[dict]) -> list[tuple]:
    return sorted((f["insurance"], f["period"], f["base"], f["er"], f["ee"], f["who"]) for f in facts)


@pytest.mark.django_db
def test_saved_profiles_are_listed_and_found_but_never_shadow_shipped_ones() -> None:
    data, _ = _custom_file()
    good = mapping_profile(
        ["员工", "身份号", "项目", "月份", "公司交"],
        {
            "员工": "name",
            "身份号": "id_number",
            "项目": "insurance",
            "月份": "period",
            "公司交": "employer_due",
        },
        code="hr_saved",
        title="保存的格式",
        shape="long",
    )
    ExportProfile.objects.create(code="hr_saved", title="保存的格式", definition=good)
    ExportProfile.objects.create(
        code="generic_long", title="冒名", definition={**good, "code": "generic_long"}
    )
    ExportProfile.objects.create(code="broken", title="坏的", definition={"code": "broken"})
    codes = [p.code for p in profile_list()]
    assert codes.count("generic_long") == 1 and "hr_saved" in codes and "broken" not in codes
    assert profile_get("generic_long").origin == "shipped"
    assert profile_get("hr_saved").origin == "saved"
    with pytest.raises(ProfileError, match="定义无效"):
        profile_get("broken")
    with pytest.raises(ProfileError, match="没有编码为“nope”的文件格式"):
        profile_get("nope")
    source = open_source(data, filename="自制.csv")
    assert detect(source)[0].profile.code == "hr_saved"
    result = parse(source, "hr_saved", context=ParseContext())
    assert sum(len(r.contributions) for r in result.rows()) == 2
