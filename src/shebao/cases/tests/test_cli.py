"""`shebao cases [--json] [--status] [--overdue] [--template]`, `shebao cases install`,
`shebao case open --finding KEY_OR_ID [--template] [--json]` and `shebao case show NUMBER`."""

from __future__ import annotations

import datetime as dt
import io
import json
from decimal import Decimal

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from shebao.cases.models import Case, LetterTemplate, WorkflowTemplate
from shebao.cases.services import case_advance, case_assign, case_cancel, case_note, case_open
from shebao.core.context import Actor
from shebao.rules.models import AlertRule, Finding
from shebao.rules.services import findings_evaluate, rule_create
from shebao.rules.tests.factories import Book, months

REG = "registration_overdue"
AS_OF = dt.date(2025, 7, 2)
SYSTEM = Actor.system(via="test")


def run(name: str, *args: str) -> str:
    out = io.StringIO()
    call_command(name, *args, stdout=out, stderr=io.StringIO())
    return out.getvalue()


def run_json(name: str, *args: str):
    lines = [line for line in run(name, *args, "--json").splitlines() if line.strip()]
    assert len(lines) == 1, lines  # exactly one object
    return json.loads(lines[0])


@pytest.fixture
def finding(org, make_employee) -> Finding:
    """An unregistered newcomer at 北京 (a registration finding as of 2025-07-02)."""
    book = Book(org["bj"])
    colleague = make_employee(hire_date=dt.date(2020, 1, 1), declared_wage=Decimal("10000"))
    p = book.person(colleague)
    for ins in ("pension", "medical"):
        book.pay(p, ins, months("2024-07", "2025-06"))
    make_employee(name="新同事", hire_date=dt.date(2025, 6, 1), declared_wage=Decimal("8000"))
    findings_evaluate(actor=SYSTEM, as_of=AS_OF, kinds=[REG])
    return Finding.objects.get(kind=REG, employee__name="新同事")


# --- case open ------------------------------------------------------------------------------------


def test_open_by_id_text_and_again(finding, admin):
    out = run("case", "open", "--finding", str(finding.pk), "--assignee", "admin", "--note", "命令行立案")
    case = Case.objects.get(finding=finding)
    assert out.splitlines()[0] == f"已立案 {case.number}：{case.title}"
    assert "流程：入职社保核查（v1）" in out and "当前步骤：核查参保状态，期限 2025-07-01" in out
    assert "负责人：admin" in out
    assert case.assignee == admin and case.events.first().text == "命令行立案"
    again = run("case", "open", "--finding", str(finding.pk))
    assert again.splitlines()[0] == f"该预警已有处理中的案件 {case.number}：{case.title}"
    assert Case.objects.count() == 1


def test_open_by_key_json_and_template(finding):
    second = rule_create(actor=SYSTEM, kind=REG, name="登记（第二条）")
    findings_evaluate(actor=SYSTEM, as_of=AS_OF, rule_ids=[second.pk])
    with pytest.raises(CommandError, match="对应多条预警"):
        run("case", "open", "--finding", finding.key)

    data = run_json("case", "open", "--finding", f"{finding.rule_id}:{finding.key}", "--template", "backpay")
    assert data["created"] is True and data["template"] == "backpay" and data["finding"]["id"] == finding.pk
    assert data["current"]["code"] == "calculate" and data["steps"][0]["visits"][0]["status"] == "active"
    assert data["id_masked"] == finding.employee.id_number_masked

    twin = run_json("case", "open", "--finding", finding.key, "--rule", str(second.pk))
    assert twin["finding"]["id"] == Finding.objects.get(rule=second).pk and twin["template"] == "onboarding"
    again = run_json("case", "open", "--finding", str(finding.pk))
    assert again["created"] is False and again["id"] == data["id"]


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("--finding", "999999"), "预警“999999”不存在"),
        (("--finding", "hello"), "格式无效"),
        (("--finding", "e1:spell1", "--rule", "nope"), "规则“nope”应为规则 ID 或规则类型编码"),
        (("--finding", "1", "--template", "nope"), "流程模板“nope”不存在。可选：onboarding、"),
        (("--finding", "1", "--assignee", "ghost"), "未知用户“ghost”"),
    ],
)
def test_open_errors_exit_1(finding, args, message):
    with pytest.raises(CommandError, match=message):
        run("case", "open", *args)
    assert Case.objects.count() == 0


def test_open_without_a_template_for_the_kind(finding):
    WorkflowTemplate.objects.update(finding_kinds=[])
    with pytest.raises(CommandError, match="没有适用于该预警的流程模板"):
        run("case", "open", "--finding", str(finding.pk))


# --- cases ----------------------------------------------------------------------------------------


