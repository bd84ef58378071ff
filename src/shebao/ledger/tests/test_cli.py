"""`shebao ingest FILE --entity CODE …` and `shebao reconcile [--entity CODE] …`."""

from __future__ import annotations

import csv
import datetime as dt
import io
import json
from decimal import Decimal

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.db import transaction

from shebao.audit.models import AuditEvent
from shebao.core import crypto
from shebao.core.identity import make_resident_id
from shebao.core.yearmonth import YearMonth
from shebao.ledger import facts as F
from shebao.ledger.models import (
    ContributionRecord,
    Discrepancy,
    LedgerPerson,
    SourceRow,
    SyncRun,
)
from shebao.ledger.services import ledger_facts_apply, sync_run_finish, sync_run_start
from shebao.roster.models import ID_PURPOSE

HEADERS = ["姓名", "证件号码", "险种", "费款所属期", "缴费基数", "单位缴费", "个人缴费"]
STRANGER_ID = make_resident_id("440305", dt.date(1991, 2, 3), 17)
INGEST_KEYS = {
    "run",
    "status",
    "status_label",
    "dry_run",
    "entity",
    "file",
    "profile",
    "counts",
    "errors",
    "warnings",
    "duplicate_of",
}


def full_id(employee) -> str:
    return crypto.decrypt(employee.id_number_enc, purpose=ID_PURPOSE)


def bad_id() -> str:
    good = make_resident_id("110105", dt.date(1988, 8, 8), 88)
    return good[:17] + ("1" if good[17] == "0" else "0")


def run_command(name: str, *args: str) -> tuple[int, str]:
    """(exit code, stdout). Exit 2 (data rejected) is a result; exit 1 (bad arguments) raises."""
    out = io.StringIO()
    try:
        call_command(name, *args, stdout=out, stderr=io.StringIO())
        code = 0
    except CommandError as exc:
        if exc.returncode != 2:
            raise
        code = exc.returncode
    return code, out.getvalue()


def as_json(out: str) -> dict:
    lines = [line for line in out.splitlines() if line.strip()]
    assert len(lines) == 1, out  # exactly one object
    return json.loads(lines[0])


def ingest(*args: str) -> tuple[int, dict]:
    code, out = run_command("ingest", *args, "--json")
    result = as_json(out)
    assert set(result) == INGEST_KEYS
    return code, result


@pytest.fixture
def write(tmp_path):
    """write(rows, name=…) → the path of a CSV in the generic long layout (one insurance-month a row)."""

    def make(rows, name: str = "缴费明细.csv") -> str:
        buf = io.StringIO()
        csv.writer(buf).writerows([HEADERS, *rows])
        path = tmp_path / name
        path.write_bytes(buf.getvalue().encode("utf-8-sig"))
        return str(path)

    return make


@pytest.fixture
def people(make_employee):
    alice = make_employee(name="爱丽丝", hire_date=dt.date(2024, 1, 1))
    return {"alice": alice, "alice_id": full_id(alice)}


def rows_for(people) -> list[list[str]]:
    a = people["alice_id"]
    return [
        ["爱丽丝", a, "基本养老保险", "2025-03", "8000.00", "1280.00", "640.00"],
        ["爱丽丝", a, "基本医疗保险", "2025-03", "8000.00", "800.00", "160.00"],
        ["陌生人", STRANGER_ID, "基本养老保险", "2025-03", "6000.00", "960.00", "480.00"],
    ]


# --- ingest ----------------------------------------------------------------------------------


