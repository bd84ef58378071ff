"""shebao ingest FILE --entity CODE: read a government export (or agency bill) into the ledger."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError
from django.db import transaction

from shebao.core.context import Actor
from shebao.core.exceptions import ApplicationError
from shebao.core.yearmonth import YearMonth, YearMonthError
from shebao.ledger.models import SyncRun
from shebao.ledger.services import IngestOptions, ledger_file_ingest
from shebao.org.models import Entity

EXIT_REJECTED = 2
SHOW_ERRORS = 20
S = SyncRun.Status


class _Rollback(Exception):
    pass


class Command(BaseCommand):
    _findings = None  # the rules' evaluation after the ingest (text output)
    help = (
        "导入缴费明细/参保数据文件（税务、人社、医保、公积金导出的 .xlsx/.xls/.csv，或代理机构账单）到缴费台账，"
        "随后重新核对涉及人员的差异，并按预警规则重新评估这些人员的预警。同一文件再次导入不作任何更改。"
        "退出码：0 成功（含重复文件与预览），2 文件无法读取或识别、或有被拒绝的行（其余行已导入），1 参数错误"
    )

    def add_arguments(self, parser):
        parser.add_argument("file", help="缴费数据文件")
        parser.add_argument("--entity", required=True, help="参保主体（编码或全称）：文件属于哪个主体")
        parser.add_argument("--profile", default="auto", help="文件格式模板编码（默认 auto：自动识别）")
        parser.add_argument("--period", default="", help="费款所属期 YYYY-MM：文件名和表头都没有写明时填写")
        parser.add_argument(
            "--item",
            default="",
            help="征收品目：一个品目一个文件、文件名中没有品目时填写，如 职工基本养老保险(单位缴纳)",
        )
        parser.add_argument("--unit-no", default="", help="缴费单位编号：文件中没有时填写")
        parser.add_argument("--unit-name", default="", help="缴费单位名称：文件中没有时填写")
        parser.add_argument("--dry-run", action="store_true", help="只解析和预览，不写入任何数据")
        parser.add_argument(
            "--no-reconcile",
            action="store_true",
            help="导入后不核对所涉人员的差异、不评估预警（批量导入多个文件时使用，"
            "最后运行一次 shebao reconcile 和 shebao evaluate）",
        )
        parser.add_argument("--json", action="store_true", help="输出一个 JSON 对象")

    def handle(self, *args, **opts):
        entity = entity_arg(opts["entity"])
        options = IngestOptions(
            profile=self._profile(opts["profile"]),
            period=self._period(opts["period"]),
            item=opts["item"].strip(),
            unit_no=opts["unit_no"].strip(),
            unit_name=opts["unit_name"].strip(),
        )
        path = Path(opts["file"])
        try:
            with path.open("rb"):
                pass
        except OSError as exc:
            reason = "文件不存在" if isinstance(exc, FileNotFoundError) else "无法读取文件"
            return self._finish(opts, self._file_error(f"{reason}：{path}", entity, path, opts["dry_run"]))
        kwargs = {
            "entity": entity,
            "path": path,
            "filename": path.name,
            "source": SyncRun.Source.CLI,
            "actor": Actor.system(via="cli"),
            "options": options,
            "max_bytes": None,
            "reconcile": not opts["no_reconcile"],
        }
        try:
            if opts["dry_run"]:
                # The preview's run is rolled back too: a dry run leaves no trace in the ledger.
                try:
                    with transaction.atomic():
                        result = self._result(ledger_file_ingest(**kwargs, dry_run=True), dry_run=True)
                        raise _Rollback
                except _Rollback:
                    pass
            else:
                result = self._result(ledger_file_ingest(**kwargs), dry_run=False)
        except ApplicationError as exc:
            raise CommandError(exc.message) from exc
        if not opts["dry_run"] and not opts["no_reconcile"] and result["status"] in (S.SUCCEEDED, S.PARTIAL):
            self._findings = rules_follow(self.stderr)
        return self._finish(opts, result)

    # --- arguments -------------------------------------------------------------------------------

    def _profile(self, code: str) -> str:
        code = code.strip() or "auto"
        if code == "auto":
            return code
        from shebao.ledger import parsing

        try:
            parsing.profile_get(code)
        except parsing.ProfileError as exc:
            known = "、".join(p.code for p in parsing.profile_list())
            raise CommandError(
                f"未知的格式模板“{code}”（{exc.message}）。可用的模板：auto（自动识别）、{known}"
            ) from exc
        return code

    def _period(self, text: str) -> str:
        if not text.strip():
            return ""
        try:
            return str(YearMonth.parse(text))
        except YearMonthError as exc:
            raise CommandError(exc.message) from exc

    # --- result ----------------------------------------------------------------------------------

    def _file_error(self, message: str, entity: Entity, path: Path, dry_run: bool) -> dict[str, Any]:
        return {
            "run": None,
            "status": S.FAILED.value,
            "status_label": str(S.FAILED.label),
            "dry_run": dry_run,
            "entity": entity.code,
            "file": path.name,
            "profile": "",
            "counts": {},
            "errors": [{"row": None, "column": None, "code": "file_unreadable", "message": message}],
            "warnings": [],
            "duplicate_of": None,
        }

    def _result(self, run: SyncRun, *, dry_run: bool) -> dict[str, Any]:
        errors = [
            {
                "row": e.get("row"),
                "column": e.get("column"),
                "code": e.get("code", ""),
                "message": e.get("message", ""),
            }
            if isinstance(e, dict)
            else {"row": None, "column": None, "code": "", "message": str(e)}
            for e in run.errors
        ]
        return {
            "run": None if dry_run else run.pk,
            "status": run.status,
            "status_label": run.get_status_display(),
            "dry_run": dry_run,
            "entity": run.entity.code,
            "file": run.file_name,
            "profile": run.profile,
            "counts": dict(run.counts),
            "errors": errors,
            "warnings": list(run.warnings),
            "duplicate_of": run.duplicate_of_id,
        }

    def _finish(self, opts, result: dict[str, Any]) -> None:
        if opts["json"]:
            self.stdout.write(json.dumps(result, ensure_ascii=False))
        else:
            self._print(result)
            findings = getattr(self, "_findings", None)
            if findings is not None:
                self.stdout.write(findings_line(findings))
        if result["status"] == S.FAILED:
            raise CommandError("导入失败：文件未导入", returncode=EXIT_REJECTED)
        if int(result["counts"].get("rejected") or 0):
            raise CommandError("部分行有错误，未导入", returncode=EXIT_REJECTED)

    def _print(self, r: dict[str, Any]) -> None:
        c = r["counts"]
        if r["status"] == S.FAILED:
            self.stdout.write(f"导入失败：{r['file']}（参保主体 {r['entity']}）")
            for e in r["errors"]:
                self.stdout.write(f"  {e['message']}")
            return
        if r["status"] == S.DUPLICATE:
            self.stdout.write(f"重复文件，未作任何更改：{r['file']}（参保主体 {r['entity']}）")
            for w in r["warnings"]:
                self.stdout.write(f"  {w}")
            return
        title = {
            S.PREVIEWED: "预览（未写入）",
            S.SUCCEEDED: "已导入",
            S.PARTIAL: "已导入（有错误的行未导入）",
        }
        head = f"{title.get(r['status'], r['status_label'])}：{r['file']}（参保主体 {r['entity']}，格式模板 {r['profile'] or '—'}）"
        if r["run"]:
            head += f"，同步记录 #{r['run']}"
        self.stdout.write(head)
        period = ""
        if c.get("period_from"):
            period = f"，费款所属期 {_ym(c['period_from'])}" + (
                f" 至 {_ym(c['period_to'])}" if c.get("period_to") != c.get("period_from") else ""
            )
        self.stdout.write(
            f"  共 {c.get('rows', 0)} 行：跳过 {c.get('skipped', 0)}，有错误 {c.get('rejected', 0)}；"
            f"涉及 {c.get('people', 0)} 人{period}"
        )
        verb = "将" if r["dry_run"] else ""
        self.stdout.write(
            f"  缴费记录：{verb}新增 {c.get('records_created', 0)}，{verb}变更 {c.get('records_changed', 0)}，"
            f"无变化 {c.get('records_unchanged', 0)}"
        )
        if c.get("enrollments_created") or c.get("enrollments_changed") or c.get("enrollments_unchanged"):
            self.stdout.write(
                f"  参保状态：{verb}新增 {c.get('enrollments_created', 0)}，"
                f"{verb}变更 {c.get('enrollments_changed', 0)}，无变化 {c.get('enrollments_unchanged', 0)}"
            )
        if c.get("unknown_people"):
            self.stdout.write(f"  花名册外人员：{c['unknown_people']} 人（在花名册中找不到的证件号码）")
        if r["errors"]:
            self.stdout.write("有错误的行（未导入）：")
            for e in r["errors"][:SHOW_ERRORS]:
                self.stdout.write(f"  {_error_line(e)}")
            if len(r["errors"]) > SHOW_ERRORS:
                self.stdout.write(f"  …另有 {len(r['errors']) - SHOW_ERRORS} 条错误（用 --json 查看全部）")
        if r["warnings"]:
            self.stdout.write("提示：")
            for w in r["warnings"]:
                self.stdout.write(f"  {w}")


def _error_line(e: dict[str, Any]) -> str:
    """第5行 证件号码：… — unless the parser's message already says where."""
    message = e["message"]
    if e["row"] and message.startswith(f"第{e['row']}行"):
        return message
    where = f"第{e['row']}行 " if e["row"] else ""
    column = f"{e['column']}：" if e["column"] else ""
    return f"{where}{column}{message}"


