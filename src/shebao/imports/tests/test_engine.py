"""The roster import engine: parse → preview → commit, against the database."""

from __future__ import annotations

import datetime as dt
import os
from decimal import Decimal

import pytest
from django.db import connection

from shebao.audit.models import AuditEvent
from shebao.core import crypto
from shebao.core.exceptions import ApplicationError, PermissionDenied
from shebao.core.identity import IdentityError, parse_identity
from shebao.imports import selectors, services
from shebao.imports.models import HeaderMapping, ImportBatch, ImportRow
from shebao.imports.tests.builders import (
    HEADERS,
    csv_bytes,
    legacy_id,
    new_id,
    person,
    row_errors,
    xlsx_bytes,
)
from shebao.org.models import Department
from shebao.roster.models import Employee, EmploymentSpell

S = ImportBatch.Status


def employees() -> dict[str, Employee]:
    return {e.employee_no: e for e in Employee.objects.select_related("entity", "department")}


def actions(batch) -> dict[int, str]:
    return dict(ImportRow.objects.filter(batch=batch).values_list("excel_row", "action"))


def roster_counts() -> tuple[int, int, int]:
    return Employee.objects.count(), EmploymentSpell.objects.count(), Department.objects.count()


# --- create, re-import, corrections --------------------------------------------------------------


def test_preview_then_commit_creates_employees(org, admin, run_import, actor_of):
    ids = [new_id(), new_id(), legacy_id()]
    rows = [
        person("张三", ids[0], "e001", phone="+86 138-0013-8000", wage=12000.5),
        person("李四", ids[1], "E002", hired="2024/3/5", dept="研发部/前端组", wage="8,000"),
        person("王五", ids[2], "E003", hired=45356.0, entity="深圳示例零售有限公司", dept="福田门店"),
    ]
    actor = actor_of(admin)
    batch = run_import(actor, xlsx_bytes(HEADERS, rows, title="2024年花名册"))

    assert batch.status == S.PREVIEWED and batch.header_row == 3
    assert (batch.row_count, batch.create_count, batch.update_count, batch.rejected_count) == (3, 3, 0, 0)
    assert batch.new_departments == [] and not Employee.objects.exists()  # a preview writes nothing
    assert any("15位旧身份证号" in w for w in batch.warnings)

    services.import_batch_commit(actor=actor, batch=batch)
    batch.refresh_from_db()
    assert batch.status == S.COMMITTED and batch.committed_by == admin and batch.committed_at
    found = employees()
    zs, ls, ww = found["E001"], found["E002"], found["E003"]
    assert zs.name == "张三" and zs.entity == org["bj"] and zs.department == org["rd"]
    assert zs.declared_wage == Decimal("12000.50") and zs.phone_masked == "138****8000"
    assert zs.birth_date is not None and zs.gender in ("M", "F") and zs.status == "active"
    assert crypto.decrypt(zs.id_number_enc, purpose="employee.id_number") == ids[0]
    assert ls.hire_date == dt.date(2024, 3, 5) and ls.department == org["rd_web"]
    assert ls.declared_wage == Decimal("8000.00")
    assert ww.hire_date == dt.date(2024, 3, 5) and ww.entity == org["sz"] and ww.department == org["store"]
    assert ww.id_upgraded_from_15 and ww.id_number_masked.startswith("110105")
    assert EmploymentSpell.objects.count() == 3
    assert set(ImportRow.objects.filter(batch=batch).values_list("employee__employee_no", flat=True)) == {
        "E001",
        "E002",
        "E003",
    }
    event = AuditEvent.objects.get(action="import.commit")
    assert event.actor == admin and event.object_id == str(batch.pk)
    assert event.changes["file_name"] == "花名册.xlsx" and event.changes["sha256"] == batch.sha256
    assert (event.changes["created"], event.changes["rows"], event.changes["rejected"]) == (3, 3, 0)


def test_reimporting_the_same_file_changes_nothing(org, system, run_import):
    data = xlsx_bytes(HEADERS, [person("张三", new_id(), "E1", phone="13800138000", wage=9000)])
    run_import(system, data, commit=True)
    before = list(Employee.objects.values())
    again = run_import(system, data, commit=True)
    assert again.status == S.COMMITTED
    assert (again.create_count, again.update_count, again.unchanged_count) == (0, 0, 1)
    assert list(Employee.objects.values()) == before
    row = ImportRow.objects.get(batch=again)
    assert row.action == "unchanged" and row.employee_id == before[0]["id"] and row.diff == {}
    summary = selectors.import_batch_summary(batch=again)
    assert summary["same_file_committed"]  # the wizard can warn: this file was imported before