def test_ingest_applies_the_file(org, people, write):
    path = write(rows_for(people))
    code, result = ingest(path, "--entity", "BJ01")
    assert code == 0, result
    run = SyncRun.objects.get()
    assert result["run"] == run.pk and run.source == "cli" and run.status == "succeeded"
    assert (result["status"], result["dry_run"], result["entity"], result["file"]) == (
        "succeeded",
        False,
        "BJ01",
        "缴费明细.csv",
    )
    assert result["profile"] and result["profile"] == run.profile
    counts = result["counts"]
    assert (counts["rows"], counts["rejected"], counts["records_created"], counts["unknown_people"]) == (
        3,
        0,
        3,
        1,
    )
    assert result["errors"] == [] and result["duplicate_of"] is None
    pension = ContributionRecord.objects.get(person__employee=people["alice"], insurance="pension")
    assert (pension.period, pension.base, pension.employer_due, pension.employee_due) == (
        202503,
        Decimal("8000.00"),
        Decimal("1280.00"),
        Decimal("640.00"),
    )
    assert pension.unit.entity == org["bj"]
    assert LedgerPerson.objects.get(employee__isnull=True).name == "陌生人"
    event = AuditEvent.objects.get(action="ledger.ingest")
    assert event.via == "cli" and event.actor is None
    # The people the file touched were reconciled at once: the stranger is listed.
    assert Discrepancy.objects.filter(kind="unknown_person", status="open").count() == 1


def test_ingest_prints_a_chinese_summary(org, people, write):
    code, out = run_command("ingest", write(rows_for(people)), "--entity", "BJ01")
    assert code == 0
    run = SyncRun.objects.get()
    assert out.startswith(
        f"已导入：缴费明细.csv（参保主体 BJ01，格式模板 {run.profile}），同步记录 #{run.pk}"
    )
    assert "共 3 行：跳过 0，有错误 0；涉及 2 人，费款所属期 2025-03" in out
    assert "缴费记录：新增 3，变更 0，无变化 0" in out
    assert "花名册外人员：1 人" in out
    assert STRANGER_ID not in out


def test_dry_run_writes_nothing(org, people, write):
    path = write(rows_for(people))
    code, result = ingest(path, "--entity", "BJ01", "--dry-run")
    assert code == 0
    assert (result["run"], result["status"], result["dry_run"]) == (None, "previewed", True)
    assert result["counts"]["records_created"] == 3 and result["counts"]["unknown_people"] == 1
    for model in (SyncRun, SourceRow, ContributionRecord, LedgerPerson, Discrepancy):
        assert not model.objects.exists(), model
    assert not AuditEvent.objects.filter(action__startswith="ledger.").exists()
    code, out = run_command("ingest", path, "--entity", "BJ01", "--dry-run")
    assert out.startswith("预览（未写入）：缴费明细.csv") and "缴费记录：将新增 3，将变更 0" in out
    assert not SyncRun.objects.exists()


def test_the_same_file_twice_changes_nothing(org, people, write):
    path = write(rows_for(people))
    _, first = ingest(path, "--entity", "BJ01")
    before = list(ContributionRecord.objects.order_by("pk").values_list("pk", "updated_at", "last_run"))
    code, second = ingest(path, "--entity", "BJ01")
    assert code == 0
    assert (second["status"], second["duplicate_of"]) == ("duplicate", first["run"])
    assert second["run"] != first["run"] and second["counts"].get("records_created", 0) == 0
    [warning] = second["warnings"]
    assert f"同步记录 #{first['run']}" in warning and "未作任何更改" in warning
    after = list(ContributionRecord.objects.order_by("pk").values_list("pk", "updated_at", "last_run"))
    assert before == after
    code, out = run_command("ingest", path, "--entity", "BJ01")
    assert code == 0 and out.startswith("重复文件，未作任何更改：缴费明细.csv（参保主体 BJ01）")
    assert "未作任何更改" in out.splitlines()[1]


def test_rejected_rows_exit_2_and_are_listed_by_row(org, people, write):
    rows = rows_for(people)
    rows.append(["坏人", bad_id(), "基本养老保险", "2025-03", "8000.00", "1280.00", "640.00"])
    code, result = ingest(write(rows), "--entity", "BJ01")
    assert code == 2
    assert result["status"] == "partial" and result["counts"]["rejected"] == 1
    [error] = result["errors"]
    assert error["row"] == 5 and error["message"]
    assert ContributionRecord.objects.count() == 3  # the good rows are in
    rows[-1][0] = "坏人乙"  # another file (the same one again would be a duplicate)
    code, out = run_command("ingest", write(rows, name="另一个.csv"), "--entity", "BJ01")
    assert code == 2 and "已导入（有错误的行未导入）" in out and "缴费记录：新增 0，变更 0，无变化 3" in out
    assert "有错误的行（未导入）：\n  第5行" in out
    assert out.count("第5行") == 1  # the row is named once, not once by us and once by the parser


