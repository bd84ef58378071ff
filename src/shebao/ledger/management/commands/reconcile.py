"""shebao reconcile [--entity CODE]: recompute the discrepancies now and list the open ones."""

from __future__ import annotations

import json
from typing import Any

from django.core.management.base import BaseCommand, CommandError
from django.db.models import Count

from shebao.core.context import Actor
from shebao.core.exceptions import ApplicationError
from shebao.ledger.management.commands.ingest import entity_arg
from shebao.ledger.models import Discrepancy
from shebao.ledger.reconcile import ReconcileResult, discrepancy_rows
from shebao.ledger.selectors import discrepancy_data
from shebao.ledger.services import ledger_reconcile

SHOW = 50


class Command(BaseCommand):
    help = (
        "按花名册与缴费台账重新核对（一个参保主体或全部），已不再出现的差异标记为已消除，"
        "然后列出未解决的差异：类型、员工、险种、月份、金额与法规依据。退出码：0 完成，1 参数错误"
    )

    def add_arguments(self, parser):
        parser.add_argument("--entity", default="", help="参保主体（编码或全称）；默认核对全部主体")
        parser.add_argument(
            "--kind",
            action="append",
            default=[],
            help="只列出该类型的差异（可重复或用逗号分隔）："
            + "、".join(f"{k.value}（{k.label}）" for k in Discrepancy.Kind),
        )
        parser.add_argument(
            "--limit", type=int, default=None, help=f"最多列出的差异条数（默认：文本 {SHOW} 条，JSON 全部）"
        )
        parser.add_argument("--json", action="store_true", help="输出一个 JSON 对象")

    def handle(self, *args, **opts):
        entity = entity_arg(opts["entity"]) if opts["entity"].strip() else None
        kinds = self._kinds(opts["kind"])
        limit = opts["limit"]
        if limit is not None and limit < 0:
            raise CommandError("--limit 不能为负数")
        try:
            result = ledger_reconcile(actor=Actor.system(via="cli"), entity=entity)
        except ApplicationError as exc:
            raise CommandError(exc.message) from exc
        qs = discrepancy_rows(entity=entity, kinds=kinds or None).order_by(
            "entity__code", "kind", "employee__name", "insurance", "period_from", "id"
        )
        total = qs.count()
        if limit is None:
            limit = total if opts["json"] else SHOW
        shown = [discrepancy_data(d) for d in qs[:limit]]
        counts = {
            k: n
            for k, n in qs.order_by().values_list("kind").annotate(n=Count("id")).values_list("kind", "n")
        }
        if opts["json"]:
            self.stdout.write(
                json.dumps(
                    {
                        "entity": entity.code if entity else None,
                        "result": result.to_dict(),
                        "open_total": total,
                        "open": counts,
                        "discrepancies": shown,
                    },
                    ensure_ascii=False,
                )
            )
            return
        self._print(entity, result, total, counts, shown)

    # --- arguments -------------------------------------------------------------------------------

    def _kinds(self, values: list[str]) -> list[str]:
        kinds = [k.strip() for v in values for k in v.replace("，", ",").split(",") if k.strip()]
        unknown = [k for k in kinds if k not in Discrepancy.Kind.values]
        if unknown:
            choices = "、".join(f"{k.value}（{k.label}）" for k in Discrepancy.Kind)
            raise CommandError(f"未知的差异类型“{'、'.join(unknown)}”。可选：{choices}")
        return kinds

    # --- text output -----------------------------------------------------------------------------

    def _print(
        self, entity, result: ReconcileResult, total: int, counts: dict[str, int], shown: list[dict]
    ) -> None:
        scope = f"参保主体 {entity.code} {entity.name}" if entity else "全部参保主体"
        self.stdout.write(
            f"核对完成（{scope}）：核对员工 {result.employees} 人，发现差异 {result.found} 条"
            f"（新增 {result.opened}，再次出现 {result.reopened}，有变化 {result.updated}，"
            f"无变化 {result.unchanged}），已消除 {result.resolved} 条"
        )
        for note in result.notes:
            self.stdout.write(f"  注意：{note}")
        if not total:
            self.stdout.write("没有未解决的差异")
            return
        labels = dict(Discrepancy.Kind.choices)
        by_kind = "，".join(f"{labels[k]} {n}" for k, n in sorted(counts.items(), key=lambda kv: -kv[1]))
        self.stdout.write(f"未解决的差异 {total} 条：{by_kind}")
        for d in shown:
            self.stdout.write("  " + _line(d))
        if total > len(shown):
            self.stdout.write(f"  …另有 {total - len(shown)} 条（用 --limit 或 --json 查看全部）")


def _line(d: dict[str, Any]) -> str:
    parts = [f"[{d['entity']}] {d['kind_label']}", d["employee_name"] or "—"]
    if d["insurance_label"]:
        parts.append(d["insurance_label"])
    if d["period_from"]:
        span = d["period_from"]
        if d["period_to"] and d["period_to"] != d["period_from"]:
            span += f" 至 {d['period_to']}"
        parts.append(f"{span}（{d['months']} 个月）" if d["months"] else span)
    if d["unit"]:
        parts.append(f"缴费单位 {d['unit']}")
    if d["amount"] is not None:
        parts.append(f"金额 {d['amount']} 元")
    if d["citations"]:
        parts.append("依据 " + "、".join(d["citations"]))
    return " · ".join(parts)