def test_corrected_file_updates_only_what_changed(org, system, run_import):
    a, b = new_id(), new_id()
    first = [
        person("张三", a, "E1", phone="13800138000", wage=9000),
        person("李四", b, "E2", phone="13900139000", wage=9000),
    ]
    run_import(system, xlsx_bytes(HEADERS, first), commit=True)
    zs = Employee.objects.get(employee_no="E1")
    untouched = Employee.objects.filter(employee_no="E2").values().get()

    corrected = [
        person("张三", a, "E1", phone="13700137000", wage=9500, dept="销售部"),
        person("李四", b, "E2", phone="13900139000", wage=9000),
    ]
    batch = run_import(system, xlsx_bytes(HEADERS, corrected))
    assert (batch.update_count, batch.unchanged_count) == (1, 1)
    row = ImportRow.objects.get(batch=batch, action="update")
    assert row.excel_row == 2 and row.employee_id == zs.pk
    assert row.diff == {
        "department": ["研发部", "销售部"],
        "phone": ["138****8000", "137****7000"],
        "declared_wage": ["9000.00", "9500.00"],
    }
    services.import_batch_commit(actor=system, batch=batch)
    zs.refresh_from_db()
    assert zs.department == org["sales"] and zs.declared_wage == Decimal("9500.00")
    assert zs.phone_masked == "137****7000" and zs.phone_bidx == crypto.blind_index(
        "13700137000", purpose="employee.phone"
    )
    spell = zs.spells.get()
    assert spell.department == org["sales"] and spell.declared_wage == Decimal("9500.00")
    assert Employee.objects.filter(employee_no="E2").values().get() == untouched


def test_blank_cells_never_erase_existing_data(org, system, run_import, make_employee):
    e = make_employee(declared_wage="7000", email="a@example.com")
    number = crypto.decrypt(e.id_number_enc, purpose="employee.id_number")
    batch = run_import(system, xlsx_bytes(HEADERS, [person(e.name, number, e.employee_no, dept=None)]))
    assert batch.unchanged_count == 1


def test_rehire_after_leaving_adds_a_spell(org, system, run_import, make_employee):
    e = make_employee(hire_date=dt.date(2020, 1, 1), leave_date=dt.date(2022, 6, 30))
    number = crypto.decrypt(e.id_number_enc, purpose="employee.id_number")
    batch = run_import(
        system,
        xlsx_bytes(
            HEADERS, [person(e.name, number, "R9", hired=dt.date(2024, 5, 6), entity="SZ01", dept=None)]
        ),
    )
    row = ImportRow.objects.get(batch=batch)
    assert row.action == "update" and row.values["rehire"] is True
    assert row.diff["spell"] == ["2020-01-01—2022-06-30", "再入职：新增任职期间"]
    assert row.diff["leave_date"] == ["2022-06-30", None] and row.diff["department"] == ["研发部", None]
    services.import_batch_commit(actor=system, batch=batch)
    e.refresh_from_db()
    assert (e.employee_no, e.entity, e.hire_date, e.leave_date, e.status) == (
        "R9",
        org["sz"],
        dt.date(2024, 5, 6),
        None,
        "active",
    )
    old, new = e.spells.order_by("hire_date")
    assert (old.employee_no, old.leave_date, old.entity) == (
        e.spells.first().employee_no,
        dt.date(2022, 6, 30),
        org["bj"],
    )
    assert (new.employee_no, new.hire_date, new.leave_date, new.entity) == (
        "R9",
        dt.date(2024, 5, 6),
        None,
        org["sz"],
    )


def test_leave_date_in_the_file_updates_status_and_spell(org, system, run_import, make_employee):
    e = make_employee(hire_date=dt.date(2020, 1, 1))
    number = crypto.decrypt(e.id_number_enc, purpose="employee.id_number")
    headers = [*HEADERS, "离职日期"]
    run_import(
        system,
        xlsx_bytes(
            headers, [[*person(e.name, number, e.employee_no, hired=dt.date(2020, 1, 1)), "2023-12-31"]]
        ),
        commit=True,
    )
    e.refresh_from_db()
    assert e.leave_date == dt.date(2023, 12, 31) and e.status == "left"
    assert e.spells.get().leave_date == dt.date(2023, 12, 31)


def test_default_entity_and_csv(org, system, run_import):
    headers = ["员工姓名", "身份证号码", "员工编号", "到岗日期", "门店", "用工类型", "户口性质"]
    rows = [["赵六", new_id(), "S1", "2024年3月5日", "福田门店", "兼职", "外埠农业"]]
    batch = run_import(system, csv_bytes(headers, rows), "roster.csv", default_entity=org["sz"], commit=True)
    assert batch.status == S.COMMITTED
    e = Employee.objects.get(employee_no="S1")
    assert (e.entity, e.department, e.employment_type, e.hukou_type) == (
        org["sz"],
        org["store"],
        "part_time",
        "nonlocal_rural",
    )


# --- modes and rejections ------------------------------------------------------------------------


def _bad_id() -> str:
    good = new_id()
    return good[:-1] + ("0" if good[-1] != "0" else "1")


def _mixed_file():
    rows = [person("张三", new_id(), "E1"), person("李四", _bad_id(), "E2"), person("王五", new_id(), "E3")]
    return xlsx_bytes(HEADERS, rows)


def test_all_or_nothing_rejects_the_whole_file(org, system, run_import):
    batch = run_import(system, _mixed_file())
    assert batch.status == S.PREVIEWED and batch.rejected_count == 1
    assert selectors.import_batch_summary(batch=batch)["will_reject"]
    services.import_batch_commit(actor=system, batch=batch)
    batch.refresh_from_db()
    assert batch.status == S.REJECTED and "有1行存在错误，整批未导入" in batch.error
    assert roster_counts() == (0, 0, 4)
    assert AuditEvent.objects.filter(action="import.reject").exists()
    assert not AuditEvent.objects.filter(action="import.commit").exists()


