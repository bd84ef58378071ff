"""The import wizard and history pages: permissions, upload → (mapping) → preview → confirm."""

from __future__ import annotations

import datetime as dt

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile

from shebao.audit.models import AuditEvent
from shebao.core.context import Actor
from shebao.imports import fields as F
from shebao.imports.models import ImportBatch
from shebao.imports.readers import read_table
from shebao.imports.tests.builders import HEADERS, new_id, person, xlsx_bytes
from shebao.roster.models import Employee

XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


def bad_id() -> str:
    good = new_id()
    return good[:17] + ("1" if good[17] == "0" else "0")


@pytest.fixture
def upload(django_capture_on_commit_callbacks):
    """upload(client, data, filename=…, **form) → the response; the queued parse runs inline."""

    def run(client, data: bytes, filename: str = "花名册.xlsx", **form):
        payload = {"mode": "all_or_nothing", **form, "file": SimpleUploadedFile(filename, data)}
        with django_capture_on_commit_callbacks(execute=True):
            return client.post("/imports/new/", payload)

    return run


@pytest.fixture
def post(django_capture_on_commit_callbacks):
    def run(client, url: str, data: dict | None = None):
        with django_capture_on_commit_callbacks(execute=True):
            return client.post(url, data or {})

    return run


def _batch(user, data: bytes | None = None) -> ImportBatch:
    from shebao.imports.services import import_batch_create, import_batch_parse

    data = data or xlsx_bytes(HEADERS, [person("王一", new_id(), "W0001")])
    batch = import_batch_create(
        actor=Actor(user=user, via="test"), data=data, filename="a.xlsx", enqueue=False
    )
    import_batch_parse(batch=batch)
    batch.refresh_from_db()
    return batch


# --- permissions -----------------------------------------------------------------------------


def test_anonymous_is_sent_to_login(client, admin):
    batch = _batch(admin)
    for url in ("/imports/", "/imports/new/", "/imports/template.xlsx", f"/imports/{batch.pk}/"):
        response = client.get(url)
        assert response.status_code == 302 and response["Location"].startswith("/login/"), url
    response = client.get(f"/imports/{batch.pk}/progress/", HTTP_HX_REQUEST="true")
    assert response.status_code == 200 and response["HX-Redirect"].startswith("/login/")


@pytest.mark.parametrize("who", ["staff_employee", "manager", "auditor"])
def test_roles_that_cannot_edit_the_roster_get_403(request, login, admin, who):
    batch = _batch(admin)
    client = login(request.getfixturevalue(who))
    for url in (
        "/imports/",
        "/imports/new/",
        "/imports/template.xlsx",
        f"/imports/{batch.pk}/",
        f"/imports/{batch.pk}/progress/",
        f"/imports/{batch.pk}/errors.xlsx",
    ):
        assert client.get(url).status_code == 403, url
    for url in ("mapping", "mode", "commit"):
        assert client.post(f"/imports/{batch.pk}/{url}/").status_code == 403, url
    assert "数据导入" not in client.get("/").content.decode().split("即将推出")[0]


def test_clerk_sees_own_batches_only(login, admin, clerk):
    theirs = _batch(admin)
    mine = _batch(clerk)
    client = login(clerk)
    body = client.get("/imports/").content.decode()
    assert f"/imports/{mine.pk}/" in body and f"/imports/{theirs.pk}/" not in body
    assert client.get(f"/imports/{mine.pk}/").status_code == 200
    for url in ("", "progress/", "errors.xlsx"):
        assert client.get(f"/imports/{theirs.pk}/{url}").status_code == 404
    assert client.post(f"/imports/{theirs.pk}/commit/").status_code == 404
    assert ImportBatch.objects.get(pk=theirs.pk).status == "previewed"
    # The admin sees both.
    body = login(admin).get("/imports/").content.decode()
    assert f"/imports/{mine.pk}/" in body and f"/imports/{theirs.pk}/" in body


def test_nav_and_history(login, admin):
    body = login(admin).get("/imports/").content.decode()
    assert 'href="/imports/"' in body and "上传花名册" in body and "还没有导入记录" in body
    _batch(admin)
    body = login(admin).get("/imports/").content.decode()
    assert "a.xlsx" in body and "待确认导入" in body


# --- downloads -------------------------------------------------------------------------------


def test_template_download(login, admin, org):
    response = login(admin).get("/imports/template.xlsx")
    assert response.status_code == 200
    assert response["Content-Type"] == XLSX
    disposition = response["Content-Disposition"]
    assert disposition.startswith("attachment;")
    assert "filename*=UTF-8''%E8%8A%B1%E5%90%8D%E5%86%8C" in disposition  # 花名册…
    table = read_table(response.content, filename="t.xlsx", header_score=F.header_score)
    assert "姓名*" in table.headers