def test_unknown_entity_is_a_usage_error(org, people, write):
    path = write(rows_for(people))
    with pytest.raises(CommandError) as exc:
        call_command("ingest", path, "--entity", "XX99", stdout=io.StringIO())
    assert exc.value.returncode == 1
    assert "未找到参保主体“XX99”" in str(exc.value) and "BJ01、SZ01" in str(exc.value)
    assert not SyncRun.objects.exists()
    # An entity can also be named in full.
    code, result = ingest(path, "--entity", "北京示例科技有限公司")
    assert code == 0 and result["entity"] == "BJ01"


@pytest.mark.parametrize(
    "args,message",
    [
        (["--period", "2025-13"], "月份“2025-13”无效"),
        (["--profile", "no-such-profile"], "未知的格式模板“no-such-profile”"),
    ],
)
def test_bad_options_are_usage_errors(org, people, write, args, message):
    with pytest.raises(CommandError) as exc:
        call_command("ingest", write(rows_for(people)), "--entity", "BJ01", *args, stdout=io.StringIO())
    assert exc.value.returncode == 1 and message in str(exc.value)
    assert not SyncRun.objects.exists()


@pytest.mark.parametrize(
    "content,name",
    [
        (b"\x00\x01 not a workbook", "明细.xlsx"),
        (
            b"\xe4\xbd\xa0\xe5\xa5\xbd,\xe4\xb8\x96\xe7\x95\x8c\n1,2\n",
            "明细.csv",
        ),  # 你好,世界: no known layout
    ],
)
def test_unreadable_file_exits_2(org, tmp_path, content, name):
    path = tmp_path / name
    path.write_bytes(content)
    code, result = ingest(str(path), "--entity", "BJ01")
    assert code == 2 and result["status"] == "failed"
    [error] = result["errors"]
    assert error["message"]
    assert SyncRun.objects.get().status == "failed" and not ContributionRecord.objects.exists()
    code, out = run_command("ingest", str(path), "--entity", "BJ01")
    assert code == 2 and out.startswith(f"导入失败：{name}（参保主体 BJ01）")


def test_missing_file_exits_2(org, tmp_path):
    code, result = ingest(str(tmp_path / "nope.csv"), "--entity", "BJ01")
    assert code == 2 and result["run"] is None and result["status"] == "failed"
    assert result["errors"][0]["message"].startswith("文件不存在")
    assert not SyncRun.objects.exists()


# --- reconcile -------------------------------------------------------------------------------


def _apply(system, entity, rows) -> None:
    run = sync_run_start(entity=entity, source="cli", actor=system)
    with transaction.atomic():
        result = ledger_facts_apply(run=run, rows=rows)
    sync_run_finish(run=run, status="succeeded", counts=result.counts)


def _month_row(n: int, ref: F.PersonRef, month: str) -> F.SourceRow:
    fact = F.ContributionFact(
        person=ref,
        insurance=F.Insurance.PENSION,
        period=YearMonth.parse(month),
        base=Decimal("8000"),
        employer_due=Decimal("1280"),
        employee_due=Decimal("640"),
    )
    return F.SourceRow(row=n, cells={"姓名": ref.name}, contributions=[fact])


@pytest.fixture
def gaps(org, system, make_employee):
    """Beijing's data holds Jan–Mar 2025 pension for alice and a stranger; bob, employed too, has none."""
    alice = make_employee(name="爱丽丝", hire_date=dt.date(2024, 1, 1))
    bob = make_employee(name="鲍勃", hire_date=dt.date(2024, 1, 1))
    ref = F.PersonRef(name="爱丽丝", id_number=full_id(alice))
    stranger = F.PersonRef(name="陌生人", id_number=STRANGER_ID)
    _apply(
        system,
        org["bj"],
        [_month_row(i + 2, ref, m) for i, m in enumerate(["2025-01", "2025-02", "2025-03"])]
        + [_month_row(9, stranger, "2025-03")],
    )
    return {"alice": alice, "bob": bob}


