from __future__ import annotations

import json
from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from shebao.core.context import Actor
from shebao.core.exceptions import ApplicationError
from shebao.policy import selectors, services
from shebao.policy.loader import LibraryError, export_xlsx, export_yaml, read_rows
from shebao.policy.terms import CONFIDENCE_LABELS, Confidence


class Command(BaseCommand):
    help = "城市政策库：policy list / show / export / import / load"

    def add_arguments(self, parser):
        sub = parser.add_subparsers(dest="action", required=True)
        lst = sub.add_parser("list", help="列出已收录的城市")
        lst.add_argument("--json", action="store_true", help="以 JSON 输出")
        show = sub.add_parser("show", help="显示一个城市的政策期间和数值")
        show.add_argument("--city", required=True, help="城市名称（北京）或行政区划代码（110000）")
        show.add_argument("--json", action="store_true", help="以 JSON 输出")
        exp = sub.add_parser("export", help="导出政策库")
        exp.add_argument("--format", choices=["yaml", "xlsx"], required=True)
        exp.add_argument("-o", "--output", required=True, help="输出文件")
        imp = sub.add_parser("import", help="导入 YAML 或 Excel：逐行校验，任一行有误则整个文件不导入")
        imp.add_argument("file")
        imp.add_argument("--reason", default="", help="更正原因（写入修订记录和审计日志）")
        imp.add_argument("--user", default="", help="以该 HR 管理员的名义导入（默认：系统）")
        sub.add_parser("load", help="重新载入内置政策库（不覆盖已核验或更正的数值）")

    def handle(self, *args, **opts):
        getattr(self, f"do_{opts['action']}")(opts)

    def do_list(self, opts):
        rows = [
            {
                "city": s.city.name,
                "city_code": s.city.code,
                "periods": s.periods,
                "figures": s.figures,
                "missing": s.missing,
                "by_confidence": s.by_confidence,
                "verified": s.verified,
                "last_verified": s.last_verified.isoformat() if s.last_verified else None,
                "candidates": s.candidates,
                "rules": s.rules,
            }
            for s in selectors.city_library_summary()
        ]
        if opts["json"]:
            self.stdout.write(json.dumps(rows, ensure_ascii=False, indent=2))
            return
        for r in rows:
            confidences = "，".join(
                f"{CONFIDENCE_LABELS[Confidence(k)]} {n}" for k, n in sorted(r["by_confidence"].items())
            )
            status = (
                f"期间 {r['periods']}，数值 {r['figures']}，未收录 {r['missing']}"
                if r["periods"]
                else "暂无收录的政策数据"
            )
            self.stdout.write(
                f"{r['city_code']} {r['city']:<6} {status}；{confidences or '—'}；候选数据 {r['candidates']}"
            )

    def do_show(self, opts):
        try:
            data = selectors.policy_city_json(opts["city"])
        except ApplicationError as exc:
            raise CommandError(exc.message) from exc
        if opts["json"]:
            self.stdout.write(json.dumps(data, ensure_ascii=False, indent=2))
            return
        self.stdout.write(f"{data['city']}（{data['city_code']}）")
        if not data["periods"]:
            self.stdout.write("  暂无收录的政策数据")
        for p in data["periods"]:
            self.stdout.write(f"  {p['label']}：{p['effective_from']} 至 {p['effective_to'] or '（未定）'}")
            for f in p["figures"]:
                name = (
                    f"{services.insurance_label(f['insurance'] or '')} {selectors.FIELD_LABELS[f['field']]}"
                )
                mark = "（已核验）" if f["verified_at"] else ""
                shown = "舍入规则未收录，按四舍五入到分计算" if f["assumed"] else f["display"]
                conf = "" if f["display"] == "未收录" or f["assumed"] else f"  [{f['confidence_label']}]"
                self.stdout.write(f"    {name:<16} {shown}{conf}{mark}")
        for c in data["unverified_candidates"]:
            self.stdout.write(f"  未采用的候选数据（仅供核对，不参与计算）：{c['values']}")

    def do_export(self, opts):
        path = Path(opts["output"])
        if opts["format"] == "yaml":
            path.write_text(export_yaml(selectors.policy_export_data()), encoding="utf-8")
        else:
            path.write_bytes(
                export_xlsx(selectors.policy_export_rows(), selectors.policy_export_candidates())
            )
        self.stdout.write(f"已导出到 {path}")

    def do_import(self, opts):
        actor = Actor.system(via="cli")
        if opts["user"]:
            from shebao.accounts.models import User

            user = User.objects.filter(username=opts["user"]).first()
            if user is None:
                raise CommandError(f"未知用户“{opts['user']}”")
            actor = Actor(user=user, via="cli")
        path = Path(opts["file"])
        if not path.exists():
            raise CommandError(f"文件不存在：{path}")
        try:
            rows = read_rows(path)
            counts = services.policy_import(
                actor=actor, rows=rows, reason=opts["reason"] or f"导入 {path.name}"
            )
        except LibraryError as exc:
            raise CommandError("文件未导入，请修正以下问题：\n" + "\n".join(exc.errors)) from exc
        except ApplicationError as exc:
            raise CommandError(exc.message) from exc
        self.stdout.write(
            f"已导入 {path.name}：新增 {counts['created']} 项，更正 {counts['updated']} 项，"
            f"未变 {counts['unchanged']} 项，新增期间 {counts['periods_created']} 个"
        )

    def do_load(self, opts):
        counts = services.policy_library_load()
        self.stdout.write(
            f"已载入内置政策库：新增数值 {counts['figures_created']}，更新 {counts['figures_updated']}，"
            f"保留人工核验/更正 {counts['figures_kept']}"
        )
