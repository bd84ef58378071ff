"""Export → import round trips (YAML and Excel), whole-file rejection with row numbers, the CLI."""

from __future__ import annotations

import datetime as dt
import json
from decimal import Decimal
from io import StringIO

import pytest
import yaml
from django.core.management import CommandError, call_command

from shebao.audit.models import AuditEvent
from shebao.core.context import Actor
from shebao.policy.loader import COLUMNS, LibraryError, export_xlsx, export_yaml, read_rows
from shebao.policy.models import PolicyFigure, PolicyFigureRevision, PolicyPeriod
from shebao.policy.selectors import (
    policy_export_candidates,
    policy_export_data,
    policy_export_rows,
    policy_period_for,
)
from shebao.policy.services import policy_figure_correct, policy_import
from shebao.policy.terms import Insurance

pytestmark = pytest.mark.django_db


def fig(insurance: str, field: str, label: str = "2024年度", city: str = "北京") -> PolicyFigure:
    return PolicyFigure.objects.get(
        period__city__short_name=city, period__label=label, insurance=insurance, field=field
    )


def snapshot() -> list[tuple]:
    return list(
        PolicyFigure.objects.order_by("id").values_list(
            "id", "value", "text_value", "confidence", "source_id", "note"
        )
    )


def write_xlsx(tmp_path, rows, name="in.xlsx"):
    path = tmp_path / name
    path.write_bytes(export_xlsx(rows, []))
    return path


def row(**kw):
    base = {
        "城市": "北京市",
        "城市代码": "110000",
        "期间": "2024年度",
        "生效日期": dt.date(2024, 7, 1),
        "失效日期": dt.date(2025, 6, 30),
        "险种": "养老保险",
        "项目": "单位费率",
        "数值": 0.16,
        "可信度": "官方原文",
        "来源": "京人社发〔2024〕1号 https://rsj.beijing.gov.cn/a.html",
        "备注": "",
    }
    base.update(kw)
    return base


@pytest.fixture
def actor(admin):
    return Actor(user=admin)


def test_yaml_round_trip(tmp_path, actor):
    path = tmp_path / "library.yaml"
    path.write_text(export_yaml(policy_export_data()), encoding="utf-8")
    data = yaml.safe_load(path.read_text(encoding="utf-8"))
    assert [c["city"] for c in data["cities"]][:3] == ["北京", "天津", "上海"]  # by division code
    assert data["national_rules"]["pension"]["employee_rate"] == 0.08
    # Unchanged library: nothing to do.
    before = snapshot()
    counts = policy_import(actor=actor, rows=read_rows(path), reason="round trip")
    assert counts["updated"] == counts["created"] == 0 and counts["unchanged"] > 100
    assert snapshot() == before
    # A figure corrected after the export goes back to the exported value, as an import revision.
    policy_figure_correct(
        actor=actor, figure=fig("pension", "employer_rate"), value="0.15", confidence="official_text",
        source_text="某通知", reason="试",
    )  # fmt: skip
    counts = policy_import(actor=actor, rows=read_rows(path), reason="恢复")
    assert counts["updated"] == 1
    restored = fig("pension", "employer_rate")
    assert restored.value == Decimal("0.16") and restored.confidence == "secondary_no_official_url"
    assert restored.revisions.filter(kind="import", reason="恢复").exists()
    assert AuditEvent.objects.filter(action="policy_figure.import").count() == 1
    assert AuditEvent.objects.filter(action="policy.import").count() == 2


def test_shipped_file_imports_as_no_change(actor):
    from shebao.policy.loader import SHIPPED

    counts = policy_import(actor=actor, rows=read_rows(SHIPPED), reason="shipped")
    assert counts["updated"] == counts["created"] == 0


def test_xlsx_round_trip(tmp_path, actor):
    rows = policy_export_rows()
    assert set(rows[0]) == set(COLUMNS)
    assert len(rows) == PolicyFigure.objects.count()
    path = tmp_path / "library.xlsx"
    path.write_bytes(export_xlsx(rows, policy_export_candidates()))
    parsed = read_rows(path)
    assert len(parsed) == len(rows)
    before = snapshot()
    counts = policy_import(actor=actor, rows=parsed, reason="round trip")
    assert counts["unchanged"] == len(rows) and snapshot() == before
    # Edit two cells and import again: two corrections, with revisions.
    for r in rows:
        if (r["城市代码"], r["期间"], r["险种"], r["项目"]) == ("110000", "2024年度", "养老保险", "单位费率"):
            r.update({"数值": 0.15, "可信度": "官方原文", "来源": "京人社发〔2024〕1号"})
        if (r["城市代码"], r["期间"], r["险种"], r["项目"]) == ("110000", "2024年度", "", "缴费截止日"):
            r.update(
                {
                    "数值": 15,
                    "可信度": "有官方出处的二手数据",
                    "来源": "https://example.gov.cn/a",
                    "备注": "每月15日",
                }
            )
    counts = policy_import(actor=actor, rows=read_rows(write_xlsx(tmp_path, rows)), reason="季度核对")
    assert counts["updated"] == 2
    assert fig("pension", "employer_rate").value == Decimal("0.15")
    due = fig("", "payment_due_day")
    assert due.value == 15 and due.note == "每月15日" and due.source.url == "https://example.gov.cn/a"
    period = policy_period_for(city="北京", month_first_day=dt.date(2024, 8, 1))
    assert period.payment_due_day.value == 15
    assert PolicyFigureRevision.objects.filter(kind="import").count() == 2