def reconcile(*args: str) -> dict:
    code, out = run_command("reconcile", *args, "--json")
    assert code == 0
    return as_json(out)


def test_reconcile_lists_every_open_discrepancy_in_json(gaps):
    result = reconcile()
    assert result["entity"] is None
    assert result["result"]["counts"] == {"not_enrolled": 1, "unknown_person": 1}
    assert result["result"]["opened"] == 2 and result["result"]["found"] == 2
    assert result["open_total"] == 2 and result["open"] == {"not_enrolled": 1, "unknown_person": 1}
    by_kind = {d["kind"]: d for d in result["discrepancies"]}
    bob = by_kind["not_enrolled"]
    assert (bob["employee"], bob["employee_name"], bob["insurance"], bob["entity"]) == (
        gaps["bob"].pk,
        "鲍勃",
        "pension",
        "BJ01",
    )
    assert (bob["period_from"], bob["period_to"], bob["months"]) == ("2025-01", "2025-03", 3)
    assert bob["kind_label"] == "未由本单位参保缴费" and bob["explanation"]
    assert set(bob) >= {"detail", "citations", "amount", "status", "first_seen_at"}
    assert by_kind["unknown_person"]["employee"] is None
    assert by_kind["unknown_person"]["employee_name"] == "陌生人"
    event = AuditEvent.objects.get(action="ledger.reconcile")
    assert event.via == "cli" and event.actor is None
    # Again: nothing new, the same rows.
    again = reconcile()
    assert again["result"]["opened"] == 0 and again["result"]["unchanged"] == 2
    assert [d["id"] for d in again["discrepancies"]] == [d["id"] for d in result["discrepancies"]]


def test_reconcile_prints_kind_employee_insurance_months_and_citations(gaps):
    code, out = run_command("reconcile", "--entity", "BJ01")
    assert code == 0
    lines = out.splitlines()
    assert lines[0].startswith("核对完成（参保主体 BJ01 北京示例科技有限公司）：")
    assert "发现差异 2 条" in lines[0]
    assert "未解决的差异 2 条：" in out
    [bob] = [line for line in lines if "鲍勃" in line]
    assert bob.startswith("  [BJ01] 未由本单位参保缴费 · 鲍勃 · 养老保险 · 2025-01 至 2025-03（3 个月）")
    citations = Discrepancy.objects.get(kind="not_enrolled").citations
    if citations:
        assert "依据 " + "、".join(citations) in bob
    [stranger] = [line for line in lines if "陌生人" in line]
    assert "花名册外人员" in stranger
    assert STRANGER_ID not in out


def test_reconcile_filters_and_limits(gaps):
    result = reconcile("--kind", "not_enrolled")
    assert [d["kind"] for d in result["discrepancies"]] == ["not_enrolled"] and result["open_total"] == 1
    result = reconcile("--kind", "not_enrolled,unknown_person", "--limit", "1")
    assert result["open_total"] == 2 and len(result["discrepancies"]) == 1
    assert reconcile("--entity", "SZ01")["open_total"] == 0
    code, out = run_command("reconcile", "--limit", "1")
    assert "…另有 1 条（用 --limit 或 --json 查看全部）" in out
    code, out = run_command("reconcile", "--entity", "SZ01")
    assert "没有未解决的差异" in out


@pytest.mark.parametrize(
    "args,message",
    [
        (["--entity", "XX99"], "未找到参保主体“XX99”"),
        (["--kind", "bogus"], "未知的差异类型“bogus”"),
        (["--limit", "-1"], "--limit 不能为负数"),
    ],
)
def test_reconcile_usage_errors(org, args, message):
    with pytest.raises(CommandError) as exc:
        call_command("reconcile", *args, stdout=io.StringIO())
    assert exc.value.returncode == 1 and message in str(exc.value)
    assert not AuditEvent.objects.filter(action="ledger.reconcile").exists()