def test_valid_only_writes_the_valid_rows_and_keeps_the_rejected(org, system, run_import):
    batch = run_import(system, _mixed_file(), mode="valid_only", commit=True)
    assert batch.status == S.COMMITTED
    assert (batch.create_count, batch.rejected_count) == (2, 1)
    assert set(employees()) == {"E1", "E3"}
    assert actions(batch) == {2: "create", 3: "reject", 4: "create"}
    [(row, column, code, message)] = row_errors(batch)
    assert (row, column, code) == (3, "身份证号", "invalid_id_number")
    assert message.startswith("身份证号")
    report = services.import_batch_error_report(actor=system, batch=batch)
    assert report[:2] == b"PK" and AuditEvent.objects.filter(action="import.error_report").exists()


def test_mode_can_be_switched_before_commit(org, system, run_import):
    batch = run_import(system, _mixed_file())
    services.import_batch_set_mode(actor=system, batch=batch, mode="valid_only")
    services.import_batch_commit(actor=system, batch=batch)
    batch.refresh_from_db()
    assert batch.status == S.COMMITTED and batch.create_count == 2
    with pytest.raises(ApplicationError, match="不能再修改导入方式"):
        services.import_batch_set_mode(actor=system, batch=batch, mode="all_or_nothing")
    with pytest.raises(ApplicationError, match="不能确认导入"):
        services.import_batch_commit(actor=system, batch=batch)


def test_row_errors_name_the_row_the_column_and_what_to_fix(org, system, run_import, make_employee):
    taken = make_employee(employee_no="T1")
    good = new_id()
    bad_id = good[:-1] + ("0" if good[-1] != "0" else "1")
    with pytest.raises(IdentityError) as info:
        parse_identity(bad_id)
    id_message = info.value.message
    assert id_message == f"身份证号校验位错误：应为 {good[-1]}"
    headers = [*HEADERS, "离职日期", "邮箱"]
    rows = [
        [*person("无误", new_id(), "OK1"), None, None],  # row 2
        [*person("坏证件", bad_id, "X1"), None, None],  # 3
        [*person("坏日期", new_id(), "X2", hired="2024-02-30"), None, None],  # 4
        [*person("坏手机", new_id(), "X3", phone="12345"), None, None],  # 5
        [*person("坏工资", new_id(), "X4", wage="-1"), None, None],  # 6
        [*person(None, new_id(), "X5"), None, None],  # 7
        [*person("早离职", new_id(), "X6", hired=dt.date(2024, 3, 1)), "2024-01-01", None],  # 8
        [*person("无主体", new_id(), "X7", entity="上海分公司", dept="研发部"), None, None],  # 9
        [*person("工号占用", new_id(), "T1"), None, None],  # 10
        [*person("工号重复", new_id(), "OK1"), None, None],  # 11
        [*person("坏邮箱", new_id(), "X8"), None, "not-an-email"],  # 12
        [*person("无入职", new_id(), "X9", hired=None), None, None],  # 13
    ]
    batch = run_import(system, xlsx_bytes(headers, rows))
    got = {(row, column, code): message for row, column, code, message in row_errors(batch)}
    expected = {
        (3, "身份证号", "invalid_id_number"): id_message,
        (4, "入职日期", "invalid_date"): "入职日期“2024-02-30”不是有效日期（没有这一天）",
        (
            5,
            "手机号",
            "invalid_phone",
        ): "手机号码格式无效（5位数字）：应为11位手机号，或带区号的固定电话如 010-12345678",
        (6, "申报工资", "invalid_wage"): "申报工资不能为负数（本行为 -1）",
        (7, "姓名", "required"): "姓名不能为空",
        (8, "离职日期", "leave_before_hire"): "离职日期 2024-01-01 早于入职日期 2024-03-01",
        (9, "参保主体", "entity_unknown"): "未找到参保主体“上海分公司”：请填写系统中已有参保主体的编码或全称",
        (9, "部门", "department_unknown"): "无法确定部门“研发部”：本行的参保主体无效，请先修正参保主体",
        (10, "工号", "employee_no_taken"): f"工号“T1”已被员工“{taken.name}”使用：请核对工号",
        (11, "工号", "employee_no_duplicate"): "工号“OK1”已在第2行用于另一人：同一工号只能对应一人",
        (12, "邮箱", "invalid_email"): "邮箱“not-an-email”格式无效：应如 name@example.com",
        (13, "入职日期", "required"): "入职日期不能为空",
    }
    assert got == expected
    assert actions(batch)[2] == "create" and batch.rejected_count == 11


