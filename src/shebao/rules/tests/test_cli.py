"""`shebao evaluate [--rule KIND] [--as-of DATE] [--json]` and `shebao findings [...]`."""

from __future__ import annotations

import datetime as dt
import io
import json
import re
from decimal import Decimal

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from shebao.core.context import Actor
from shebao.rules.models import AlertRule, Finding
from shebao.rules.services import finding_transition
from shebao.rules.tests.factories import Book, months

REG = "registration_overdue"
ENVELOPE = {"evaluated_at", "opened", "updated", "resolved", "findings"}
FINDING_KEYS = {
    "key",
    "rule",
    "employee_no",
    "id_masked",
    "entity",
    "severity",
    "status",
    "deadline",
    "amount",
    "citations",
    "details",
}


def run(name: str, *args: str) -> str:
    out = io.StringIO()
    call_command(name, *args, stdout=out, stderr=io.StringIO())
    return out.getvalue()


def run_json(name: str, *args: str) -> dict:
    lines = [line for line in run(name, *args, "--json").splitlines() if line.strip()]
    assert len(lines) == 1, lines  # exactly one object
    data = json.loads(lines[0])
    assert set(data) == ENVELOPE
    return data


@pytest.fixture
def staff(org, make_employee):
    """A colleague covered since 2024-07 (so 北京's ledger has data), a newcomer hired 2025-06-01
    with no registration, and a newcomer at 深圳 (no ledger data there: not judged)."""
    book = Book(org["bj"])
    colleague = make_employee(hire_date=dt.date(2020, 1, 1), declared_wage=Decimal("10000"))
    p = book.person(colleague)
    for ins in ("pension", "medical", "housing_fund"):
        book.pay(p, ins, months("2024-07", "2025-06"))
    new = make_employee(name="新同事", hire_date=dt.date(2025, 6, 1), declared_wage=Decimal("8000"))
    return {"book": book, "colleague": colleague, "new": new}


def test_evaluate_json_shape(staff):
    data = run_json("evaluate", "--as-of", "2025-07-02")
    assert dt.datetime.fromisoformat(data["evaluated_at"])
    assert data["opened"] >= 1 and (data["updated"], data["resolved"]) == (0, 0)
    active = Finding.objects.exclude(status="resolved")
    assert len(data["findings"]) == active.count() == data["opened"]
    reg = next(f for f in data["findings"] if f["rule"] == REG)
    assert FINDING_KEYS <= set(reg)
    new = staff["new"]
    finding = Finding.objects.get(kind=REG, employee=new)
    assert reg["key"] == f"{finding.rule_id}:e{new.pk}:spell{new.spells.get().pk}"
    assert (reg["employee_no"], reg["entity"], reg["status"]) == (new.employee_no, "BJ01", "open")
    assert reg["id_masked"] == new.id_number_masked and "*" in reg["id_masked"]
    assert reg["deadline"] == "2025-07-01" and reg["severity"] == "critical"
    assert reg["amount"] is None or Decimal(reg["amount"]).as_tuple().exponent == -2
    assert reg["citations"] == ["SIL-58", "SIL-84"]
    assert reg["details"]["hire_date"] == "2025-06-01"
    # Nothing in the output carries a full identity number.
    from shebao.core import crypto
    from shebao.roster.models import ID_PURPOSE

    assert crypto.decrypt(new.id_number_enc, purpose=ID_PURPOSE) not in json.dumps(data, ensure_ascii=False)


def test_as_of_is_reproducible(staff):
    """The same data judged as of two days: the deadline day warns, the day after is overdue —
    and judging the first day again gives the warning back."""
    warn = run_json("evaluate", "--rule", REG, "--as-of", "2025-07-01")
    [f] = warn["findings"]
    assert (f["rule"], f["severity"], f["deadline"], warn["opened"]) == (REG, "warning", "2025-07-01", 1)
    assert f["details"]["variant"] == "due_soon"
    over = run_json("evaluate", "--rule", REG, "--as-of", "2025-07-02")
    [g] = over["findings"]
    assert (g["key"], g["severity"], over["opened"], over["updated"]) == (f["key"], "critical", 0, 1)
    assert g["details"]["variant"] == "overdue" and "已超 1 天" in g["title"]
    again = run_json("evaluate", "--rule", REG, "--as-of", "2025-07-01")
    assert again["findings"][0]["severity"] == "warning"
    assert [x["key"] for x in again["findings"]] == [f["key"]]
    # Only the named kind was evaluated.
    assert set(Finding.objects.values_list("kind", flat=True)) == {REG}
    # Before the warning window nothing is due at all: the finding resolves.
    early = run_json("evaluate", "--rule", REG, "--as-of", "2025-06-20")
    assert (early["findings"], early["resolved"]) == ([], 1)


def test_rule_option_repeated_or_comma_separated(staff):
    data = run_json(
        "evaluate", "--rule", f"{REG},medical_interrupted", "--rule", "arrears", "--as-of", "2025-07-02"
    )
    kinds = set(AlertRule.objects.filter(last_evaluated_at__isnull=False).values_list("kind", flat=True))
    assert kinds == {REG, "medical_interrupted", "arrears"}
    assert {f["rule"] for f in data["findings"]} <= kinds


