"""Property: a roster written in any accepted header/format variant imports back to the same roster."""

from __future__ import annotations

import datetime as dt
import unicodedata

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from shebao.core import crypto
from shebao.core.identity import make_resident_id
from shebao.imports.tests.builders import csv_bytes, xlsx_bytes
from shebao.roster.models import PHONE_PURPOSE, Employee

pytestmark = pytest.mark.django_db

ALIASES = {
    "name": ["姓名", "员工姓名", "Name"],
    "id": ["身份证号", "身份证号码", "证件号码", "公民身份号码"],
    "no": ["工号", "员工编号"],
    "hire": ["入职日期", "入职时间", "到岗日期"],
    "entity": ["参保主体", "用人单位", "所属公司"],
    "dept": ["部门"],
    "phone": ["手机", "手机号", "联系电话"],
    "wage": ["申报工资", "月工资"],
}
DATE_STYLES = ["cell", "slash", "dash", "dot", "cn", "compact"]
GIVEN = "伟芳娜敏静丽强磊军洋勇艳杰娟涛明超秀霞平刚"


def fmt_date(day: dt.date, style: str):
    return {
        "cell": day,
        "slash": f"{day.year}/{day.month}/{day.day}",
        "dash": day.isoformat(),
        "dot": f"{day.year}.{day.month}.{day.day}",
        "cn": f"{day.year}年{day.month}月{day.day}日",
        "compact": day.strftime("%Y%m%d"),
    }[style]


def to_fullwidth(text: str) -> str:
    return "".join(chr(ord(c) + 0xFEE0) if "0" <= c <= "9" or "A" <= c <= "Z" else c for c in text)


person = st.fixed_dictionaries(
    {
        "name": st.text(alphabet="王李张刘陈杨黄赵", min_size=1, max_size=1).flatmap(
            lambda s: st.text(alphabet=GIVEN, min_size=1, max_size=2).map(lambda g: s + g)
        ),
        "birth": st.dates(dt.date(1965, 1, 1), dt.date(2004, 12, 31)),
        "hire": st.dates(dt.date(2015, 1, 1), dt.date(2025, 12, 31)),
        "dept": st.sampled_from(["研发部", "销售部"]),
        "phone": st.integers(min_value=0, max_value=10**8 - 1).map(lambda n: f"139{n:08d}"),
        "wage": st.integers(min_value=3000, max_value=60000),
    }
)


@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    people=st.lists(person, min_size=1, max_size=5),
    headers=st.fixed_dictionaries({k: st.sampled_from(v) for k, v in ALIASES.items()}),
    date_style=st.sampled_from(DATE_STYLES),
    fmt=st.sampled_from(["xlsx", "csv", "csv-gb18030"]),
    fullwidth=st.booleans(),
    title=st.booleans(),
)
def test_any_variant_imports_back_to_the_same_roster(
    org, system, run_import, people, headers, date_style, fmt, fullwidth, title
):
    Employee.objects.all().delete()
    cols = ["name", "id", "no", "hire", "entity", "dept", "phone", "wage"]
    expected, rows = {}, []
    for i, p in enumerate(people):
        ident = make_resident_id("440305", p["birth"], i)
        no = f"R{i:04d}"
        expected[no] = (p, ident)
        cell_id = to_fullwidth(ident) if fullwidth else ident
        hire = fmt_date(p["hire"], "dash" if fmt != "xlsx" and date_style == "cell" else date_style)
        rows.append([p["name"], cell_id, no, hire, "BJ01", p["dept"], p["phone"], p["wage"]])
    header_row = [headers[c] for c in cols]
    if fmt == "xlsx":
        data, name = (
            xlsx_bytes(header_row, rows, title="2025年花名册（内部）" if title else None),
            "花名册.xlsx",
        )
    else:
        data = csv_bytes(header_row, rows, encoding="gb18030" if fmt == "csv-gb18030" else "utf-8-sig")
        name = "花名册.csv"
    batch = run_import(system, data, name, commit=True)
    assert batch.status == "committed", (batch.error, list(batch.rows.values_list("errors", flat=True)))
    got = {e.employee_no: e for e in Employee.objects.select_related("department")}
    assert set(got) == set(expected)
    for no, (p, ident) in expected.items():
        e = got[no]
        assert (e.name, e.birth_date, e.hire_date, e.department.name, e.entity_id) == (
            unicodedata.normalize("NFKC", p["name"]),
            p["birth"],
            p["hire"],
            p["dept"],
            org["bj"].id,
        )
        assert e.id_number_bidx == crypto.blind_index(ident, purpose="employee.id_number")
        assert crypto.decrypt(e.phone_enc, purpose=PHONE_PURPOSE) == p["phone"]
        assert e.declared_wage == p["wage"]
    again = run_import(system, data, name, commit=True)
    assert again.unchanged_count == len(people) and again.create_count == again.update_count == 0