def test_same_person_twice_in_a_file(org, system, run_import):
    same = new_id()
    batch = run_import(
        system,
        xlsx_bytes(
            HEADERS, [person("张三", same, "E1"), person("李四", new_id(), "E2"), person("张三", same, "E3")]
        ),
    )
    errors = row_errors(batch)
    assert (
        2,
        "身份证号",
        "duplicate_in_file",
        "证件号码与第4行重复：同一人只能出现一次，请删除或合并重复的行",
    ) in errors
    assert (
        4,
        "身份证号",
        "duplicate_in_file",
        "证件号码与第2行重复：同一人只能出现一次，请删除或合并重复的行",
    ) in errors
    assert actions(batch) == {2: "reject", 3: "create", 4: "reject"}


def test_name_differs_for_a_registered_identity(org, system, run_import, make_employee):
    e = make_employee(name="张三")
    number = crypto.decrypt(e.id_number_enc, purpose="employee.id_number")
    batch = run_import(system, xlsx_bytes(HEADERS, [person("张叁", number, e.employee_no)]))
    assert row_errors(batch) == [
        (2, "姓名", "name_mismatch", "证件号已登记在员工“张三”名下，但本行姓名为“张叁”：请核对姓名或证件号")
    ]


def test_unknown_passport_kind_is_taken_from_the_registered_person(org, system, run_import, make_employee):
    e = make_employee(name="John Smith", id_number="E12345678", id_kind="passport")
    rows = [person("John Smith", "e1234 5678", e.employee_no), person("Jane Doe", "E87654321", "P2")]
    batch = run_import(system, xlsx_bytes(HEADERS, rows))
    assert actions(batch) == {2: "unchanged", 3: "reject"}
    assert row_errors(batch) == [
        (3, "身份证号", "id_kind_unknown", "无法识别证件类型：请选择证件类型（护照等）")
    ]


# --- departments ---------------------------------------------------------------------------------


def test_new_departments_are_listed_in_the_preview_and_created_on_commit(org, system, run_import):
    rows = [
        person("甲", new_id(), "D1", dept="研发部/后端组"),
        person("乙", new_id(), "D2", dept="市场部/华北组"),
        person("丙", new_id(), "D3", dept="市场部"),
        person("丁", new_id(), "D4", dept="市场部 / 华北组"),
    ]
    batch = run_import(system, xlsx_bytes(HEADERS, rows))
    assert [d["path"] for d in batch.new_departments] == ["研发部/后端组", "市场部", "市场部/华北组"]
    assert {d["entity"] for d in batch.new_departments} == {"BJ01"}
    row = ImportRow.objects.get(batch=batch, excel_row=2)
    assert row.values["department_path"] == "研发部/后端组" and row.values["department_new"] is True
    assert not Department.objects.filter(name__in=["后端组", "市场部", "华北组"]).exists()

    services.import_batch_commit(actor=system, batch=batch)
    backend = Department.objects.get(name="后端组")
    market = Department.objects.get(name="市场部", parent=None)
    north = Department.objects.get(name="华北组")
    assert (
        backend.parent == org["rd"]
        and backend.path == f"{org['rd'].path}{backend.pk}/"
        and backend.depth == 1
    )
    assert north.parent == market and north.path == f"/{market.pk}/{north.pk}/" and market.entity == org["bj"]
    found = employees()
    assert (
        found["D1"].department,
        found["D2"].department,
        found["D3"].department,
        found["D4"].department,
    ) == (backend, north, market, north)
    assert AuditEvent.objects.filter(action="department.create").count() >= 3
    # Next time the path resolves to the existing departments.
    again = run_import(system, xlsx_bytes(HEADERS, rows))
    assert again.new_departments == [] and again.unchanged_count == 4


def test_ambiguous_department_is_a_row_error(org, system, run_import, admin):
    from shebao.org.services import department_create

    department_create(actor=system, entity=org["bj"], name="前端组", parent=org["sales"])
    batch = run_import(system, xlsx_bytes(HEADERS, [person("甲", new_id(), "D1", dept="前端组")]))
    [(row, column, code, message)] = row_errors(batch)
    assert (row, column, code) == (2, "部门", "department_ambiguous") and "研发部/前端组" in message


# --- permissions ---------------------------------------------------------------------------------


def test_hr_specialist_imports_only_into_their_entities(org, clerk, run_import, actor_of, make_employee):
    sz_person = make_employee(entity=org["sz"], department=org["store"], name="深圳人")
    sz_number = crypto.decrypt(sz_person.id_number_enc, purpose="employee.id_number")
    rows = [
        person("北京人", new_id(), "B1"),
        person("深圳新人", new_id(), "S1", entity="SZ01", dept="福田门店"),
        person("深圳人", sz_number, sz_person.employee_no, entity="BJ01"),
    ]
    batch = run_import(actor_of(clerk), xlsx_bytes(HEADERS, rows), mode="valid_only", commit=True)
    assert batch.status == S.COMMITTED and batch.create_count == 1
    errors = row_errors(batch)
    assert (3, "参保主体", "forbidden_entity", "无权导入到参保主体“深圳示例零售有限公司”") in errors
    assert (
        4,
        "身份证号",
        "forbidden_employee",
        "该证件号码已登记在其他参保主体的员工名下，您无权修改：请联系 HR 管理员",
    ) in errors
    assert "深圳人" not in str(errors)  # a person outside the clerk's scope is not named
    sz_person.refresh_from_db()
    assert sz_person.entity == org["sz"]


