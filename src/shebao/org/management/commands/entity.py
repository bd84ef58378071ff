from __future__ import annotations

import json

from django.core.management.base import BaseCommand, CommandError

from shebao.core.context import Actor
from shebao.core.exceptions import ApplicationError
from shebao.org.selectors import entity_list_with_counts
from shebao.org.services import entity_create


class Command(BaseCommand):
    help = "管理参保主体：entity add / entity list"

    def add_arguments(self, parser):
        sub = parser.add_subparsers(dest="action", required=True)
        add = sub.add_parser("add", help="新增参保主体")
        add.add_argument("--code", required=True, help="参保主体编码（唯一）")
        add.add_argument("--name", required=True, help="名称")
        add.add_argument("--uscc", required=True, help="统一社会信用代码（18位）")
        add.add_argument("--city", required=True, help="参保城市：名称（北京）或行政区划代码（110000）")
        add.add_argument("--si-unit-no", default="", help="社保单位编号")
        add.add_argument("--hf-unit-no", default="", help="公积金单位账号")
        lst = sub.add_parser("list", help="列出参保主体")
        lst.add_argument("--json", action="store_true", help="以 JSON 输出")

    def handle(self, *args, **opts):
        if opts["action"] == "add":
            try:
                entity = entity_create(
                    actor=Actor.system(),
                    code=opts["code"],
                    name=opts["name"],
                    uscc=opts["uscc"],
                    city=opts["city"],
                    si_unit_no=opts["si_unit_no"],
                    hf_unit_no=opts["hf_unit_no"],
                )
            except ApplicationError as exc:
                raise CommandError(exc.message) from exc
            self.stdout.write(f"已新增参保主体 {entity.code} {entity.name}（{entity.city.name}）")
            return
        rows = [
            {
                "code": e.code,
                "name": e.name,
                "uscc": e.uscc,
                "city": e.city.name,
                "city_code": e.city.code,
                "si_unit_no": e.si_unit_no,
                "hf_unit_no": e.hf_unit_no,
                "active_employees": e.active_count,
            }
            for e in entity_list_with_counts()
        ]
        if opts["json"]:
            self.stdout.write(json.dumps(rows, ensure_ascii=False, indent=2))
            return
        for r in rows:
            self.stdout.write(
                f"{r['code']:<12} {r['name']:<24} {r['city']:<8} {r['uscc']}  在职 {r['active_employees']}"
            )
