"""shebao case open --finding KEY_OR_ID [--template CODE] [--json]: open a case from a finding;
shebao case show NUMBER [--json]: a case with its steps and timeline."""

from __future__ import annotations

import json
from typing import Any

from django.core.management.base import BaseCommand, CommandError

from shebao.cases import outputs, selectors
from shebao.cases.management.commands.cases import table, template_arg
from shebao.cases.models import Case
from shebao.core.context import Actor
from shebao.core.exceptions import ApplicationError

STATE_WORDS = {"done": "已完成", "active": "进行中", "todo": "未开始"}
ROLE_WORDS = {"hr_specialist": "HR 专员", "hr_admin": "HR 管理员", "employee": "员工"}


def _time(value: str | None) -> str:
    """An ISO timestamp as "YYYY-MM-DD HH:MM" (local time, as stored in the outputs)."""
    return value[:16].replace("T", " ") if value else "—"


class Command(BaseCommand):
    help = (
        "open：从一条预警立案（--finding 为预警 ID，或 shebao findings 输出的键，如 7:e123:medical；"
        "只写 e123:medical 而多条规则有同一键时用 --rule 指定规则 ID 或类型），不指定 --template 时按预警类型选择流程；"
        "该预警已有处理中的案件时给出那个案件。"
        "show NUMBER：案件的步骤（期限与依据）、当前可选操作、函件和时间线。"
        "--json 输出案件详情（open 另有 created；show 另有 events）。退出码：0 完成，1 参数错误或无法立案"
    )

    def add_arguments(self, parser):
        sub = parser.add_subparsers(dest="action", required=True)
        op = sub.add_parser("open", help="从预警立案")
        op.add_argument("--finding", required=True, metavar="KEY_OR_ID", help="预警 ID 或键")
        op.add_argument(
            "--rule", default="", metavar="ID_OR_KIND", help="键对应多条预警时：规则 ID 或规则类型"
        )
        op.add_argument("--template", default="", metavar="CODE", help="流程模板代码（默认按预警类型选择）")
        op.add_argument("--assignee", default="", metavar="USERNAME", help="负责人（HR 用户名）")
        op.add_argument("--note", default="", help="立案说明")
        op.add_argument("--json", action="store_true", help="输出一个 JSON 对象")
        show = sub.add_parser("show", help="查看案件")
        show.add_argument("number", help="案件编号，如 AJ202611-0001")
        show.add_argument("--json", action="store_true", help="输出一个 JSON 对象")

    def handle(self, *args, **opts):
        if opts["action"] == "open":
            return self._open(opts)
        return self._show(opts["number"].strip(), opts["json"])

    # open ---------------------------------------------------------------------------------------

    def _open(self, opts: dict[str, Any]) -> None:
        from shebao.accounts.models import User
        from shebao.cases.services import case_open

        template = template_arg(opts["template"])
        assignee = None
        if opts["assignee"].strip():
            assignee = User.objects.filter(username=opts["assignee"].strip(), is_active=True).first()
            if assignee is None:
                raise CommandError(f"未知用户“{opts['assignee'].strip()}”")
        try:
            finding = outputs.finding_by_ref(None, opts["finding"], opts["rule"] or None)
            existing = (
                Case.objects.filter(finding=finding, status=Case.Status.OPEN)
                .values_list("pk", flat=True)
                .first()
            )
            case = case_open(
                actor=Actor.system(via="cli"),
                finding=finding,
                template=template,
                assignee=assignee,
                note=opts["note"],
            )
        except ApplicationError as exc:
            raise CommandError(exc.message) from exc
        created = existing != case.pk
        case = selectors.case_get(None, case.pk)
        if opts["json"]:
            self.stdout.write(
                json.dumps({**outputs.case_detail(case), "created": created}, ensure_ascii=False)
            )
            return
        data = outputs.case_data(case)
        head = "已立案" if created else "该预警已有处理中的案件"
        self.stdout.write(f"{head} {case.number}：{case.title}")
        self.stdout.write(f"  流程：{case.template.name}（v{case.version.number}）")
        self.stdout.write(
            f"  当前步骤：{data['step_name']}" + (f"，期限 {data['due']}" if data["due"] else "")
        )
        self.stdout.write(f"  负责人：{data['assignee'] or '未分派'}")

    # show ---------------------------------------------------------------------------------------

    def _show(self, number: str, as_json: bool) -> None:
        case = Case.objects.filter(number=number).values_list("pk", flat=True).first()
        case = selectors.case_get(None, case) if case else None
        if case is None:
            raise CommandError(f"案件“{number}”不存在")
        detail = outputs.case_detail(case)
        events = outputs.timeline_data(case)
        if as_json:
            self.stdout.write(json.dumps({**detail, "events": events}, ensure_ascii=False))
            return
        w = self.stdout.write
        w(f"{detail['number']}  {detail['title']}")
        w(
            f"  状态：{detail['status_label']}"
            + (f"（{detail['outcome']}）" if detail["outcome"] else "")
            + ("，已升级" if detail["escalated"] else "")
        )
        w(
            f"  员工：{detail['employee_no']} {detail['name']}（{detail['id_masked']}），参保主体 {detail['entity']}"
        )
        w(
            f"  流程：{detail['template_name']}（v{detail['version']}），负责人：{detail['assignee'] or '未分派'}"
        )
        if detail["finding"]:
            w(f"  来源预警：{detail['finding']['key']} {detail['finding']['title']}")
        w(
            f"  立案：{_time(detail['opened_at'])}"
            + (f"，结束：{_time(detail['closed_at'])}" if detail["closed_at"] else "")
        )
        w("")
        w("步骤：")
        rows = [["", "步骤", "负责", "期限", "依据", "结果"]]
        for s in detail["steps"]:
            visit = s["visits"][-1] if s["visits"] else None
            mark = {"done": "✓", "active": "▶", "todo": "·"}[s["state"]]
            due = visit["due"] if visit and visit["due"] else ("—" if visit else (s["deadline"] or "—"))
            result = (visit["choice_label"] or "") if visit else ""
            if s["state"] == "active" and detail["overdue"]:
                result = f"已逾期 {detail['overdue_days']} 天"
            role = "—" if s["action"] == "close" else ROLE_WORDS.get(s["role"], s["role"])
            rows.append([mark, s["name"], role, due, (visit["basis"] if visit else "") or "", result])
        for line in table(rows):
            w("  " + line)
        current = detail["current"]
        if current:
            w("")
            w(f"当前步骤“{current['name']}”可选：")
            for c in current["choices"]:
                needs = "、".join(r["label"] for r in c["requires"])
                auto = "（系统自动）" if c["when"] else ""
                w(
                    f"  {c['code']}：{c['label']} → {c['to_name']}{auto}"
                    + (f"；需要：{needs}" if needs else "")
                )
        if detail["letters"]:
            w("")
            w("函件：")
            for x in detail["letters"]:
                w(
                    f"  {x['number']} {x['title']}  {x['status_label']}"
                    + (f"，答复期限 {x['respond_by']}" if x["respond_by"] else "")
                    + f"，SHA-256 {x['sha256'][:12]}…"
                )
        w("")
        w("时间线：")
        for e in events:
            text = e["text"]
            if e["kind"] == "step_done" and e["data"].get("label"):
                text = e["data"]["label"] + (f"（{text}）" if text else "")
            text = f"：{text}" if text else ""
            w(f"  {_time(e['at'])}  {e['kind_label']}  {e['actor']}{text}")
