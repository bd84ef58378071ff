"""shebao findings [--status …] [--rule KIND] [--entity CODE] [--json]: list the stored findings."""

from __future__ import annotations

import json
from typing import Any

from django.core.management.base import BaseCommand, CommandError
from django.db.models import Count, Max

from shebao.ledger.management.commands.ingest import entity_arg
from shebao.rules.management.commands.evaluate import (
    SEVERITY_LABELS,
    SHOW,
    STATUS_LABELS,
    findings_json,
    kind_help,
    kinds_arg,
    print_findings,
)
from shebao.rules.models import AlertRule, Finding
from shebao.rules.selectors import ACTIVE

STATUSES = ("active", "open", "acknowledged", "snoozed", "resolved", "all")


class Command(BaseCommand):
    help = (
        "列出已保存的预警（不重新评估；要先评估请运行 shebao evaluate）。"
        "默认列出未解除的预警（active：待处理、已确认、已暂缓），按期限排序。"
        '--json 输出与 shebao evaluate --json 相同的对象 {"evaluated_at", "opened", "updated", "resolved", '
        '"findings": […]}：evaluated_at 为所选规则最近一次评估的时间（从未评估为 null），'
        "opened、updated、resolved 恒为 null（列出不是评估，没有变化数）。退出码：0 完成，1 参数错误"
    )

    def add_arguments(self, parser):
        parser.add_argument(
            "--status",
            default="active",
            choices=STATUSES,
            help="active（未解除，默认）、open（待处理）、acknowledged（已确认）、snoozed（已暂缓）、"
            "resolved（已解除）、all（全部）",
        )
        parser.add_argument(
            "--rule",
            action="append",
            default=[],
            metavar="KIND",
            help=kind_help("只列出该类型规则的预警（可重复或用逗号分隔）"),
        )
        parser.add_argument("--entity", default="", help="只列出该参保主体（编码或全称）的预警")
        parser.add_argument(
            "--limit", type=int, default=None, help=f"最多列出的预警条数（默认：文本 {SHOW} 条，JSON 全部）"
        )
        parser.add_argument("--json", action="store_true", help="输出一个 JSON 对象")

    def handle(self, *args, **opts):
        kinds = kinds_arg(opts["rule"])
        entity = entity_arg(opts["entity"]) if opts["entity"].strip() else None
        limit = opts["limit"]
        if limit is not None and limit < 0:
            raise CommandError("--limit 不能为负数")
        qs = Finding.objects.select_related("rule", "entity", "employee", "department", "assignee", "person")
        status = opts["status"]
        if status == "active":
            qs = qs.filter(status__in=ACTIVE)
        elif status != "all":
            qs = qs.filter(status=status)
        if kinds:
            qs = qs.filter(kind__in=kinds)
        if entity is not None:
            qs = qs.filter(entity=entity)
        qs = qs.order_by("deadline", "rule_id", "id")
        rules = AlertRule.objects.filter(kind__in=kinds) if kinds else AlertRule.objects.all()
        evaluated_at = rules.aggregate(m=Max("last_evaluated_at"))["m"]
        total = qs.count()
        if limit is None:
            limit = total if opts["json"] else SHOW
        items = findings_json(qs[:limit])
        if opts["json"]:
            self.stdout.write(
                json.dumps(
                    {
                        "evaluated_at": evaluated_at.isoformat() if evaluated_at else None,
                        "opened": None,
                        "updated": None,
                        "resolved": None,
                        "findings": items,
                    },
                    ensure_ascii=False,
                )
            )
            return
        self._print(qs, total, items, evaluated_at, status, entity)

    def _print(self, qs, total: int, items: list[dict[str, Any]], evaluated_at, status, entity) -> None:
        from django.utils import timezone

        when = f"{timezone.localtime(evaluated_at):%Y-%m-%d %H:%M}" if evaluated_at else "从未评估"
        scope = f"参保主体 {entity.code}" if entity else "全部参保主体"
        label = "未解除" if status == "active" else ("全部" if status == "all" else STATUS_LABELS[status])
        if not total:
            self.stdout.write(f"没有{label}的预警（{scope}；上次评估：{when}）")
            return
        by_severity = dict(qs.order_by().values_list("severity").annotate(n=Count("id")))
        counts = "，".join(
            f"{SEVERITY_LABELS[s]} {by_severity[s]}"
            for s in ("critical", "warning", "info")
            if s in by_severity
        )
        self.stdout.write(f"{label}的预警 {total} 条（{scope}；{counts}；上次评估：{when}）：")
        print_findings(self.stdout, items, total)
