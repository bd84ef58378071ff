"""`shebao import-roster FILE [--entity CODE] [--dry-run] [--valid-only] [--json] [--user USERNAME]`."""

from __future__ import annotations

import io
import json

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from shebao.audit.models import AuditEvent
from shebao.imports.management.commands.import_roster import ProgressBar
from shebao.imports.models import ImportBatch
from shebao.imports.tests.builders import HEADERS, new_id, person, xlsx_bytes
from shebao.org.models import Department
from shebao.roster.models import Employee, EmploymentSpell

KEYS = {"batch", "status", "rows", "created", "updated", "unchanged", "rejected", "new_departments", "errors"}


@pytest.fixture
def write(tmp_path):
    def make(rows, headers=HEADERS, name="花名册.xlsx") -> str:
        path = tmp_path / name
        path.write_bytes(xlsx_bytes(headers, rows))
        return str(path)

    return make


def cli(*args: str) -> tuple[int, str]:
    out, err = io.StringIO(), io.StringIO()
    try:
        call_command("import_roster", *args, stdout=out, stderr=err)
        code = 0
    except CommandError as exc:
        if exc.returncode != 2:  # a usage or permission error: no result object
            raise
        code = exc.returncode
    return code, out.getvalue()


def cli_json(*args: str) -> tuple[int, dict]:
    code, out = cli(*args, "--json")
    lines = [line for line in out.splitlines() if line.strip()]
    assert len(lines) == 1, out  # exactly one object
    result = json.loads(lines[0])
    assert set(result) == KEYS
    return code, result


def bad_id() -> str:
    good = new_id()
    return good[:-1] + ("0" if good[-1] != "0" else "1")


def test_commit_prints_one_json_object_and_exits_0(org, write):
    path = write([person("张三", new_id(), "C1", dept="研发部/后端组"), person("李四", new_id(), "C2")])
    code, result = cli_json(path)
    assert code == 0
    batch = ImportBatch.objects.get()
    assert result == {
        "batch": batch.pk,
        "status": "committed",
        "rows": 2,
        "created": 2,
        "updated": 0,
        "unchanged": 0,
        "rejected": 0,
        "new_departments": [
            {"entity": "BJ01", "entity_name": "北京示例科技有限公司", "path": "研发部/后端组"}
        ],
        "errors": [],
    }
    assert Employee.objects.count() == 2
    event = AuditEvent.objects.get(action="import.commit")
    assert event.via == "cli" and event.actor is None and event.actor_label == "系统（cli）"
    # Again: all unchanged.
    code, result = cli_json(path)
    assert (code, result["status"], result["unchanged"], result["created"]) == (0, "committed", 2, 0)


def test_dry_run_writes_nothing(org, write):
    path = write([person("张三", new_id(), "C1", dept="市场部")])
    before = Department.objects.count()
    code, result = cli_json(path, "--dry-run")
    assert (code, result["status"], result["created"]) == (0, "dry_run", 1)
    assert result["new_departments"][0]["path"] == "市场部"
    assert not Employee.objects.exists() and not EmploymentSpell.objects.exists()
    assert Department.objects.count() == before
    assert ImportBatch.objects.get().status == ImportBatch.Status.PREVIEWED


def test_rejected_file_exits_2_and_lists_every_error(org, write):
    path = write([person("张三", new_id(), "C1"), person("李四", bad_id(), "C2", hired="明天")])
    code, result = cli_json(path)
    assert code == 2 and result["status"] == "rejected"
    assert (result["rows"], result["rejected"], result["created"]) == (2, 1, 1)
    assert [(e["row"], e["column"], e["code"]) for e in result["errors"]] == [
        (3, "身份证号", "invalid_id_number"),  # in the order of the file's columns
        (3, "入职日期", "invalid_date"),
    ]
    assert result["errors"][0]["message"].startswith("身份证号校验位错误：应为")
    assert not Employee.objects.exists()


def test_dry_run_of_a_file_that_would_be_rejected_exits_2(org, write):
    path = write([person("张三", bad_id(), "C1")])
    code, result = cli_json(path, "--dry-run")
    assert (code, result["status"]) == (2, "rejected")
    code, result = cli_json(path, "--dry-run", "--valid-only")
    assert (code, result["status"], result["rejected"]) == (0, "dry_run", 1)


def test_valid_only(org, write):
    path = write([person("张三", new_id(), "C1"), person("李四", bad_id(), "C2")])
    code, result = cli_json(path, "--valid-only")
    assert (code, result["status"], result["created"], result["rejected"]) == (0, "committed", 1, 1)
    assert result["errors"][0]["row"] == 3
    assert list(Employee.objects.values_list("employee_no", flat=True)) == ["C1"]