def test_import_creates_a_new_period(tmp_path, actor):
    rows = [
        row(城市="杭州", 城市代码="", 期间="2025年度", 生效日期="2025-07-01", 失效日期="", 项目="基数下限", 数值=4986, 可信度="官方原文", 来源="杭人社发〔2025〕1号"),
        row(城市="杭州", 城市代码="", 期间="2025年度", 生效日期="2025-07-01", 失效日期="", 项目="基数上限", 数值=25299, 可信度="官方原文", 来源="杭人社发〔2025〕1号"),
        row(城市="杭州", 城市代码="", 期间="2025年度", 生效日期="2025-07-01", 失效日期="", 项目="个人费率", 数值="8%", 可信度="官方原文", 来源="杭人社发〔2025〕1号"),
    ]  # fmt: skip
    counts = policy_import(actor=actor, rows=read_rows(write_xlsx(tmp_path, rows)), reason="新增杭州")
    assert counts["periods_created"] == 1 and counts["created"] == 3
    period = policy_period_for(city="杭州", month_first_day=dt.date(2025, 8, 1))
    assert period.items[Insurance.PENSION].base_min.value == Decimal("4986")
    assert period.items[Insurance.PENSION].employee_rate.value == Decimal("0.08")
    assert AuditEvent.objects.filter(action="policy_period.create").count() == 1


def test_bad_rows_reject_the_whole_file(tmp_path, actor):
    rows = [
        row(数值=0.15),  # 2: fine on its own
        row(城市="哥谭", 城市代码=""),  # 3
        row(生效日期="2024-02-30"),  # 4
        row(数值=1.6),  # 5
        row(险种="养老金"),  # 6
        row(项目="基数中位数"),  # 7
        row(可信度="大概"),  # 8
        row(险种="医疗保险", 项目="基数下限", 数值=40000),  # 9: above the stored 35283
        row(险种="失业保险", 项目="基数下限", 数值=9000),  # 10
        row(险种="失业保险", 项目="基数上限", 数值=8000),  # 11
        row(期间="2023年度", 生效日期="2024-01-01", 失效日期="2024-12-31"),  # 12: overlaps 2024年度
        row(数值=0.15),  # 13: duplicate of row 2
        row(险种="", 项目="缴费截止日", 数值=0, 来源="x"),  # 14
        row(项目="基数下限", 数值=7000, 来源=""),  # 15: a change without a source
    ]
    before = snapshot()
    with pytest.raises(LibraryError) as exc:
        policy_import(actor=actor, rows=read_rows(write_xlsx(tmp_path, rows)), reason="x")
    errors = exc.value.errors
    text = "\n".join(errors)
    for line, words in [
        (4, "日期无效"),
        (5, "单位费率应为0到1之间的小数"),
        (6, "未知险种“养老金”"),
        (7, "未知项目“基数中位数”"),
        (8, "未知可信度“大概”"),
        (14, "缴费截止日应为1到31之间的整数"),
    ]:
        assert any(e.startswith(f"第{line}行：") and words in e for e in errors), (line, text)
    # The first pass (row formats) stops before the database checks: fix those rows and retry.
    good = [r for i, r in enumerate(rows, start=2) if i not in (4, 5, 6, 7, 8, 14)]
    with pytest.raises(LibraryError) as exc:
        policy_import(actor=actor, rows=read_rows(write_xlsx(tmp_path, good)), reason="x")
    text = "\n".join(exc.value.errors)
    assert "第3行：未知城市“哥谭”" in text
    assert "第4行：基数下限（40000）高于基数上限（35283）" in text
    assert "第5行：基数下限（9000）高于基数上限（8000）" in text
    assert "第7行：新期间“2023年度”与已有期间“2024年度”的日期重叠" in text
    assert "第8行：与第2行重复" in text
    assert "第9行：请填写来源" in text
    assert snapshot() == before
    assert not PolicyFigureRevision.objects.exists()
    assert not AuditEvent.objects.filter(action__startswith="policy").exists()
    assert not PolicyPeriod.objects.filter(label="2023年度").exists()


