"""/api/v1/imports: upload → (mapping) → preview → confirm → status, end to end with a token."""

from __future__ import annotations

import datetime as dt

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile

from shebao.imports.models import ImportBatch
from shebao.imports.tests.builders import HEADERS, new_id, person, xlsx_bytes
from shebao.roster.models import Employee

XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


def bad_id() -> str:
    good = new_id()
    return good[:17] + ("1" if good[17] == "0" else "0")


@pytest.fixture
def call(client, token_for, django_capture_on_commit_callbacks):
    """call(user, scope) → an object with upload/get/post that runs queued work inline."""

    class Caller:
        def __init__(self, user, scope):
            self.headers = {"HTTP_AUTHORIZATION": f"Bearer {token_for(user, scope)}"} if user else {}

        def upload(self, data: bytes, filename: str = "花名册.xlsx", **form):
            with django_capture_on_commit_callbacks(execute=True):
                return client.post(
                    "/api/v1/imports", {**form, "file": SimpleUploadedFile(filename, data)}, **self.headers
                )

        def get(self, path: str, params=None):
            return client.get("/api/v1" + path, params or {}, **self.headers)

        def post(self, path: str, body=None, **params):
            import json
            from urllib.parse import urlencode

            url = "/api/v1" + path + (f"?{urlencode(params)}" if params else "")
            with django_capture_on_commit_callbacks(execute=True):
                return client.post(
                    url, json.dumps(body or {}), content_type="application/json", **self.headers
                )

    return Caller


def test_end_to_end(call, admin, org, make_employee):
    existing = make_employee(name="李四")
    from shebao.core import crypto
    from shebao.roster.models import ID_PURPOSE

    number = crypto.decrypt(existing.id_number_enc, purpose=ID_PURPOSE)
    wrong = bad_id()
    rows = [
        person("张三", new_id(), "Z0001", dept="研发部/后端组"),
        person("李四", number, existing.employee_no, dept="销售部"),
        person("坏人", wrong, "Z0003"),
    ]
    api = call(admin, "write")
    response = api.upload(xlsx_bytes(HEADERS, rows), mode="all_or_nothing")
    assert response.status_code == 201, response.content
    body = response.json()
    batch_id = body["id"]
    assert body["file_name"] == "花名册.xlsx" and body["mode"] == "all_or_nothing"

    status = api.get(f"/imports/{batch_id}").json()
    assert status["status"] == "previewed" and status["will_reject"] is True
    assert status["counts"] == {"rows": 3, "create": 1, "update": 1, "unchanged": 0, "rejected": 1}

    preview = api.get(f"/imports/{batch_id}/preview").json()
    assert preview["batch"]["new_departments"][0]["path"] == "研发部/后端组"
    assert preview["errors_total"] == 1
    [error] = preview["errors"]
    assert (
        error["row"] == 4 and error["column"] == "身份证号" and "校验位" in error["message"] and error["code"]
    )
    [update] = preview["updates"]
    assert update["employee_id"] == existing.pk and update["diff"]["department"] == ["研发部", "销售部"]
    assert wrong not in response.content.decode() + str(preview)

    workbook = api.get(f"/imports/{batch_id}/errors.xlsx")
    assert workbook.status_code == 200 and workbook["Content-Type"] == XLSX

    # All-or-nothing with a bad row would only be rejected: refused up front, nothing queued.
    refused = api.post(f"/imports/{batch_id}/confirm")
    assert refused.status_code == 422 and refused.json()["code"] == "will_reject"
    assert "有1行存在错误" in refused.json()["detail"]
    assert api.get(f"/imports/{batch_id}").json()["status"] == "previewed"

    response = api.post(f"/imports/{batch_id}/confirm", mode="valid_only")
    assert response.status_code == 202, response.content
    status = api.get(f"/imports/{batch_id}").json()
    assert status["status"] == "committed" and status["mode"] == "valid_only" and status["progress"] == 100
    assert set(Employee.objects.values_list("name", flat=True)) == {"张三", "李四"}
    assert [b["id"] for b in api.get("/imports").json()] == [batch_id]

    # Confirming twice is refused with the engine's Chinese message.
    again = api.post(f"/imports/{batch_id}/confirm")
    assert again.status_code == 422 and "不能确认导入" in again.json()["detail"]


