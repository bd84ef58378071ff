"""/api/v1/employees: list, detail, create, partial update and reveal."""

from __future__ import annotations

import datetime as dt
import json

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from shebao.api.tests.helpers import field_errors
from shebao.audit.models import AuditEvent
from shebao.core import crypto
from shebao.core.identity import make_resident_id
from shebao.roster.models import ID_PURPOSE, Employee

ID_NUMBER = make_resident_id("110105", dt.date(1985, 5, 20), 123)


def new_employee(**overrides):
    return {
        "name": "张三",
        "id_number": ID_NUMBER,
        "employee_no": "N0001",
        "entity": "BJ01",
        "hire_date": "2024-03-01",
        **overrides,
    }


def full_id(employee: Employee) -> str:
    return crypto.decrypt(employee.id_number_enc, purpose=ID_PURPOSE)


@pytest.fixture
def admin_api(api_as, admin):
    return api_as(admin, "write")


# --- list ------------------------------------------------------------------------------------


def test_list_shape(admin_api, make_employee):
    employee = make_employee(declared_wage="8000", hukou_type="nonlocal_rural", email="a@example.com")
    body = admin_api.get("/employees").json()
    assert body["total"] == 1 and body["page"] == 1 and body["page_size"] == 50
    item = body["items"][0]
    assert item == {
        "id": employee.pk,
        "employee_no": employee.employee_no,
        "name": employee.name,
        "id_kind": "resident_id",
        "id_number_masked": employee.id_number_masked,
        "gender": employee.gender,
        "birth_date": employee.birth_date.isoformat(),
        "hukou_type": "nonlocal_rural",
        "phone_masked": employee.phone_masked,
        "email": "a@example.com",
        "entity": {"code": "BJ01", "name": "北京示例科技有限公司"},
        "department": {"id": employee.department_id, "name": "研发部"},
        "employment_type": "full_time",
        "hire_date": "2024-03-01",
        "leave_date": None,
        "declared_wage": "8000.00",
        "status": "active",
    }
    assert "*" in item["id_number_masked"] and "*" in item["phone_masked"]
    assert "spells" not in item


def test_list_and_detail_never_contain_full_numbers(admin_api, make_employee):
    employees = [make_employee() for _ in range(3)]
    texts = [admin_api.get("/employees").content.decode()]
    texts += [admin_api.get(f"/employees/{e.pk}").content.decode() for e in employees]
    for employee in employees:
        for text in texts:
            assert full_id(employee) not in text
            assert full_id(employee)[6:14] not in text  # not even the birth-date digits of the number
            assert crypto.decrypt(employee.phone_enc, purpose="employee.phone") not in text


def test_list_is_ordered_by_employee_number(admin_api, make_employee):
    for no in ("C3", "A1", "B2"):
        make_employee(employee_no=no)
    assert [e["employee_no"] for e in admin_api.get("/employees").json()["items"]] == ["A1", "B2", "C3"]


def test_list_filters(admin_api, make_employee, org):
    rd = make_employee(name="王小明", department=org["rd"])
    web = make_employee(department=org["rd_web"], employment_type="intern")
    sales = make_employee(department=org["sales"], leave_date=dt.date(2024, 6, 30))
    store = make_employee(entity=org["sz"], department=org["store"], employment_type="part_time")

    def ids(**params):
        response = admin_api.get("/employees", params)
        assert response.status_code == 200, response.content
        body = response.json()
        assert body["total"] == len(body["items"])
        return {e["id"] for e in body["items"]}

    assert ids() == {rd.pk, web.pk, sales.pk, store.pk}
    assert ids(entity="BJ01") == {rd.pk, web.pk, sales.pk}
    assert ids(entity="SZ01") == {store.pk}
    assert ids(department=org["rd"].pk) == {rd.pk, web.pk}  # department includes its sub-departments
    assert ids(department=org["rd_web"].pk) == {web.pk}
    assert ids(status="left") == {sales.pk}
    assert ids(status="active") == {rd.pk, web.pk, store.pk}
    assert ids(employment_type="intern") == {web.pk}
    assert ids(employment_type="part_time", entity="BJ01") == set()
    assert ids(q="小明") == {rd.pk}
    assert ids(q=web.employee_no) == {web.pk}
    assert ids(q=full_id(store)) == {store.pk}  # exact search on the blind index
    assert ids(q="没有这个人") == set()