# --- upload form -----------------------------------------------------------------------------


def test_upload_form_rejects_bad_files(login, admin, upload):
    client = login(admin)
    page = client.get("/imports/new/").content.decode()
    assert 'accept=".xlsx,.xls,.csv"' in page and "全部无误才导入" in page and "仅导入无误的行" in page
    response = upload(client, b"hello", filename="名单.txt")
    assert response.status_code == 200
    assert "不支持的文件类型“.txt”" in response.content.decode()
    response = upload(client, b"", filename="名单.xlsx")
    assert "文件是空的" in response.content.decode()
    assert not ImportBatch.objects.exists()


def test_unreadable_file_is_rejected_with_advice(login, admin, upload):
    client = login(admin)
    response = upload(client, b"not really a spreadsheet", filename="坏文件.xlsx")
    batch = ImportBatch.objects.get()
    assert response["Location"] == f"/imports/{batch.pk}/"
    assert batch.status in ("rejected", "failed")
    body = client.get(response["Location"]).content.decode()
    assert batch.error in body and "重新上传" in body


def test_clerk_cannot_upload_to_an_entity_out_of_scope(login, clerk, org, upload):
    response = upload(login(clerk), xlsx_bytes(HEADERS, []), default_entity=org["sz"].pk)
    assert response.status_code == 200
    assert "default_entity" in response.context["form"].errors
    assert not ImportBatch.objects.exists()


# --- the wizard ------------------------------------------------------------------------------


def test_upload_preview_confirm(login, admin, org, make_employee, upload, post):
    existing = make_employee(name="李四", department=org["rd"])
    rows = [
        person("张三", new_id(), "Z0001", dept="研发部/后端组"),
        person("李四", existing.id_number_masked and _full_id(existing), existing.employee_no, dept="销售部"),
    ]
    client = login(admin)
    response = upload(client, xlsx_bytes(HEADERS, rows))
    batch = ImportBatch.objects.get()
    assert response.status_code == 302 and response["Location"] == f"/imports/{batch.pk}/"

    page = client.get(f"/imports/{batch.pk}/").content.decode()
    assert batch.uploaded_by == admin
    assert 'data-testid="count-create">1<' in page and 'data-testid="count-update">1<' in page
    assert "将新建部门" in page and "后端组" in page
    assert "将更新的员工" in page and "部门" in page and "销售部" in page
    assert existing.id_number_masked in page
    assert (
        "确认导入" in page and "disabled" not in page.split('data-testid="confirm"')[1].split("</section>")[0]
    )

    response = post(client, f"/imports/{batch.pk}/commit/")
    assert response.status_code == 302
    batch.refresh_from_db()
    assert batch.status == "committed" and batch.committed_by == admin
    assert Employee.objects.filter(name="张三", department__name="后端组").exists()
    existing.refresh_from_db()
    assert existing.department == org["sales"]

    page = client.get(f"/imports/{batch.pk}/").content.decode()
    assert "导入完成" in page and 'href="/employees/"' in page and "/audit/?action=import.commit" in page
    created = Employee.objects.get(name="张三")
    assert f'href="/employees/{created.pk}/"' in page
    # The progress partial tells a polling page to reload once the work is done.
    response = client.get(f"/imports/{batch.pk}/progress/", HTTP_HX_REQUEST="true")
    assert response["HX-Refresh"] == "true"


def _full_id(employee) -> str:
    from shebao.core import crypto
    from shebao.roster.models import ID_PURPOSE

    return crypto.decrypt(employee.id_number_enc, purpose=ID_PURPOSE)


def test_progress_bar_polls_while_running(login, admin):
    batch = _batch(admin)
    from huey.contrib.djhuey import HUEY

    from shebao.imports.services import progress_key

    HUEY.get(progress_key(batch.pk))  # reading without peek removes what an earlier test stored
    ImportBatch.objects.filter(pk=batch.pk).update(status="committing", progress=40)
    client = login(admin)
    page = client.get(f"/imports/{batch.pk}/").content.decode()
    assert 'hx-trigger="every 1s"' in page and f'hx-get="/imports/{batch.pk}/progress/"' in page
    partial = client.get(f"/imports/{batch.pk}/progress/", HTTP_HX_REQUEST="true")
    body = partial.content.decode()
    assert partial.status_code == 200 and 'value="40"' in body and "正在写入花名册" in body
    assert "<html" not in body


