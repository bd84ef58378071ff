from __future__ import annotations

import json

from django.core.management.base import BaseCommand, CommandError

from shebao.policy import calc
from shebao.policy.calculators import CalcError


class Command(BaseCommand):
    help = "社保计算器：contribution / late-fee / backpay / compensation / deadlines / medical-gap（--json 输出 JSON）"

    def add_arguments(self, parser):
        sub = parser.add_subparsers(dest="kind", required=True)

        def add(name, help_text):
            p = sub.add_parser(name, help=help_text)
            p.add_argument("--json", action="store_true", help="以 JSON 输出（金额为两位小数的字符串）")
            return p

        p = add("contribution", "某员工某月的社保与公积金缴费")
        p.add_argument("--city", default="", help="城市名称或行政区划代码")
        p.add_argument("--entity", default="", help="参保主体编码（使用其城市及工伤/公积金费率设置）")
        p.add_argument("--month", required=True, help="费款所属期，如 2025-03")
        p.add_argument("--base", required=True, help="申报缴费基数（元）")
        p.add_argument("--insurance", action="append", default=[], help="只算某险种，可重复")
        p = add("late-fee", "滞纳金（社会保险法第八十六条，按日万分之五）")
        p.add_argument("--amount", required=True)
        p.add_argument("--due", required=True, help="应缴日期 YYYY-MM-DD")
        p.add_argument("--paid", required=True, help="缴纳日期 YYYY-MM-DD")
        p = add("backpay", "补缴：逐月本金、滞纳金与罚款区间")
        p.add_argument("--city", default="")
        p.add_argument("--entity", default="")
        p.add_argument("--from", dest="start", required=True, help="起始月份")
        p.add_argument("--to", dest="end", required=True, help="结束月份")
        p.add_argument("--base", required=True)
        p.add_argument("--paid", required=True, help="（计划）缴纳日期")
        p.add_argument("--due-day", default=None, help="每月应缴日（城市未收录时必填）")
        p.add_argument("--insurance", action="append", default=[])
        p = add("compensation", "经济补偿（劳动合同法第四十七条）")
        p.add_argument("--hired", required=True)
        p.add_argument("--left", required=True)
        p.add_argument("--monthly-wage", required=True)
        p.add_argument("--city", default="", help="用于三倍社平工资封顶")
        p = add("deadlines", "法定办理时限")
        p.add_argument("--hired", default=None)
        p.add_argument("--left", default=None)
        p = add("medical-gap", "职工医保中断后果")
        p.add_argument("--months", required=True, help="中断月数")
        p.add_argument("--city", default="")

    def handle(self, *args, kind: str, **o):
        try:
            result = self._run(kind, o)
        except CalcError as exc:
            raise CommandError(exc.message) from exc
        data = calc.result_data(result)
        if o["json"]:
            self.stdout.write(json.dumps(data, ensure_ascii=False, indent=2))
        else:
            self.stdout.write(render_text(kind, data))

    def _run(self, kind: str, o: dict):
        if kind == "contribution":
            return calc.run_contribution(
                city=o["city"],
                entity=o["entity"] or None,
                month=o["month"],
                base=o["base"],
                insurances=o["insurance"],
            )
        if kind == "late-fee":
            return calc.run_late_fee(amount=o["amount"], due=o["due"], paid=o["paid"])
        if kind == "backpay":
            return calc.run_backpay(
                city=o["city"],
                entity=o["entity"] or None,
                start=o["start"],
                end=o["end"],
                base=o["base"],
                paid=o["paid"],
                due_day=o["due_day"],
                insurances=o["insurance"],
            )
        if kind == "compensation":
            return calc.run_compensation(
                hired=o["hired"], left=o["left"], monthly_wage=o["monthly_wage"], city=o["city"]
            )
        if kind == "deadlines":
            return calc.run_deadlines(hire=o["hired"], leave=o["left"])
        return calc.run_medical_gap(gap_months=o["months"], city=o["city"])


def render_text(kind: str, data: dict) -> str:
    """A short human-readable summary; --json has everything."""
    lines: list[str] = []
    if kind == "contribution":
        lines.append(
            f"{data['city_name']} {data['month']}（{data['period_label']}） 申报基数 {data['declared_base']}"
        )
        for ln in data["lines"]:
            amounts = f"单位 {ln['employer_amount'] or '未收录'}  个人 {ln['employee_amount'] or '未收录'}"
            lines.append(f"  {ln['label']:<10} 基数 {ln['base']}  {amounts}")
        lines.append(
            f"合计：单位 {data['employer_total']}  个人 {data['employee_total']}  共 {data['total']}"
            + ("" if data["complete"] else "（不完整：有未收录的费率）")
        )
    elif kind == "late-fee":
        lines.append(f"滞纳金 {data['fee']} 元（{data['amount']} × 0.0005 × {data['days']} 天）")
    elif kind == "backpay":
        for m in data["months"]:
            lines.append(f"  {m['month']} 应缴 {m['due']} 本金 {m['principal']} 滞纳金 {m['late_fee']}")
        lines.append(f"本金 {data['principal']}  滞纳金 {data['late_fees']}  合计 {data['grand_total']}")
        lo, hi = data["fine_range"]
        lines.append(f"逾期仍不缴纳的罚款区间（社会保险法第八十六条）：{lo}–{hi} 元")
    elif kind == "compensation":
        lines.append(
            f"工作年限 {data['tenure_years']} 年 {data['tenure_months']} 个月 {data['tenure_days']} 天，"
            f"补偿 {data['months']} 个月 × {data['wage_used']} = {data['amount']} 元"
        )
    elif kind == "deadlines":
        for d in data["deadlines"]:
            lines.append(f"  {d['due']}  {d['label']}（{d['citation']}）")
    else:
        for s in data["national"] + data["city"]:
            lines.append(f"  · {s['text']}（{s['confidence_label']}）")
    lines.extend(f"注：{n}" for n in data.get("notes", []))
    lines.append("依据：" + "、".join(data.get("citations", [])))
    return "\n".join(lines)