def test_list_filter_errors(admin_api, org):
    response = admin_api.get("/employees", {"entity": "XX99", "department": 999999})
    assert response.status_code == 422
    assert field_errors(response) == {
        "entity": "参保主体“XX99”不存在或不在您的权限范围内",
        "department": "部门（ID 999999）不存在或不在您的权限范围内",
    }
    response = admin_api.get("/employees", {"status": "gone", "employment_type": "x", "department": "abc"})
    assert response.status_code == 422
    errors = field_errors(response)
    assert errors["status"] == "无效的取值“gone”，可选：pending、active、left"
    assert errors["employment_type"].startswith("无效的取值“x”，可选：full_time、")
    assert errors["department"] == "应为整数"


def test_clerk_cannot_filter_on_another_entity(api_as, clerk, org):
    api = api_as(clerk)
    assert field_errors(api.get("/employees", {"entity": "SZ01"})) == {
        "entity": "参保主体“SZ01”不存在或不在您的权限范围内"
    }
    assert "department" in field_errors(api.get("/employees", {"department": org["store"].pk}))


def test_pagination(admin_api, make_employee):
    for i in range(7):
        make_employee(employee_no=f"P{i:02d}")

    def page(**params):
        body = admin_api.get("/employees", params).json()
        return body["total"], [e["employee_no"] for e in body["items"]]

    assert page(page_size=3) == (7, ["P00", "P01", "P02"])
    assert page(page_size=3, page=2) == (7, ["P03", "P04", "P05"])
    assert page(page_size=3, page=3) == (7, ["P06"])
    assert page(page_size=3, page=4) == (7, [])
    assert page(page_size=200)[1] == [f"P{i:02d}" for i in range(7)]


@pytest.mark.parametrize(
    ("params", "field", "message"),
    [
        ({"page_size": 201}, "page_size", "不能大于 200"),
        ({"page_size": 0}, "page_size", "不能小于 1"),
        ({"page": 0}, "page", "不能小于 1"),
        ({"page": "x"}, "page", "应为整数"),
    ],
)
def test_pagination_limits(admin_api, params, field, message):
    response = admin_api.get("/employees", params)
    assert response.status_code == 422
    assert response.json() == {"detail": "请求数据无效", "errors": [{"field": field, "message": message}]}


def test_list_query_count_does_not_grow_with_page_size(admin_api, make_employee):
    make_employee()
    admin_api.get("/entities")  # the token's first use also records last_used_at
    with CaptureQueriesContext(connection) as one:
        assert admin_api.get("/employees").status_code == 200
    for _ in range(20):
        make_employee()
    with CaptureQueriesContext(connection) as many:
        assert len(admin_api.get("/employees").json()["items"]) == 21
    assert len(many) == len(one) == 4  # token, page ids, page rows, count


# --- detail ----------------------------------------------------------------------------------


def test_detail_has_spells(admin_api, make_employee):
    employee = make_employee(declared_wage="12345.6")
    response = admin_api.get(f"/employees/{employee.pk}")
    assert response.status_code == 200
    body = response.json()
    assert body["id"] == employee.pk and body["declared_wage"] == "12345.60"
    assert body["spells"] == [
        {
            "employee_no": employee.employee_no,
            "entity": {"code": "BJ01", "name": "北京示例科技有限公司"},
            "department": {"id": employee.department_id, "name": "研发部"},
            "employment_type": "full_time",
            "hire_date": "2024-03-01",
            "leave_date": None,
            "leave_reason": "",
            "declared_wage": "12345.60",
        }
    ]


def test_detail_bad_id_is_422(admin_api):
    response = admin_api.get("/employees/abc")
    assert response.status_code == 422
    assert field_errors(response) == {"employee_id": "应为整数"}


# --- create ----------------------------------------------------------------------------------


def test_create(admin_api, admin, org):
    body = new_employee(
        phone="13800138000",
        email="zs@example.com",
        department=org["rd_web"].pk,
        employment_type="intern",
        declared_wage="8000",
        hukou_type="local_urban",
    )
    response = admin_api.post("/employees", body)
    assert response.status_code == 201, response.content
    data = response.json()
    employee = Employee.objects.get(pk=data["id"])
    assert full_id(employee) == ID_NUMBER
    assert ID_NUMBER not in response.content.decode() and "13800138000" not in response.content.decode()
    assert data["id_number_masked"] == employee.id_number_masked
    assert data["phone_masked"] == "138****8000"
    assert data["birth_date"] == "1985-05-20" and data["gender"] == "M"
    assert data["entity"] == {"code": "BJ01", "name": "北京示例科技有限公司"}
    assert data["department"] == {"id": org["rd_web"].pk, "name": "前端组"}
    assert data["employment_type"] == "intern" and data["declared_wage"] == "8000.00"
    assert data["status"] == "active" and len(data["spells"]) == 1
    event = AuditEvent.objects.get(action="employee.create", object_id=str(employee.pk))
    assert event.actor == admin and event.via == "api" and event.ip == "127.0.0.1"
    assert ID_NUMBER not in json.dumps(event.changes, ensure_ascii=False)


