"""shebao evaluate [--rule KIND] [--as-of YYYY-MM-DD] [--json]: evaluate the alert rules now."""

from __future__ import annotations

import datetime as dt
import json
from typing import Any

from django.core.management.base import BaseCommand, CommandError
from django.utils.translation import gettext

from shebao.core.context import Actor
from shebao.core.exceptions import ApplicationError
from shebao.rules.kinds import KINDS
from shebao.rules.models import AlertRule, Finding
from shebao.rules.selectors import ACTIVE, finding_data

SHOW = 50
SEVERITY_LABELS = {"info": "提示", "warning": "警告", "critical": "严重"}
STATUS_LABELS = dict(Finding.Status.choices)


def kinds_arg(values: list[str]) -> list[str]:
    """--rule KIND (repeatable, or comma-separated); an unknown kind is a usage error (exit 1)."""
    kinds = [k.strip() for v in values for k in v.replace("，", ",").split(",") if k.strip()]
    unknown = [k for k in kinds if k not in KINDS]
    if unknown:
        raise CommandError(f"未知的规则类型“{'、'.join(unknown)}”。可选：" + "、".join(_kind_choices()))
    return list(dict.fromkeys(kinds))


def _kind_choices() -> list[str]:
    return [f"{code}（{gettext(k.label)}）" for code, k in KINDS.items()]


def kind_help(prefix: str) -> str:
    return prefix + "：" + "、".join(KINDS)


def findings_json(qs, today=None) -> list[dict[str, Any]]:
    """Findings as JSON; day counts as of ``today`` (the --as-of date), not stored."""
    return [finding_data(f, today) for f in qs]


def active_findings(rule_ids: list[int]):
    return (
        Finding.objects.filter(rule_id__in=rule_ids, status__in=ACTIVE)
        .select_related("rule", "entity", "employee", "department", "assignee", "person")
        .order_by("deadline", "rule_id", "id")
    )


def print_findings(stdout, items: list[dict[str, Any]], total: int) -> None:
    """One line a finding: [severity · status] deadline · kind · employee · entity · title."""
    for f in items:
        who = " ".join(x for x in (f["employee_no"], f["name"]) if x) or "—"
        parts = [
            f"#{f['id']} [{SEVERITY_LABELS.get(f['severity'], f['severity'])}·"
            f"{STATUS_LABELS.get(f['status'], f['status'])}]",
            f"期限 {f['deadline']}" if f["deadline"] else "期限 —",
            f["rule"],
            who,
            f["entity"] or "—",
            f["title"],
        ]
        if f["amount"] is not None:
            parts.append(f"涉及 {f['amount']} 元")
        if f["citations"]:
            parts.append("依据 " + "、".join(f["citations"]))
        stdout.write("  " + " · ".join(parts))
    if total > len(items):
        stdout.write(f"  …另有 {total - len(items)} 条（用 --limit 或 --json 查看全部）")


class Command(BaseCommand):
    help = (
        "立即按预警规则评估全部员工与台账人员（默认全部已启用的规则），更新预警：新出现的打开、"
        "问题消失的自动解除、再次出现的重新打开、暂缓到期的重新打开。"
        "--as-of 按指定日期评估（如同那天运行：期限、逾期天数与暂缓到期都按该日计算）。"
        '--json 输出 {"evaluated_at", "opened", "updated", "resolved", "findings": […]}，'
        "findings 为评估后所评估规则的全部未解除预警（待处理、已确认、已暂缓）。"
        "退出码：0 完成，1 参数错误"
    )

    def add_arguments(self, parser):
        parser.add_argument(
            "--rule",
            action="append",
            default=[],
            metavar="KIND",
            help=kind_help("只评估该类型的规则（可重复或用逗号分隔）"),
        )
        parser.add_argument("--as-of", default="", metavar="YYYY-MM-DD", help="按该日期评估（默认今天）")
        parser.add_argument(
            "--limit", type=int, default=None, help=f"最多列出的预警条数（默认：文本 {SHOW} 条，JSON 全部）"
        )
        parser.add_argument("--json", action="store_true", help="输出一个 JSON 对象")

    def handle(self, *args, **opts):
        kinds = kinds_arg(opts["rule"])
        as_of = date_arg(opts["as_of"])
        limit = opts["limit"]
        if limit is not None and limit < 0:
            raise CommandError("--limit 不能为负数")
        from shebao.rules.services import findings_evaluate

        try:
            result = findings_evaluate(actor=Actor.system(via="cli"), as_of=as_of, kinds=kinds or None)
        except ApplicationError as exc:
            raise CommandError(exc.message) from exc
        rule_ids = [r.rule_id for r in result.rules]
        qs = active_findings(rule_ids)
        total = qs.count()
        if limit is None:
            limit = total if opts["json"] else SHOW
        items = findings_json(qs[:limit], result.as_of)
        if opts["json"]:
            self.stdout.write(
                json.dumps(
                    {
                        "evaluated_at": result.evaluated_at.isoformat(),
                        "opened": result.opened,
                        "updated": result.updated,
                        "resolved": result.resolved,
                        "findings": items,
                    },
                    ensure_ascii=False,
                )
            )
            return
        self._print(result, total, items)

    def _print(self, result, total: int, items: list[dict[str, Any]]) -> None:
        if not result.rules:
            self.stdout.write("没有已启用的规则，未评估任何内容")
            return
        names = dict(
            AlertRule.objects.filter(pk__in=[r.rule_id for r in result.rules]).values_list("pk", "name")
        )
        self.stdout.write(
            f"评估完成（按 {result.as_of.isoformat()} 评估，{len(result.rules)} 条规则）："
            f"新增 {result.opened}，更新 {result.updated}，解除 {result.resolved}"
        )
        for r in result.rules:
            changed = r.opened + r.reopened + r.updated + r.resolved
            if changed:
                self.stdout.write(
                    f"  {names.get(r.rule_id, r.kind)}（{r.kind}）：发现 {r.matches}，新增 {r.opened}，"
                    f"重新打开 {r.reopened}，更新 {r.updated}，解除 {r.resolved}"
                )
        if not total:
            self.stdout.write("没有未解除的预警")
            return
        self.stdout.write(f"未解除的预警 {total} 条：")
        print_findings(self.stdout, items, total)


def date_arg(text: str) -> dt.date | None:
    text = (text or "").strip()
    if not text:
        return None
    try:
        return dt.date.fromisoformat(text) if len(text) == 10 else _bad_date(text)
    except ValueError:
        return _bad_date(text)


def _bad_date(text: str):
    raise CommandError(f"日期“{text}”无效：应为 YYYY-MM-DD，例如 2025-07-01")
