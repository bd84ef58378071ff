"""shebao import-roster FILE: parse and (unless --dry-run) commit a roster file in this process."""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError

from shebao.core.context import Actor
from shebao.core.exceptions import ApplicationError, PermissionDenied
from shebao.imports.models import ImportBatch
from shebao.imports.selectors import import_batch_errors, import_batch_unmapped
from shebao.imports.services import import_batch_commit, import_batch_create, import_batch_parse

EXIT_REJECTED = 2
SHOW_ERRORS = 50


class ProgressBar:
    """A one-line bar on stderr, only when stderr is a terminal."""

    def __init__(self, stream, enabled: bool) -> None:
        self.stream = stream
        self.enabled = enabled
        self.label = ""
        self.last = -1
        self.started = time.monotonic()

    def stage(self, label: str):
        self.label, self.last = label, -1

        def update(pct: int) -> None:
            if not self.enabled or pct == self.last:
                return
            self.last = pct
            filled = pct * 30 // 100
            self.stream.write(f"\r{self.label} [{'#' * filled}{'.' * (30 - filled)}] {pct:3d}%")
            if pct >= 100:
                self.stream.write("\n")
            self.stream.flush()

        return update

    def close(self) -> None:
        if self.enabled and 0 <= self.last < 100:
            self.stream.write("\n")
            self.stream.flush()
        self.last = -1