@pytest.mark.parametrize("role", ["manager", "auditor", "staff_employee"])
def test_other_roles_cannot_import(org, request, role, actor_of):
    user = request.getfixturevalue(role)
    with pytest.raises(PermissionDenied):
        services.import_batch_create(actor=actor_of(user), data=b"x", filename="a.csv", enqueue=False)


def test_specialist_cannot_default_to_another_entity_or_touch_anothers_batch(
    org, clerk, admin, run_import, actor_of
):
    with pytest.raises(PermissionDenied, match="无权导入到参保主体"):
        services.import_batch_create(
            actor=actor_of(clerk), data=b"x", filename="a.csv", default_entity=org["sz"]
        )
    batch = run_import(actor_of(admin), xlsx_bytes(HEADERS, [person("甲", new_id(), "A1")]))
    with pytest.raises(PermissionDenied, match="只能操作自己上传的导入批次"):
        services.import_batch_commit(actor=actor_of(clerk), batch=batch)
    assert selectors.import_batch_get(user=clerk, batch_id=batch.pk) is None
    assert selectors.import_batch_get(user=admin, batch_id=batch.pk) == batch


# --- columns -------------------------------------------------------------------------------------


def test_unknown_columns_need_mapping_which_is_saved_and_reused(
    org, admin, run_import, actor_of, django_capture_on_commit_callbacks
):
    headers = ["姓名", "身份号", "工号", "入职日期", "参保主体", "爱好"]
    rows = [["张三", new_id(), "M1", "2024-03-01", "BJ01", "篮球"]]
    actor = actor_of(admin)
    batch = run_import(actor, xlsx_bytes(headers, rows))
    assert batch.status == S.NEEDS_MAPPING
    assert selectors.import_batch_unmapped(batch=batch) == ["身份号", "爱好"]
    assert "“身份号”、“爱好”" in batch.error
    assert not ImportRow.objects.filter(batch=batch).exists()
    samples = selectors.import_batch_column_samples(batch=batch)
    assert samples["爱好"] == ["篮球"] and rows[0][1] not in str(samples)  # masked

    with pytest.raises(ApplicationError, match="每个字段只能对应一列"):
        services.import_batch_set_mapping(
            actor=actor, batch=batch, mapping={"身份号": "name", "爱好": "ignore"}
        )
    with pytest.raises(ApplicationError, match="还有列未指定"):
        services.import_batch_set_mapping(actor=actor, batch=batch, mapping={"身份号": "id_number"})
    with django_capture_on_commit_callbacks(execute=True):  # the parse is queued (Huey immediate in tests)
        services.import_batch_set_mapping(
            actor=actor, batch=batch, mapping={"身份号": "id_number", "爱好": "ignore"}
        )
    batch.refresh_from_db()
    assert batch.status == S.PREVIEWED and batch.create_count == 1
    saved = HeaderMapping.objects.get()
    assert saved.mapping["身份号"] == "id_number" and saved.mapping["爱好"] == "ignore"

    reused = run_import(
        actor,
        xlsx_bytes(
            ["爱好 ", "姓名", "身份号", "工号", "入职日期", "参保主体"],
            [["足球", "李四", new_id(), "M2", "2024-03-01", "BJ01"]],
        ),
    )
    assert reused.status == S.PREVIEWED and reused.mapping["身份号"] == "id_number"
    assert "已沿用之前为相同表头确认过的列映射" in reused.warnings


def test_missing_required_column_rejects_the_file(org, system, run_import):
    batch = run_import(
        system, xlsx_bytes(["姓名", "身份证号", "入职日期"], [["张三", new_id(), "2024-03-01"]])
    )
    assert batch.status == S.REJECTED
    assert batch.error.startswith("缺少必填列：工号、参保主体（或在导入时选择默认参保主体）")
    assert row_errors(batch) == [(None, None, "batch_rejected", batch.error)]


def test_two_columns_for_one_field_need_mapping(org, system, run_import):
    batch = run_import(
        system,
        xlsx_bytes(
            ["姓名", "身份证号", "证件号码", "工号", "入职日期", "参保主体"],
            [["张三", new_id(), "", "E1", "2024-03-01", "BJ01"]],
        ),
    )
    assert batch.status == S.NEEDS_MAPPING
    assert "“身份证号”、“证件号码”都对应“身份证号”" in batch.error


def test_the_same_header_twice_rejects_the_file(org, system, run_import):
    batch = run_import(
        system,
        csv_bytes(
            ["姓名", "身份证号", "工号", "入职日期", "参保主体", "工号"],
            [["张三", new_id(), "E1", "2024-03-01", "BJ01", "E2"]],
        ),
        "a.csv",
    )
    assert batch.status == S.REJECTED and "表头“工号”出现了2次（C列、F列）" in batch.error


def test_a_column_with_data_but_no_header_rejects_the_file(org, system, run_import):
    batch = run_import(
        system,
        csv_bytes(
            ["姓名", "身份证号", "工号", "入职日期", "参保主体", ""],
            [["张三", new_id(), "E1", "2024-03-01", "BJ01", "x"]],
        ),
        "a.csv",
    )
    assert batch.status == S.REJECTED and "F列有数据但没有表头" in batch.error