def test_list_table_filters_and_json(finding, org, admin, make_employee):
    onboarding = case_open(actor=SYSTEM, finding=finding)  # due 2025-07-01: overdue
    shenzhen = make_employee(name="深圳员工", entity=org["sz"], department=org["store"])
    fresh = case_open(actor=SYSTEM, employee=shenzhen, template="medical_interruption")  # due in 3 days
    case_assign(actor=SYSTEM, case=fresh, assignee=admin)

    out = run("cases")
    lines = out.splitlines()
    assert lines[0] == "处理中案件 2 件（全部流程，其中已逾期 1 件）："
    header, first, second = lines[1:4]
    assert header.split() == ["案件编号", "员工", "流程", "当前步骤", "期限", "逾期天数", "负责人"]
    assert first.split()[0] == onboarding.number and "核查参保状态" in first and "2025-07-01" in first
    assert (
        first.split()[-1] == "未分派"
        and int(first.split()[-2]) == (dt.date.today() - dt.date(2025, 7, 1)).days
    )
    assert (
        second.split()[0] == fresh.number and "深圳员工" in second and second.split()[-2:] == ["—", "admin"]
    )
    # the columns line up (Chinese characters count double)
    from shebao.cases.management.commands.cases import width

    col = header.index("负责人")
    assert width(first[: first.rindex("未分派")]) == width(header[:col])

    assert "处理中案件 1 件" in run("cases", "--overdue") and fresh.number not in run("cases", "--overdue")
    assert fresh.number in run("cases", "--template", "medical_interruption")
    assert onboarding.number not in run("cases", "--template", "medical_interruption")

    data = run_json("cases")
    assert data["total"] == 2 and [c["number"] for c in data["cases"]] == [onboarding.number, fresh.number]
    c = data["cases"][0]
    assert (
        c["overdue"] is True
        and c["overdue_days"] > 0
        and c["finding_key"] == f"{finding.rule_id}:{finding.key}"
    )
    assert c["step"] == "verify" and c["step_name"] == "核查参保状态" and c["template"] == "onboarding"
    assert "id_number" not in c and c["id_masked"] == finding.employee.id_number_masked

    case_cancel(actor=SYSTEM, case=fresh, reason="重复")
    cancelled = run("cases", "--status", "cancelled")
    assert (
        cancelled.splitlines()[0] == "已撤销案件 1 件（全部流程）：" and "已撤销" in cancelled.splitlines()[2]
    )
    assert run_json("cases", "--status", "all")["total"] == 2
    assert run("cases", "--template", "offboarding") == "没有处理中案件（流程“离职社保处理”）\n"
    limited = run_json("cases", "--status", "all", "--limit", "1")
    assert limited["total"] == 2 and len(limited["cases"]) == 1
    assert (
        run("cases", "--status", "all", "--limit", "1").splitlines()[-1]
        == "  …另有 1 件（用 --limit 或 --json 查看全部）"
    )


def test_list_errors_exit_1(org):
    with pytest.raises(CommandError, match="流程模板“nope”不存在"):
        run("cases", "--template", "nope")
    with pytest.raises(CommandError, match="--limit 不能为负数"):
        run("cases", "--limit", "-1")
    with pytest.raises(CommandError):
        run("cases", "--status", "maybe")


def test_install_adds_what_is_missing_only(org):
    assert run("cases", "install") == "内置流程模板均已安装，未作改动\n"
    edited = WorkflowTemplate.objects.get(code="backpay")
    edited.name = "补缴（本公司）"
    edited.save()
    WorkflowTemplate.objects.filter(code="offboarding").update(current=None)
    WorkflowTemplate.objects.filter(code="offboarding").delete()
    AlertRule.objects.filter(kind="notice_unacknowledged").delete()
    LetterTemplate.objects.filter(code="leaving_notice").update(title="改过的标题")

    data = run_json("cases", "install")
    assert data["workflows"] == ["offboarding"]
    assert [r["kind"] for r in data["rules"]] == ["notice_unacknowledged"]
    assert WorkflowTemplate.objects.get(code="backpay").name == "补缴（本公司）"
    assert LetterTemplate.objects.get(code="leaving_notice").title == "改过的标题"
    assert WorkflowTemplate.objects.get(code="offboarding").current.number == 1
    assert run_json("cases", "install") == {"workflows": [], "rules": []}


# --- case show ------------------------------------------------------------------------------------


def test_show_steps_choices_and_timeline(finding):
    case = case_open(actor=SYSTEM, finding=finding, note="立案说明")
    case_note(actor=SYSTEM, case=case, text="已电话联系员工")
    case_advance(actor=SYSTEM, case=case, choice="blocked", note="仍在原单位参保")
    out = run("case", "show", case.number)
    lines = out.splitlines()
    assert lines[0] == f"{case.number}  {case.title}"
    assert "  状态：处理中" in out and f"来源预警：{finding.rule_id}:{finding.key}" in out
    step_lines = {line.split()[1]: line for line in lines if line.strip().startswith(("✓", "▶", "·"))}
    assert "仍在原单位参保" not in step_lines["核查参保状态"] and "无法参保" in step_lines["核查参保状态"]
    assert step_lines["核查参保状态"].strip().startswith("✓") and "2025-07-01" in step_lines["核查参保状态"]
    assert step_lines["书面告知员工需提供的材料"].strip().startswith("▶")
    assert step_lines["结案"].strip().startswith("·")
    assert "当前步骤“书面告知员工需提供的材料”可选：" in out
    assert "  sent：告知函已发送 → 等待员工确认告知函（系统自动）；需要：函件已发送给员工" in out
    timeline = out[out.index("时间线：") :]
    kinds = [line.split()[2] for line in timeline.splitlines()[1:]]
    assert kinds == ["立案", "进入步骤", "备注", "完成步骤", "进入步骤"]
    assert "备注  系统（test）：已电话联系员工" in timeline
    assert "完成步骤  系统（test）：无法参保（在原单位参保或医保中断）（仍在原单位参保）" in timeline
    assert step_lines["结案"].split()[2] == "—"

    data = run_json("case", "show", case.number)
    assert data["number"] == case.number and data["current"]["code"] == "notify"
    assert [e["kind"] for e in data["events"]] == [
        "opened",
        "step_started",
        "note",
        "step_done",
        "step_started",
    ]
    assert data["events"][3]["data"]["choice"] == "blocked"


def test_show_unknown_number_exit_1(org):
    with pytest.raises(CommandError, match="案件“AJ209901-0001”不存在"):
        run("case", "show", "AJ209901-0001")
