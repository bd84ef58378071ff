"""shebao purge-imports [--json]: run the retention sweep of uploaded import files now."""

from __future__ import annotations

import json

from django.conf import settings
from django.core.management.base import BaseCommand

from shebao.core.context import Actor
from shebao.imports.retention import import_files_purge


class Command(BaseCommand):
    help = (
        "删除导入原文件（含明文证件号、手机号）：已导入批次的文件、超过保留天数"
        "（SHEBAO_IMPORT_UPLOAD_RETENTION_DAYS）的未完成批次的文件，以及无批次引用的孤立文件。"
        "后台任务每天 03:20 自动执行"
    )

    def add_arguments(self, parser):
        parser.add_argument("--json", action="store_true", help="输出一个 JSON 对象")

    def handle(self, *args, **opts):
        counts = import_files_purge(actor=Actor.system(via="cli"))
        if opts["json"]:
            self.stdout.write(json.dumps(counts, ensure_ascii=False))
            return
        self.stdout.write(
            "已删除导入原文件：已导入批次 {committed} 个，超过 {days} 天的未完成批次 {expired} 个，"
            "孤立文件 {orphans} 个".format(days=settings.SHEBAO_IMPORT_UPLOAD_RETENTION_DAYS, **counts)
        )