class Command(BaseCommand):
    help = (
        "导入员工花名册（.xlsx/.xls/.csv）：校验每一行，按证件号码新增或更新员工；"
        "任一行有误则整个文件不导入（--valid-only 只导入无误的行）。退出码：0 成功或预览，2 被拒绝"
    )

    def add_arguments(self, parser):
        parser.add_argument("file", help="花名册文件")
        parser.add_argument(
            "--entity", default="", help="默认参保主体（编码或名称），用于没有“参保主体”列或该列为空的行"
        )
        parser.add_argument("--dry-run", action="store_true", help="只校验和预览，不写入花名册")
        parser.add_argument(
            "--valid-only", action="store_true", help="只导入无误的行（默认：全部无误才导入）"
        )
        parser.add_argument("--json", action="store_true", help="输出一个 JSON 对象")
        parser.add_argument(
            "--user", default="", help="以该用户的名义导入（默认：系统），HR 专员只能导入其负责的参保主体"
        )

    def handle(self, *args, **opts):
        actor = self._actor(opts["user"])
        entity = self._entity(opts["entity"])
        path = Path(opts["file"])
        bar = ProgressBar(sys.stderr, sys.stderr.isatty())
        mode = ImportBatch.Mode.VALID_ONLY if opts["valid_only"] else ImportBatch.Mode.ALL_OR_NOTHING
        try:
            data = path.read_bytes()
        except OSError as exc:
            reason = "文件不存在" if isinstance(exc, FileNotFoundError) else "无法读取文件"
            return self._finish(opts, self._file_error(f"{reason}：{path}", "file_unreadable"))
        try:
            batch = import_batch_create(
                actor=actor, data=data, filename=path.name, default_entity=entity, mode=mode, enqueue=False
            )
        except PermissionDenied as exc:
            raise CommandError(exc.message) from exc
        except ApplicationError as exc:
            return self._finish(opts, self._file_error(exc.message, exc.code))
        try:
            import_batch_parse(batch=batch, progress=bar.stage("解析"))
            if batch.status == ImportBatch.Status.PREVIEWED and not opts["dry_run"]:
                import_batch_commit(actor=actor, batch=batch, progress=bar.stage("导入"))
        except ApplicationError:
            batch.refresh_from_db()
        except Exception as exc:
            bar.close()  # before the result is printed
            batch.refresh_from_db()
            result = self._result(batch, opts) | {"status": "failed"}
            self._finish(opts, result, exit_code=None)
            raise CommandError(batch.error or str(exc)) from exc
        finally:
            bar.close()
        return self._finish(opts, self._result(batch, opts))

    # --- helpers ---------------------------------------------------------------------------------

    def _actor(self, username: str) -> Actor:
        if not username:
            return Actor.system(via="cli")
        from shebao.accounts.models import User

        user = User.objects.filter(username=username, is_active=True).first()
        if user is None:
            raise CommandError(f"未知用户“{username}”")
        return Actor(user=user, via="cli")

    def _entity(self, text: str):
        if not text:
            return None
        from shebao.imports.fields import EntityIndex, FieldError
        from shebao.org.models import Entity

        try:
            return EntityIndex(Entity.objects.all()).resolve(text)
        except FieldError as exc:
            raise CommandError(exc.message) from exc

    def _file_error(self, message: str, code: str) -> dict[str, Any]:
        return {
            "batch": None,
            "status": "rejected",
            "rows": 0,
            "created": 0,
            "updated": 0,
            "unchanged": 0,
            "rejected": 0,
            "new_departments": [],
            "errors": [{"row": None, "column": None, "code": code, "message": message}],
        }

    def _result(self, batch: ImportBatch, opts) -> dict[str, Any]:
        S = ImportBatch.Status
        errors = import_batch_errors(batch=batch)
        if batch.status == S.COMMITTED:
            status = "committed"
        elif batch.status == S.PREVIEWED and opts["dry_run"]:
            # A dry run reports what the real run would do: all-or-nothing with bad rows is refused.
            refused = batch.mode == ImportBatch.Mode.ALL_OR_NOTHING and batch.rejected_count > 0
            status = "rejected" if refused else "dry_run"
        elif batch.status == S.FAILED:
            status = "failed"
        else:
            status = "rejected"
        if batch.status == S.NEEDS_MAPPING:
            hint = "请把这些列改为标准列名（如“姓名”“身份证号”“工号”“入职日期”“参保主体”），或删除不需要的列后重新导入"
            errors = [
                {
                    "row": None,
                    "column": header,
                    "code": "unmapped_header",
                    "message": f"无法识别的列“{header}”：{hint}",
                }
                for header in import_batch_unmapped(batch=batch)
            ] or [{"row": None, "column": None, "code": "needs_mapping", "message": batch.error}]
        return {
            "batch": batch.pk,
            "status": status,
            "rows": batch.row_count,
            "created": batch.create_count,
            "updated": batch.update_count,
            "unchanged": batch.unchanged_count,
            "rejected": batch.rejected_count,
            "new_departments": [
                {"entity": d["entity"], "entity_name": d["entity_name"], "path": d["path"]}
                for d in batch.new_departments
            ],
            "errors": errors,
        }

    def _finish(self, opts, result: dict[str, Any], exit_code: int | None = -1) -> None:
        if opts["json"]:
            self.stdout.write(json.dumps(result, ensure_ascii=False))
        else:
            self._print(result)
        if exit_code is None:
            return
        if result["status"] in ("rejected", "failed"):
            summary = "导入被拒绝" if result["status"] == "rejected" else "导入失败"
            raise CommandError(summary, returncode=EXIT_REJECTED if result["status"] == "rejected" else 1)

    def _print(self, r: dict[str, Any]) -> None:
        titles = {
            "committed": "已导入",
            "dry_run": "预览（未写入）",
            "rejected": "未导入",
            "failed": "导入失败",
        }
        head = f"{titles[r['status']]}：共 {r['rows']} 行，新增 {r['created']}，更新 {r['updated']}，无变化 {r['unchanged']}，有错误 {r['rejected']}"
        if r["batch"]:
            head += f"（批次 {r['batch']}）"
        self.stdout.write(head)
        if r["new_departments"]:
            verb = "新建部门" if r["status"] == "committed" else "将新建部门"
            names = "、".join(f"{d['entity_name']}/{d['path']}" for d in r["new_departments"])
            self.stdout.write(f"{verb}：{names}")
        for e in r["errors"][:SHOW_ERRORS]:
            where = f"第{e['row']}行 " if e["row"] else ""
            column = f"{e['column']}：" if e["column"] else ""
            self.stdout.write(f"  {where}{column}{e['message']}")
        if len(r["errors"]) > SHOW_ERRORS:
            self.stdout.write(f"  …另有 {len(r['errors']) - SHOW_ERRORS} 条错误（用 --json 查看全部）")