def test_create_defaults(admin_api):
    data = admin_api.post("/employees", new_employee()).json()
    assert data["employment_type"] == "full_time"
    assert data["department"] is None and data["phone_masked"] is None and data["declared_wage"] is None


def test_create_bad_check_digit(admin_api):
    bad = ID_NUMBER[:17] + ("0" if ID_NUMBER[17] != "0" else "1")
    response = admin_api.post("/employees", new_employee(id_number=bad))
    assert response.status_code == 422
    assert field_errors(response) == {"id_number": f"身份证号校验位错误：应为 {ID_NUMBER[17]}"}
    assert response.json()["detail"] == f"身份证号校验位错误：应为 {ID_NUMBER[17]}"
    assert not Employee.objects.exists()


def test_create_unknown_entity(admin_api):
    response = admin_api.post("/employees", new_employee(entity="XX99"))
    assert response.status_code == 422
    assert response.json() == {
        "detail": "参保主体“XX99”不存在或不在您的权限范围内",
        "errors": [{"field": "entity", "message": "参保主体“XX99”不存在或不在您的权限范围内"}],
        "code": "invalid",
    }


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("2024-02-30", "日期无效：“2024-02-30”不存在"),
        ("2024/03/01", "日期格式无效：应为 YYYY-MM-DD，例如 2024-03-01"),
        ("yesterday", "日期格式无效：应为 YYYY-MM-DD，例如 2024-03-01"),
        (1709251200, "日期格式无效：应为 YYYY-MM-DD，例如 2024-03-01"),
        (None, "不能为空"),
    ],
)
def test_create_bad_date(admin_api, value, message):
    response = admin_api.post("/employees", new_employee(hire_date=value))
    assert response.status_code == 422
    assert response.json() == {
        "detail": "请求数据无效",
        "errors": [{"field": "hire_date", "message": message}],
    }


def test_create_leave_before_hire(admin_api):
    response = admin_api.post("/employees", new_employee(leave_date="2024-02-01"))
    assert response.status_code == 422
    assert field_errors(response) == {"leave_date": "早于入职日期"}
    assert response.json()["detail"] == "离职日期 2024-02-01 早于入职日期 2024-03-01"


def test_create_missing_and_unknown_fields(admin_api):
    response = admin_api.post("/employees", {"name": "张三", "hiredate": "2024-03-01"})
    assert response.status_code == 422
    assert field_errors(response) == {
        "id_number": "必填",
        "employee_no": "必填",
        "entity": "必填",
        "hire_date": "必填",
        "hiredate": "不支持的字段",
    }


def test_create_type_errors(admin_api):
    response = admin_api.post(
        "/employees",
        new_employee(
            employee_no=12,
            department="研发部",
            declared_wage="8千",
            employment_type="contractor",
            id_kind="身份证",
            email="not-an-email",
        ),
    )
    assert response.status_code == 422
    errors = field_errors(response)
    assert errors["employee_no"] == "应为字符串"
    assert errors["department"] == "应为整数"
    assert errors["declared_wage"] == "应为金额，如 8000.00"
    assert errors["employment_type"].startswith("无效的取值“contractor”")
    assert errors["id_kind"].startswith("无效的取值“身份证”，可选：resident_id、")
    assert errors["email"] == "邮箱格式无效"


def test_create_money_limits(admin_api):
    assert field_errors(admin_api.post("/employees", new_employee(declared_wage="-1"))) == {
        "declared_wage": "不能小于 0"
    }
    assert field_errors(admin_api.post("/employees", new_employee(declared_wage="1.005"))) == {
        "declared_wage": "最多2位小数"
    }
    assert field_errors(admin_api.post("/employees", new_employee(declared_wage="12345678901"))) == {
        "declared_wage": "金额过大"
    }


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("{not json", {"detail": "请求体不是有效的 JSON", "errors": []}),
        ("\xff", {"detail": "请求体不是有效的 JSON", "errors": []}),
        ("", {"detail": "请求数据无效", "errors": [{"field": "", "message": "缺少请求体（JSON 对象）"}]}),
    ],
)
def test_create_unparseable_body(admin_api, raw, expected):
    response = admin_api.post("/employees", raw=raw)
    assert response.status_code == 422
    assert response.json() == expected