@pytest.mark.parametrize(
    "args,message",
    [
        (["--rule", "no_such_kind"], "未知的规则类型“no_such_kind”"),
        (["--as-of", "2025-13-01"], "日期“2025-13-01”无效"),
        (["--as-of", "20250701"], "应为 YYYY-MM-DD"),
    ],
)
def test_evaluate_usage_errors(org, args, message):
    with pytest.raises(CommandError) as exc:
        call_command("evaluate", *args, stdout=io.StringIO())
    assert exc.value.returncode == 1 and message in str(exc.value)
    if "no_such_kind" in args:
        assert "registration_overdue（入职未办理社保登记）" in str(exc.value)
    assert not AlertRule.objects.filter(last_evaluated_at__isnull=False).exists()


def test_evaluate_prints_a_chinese_summary(staff):
    out = run("evaluate", "--rule", REG, "--as-of", "2025-07-02")
    assert out.startswith("评估完成（按 2025-07-02 评估，1 条规则）：新增 1，更新 0，解除 0")
    assert "未解除的预警 1 条：" in out
    assert "[严重·待处理]" in out and "期限 2025-07-01" in out and staff["new"].employee_no in out
    assert "依据 SIL-58、SIL-84" in out
    assert staff["new"].id_number_masked not in out or "*" in staff["new"].id_number_masked


def test_findings_lists_without_evaluating(staff):
    empty = run_json("findings")
    assert empty == {"evaluated_at": None, "opened": None, "updated": None, "resolved": None, "findings": []}
    run_json("evaluate", "--as-of", "2025-07-02")
    before = set(Finding.objects.values_list("id", "updated_at"))
    data = run_json("findings", "--rule", REG)
    assert set(Finding.objects.values_list("id", "updated_at")) == before  # nothing evaluated
    assert (data["opened"], data["updated"], data["resolved"]) == (None, None, None)
    rule = AlertRule.objects.get(kind=REG, is_default=True)
    assert data["evaluated_at"] == rule.last_evaluated_at.isoformat()
    [f] = data["findings"]
    assert FINDING_KEYS <= set(f) and f["rule"] == REG and f["employee_no"] == staff["new"].employee_no
    # The whole list matches what evaluate left active.
    assert len(run_json("findings")["findings"]) == Finding.objects.exclude(status="resolved").count()


def test_findings_filters(staff):
    run_json("evaluate", "--rule", REG, "--as-of", "2025-07-02")
    finding = Finding.objects.get(kind=REG)
    finding_transition(actor=Actor.system(via="test"), finding_ids=[finding.pk], to_status="acknowledged")
    assert [f["status"] for f in run_json("findings", "--status", "acknowledged")["findings"]] == [
        "acknowledged"
    ]
    assert run_json("findings", "--status", "open")["findings"] == []
    assert len(run_json("findings", "--status", "active")["findings"]) == 1
    assert run_json("findings", "--entity", "SZ01")["findings"] == []
    assert len(run_json("findings", "--entity", "北京示例科技有限公司")["findings"]) == 1
    # resolved once registered
    staff["book"].pay(staff["book"].person(staff["new"]), "pension", months("2025-06"))
    run_json("evaluate", "--rule", REG, "--as-of", "2025-07-03")
    assert run_json("findings", "--rule", REG)["findings"] == []
    [r] = run_json("findings", "--status", "resolved")["findings"]
    assert r["status"] == "resolved" and r["resolved_reason"]
    assert len(run_json("findings", "--status", "all", "--rule", REG)["findings"]) == 1
    with pytest.raises(CommandError, match="未找到参保主体“XX99”"):
        call_command("findings", "--entity", "XX99", stdout=io.StringIO())
    with pytest.raises(CommandError, match="未知的规则类型"):
        call_command("findings", "--rule", "nope", stdout=io.StringIO())


def test_findings_text(staff):
    assert run("findings").startswith("没有未解除的预警（全部参保主体；上次评估：从未评估）")
    run_json("evaluate", "--rule", REG, "--as-of", "2025-07-02")
    out = run("findings", "--rule", REG)
    assert out.startswith("未解除的预警 1 条（全部参保主体；严重 1；上次评估：")
    # the listing counts days as of today (day counts are not stored), the evaluation's deadline stays
    assert re.search(r"入职已 \d+ 天，仍未查到本单位的社保登记（期限 2025-07-01", out)


def test_console_script(staff, capsys, monkeypatch):
    from django.db import connections

    from shebao.cli import main

    monkeypatch.setattr(connections, "close_all", lambda: None)  # keep the test's transaction
    main(["evaluate", "--rule", REG, "--as-of", "2025-07-02", "--json"])  # exit status 0
    data = json.loads(capsys.readouterr().out)
    assert data["findings"][0]["severity"] == "critical"
    main(["findings", "--json"])
    assert json.loads(capsys.readouterr().out)["findings"][0]["key"] == data["findings"][0]["key"]
    with pytest.raises(SystemExit) as info:
        main(["evaluate", "--rule", "bogus"])
    assert info.value.code == 1
    assert "未知的规则类型“bogus”" in capsys.readouterr().err