@pytest.mark.parametrize(
    "content,name,message",
    [
        (b"\x00\x01 not a workbook", "花名册.xlsx", "不是有效的 Excel 文件"),
        (b"a,b\n", "花名册.pdf", "不支持的文件类型"),
        (b"\xef\xbb\xbf\xe5\xa7\x93\xe5\x90\x8d,\xe7\x88\xb1\xe5\xa5\xbd\n1,2\n", "a.csv", "未找到表头"),
    ],
)
def test_unreadable_file_exits_2_with_a_file_level_error(org, tmp_path, content, name, message):
    path = tmp_path / name
    path.write_bytes(content)
    code, result = cli_json(str(path))
    assert code == 2 and result["status"] == "rejected" and result["rows"] == 0
    [error] = result["errors"]
    assert error["row"] is None and message in error["message"]


def test_missing_file(org, tmp_path):
    code, result = cli_json(str(tmp_path / "nope.xlsx"))
    assert code == 2 and result["batch"] is None
    assert result["errors"][0]["message"].startswith("文件不存在")


def test_unknown_columns_are_a_rejection_with_a_hint(org, write):
    path = write(
        [["张三", new_id(), "C1", "2024-03-01", "BJ01", "篮球"]],
        headers=["姓名", "身份号", "工号", "入职日期", "参保主体", "爱好"],
    )
    code, result = cli_json(path)
    assert code == 2 and result["status"] == "rejected"
    assert [(e["row"], e["column"], e["code"]) for e in result["errors"]] == [
        (None, "身份号", "unmapped_header"),
        (None, "爱好", "unmapped_header"),
    ]
    assert "请把这些列改为标准列名" in result["errors"][0]["message"]


def test_default_entity_and_user_scope(org, clerk, write):
    rows = [["张三", new_id(), "C1", "2024-03-01"], ["李四", new_id(), "C2", "2024-03-01"]]
    path = write(rows, headers=["姓名", "身份证号", "工号", "入职日期"])
    with pytest.raises(CommandError, match="无权导入到参保主体“深圳示例零售有限公司”"):
        cli_json(path, "--entity", "SZ01", "--user", "clerk")  # the clerk looks after Beijing only
    code, result = cli_json(
        write([person("王五", new_id(), "C3", entity="SZ01", dept=None)], name="sz.xlsx"), "--user", "clerk"
    )
    assert code == 2 and {e["code"] for e in result["errors"]} == {"forbidden_entity"}
    code, result = cli_json(path, "--entity", "北京示例科技有限公司", "--user", "clerk")
    assert (code, result["created"]) == (0, 2)
    assert set(Employee.objects.values_list("entity__code", flat=True)) == {"BJ01"}
    assert AuditEvent.objects.get(action="import.commit").actor == clerk


def test_bad_arguments(org, write, manager):
    path = write([person("张三", new_id(), "C1")])
    with pytest.raises(CommandError, match="未知用户“nobody”"):
        call_command("import_roster", path, "--user", "nobody", stdout=io.StringIO())
    with pytest.raises(CommandError, match="未找到参保主体“XX99”"):
        call_command("import_roster", path, "--entity", "XX99", stdout=io.StringIO())
    with pytest.raises(CommandError, match="没有导入花名册的权限") as info:
        call_command("import_roster", path, "--user", "manager", stdout=io.StringIO())
    assert info.value.returncode == 1


def test_human_output(org, write):
    path = write([person("张三", new_id(), "C1", dept="市场部"), person("李四", bad_id(), "C2")])
    code, out = cli(path, "--valid-only")
    assert code == 0
    assert out.splitlines()[0].startswith("已导入：共 2 行，新增 1，更新 0，无变化 0，有错误 1（批次")
    assert "新建部门：北京示例科技有限公司/市场部" in out
    assert "第3行 身份证号：身份证号校验位错误" in out


def test_console_script_name_and_exit_codes(org, write, capsys, monkeypatch):
    from django.db import connections

    from shebao.cli import main

    monkeypatch.setattr(connections, "close_all", lambda: None)  # keep the test's transaction
    good = write([person("张三", new_id(), "C1")], name="good.xlsx")
    main(["import-roster", good, "--json"])  # returns normally: exit status 0
    assert json.loads(capsys.readouterr().out)["status"] == "committed"
    bad = write([person("李四", bad_id(), "C2")], name="bad.xlsx")
    with pytest.raises(SystemExit) as info:
        main(["import-roster", bad, "--json"])
    assert info.value.code == 2
    captured = capsys.readouterr()
    assert json.loads(captured.out)["status"] == "rejected" and "导入被拒绝" in captured.err


def test_progress_bar_only_on_a_terminal():
    stream = io.StringIO()
    bar = ProgressBar(stream, enabled=True)
    update = bar.stage("导入")
    for pct in (0, 50, 50, 100):
        update(pct)
    text = stream.getvalue()
    assert (
        text.count("\r") == 3
        and "导入 [###############...............]  50%" in text
        and text.endswith("100%\n")
    )
    quiet = io.StringIO()
    ProgressBar(quiet, enabled=False).stage("解析")(40)
    assert quiet.getvalue() == ""