def test_a_new_period_supersedes_an_open_ended_one(tmp_path, actor):
    new = {"城市": "深圳", "城市代码": "", "期间": "2026年度", "生效日期": "2026-07-01", "失效日期": ""}
    rows = [row(**new, 项目="基数下限", 数值=5000, 来源="深人社〔2026〕1号")]
    assert policy_import(actor=actor, rows=read_rows(write_xlsx(tmp_path, rows)), reason="x")["created"] == 1
    assert policy_period_for(city="深圳", month_first_day=dt.date(2026, 6, 1)).label == "2025年度"
    assert policy_period_for(city="深圳", month_first_day=dt.date(2026, 7, 1)).label == "2026年度"
    # …but one starting inside a closed period is refused.
    rows = [
        row(
            城市="北京",
            期间="2025下半年",
            生效日期="2025-10-01",
            失效日期="2025-12-31",
            项目="基数下限",
            数值=8000,
            来源="x",
        )
    ]
    with pytest.raises(LibraryError, match="与已有期间“2025年度”的日期重叠"):
        policy_import(actor=actor, rows=read_rows(write_xlsx(tmp_path, rows)), reason="x")


def test_period_dates_cannot_change_through_import(tmp_path, actor):
    path = write_xlsx(tmp_path, [row(失效日期="2025-05-31", 数值=0.15)])
    with pytest.raises(LibraryError, match="第2行：期间“2024年度”已存在.*期间日期不能通过导入修改"):
        policy_import(actor=actor, rows=read_rows(path), reason="x")


def test_yaml_import_errors_name_lines(tmp_path, actor):
    path = tmp_path / "bad.yaml"
    path.write_text(
        "cities:\n"
        "  - city: 北京\n"
        "    periods:\n"
        "      - label: 2024年度\n"
        "        effective_from: 2024-07-01\n"
        "        effective_to: 2025-06-30\n"
        "        pension: {base_min: 6821, employer_rate: 16}\n"
        "        source: x\n"
        "        confidence: official_text\n",
        encoding="utf-8",
    )
    with pytest.raises(LibraryError) as exc:
        read_rows(path)
    assert exc.value.errors == ["第7行：单位费率应为0到1之间的小数（如 0.16 表示 16%），实际为 16"]


def test_import_permissions(tmp_path, clerk):
    path = write_xlsx(tmp_path, [row(数值=0.15)])
    from shebao.core.exceptions import PermissionDenied

    with pytest.raises(PermissionDenied):
        policy_import(actor=Actor(user=clerk), rows=read_rows(path), reason="x")


def test_unsupported_file_type(tmp_path):
    path = tmp_path / "x.csv"
    path.write_text("a,b")
    with pytest.raises(LibraryError, match="不支持的文件类型"):
        read_rows(path)


# --- CLI ------------------------------------------------------------------------------------------


def run(*args) -> str:
    out = StringIO()
    call_command("policy", *args, stdout=out)
    return out.getvalue()


def test_cli_list_and_show():
    rows = json.loads(run("list", "--json"))
    beijing = next(r for r in rows if r["city"] == "北京市")
    assert beijing["periods"] == 2 and beijing["by_confidence"]["secondary_with_official_url"] > 0
    assert "杭州市    暂无收录的政策数据" in run("list")
    shown = json.loads(run("show", "--city", "北京", "--json"))
    assert shown["city_code"] == "110000" and len(shown["periods"]) == 2
    base = next(
        f for f in shown["periods"][0]["figures"] if f["insurance"] == "pension" and f["field"] == "base_min"
    )
    assert base["value"] == "6821" and base["confidence"] == "secondary_with_official_url"
    text = run("show", "--city", "深圳")
    assert "未收录" in text and "舍入规则未收录，按四舍五入到分计算" in text
    assert "暂无收录的政策数据" in run("show", "--city", "330100")
    with pytest.raises(CommandError, match="未知城市"):
        run("show", "--city", "Gotham")


def test_cli_export_and_import(tmp_path, admin):
    yaml_path, xlsx_path = tmp_path / "a.yaml", tmp_path / "a.xlsx"
    run("export", "--format", "yaml", "-o", str(yaml_path))
    run("export", "--format", "xlsx", "-o", str(xlsx_path))
    assert "未变" in run("import", str(yaml_path))
    assert "更正 0 项" in run("import", str(xlsx_path), "--user", "admin")
    bad = write_xlsx(tmp_path, [row(数值=2)], "bad.xlsx")
    with pytest.raises(CommandError, match="第2行：单位费率应为0到1之间的小数"):
        run("import", str(bad))
    with pytest.raises(CommandError, match="未知用户"):
        run("import", str(bad), "--user", "nobody")
    assert "保留人工核验/更正 0" in run("load")
