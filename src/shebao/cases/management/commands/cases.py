"""shebao cases [--status …] [--overdue] [--template CODE] [--json]: list the compliance cases;
shebao cases install: install the shipped workflow and letter templates that are missing."""

from __future__ import annotations

import json
import unicodedata
from typing import Any

from django.core.management.base import BaseCommand, CommandError

from shebao.cases import outputs, selectors
from shebao.cases.models import WorkflowTemplate
from shebao.core.context import Actor
from shebao.core.exceptions import ApplicationError

SHOW = 50
STATUSES = ("open", "closed", "cancelled", "all")
STATUS_WORDS = {"open": "处理中", "closed": "已结案", "cancelled": "已撤销", "all": "全部"}


def width(text: str) -> int:
    return sum(2 if unicodedata.east_asian_width(ch) in "WF" else 1 for ch in text)


def pad(text: str, size: int) -> str:
    return text + " " * max(size - width(text), 0)


def table(rows: list[list[str]]) -> list[str]:
    """Rows of cells as aligned lines (Chinese characters count double)."""
    widths = [max(width(r[i]) for r in rows) for i in range(len(rows[0]))]
    return ["  ".join(pad(c, w) for c, w in zip(r, widths, strict=True)).rstrip() for r in rows]


def template_arg(code: str) -> WorkflowTemplate | None:
    code = (code or "").strip()
    if not code:
        return None
    template = WorkflowTemplate.objects.filter(code=code).first()
    if template is None:
        known = (
            "、".join(WorkflowTemplate.objects.order_by("id").values_list("code", flat=True))
            or "（无，请先运行 shebao cases install）"
        )
        raise CommandError(f"流程模板“{code}”不存在。可选：{known}")
    return template


def case_rows(items: list[dict[str, Any]]) -> list[str]:
    rows = [["案件编号", "员工", "流程", "当前步骤", "期限", "逾期天数", "负责人"]]
    for c in items:
        overdue = str(c["overdue_days"]) if c["overdue"] else "—"
        if c["status"] != "open":
            step = c["status_label"]
        else:
            step = c["step_name"] or c["step"]
        rows.append(
            [
                c["number"],
                f"{c['employee_no']} {c['name']}",
                c["template_name"],
                step + ("（已升级）" if c["escalated"] and c["status"] == "open" else ""),
                c["due"] or "—",
                overdue,
                c["assignee"] or "未分派",
            ]
        )
    return table(rows)


class Command(BaseCommand):
    help = (
        "列出案件（默认处理中的，已逾期的在前，其次按当前步骤期限），或 install：安装缺少的内置流程模板和函件模板"
        "（已有的不覆盖），以及缺少的默认预警规则（如升级前没有的案件预警规则）。"
        '--json 输出 {"total", "cases": […]}（install 输出 {"workflows": […], "rules": […]}）。'
        "退出码：0 完成，1 参数错误"
    )

    def add_arguments(self, parser):
        parser.add_argument(
            "action", nargs="?", default="list", choices=("list", "install"), help="list（默认）或 install"
        )
        parser.add_argument(
            "--status",
            default="open",
            choices=STATUSES,
            help="open（处理中，默认）、closed（已结案）、cancelled（已撤销）、all（全部）",
        )
        parser.add_argument("--overdue", action="store_true", help="只列当前步骤已逾期的案件")
        parser.add_argument("--template", default="", metavar="CODE", help="只列该流程模板的案件")
        parser.add_argument(
            "--limit", type=int, default=None, help=f"最多列出的案件数（默认：文本 {SHOW} 件，JSON 全部）"
        )
        parser.add_argument("--json", action="store_true", help="输出一个 JSON 对象")

    def handle(self, *args, **opts):
        if opts["action"] == "install":
            return self._install(opts["json"])
        template = template_arg(opts["template"])
        limit = opts["limit"]
        if limit is not None and limit < 0:
            raise CommandError("--limit 不能为负数")
        qs = selectors.cases_list(
            None,
            selectors.CaseFilters(
                status=opts["status"], template=template.code if template else "", overdue=opts["overdue"]
            ),
        )
        total = qs.count()
        if limit is None:
            limit = total if opts["json"] else SHOW
        items = [outputs.case_data(c) for c in outputs.with_step_names(qs)[:limit]]
        if opts["json"]:
            self.stdout.write(json.dumps({"total": total, "cases": items}, ensure_ascii=False))
            return
        what = ("已逾期的" if opts["overdue"] else "") + STATUS_WORDS[opts["status"]]
        scope = f"流程“{template.name}”" if template else "全部流程"
        if not total:
            self.stdout.write(f"没有{what}案件（{scope}）")
            return
        overdue = sum(1 for c in items if c["overdue"])
        extra = (
            f"，其中已逾期 {overdue} 件" if overdue and not opts["overdue"] and len(items) == total else ""
        )
        self.stdout.write(f"{what}案件 {total} 件（{scope}{extra}）：")
        for line in case_rows(items):
            self.stdout.write("  " + line)
        if total > len(items):
            self.stdout.write(f"  …另有 {total - len(items)} 件（用 --limit 或 --json 查看全部）")

    def _install(self, as_json: bool) -> None:
        from shebao.cases.services import workflows_install
        from shebao.rules.services import rules_install_defaults

        actor = Actor.system(via="cli")
        try:
            templates = workflows_install(actor=actor)
            rules = rules_install_defaults(actor=actor)  # e.g. the case kinds' rules on an older instance
        except ApplicationError as exc:
            raise CommandError(exc.message) from exc
        if as_json:
            self.stdout.write(
                json.dumps(
                    {
                        "workflows": [t.code for t in templates],
                        "rules": [{"id": r.pk, "kind": r.kind, "name": r.name} for r in rules],
                    },
                    ensure_ascii=False,
                )
            )
            return
        if templates:
            self.stdout.write("已安装流程模板：" + "、".join(f"{t.code}（{t.name}）" for t in templates))
        else:
            self.stdout.write("内置流程模板均已安装，未作改动")
        if rules:
            self.stdout.write("已新增默认预警规则：" + "、".join(r.name for r in rules))