def test_mapping(call, admin, org):
    headers = ["姓名", "身份证号", "工号", "入职日期", "参保主体", "神秘列"]
    api = call(admin, "write")
    batch_id = api.upload(
        xlsx_bytes(headers, [["赵六", new_id(), "Q0001", dt.date(2024, 5, 6), "BJ01", "蓝色"]])
    ).json()["id"]
    status = api.get(f"/imports/{batch_id}").json()
    assert status["status"] == "needs_mapping" and status["unmapped"] == ["神秘列"]
    fields = [f["field"] for f in api.get("/imports/fields").json()]
    assert "name" in fields and fields[-1] == "ignore"

    bad = api.post(f"/imports/{batch_id}/mapping", {"mapping": {"神秘列": "nonsense"}})
    assert bad.status_code == 422 and bad.json()["errors"] == [
        {"field": "神秘列", "message": "未知字段“nonsense”"}
    ]
    ok = api.post(f"/imports/{batch_id}/mapping", {"mapping": {"神秘列": "ignore"}, "remember": False})
    assert ok.status_code == 200
    status = api.get(f"/imports/{batch_id}").json()
    assert status["status"] == "previewed" and status["counts"]["create"] == 1


def test_upload_with_default_entity_and_validation(call, admin, clerk, org):
    api = call(admin, "write")
    data = xlsx_bytes(
        ["姓名", "身份证号", "工号", "入职日期"], [["钱七", new_id(), "M0001", dt.date(2024, 1, 2)]]
    )
    response = api.upload(data, entity="SZ01")
    assert response.status_code == 201 and response.json()["default_entity"]["code"] == "SZ01"
    assert api.get(f"/imports/{response.json()['id']}").json()["counts"]["create"] == 1

    assert api.upload(data, entity="NOPE").status_code == 422
    bad_mode = api.upload(data, mode="sometimes")
    assert bad_mode.status_code == 422 and bad_mode.json()["errors"][0]["field"] == "mode"
    empty = api.upload(b"")
    assert empty.status_code == 422 and "文件是空的" in empty.json()["detail"]
    # A clerk cannot name an entity outside their scope.
    assert call(clerk, "write").upload(data, entity="SZ01").status_code == 422


def test_auth_and_scope(call, client, admin, clerk, manager, org):
    data = xlsx_bytes(HEADERS, [person("王一", new_id(), "W0001")])
    batch_id = call(admin, "write").upload(data).json()["id"]

    anonymous = call(None, "read")
    assert anonymous.get(f"/imports/{batch_id}").status_code == 401
    assert anonymous.upload(data).status_code == 401

    read_only = call(admin, "read")
    assert read_only.get(f"/imports/{batch_id}").status_code == 200
    assert read_only.upload(data).status_code == 403
    assert read_only.post(f"/imports/{batch_id}/confirm").status_code == 403

    for path in (f"/imports/{batch_id}", f"/imports/{batch_id}/preview", "/imports"):
        response = call(manager, "read").get(path)
        assert response.status_code == 403 and "导入" in response.json()["detail"], path

    clerk_api = call(clerk, "write")
    assert clerk_api.get(f"/imports/{batch_id}").status_code == 404
    assert clerk_api.get(f"/imports/{batch_id}/errors.xlsx").status_code == 404
    assert clerk_api.post(f"/imports/{batch_id}/confirm").status_code == 404
    assert clerk_api.get("/imports").json() == []
    assert call(admin, "read").get("/imports/999999").status_code == 404
    assert ImportBatch.objects.get(pk=batch_id).status == "previewed"