def test_unreadable_file_is_rejected_with_the_readers_message(org, system, run_import):
    batch = run_import(system, b"not a spreadsheet", "roster.xlsx")
    assert batch.status == S.REJECTED and "不是有效的 Excel 文件" in batch.error
    assert row_errors(batch)[0][0] is None


# --- crashes -------------------------------------------------------------------------------------


@pytest.mark.parametrize("target", ["EmploymentSpell.insert", "Employee.bulk_update", "ImportRow.update"])
def test_a_crash_in_the_middle_of_a_commit_writes_nothing(
    org, system, run_import, make_employee, monkeypatch, target
):
    existing = make_employee(declared_wage="5000")
    number = crypto.decrypt(existing.id_number_enc, purpose="employee.id_number")
    rows = [person(existing.name, number, existing.employee_no, wage=6000)] + [
        person(f"新人{i}", new_id(), f"N{i}", dept="新部门/新小组") for i in range(5)
    ]
    batch = run_import(system, xlsx_bytes(HEADERS, rows))
    assert (batch.create_count, batch.update_count) == (5, 1)
    before = roster_counts(), list(Employee.objects.values()), list(EmploymentSpell.objects.values())
    audit_before = AuditEvent.objects.count()
    staged = list(ImportRow.objects.filter(batch=batch).values())

    model_name, method = target.split(".")
    model = {"EmploymentSpell": EmploymentSpell, "Employee": Employee, "ImportRow": ImportRow}[model_name]
    manager = model.objects
    if method == "update":
        from django.db.models import QuerySet

        real = QuerySet.update

        def boom_update(qs, **kw):
            if qs.model is ImportRow and "employee" in kw:
                raise RuntimeError("worker killed")
            return real(qs, **kw)

        monkeypatch.setattr(QuerySet, "update", boom_update)
    elif method == "insert":  # after the employees of the chunk are in

        def boom_spells(bidxs):
            raise RuntimeError("worker killed")

        monkeypatch.setattr(services, "_insert_first_spells", boom_spells)
    else:

        def boom(*args, **kwargs):
            raise RuntimeError("worker killed")

        monkeypatch.setattr(manager, method, boom)
    with pytest.raises(RuntimeError, match="worker killed"):
        services.import_batch_commit(actor=system, batch=batch)
    monkeypatch.undo()

    batch.refresh_from_db()
    assert (
        batch.status == S.FAILED
        and "导入失败，没有写入任何数据" in batch.error
        and "worker killed" in batch.error
    )
    assert (
        roster_counts(),
        list(Employee.objects.values()),
        list(EmploymentSpell.objects.values()),
    ) == before
    assert list(ImportRow.objects.filter(batch=batch).values()) == staged
    assert AuditEvent.objects.count() == audit_before

    # Recovery: parse again, then commit.
    services.import_batch_parse(batch=batch)
    services.import_batch_commit(actor=system, batch=batch)
    batch.refresh_from_db()
    assert batch.status == S.COMMITTED and Employee.objects.count() == 6


def test_commit_plans_again_against_the_current_roster(org, system, run_import, make_employee):
    number = new_id()
    batch = run_import(system, xlsx_bytes(HEADERS, [person("张三", number, "E1")]))
    assert batch.create_count == 1
    make_employee(name="别人", id_number=number, employee_no="Z9")  # registered meanwhile
    services.import_batch_commit(actor=system, batch=batch)
    batch.refresh_from_db()
    assert batch.status == S.REJECTED
    assert row_errors(batch) == [
        (2, "姓名", "name_mismatch", "证件号已登记在员工“别人”名下，但本行姓名为“张三”：请核对姓名或证件号")
    ]
    assert Employee.objects.count() == 1


def test_progress_is_visible_while_the_commit_transaction_runs(org, system, run_import):
    batch = run_import(system, xlsx_bytes(HEADERS, [person(f"员工{i}", new_id(), f"G{i}") for i in range(5)]))
    seen: list[tuple[str, int]] = []

    def watch(pct: int) -> None:  # what another process polling the batch would read
        fresh = ImportBatch.objects.get(pk=batch.pk)
        seen.append((fresh.status, selectors.import_batch_progress(batch=fresh)))

    services.import_batch_commit(actor=system, batch=batch, progress=watch)
    assert {status for status, _ in seen} == {"committing", "committed"}
    running = [pct for status, pct in seen if status == "committing"]
    assert running == sorted(running) and running[0] < 30 and running[-1] >= 90
    batch.refresh_from_db()
    assert selectors.import_batch_progress(batch=batch) == 100
    from huey.contrib.djhuey import HUEY

    assert HUEY.get(services.progress_key(batch.pk), peek=True) is None  # the key is cleaned up


# --- tasks ---------------------------------------------------------------------------------------


