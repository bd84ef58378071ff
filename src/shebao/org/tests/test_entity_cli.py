from __future__ import annotations

import json

import pytest
from django.core.management import CommandError, call_command

from shebao.audit.models import AuditEvent
from shebao.org.models import Department, Entity
from shebao.org.services import department_create, uscc_normalise

pytestmark = pytest.mark.django_db


def run(*args: str) -> str:
    from io import StringIO

    out = StringIO()
    call_command("entity", *args, stdout=out)
    return out.getvalue()


def test_entity_add_and_list_json():
    out = run(
        "add",
        "--code",
        "GZ01",
        "--name",
        "广州示例有限公司",
        "--uscc",
        "91440101ma5c00010l",
        "--city",
        "广州",
        "--si-unit-no",
        "440100123",
        "--hf-unit-no",
        "GJJ-88",
    )
    assert "GZ01" in out
    rows = json.loads(run("list", "--json"))
    assert rows == [
        {
            "code": "GZ01",
            "name": "广州示例有限公司",
            "uscc": "91440101MA5C00010L",
            "city": "广州市",
            "city_code": "440100",
            "si_unit_no": "440100123",
            "hf_unit_no": "GJJ-88",
            "active_employees": 0,
        }
    ]
    event = AuditEvent.objects.get(action="entity.create")
    assert event.actor is None and event.actor_label.startswith("系统")


def test_city_by_code_and_full_name():
    run("add", "--code", "A", "--name", "甲", "--uscc", "91110000802100433B", "--city", "110000")
    run("add", "--code", "B", "--name", "乙", "--uscc", "91440300MA5F12340J", "--city", "深圳市")
    assert list(Entity.objects.order_by("code").values_list("city__name", flat=True)) == ["北京市", "深圳市"]


@pytest.mark.parametrize(
    "uscc,message",
    [
        ("91110000802100433C", "统一社会信用代码校验位错误：应为 B"),
        ("9111000080210043", "统一社会信用代码应为18位，实际为16位"),
        ("", "统一社会信用代码不能为空"),
    ],
)
def test_bad_uscc_is_a_specific_error(uscc, message):
    with pytest.raises(CommandError, match=message):
        run("add", "--code", "X", "--name", "某公司", "--uscc", uscc, "--city", "北京")
    assert not Entity.objects.exists()


def test_unknown_city_is_a_specific_error():
    with pytest.raises(CommandError, match="未知城市“火星”"):
        run("add", "--code", "X", "--name", "某公司", "--uscc", "91110000802100433B", "--city", "火星")


def test_duplicates_are_rejected(org):
    with pytest.raises(CommandError, match="参保主体编码“BJ01”已存在"):
        run("add", "--code", "BJ01", "--name", "新公司", "--uscc", "91310000MA1K000107", "--city", "上海")
    with pytest.raises(CommandError, match="已被其他参保主体使用"):
        run("add", "--code", "NEW", "--name", "新公司", "--uscc", "91110000802100433B", "--city", "上海")


def test_cli_exit_code_is_nonzero(tmp_path):
    import os
    import subprocess
    import sys

    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "shebao.cli",
            "entity",
            "add",
            "--code",
            "X",
            "--name",
            "某",
            "--uscc",
            "123",
            "--city",
            "北京",
        ],
        capture_output=True,
        text=True,
        env={**os.environ, "SHEBAO_INSTANCE_DIR": str(tmp_path)},
    )
    assert result.returncode != 0
    assert "统一社会信用代码" in result.stderr


def test_uscc_normalise_accepts_lower_case_and_spaces():
    assert uscc_normalise(" 91110000 802100433b ") == "91110000802100433B"


def test_department_tree_paths(org, system):
    sub = department_create(actor=system, entity=org["bj"], name="后端组", parent=org["rd"])
    assert sub.path == f"{org['rd'].path}{sub.id}/" and sub.depth == 1
    under = set(Department.objects.filter(path__startswith=org["rd"].path).values_list("name", flat=True))
    assert under == {"研发部", "前端组", "后端组"}


def test_department_rules(org, system):
    from shebao.core.exceptions import ApplicationError

    with pytest.raises(ApplicationError, match="已有名为“研发部”的部门"):
        department_create(actor=system, entity=org["bj"], name="研发部")
    with pytest.raises(ApplicationError, match="不属于参保主体"):
        department_create(actor=system, entity=org["sz"], name="子部门", parent=org["rd"])