def _ym(value: int) -> str:
    return f"{value // 100}-{value % 100:02d}"


def rules_follow(stderr):
    """Evaluate the alert rules now for the people the ledger's new change events name (the
    incremental evaluation the worker would queue), so the CLI leaves the findings current.
    The result, or None when nothing changed or the evaluation failed (said on stderr: the data
    is stored, and the worker's next run or the daily evaluation catches up)."""
    from shebao.rules.services import findings_consume_changes

    total = None
    try:
        for _ in range(100):  # 20 000 events a call: a very large file takes several
            result = findings_consume_changes(actor=Actor.system(via="cli"))
            if result is None:
                break
            if total is None:
                total = result
            else:
                total.rules.extend(result.rules)  # the counts are sums over the rule outcomes
        return total
    except Exception as exc:
        stderr.write(f"预警评估失败（数据已导入；稍后的定时评估会补上）：{exc.__class__.__name__}: {exc}")
        return None


def findings_line(result) -> str:
    return f"  预警：新增 {result.opened}，更新 {result.updated}，解除 {result.resolved}"


def entity_arg(text: str) -> Entity:
    """--entity: an entity by code or name (as the roster import resolves them), else exit 1."""
    from shebao.imports.fields import EntityIndex, FieldError

    try:
        return EntityIndex(Entity.objects.all()).resolve(text)
    except FieldError as exc:
        known = "、".join(Entity.objects.order_by("code").values_list("code", flat=True)) or "（无）"
        raise CommandError(f"{exc.message}。已有参保主体：{known}") from exc