def test_upload_queues_the_parse_and_confirm_queues_the_commit(
    org, admin, actor_of, django_capture_on_commit_callbacks
):
    actor = actor_of(admin)
    data = xlsx_bytes(HEADERS, [person("张三", new_id(), "Q1")])
    with django_capture_on_commit_callbacks(execute=True):
        batch = services.import_batch_create(actor=actor, data=data, filename="q.xlsx")
    batch.refresh_from_db()
    assert batch.status == S.PREVIEWED and batch.progress == 100 and batch.uploaded_by == admin
    assert batch.file.name.startswith("imports/") and batch.file.read() == data
    assert os.stat(batch.file.path).st_mode & 0o777 == 0o600  # the file holds plaintext IDs
    with django_capture_on_commit_callbacks(execute=True):
        services.import_batch_commit_enqueue(actor=actor, batch=batch)
    batch.refresh_from_db()
    assert batch.status == S.COMMITTED and Employee.objects.filter(employee_no="Q1").exists()
    event = AuditEvent.objects.get(action="import.commit")
    assert event.actor == admin and event.via == "web"


def test_a_failing_task_marks_the_batch_failed(org, admin, actor_of, monkeypatch):
    from shebao.imports import tasks

    batch = services.import_batch_create(
        actor=actor_of(admin),
        data=xlsx_bytes(HEADERS, [person("张三", new_id(), "Q1")]),
        filename="q.xlsx",
        enqueue=False,
    )
    monkeypatch.setattr(services, "_plan_rows", lambda *a, **k: 1 / 0)
    tasks.import_batch_parse_task.call_local(batch.pk)
    batch.refresh_from_db()
    assert batch.status == S.FAILED and batch.error.startswith("解析失败")


# --- personal data -------------------------------------------------------------------------------


def test_plaintext_identity_and_phone_never_reach_the_database(org, system, run_import):
    valid, legacy, shifted, bad_kind = new_id(), legacy_id(), new_id(), new_id()
    upgraded = parse_identity(legacy).number
    phones = ["13800138000", "13912345678", "13700001111"]
    rows = [
        person("张三", valid, "P1", phone="+86 " + phones[0]),
        person("李四", legacy, "P2", phone=phones[1]),
        person(shifted, valid[:-1] + "0", "P3", phone=phones[2]),  # columns shifted: an ID in 姓名
        person("王五", f" {bad_kind.lower()} ", shifted + "X"),  # an ID-like 工号
    ]
    batch = run_import(
        system, xlsx_bytes(HEADERS, rows, title=f"备注 {valid}"), f"花名册_{valid}.xlsx", mode="valid_only"
    )
    assert batch.rejected_count == 2
    assert {(e[0], e[2]) for e in row_errors(batch)} >= {
        (6, "misplaced_identifier"),
        (7, "misplaced_identifier"),
    }
    services.import_batch_commit(actor=system, batch=batch)
    batch.refresh_from_db()
    assert batch.status == S.COMMITTED and batch.create_count == 2
    row = ImportRow.objects.get(batch=batch, excel_row=6)
    assert crypto.decrypt(row.original_enc["身份证号"], purpose="import.id_number") == valid[:-1] + "0"
    assert crypto.decrypt(row.original_enc["姓名"], purpose="import.id_number") == shifted

    needles = [valid, legacy, upgraded, shifted, bad_kind, valid[:-1] + "0", *phones]
    with connection.cursor() as cur:
        for table in connection.introspection.table_names(cur):
            cur.execute(f'SELECT * FROM "{table}"')
            blob = repr(cur.fetchall())
            for needle in needles:
                assert needle not in blob, f"plaintext found in {table}"
                assert needle.lower() not in blob, f"plaintext found in {table}"


def test_masked_copies_are_kept_for_display(org, system, run_import):
    number = new_id()
    batch = run_import(system, xlsx_bytes(HEADERS, [person("张三", number, "E1", phone="13800138000")]))
    [row] = selectors.import_batch_rows(batch=batch)
    assert row["original"]["身份证号"] == number[:6] + "********" + number[-4:]
    assert row["original"]["手机号"] == "138****8000"
    assert row["values"]["id_number"] == number[:6] + "********" + number[-4:]
    assert (
        row["values"]["entity_name"] == "北京示例科技有限公司" and row["values"]["hire_date"] == "2024-03-01"
    )


# --- scale ---------------------------------------------------------------------------------------


def test_no_per_row_queries(org, system, run_import, django_assert_max_num_queries, make_employee):
    existing = [make_employee() for _ in range(5)]
    rows = [
        person(
            e.name, crypto.decrypt(e.id_number_enc, purpose="employee.id_number"), e.employee_no, wage=i + 1
        )
        for i, e in enumerate(existing)
    ] + [person(f"员工{i}", new_id(), f"V{i:05d}", dept=f"部门{i % 3}/组{i % 2}") for i in range(1500)]
    batch = run_import(system, xlsx_bytes(HEADERS, rows))
    assert (batch.create_count, batch.update_count) == (1500, 5)
    # About 1 query per 40 employees: SQLite's 999-parameter limit splits each bulk INSERT.
    with django_assert_max_num_queries(150):
        services.import_batch_commit(actor=system, batch=batch)
    assert Employee.objects.count() == 1505 and EmploymentSpell.objects.count() == 1505


# --- chunks --------------------------------------------------------------------------------------