def test_create_body_must_be_an_object(admin_api):
    response = admin_api.post("/employees", [1, 2])
    assert response.status_code == 422
    assert response.json() == {
        "detail": "请求数据无效",
        "errors": [{"field": "", "message": "应为 JSON 对象"}],
    }


def test_create_business_rules(admin_api, org, make_employee):
    existing = make_employee()
    response = admin_api.post("/employees", new_employee(department=org["store"].pk))
    assert field_errors(response) == {"department": "不属于该参保主体"}
    response = admin_api.post("/employees", new_employee(employee_no=existing.employee_no))
    assert field_errors(response) == {"employee_no": "已存在"}
    response = admin_api.post("/employees", new_employee(id_number=full_id(existing)))
    assert field_errors(response) == {"id_number": "证件号码已存在"}
    response = admin_api.post("/employees", new_employee(name="  "))
    assert field_errors(response) == {"name": "姓名不能为空"}
    assert Employee.objects.count() == 1


def test_create_passport_holder(admin_api):
    response = admin_api.post(
        "/employees", new_employee(id_kind="passport", id_number="E12345678", employment_type="foreign")
    )
    assert response.status_code == 201, response.content
    assert response.json()["id_kind"] == "passport" and response.json()["birth_date"] is None


# --- partial update --------------------------------------------------------------------------


def test_patch_changes_only_sent_fields(admin_api, make_employee, admin):
    employee = make_employee(declared_wage="5000", email="old@example.com")
    before = admin_api.get(f"/employees/{employee.pk}").json()
    response = admin_api.patch(f"/employees/{employee.pk}", {"declared_wage": "6500.5"})
    assert response.status_code == 200, response.content
    after = response.json()
    assert after["declared_wage"] == "6500.50"
    assert {k for k in before if before[k] != after[k]} == {"declared_wage", "spells"}
    assert after["spells"][0]["declared_wage"] == "6500.50"
    event = AuditEvent.objects.get(action="employee.update", object_id=str(employee.pk))
    assert set(event.changes) == {"declared_wage"} and event.via == "api" and event.actor == admin


def test_patch_empty_body_changes_nothing(admin_api, make_employee):
    employee = make_employee()
    before = admin_api.get(f"/employees/{employee.pk}").json()
    assert admin_api.patch(f"/employees/{employee.pk}", {}).json() == before
    assert not AuditEvent.objects.filter(action="employee.update").exists()


def test_patch_null_clears_optional_fields(admin_api, make_employee):
    employee = make_employee(declared_wage="5000", email="x@example.com")
    data = admin_api.patch(
        f"/employees/{employee.pk}", {"department": None, "phone": None, "email": None, "declared_wage": None}
    ).json()
    assert data["department"] is None and data["phone_masked"] is None
    assert data["email"] is None and data["declared_wage"] is None
    employee.refresh_from_db()
    assert employee.phone_enc == "" and employee.department is None


def test_patch_null_on_required_fields(admin_api, make_employee):
    employee = make_employee()
    response = admin_api.patch(
        f"/employees/{employee.pk}",
        {"name": None, "hire_date": None, "entity": None, "employment_type": None, "employee_no": None},
    )
    assert response.status_code == 422
    assert field_errors(response) == {
        "name": "姓名不能为空",
        "hire_date": "入职日期不能为空",
        "entity": "参保主体不能为空",
        "employment_type": "用工类型不能为空",
        "employee_no": "工号不能为空",
    }
    assert response.json()["detail"] == "姓名不能为空（共5处错误）"


def test_patch_leave(admin_api, make_employee):
    employee = make_employee()
    response = admin_api.patch(f"/employees/{employee.pk}", {"leave_date": "2024-01-01"})
    assert response.status_code == 422
    assert field_errors(response) == {"leave_date": "早于入职日期"}
    data = admin_api.patch(f"/employees/{employee.pk}", {"leave_date": "2024-12-31"}).json()
    assert data["leave_date"] == "2024-12-31" and data["status"] == "left"