def test_mapping_flow(login, admin, org, upload, post):
    headers = ["姓名", "身份证号", "工号", "入职日期", "参保主体", "神秘列"]
    data = xlsx_bytes(headers, [["赵六", new_id(), "Q0001", dt.date(2024, 5, 6), "BJ01", "蓝色"]])
    client = login(admin)
    upload(client, data)
    batch = ImportBatch.objects.get()
    assert batch.status == "needs_mapping"
    page = client.get(f"/imports/{batch.pk}/").content.decode()
    assert 'data-testid="mapping-form"' in page and "神秘列" in page and "蓝色" in page
    assert "记住此映射" in page and "忽略该列" in page
    index = batch.headers.index("神秘列")

    # Leaving the unknown column unchosen keeps the form up with the engine's message.
    response = post(client, f"/imports/{batch.pk}/mapping/", {"remember": "on"})
    assert response.status_code == 200 and "还有列未指定" in response.content.decode()

    response = post(client, f"/imports/{batch.pk}/mapping/", {f"col_{index}": "ignore", "remember": "on"})
    assert response.status_code == 302
    batch.refresh_from_db()
    assert batch.status == "previewed" and batch.mapping["神秘列"] == "ignore"
    assert batch.create_count == 1


def test_rejected_rows_error_workbook_and_mode_switch(login, admin, org, upload, post):
    wrong = bad_id()
    rows = [person("好人", new_id(), "G0001"), person("坏人", wrong, "G0002")]
    client = login(admin)
    upload(client, xlsx_bytes(HEADERS, rows))
    batch = ImportBatch.objects.get()
    page = client.get(f"/imports/{batch.pk}/").content.decode()
    assert 'data-testid="rejected-table"' in page
    assert '<td class="mono">3</td>' in page and "身份证号" in page and "校验位" in page
    assert 'data-testid="commit-blocked"' in page
    assert wrong not in page  # identity numbers are masked

    response = client.get(f"/imports/{batch.pk}/errors.xlsx")
    assert response.status_code == 200 and response["Content-Type"] == XLSX
    assert "filename*=UTF-8''" in response["Content-Disposition"]
    table = read_table(response.content, filename="e.xlsx", header_score=F.header_score)
    assert wrong in str(table.rows)
    assert AuditEvent.objects.filter(action="import.error_report").count() == 1

    assert post(client, f"/imports/{batch.pk}/mode/", {"mode": "valid_only"}).status_code == 302
    batch.refresh_from_db()
    assert batch.mode == "valid_only"
    page = client.get(f"/imports/{batch.pk}/").content.decode()
    assert 'data-testid="commit-blocked"' not in page and "有错误的 1 行将被跳过" in page

    post(client, f"/imports/{batch.pk}/commit/")
    batch.refresh_from_db()
    assert batch.status == "committed"
    assert list(Employee.objects.values_list("name", flat=True)) == ["好人"]


def test_all_or_nothing_with_bad_rows_is_refused_and_a_rejected_batch_says_why(
    login, admin, org, upload, post, actor_of
):
    from shebao.imports.services import import_batch_commit

    client = login(admin)
    upload(
        client, xlsx_bytes(HEADERS, [person("好人", new_id(), "G0001"), person("坏人", bad_id(), "G0002")])
    )
    batch = ImportBatch.objects.get()
    response = client.get(f"/imports/{batch.pk}/")
    assert 'data-testid="commit-blocked"' in response.content.decode()
    response = post(client, f"/imports/{batch.pk}/commit/")  # the button is disabled; a crafted POST
    page = client.get(response["Location"]).content.decode()
    batch.refresh_from_db()
    assert batch.status == "previewed" and not Employee.objects.exists()
    assert "有1行存在错误，导入方式为“全部无误才导入”时整批不会导入" in page

    import_batch_commit(actor=actor_of(admin), batch=batch)  # what the CLI does: reject the batch
    batch.refresh_from_db()
    assert batch.status == "rejected" and not Employee.objects.exists()
    page = client.get(f"/imports/{batch.pk}/").content.decode()
    assert "文件未导入" in page and "下载错误工作簿" in page and "花名册没有任何改动" in page


def test_rejected_rows_are_paginated(login, admin, org, upload):
    rows = [person(f"坏{i}", bad_id(), f"P{i:04d}") for i in range(55)]
    client = login(admin)
    upload(client, xlsx_bytes(HEADERS, rows))
    batch = ImportBatch.objects.get()
    page = client.get(f"/imports/{batch.pk}/").content.decode()
    assert "第 1 / 2 页" in page and '<td class="mono">2</td>' in page
    page = client.get(f"/imports/{batch.pk}/?page=2").content.decode()
    assert (
        "第 2 / 2 页" in page and '<td class="mono">56</td>' in page and '<td class="mono">2</td>' not in page
    )