def test_rows_are_planned_and_written_chunk_by_chunk_with_checks_across_chunks(
    org, system, run_import, monkeypatch
):
    monkeypatch.setattr(services, "CHUNK", 3)
    twice = new_id()
    rows = [person(f"员工{i}", new_id(), f"C{i}", dept="新中心/新组") for i in range(8)]
    rows[1] = person("重复甲", twice, "D1", dept="新中心/新组")
    rows[7] = person("重复甲", twice, "D2")  # the same person again, two chunks later
    rows[6] = person("借号", new_id(), "C0")  # 工号 of row 2, for another person
    batch = run_import(system, xlsx_bytes(HEADERS, rows), mode="valid_only")
    assert (batch.row_count, batch.create_count, batch.rejected_count) == (8, 5, 3)
    assert {(r, code) for r, _, code, _ in row_errors(batch)} == {
        (3, "duplicate_in_file"),
        (9, "duplicate_in_file"),
        (8, "employee_no_duplicate"),
    }
    assert batch.new_departments == [
        {"entity": "BJ01", "entity_name": org["bj"].name, "path": "新中心"},
        {"entity": "BJ01", "entity_name": org["bj"].name, "path": "新中心/新组"},
    ]
    rejected = ImportRow.objects.get(batch=batch, excel_row=3)
    assert rejected.action == "reject" and rejected.diff == {} and rejected.employee_id is None

    services.import_batch_commit(actor=system, batch=batch)
    batch.refresh_from_db()
    assert batch.status == S.COMMITTED and batch.create_count == 5 and batch.rejected_count == 3
    assert Department.objects.filter(name="新组").count() == 1  # created once, used by every chunk
    assert Employee.objects.filter(department__name="新组").count() == 5
    assert set(Employee.objects.values_list("employee_no", flat=True)) == {"C0", "C2", "C3", "C4", "C5"}
    assert EmploymentSpell.objects.count() == 5
    linked = ImportRow.objects.filter(batch=batch, action="create").values_list(
        "excel_row", "employee__employee_no"
    )
    assert sorted(linked) == [(2, "C0"), (4, "C2"), (5, "C3"), (6, "C4"), (7, "C5")]


def test_a_row_gone_bad_in_a_later_chunk_rolls_back_the_chunks_already_written(
    org, system, run_import, make_employee, monkeypatch
):
    monkeypatch.setattr(services, "CHUNK", 2)
    ids = [new_id() for _ in range(5)]
    rows = [person(f"员工{i}", ids[i], f"L{i}", dept="新部门") for i in range(5)]
    batch = run_import(system, xlsx_bytes(HEADERS, rows))
    assert batch.create_count == 5 and batch.mode == "all_or_nothing"
    make_employee(name="别人", id_number=ids[4], employee_no="Z9")  # meanwhile; row 6 is in chunk 3
    before = roster_counts()
    audit_before = AuditEvent.objects.count()

    services.import_batch_commit(actor=system, batch=batch)
    batch.refresh_from_db()
    assert batch.status == S.REJECTED and "有1行存在错误" in batch.error
    assert roster_counts() == before  # chunks 1 and 2 were written, then rolled back
    assert (batch.create_count, batch.rejected_count) == (4, 1)
    assert [(r, code) for r, _, code, _ in row_errors(batch)] == [(6, "name_mismatch")]
    assert list(AuditEvent.objects.order_by("id")[audit_before:].values_list("action", flat=True)) == [
        "import.reject"
    ]


def test_commit_memory_does_not_hold_the_whole_batch(org, system, run_import, monkeypatch):
    monkeypatch.setattr(services, "CHUNK", 4)
    batch = run_import(
        system, xlsx_bytes(HEADERS, [person(f"员工{i}", new_id(), f"M{i}") for i in range(10)])
    )
    sizes: list[int] = []
    real = services._plan_rows

    def spy(plan, recs):
        sizes.append(len(recs))
        return real(plan, recs)

    monkeypatch.setattr(services, "_plan_rows", spy)
    services.import_batch_commit(actor=system, batch=batch)
    assert sizes == [4, 4, 2] and Employee.objects.count() == 10


def test_rows_staged_under_the_old_purposes_are_re_encrypted(org, system, run_import):
    import importlib

    from django.apps import apps

    migration = importlib.import_module("shebao.imports.migrations.0003_staged_numbers_under_roster_purposes")
    number, phone = new_id(), "13800138000"
    batch = run_import(system, xlsx_bytes(HEADERS, [person("张三", number, "E1", phone=phone)]))
    row = ImportRow.objects.get(batch=batch)
    old_id = crypto.encrypt(number, purpose="import.id_number")
    ImportRow.objects.filter(pk=row.pk).update(id_number_enc=old_id, phone_enc=row.phone_enc)  # phone: new
    migration.forwards(apps, None)
    row.refresh_from_db()
    assert crypto.decrypt(row.id_number_enc, purpose="employee.id_number") == number
    assert crypto.decrypt(row.phone_enc, purpose="employee.phone") == phone
    services.import_batch_commit(actor=system, batch=batch)
    e = Employee.objects.get()
    assert crypto.decrypt(e.id_number_enc, purpose="employee.id_number") == number