def test_patch_move_to_other_entity(admin_api, make_employee, org):
    employee = make_employee()
    response = admin_api.patch(f"/employees/{employee.pk}", {"entity": "SZ01"})
    assert field_errors(response) == {"department": "不属于该参保主体"}  # 研发部 belongs to BJ01
    data = admin_api.patch(
        f"/employees/{employee.pk}", {"entity": "SZ01", "department": org["store"].pk}
    ).json()
    assert data["entity"]["code"] == "SZ01" and data["department"]["name"] == "福田门店"


def test_patch_id_number(admin_api, make_employee):
    employee = make_employee()
    new_id = make_resident_id("440305", dt.date(1992, 11, 8), 42)
    data = admin_api.patch(f"/employees/{employee.pk}", {"id_number": new_id}).json()
    assert data["birth_date"] == "1992-11-08" and data["gender"] == "F"
    employee.refresh_from_db()
    assert full_id(employee) == new_id
    response = admin_api.patch(f"/employees/{employee.pk}", {"id_kind": "passport"})
    assert field_errors(response) == {"id_number": "修改证件类型时须同时提供证件号码"}


def test_patch_rejects_read_only_fields(admin_api, make_employee):
    employee = make_employee()
    response = admin_api.patch(f"/employees/{employee.pk}", {"status": "left", "id": 5})
    assert response.status_code == 422
    assert field_errors(response) == {"status": "不支持的字段", "id": "不支持的字段"}


# --- reveal ----------------------------------------------------------------------------------


def test_reveal_id_number_is_audited(admin_api, make_employee, admin):
    employee = make_employee()
    response = admin_api.post(f"/employees/{employee.pk}/reveal", {"field": "id_number"})
    assert response.status_code == 200
    assert response.json() == {"field": "id_number", "value": full_id(employee)}
    assert "no-store" in response["Cache-Control"]
    events = AuditEvent.objects.filter(action="employee.reveal_id_number")
    assert events.count() == 1
    event = events.get()
    assert event.object_id == str(employee.pk) and event.actor == admin and event.via == "api"
    assert full_id(employee) not in json.dumps(event.changes, ensure_ascii=False)


def test_reveal_phone(admin_api, make_employee):
    employee = make_employee(phone="13912345678")
    response = admin_api.post(f"/employees/{employee.pk}/reveal", {"field": "phone"})
    assert response.json() == {"field": "phone", "value": "13912345678"}
    assert AuditEvent.objects.filter(action="employee.reveal_phone").count() == 1
    no_phone = make_employee(phone="")
    assert admin_api.post(f"/employees/{no_phone.pk}/reveal", {"field": "phone"}).json()["value"] is None


def test_reveal_bad_field(admin_api, make_employee):
    employee = make_employee()
    for body in ({"field": "name"}, {}):
        response = admin_api.post(f"/employees/{employee.pk}/reveal", body)
        assert response.status_code == 422
        assert list(field_errors(response)) == ["field"]
    assert not AuditEvent.objects.filter(action__startswith="employee.reveal").exists()


def test_reveal_out_of_scope_is_404_and_not_audited(api_as, clerk, make_employee, org):
    employee = make_employee(entity=org["sz"], department=org["store"])
    response = api_as(clerk, "write").post(f"/employees/{employee.pk}/reveal", {"field": "id_number"})
    assert response.status_code == 404
    assert not AuditEvent.objects.filter(action__startswith="employee.reveal").exists()


def test_clerk_reveals_own_entity(api_as, clerk, make_employee):
    employee = make_employee()
    response = api_as(clerk, "write").post(f"/employees/{employee.pk}/reveal", {"field": "id_number"})
    assert response.status_code == 200 and response.json()["value"] == full_id(employee)
    assert AuditEvent.objects.get(action="employee.reveal_id_number").actor == clerk


# --- entities --------------------------------------------------------------------------------


def test_entities(api_as, admin):
    response = api_as(admin).get("/entities")
    assert response.status_code == 200
    assert response.json() == [
        {
            "code": "BJ01",
            "name": "北京示例科技有限公司",
            "uscc": "91110000802100433B",
            "city": "北京市",
            "city_code": "110000",
        },
        {
            "code": "SZ01",
            "name": "深圳示例零售有限公司",
            "uscc": "91440300MA5F12340J",
            "city": "深圳市",
            "city_code": "440300",
        },
    ]
