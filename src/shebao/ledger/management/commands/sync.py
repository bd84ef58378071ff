"""shebao sync [--entity CODE] [--connector NAME] [--full] [--json]: run connectors now."""

from __future__ import annotations

import json
from typing import Any

from django.core.management.base import BaseCommand, CommandError

from shebao.core.context import Actor
from shebao.ledger.connectors.base import ConnectorError
from shebao.ledger.management.commands.ingest import findings_line, rules_follow
from shebao.ledger.models import Connector, SyncRun
from shebao.ledger.sync import ConnectorBusy, connector_run

SHOW_ERRORS = 10
S = SyncRun.Status


class Command(BaseCommand):
    help = (
        "立即运行数据连接器（HTTP 接口同步、投递文件夹读取），不等待定时任务。"
        "默认运行所有已启用的连接器；HTTP 同步从上次完成的页继续，--full 重新读取全部数据。"
        "同步后按预警规则重新评估数据有变化的人员（JSON 的 findings：新增、更新、解除的预警数）。"
        "退出码：0 成功或部分成功，1 有连接器失败或参数错误"
    )

    def add_arguments(self, parser):
        parser.add_argument("--entity", default="", help="只运行该参保主体（编码）的连接器")
        parser.add_argument("--connector", default="", help="只运行该名称的连接器（未启用的也会运行）")
        parser.add_argument("--full", action="store_true", help="HTTP：忽略同步进度，重新读取全部数据")
        parser.add_argument("--json", action="store_true", help="输出一个 JSON 对象")

    def handle(self, *args, **opts):
        qs = Connector.objects.select_related("entity").order_by("entity__code", "name")
        if opts["entity"]:
            if not qs.filter(entity__code=opts["entity"]).exists() and not _entity_exists(opts["entity"]):
                raise CommandError(f"未知的参保主体编码“{opts['entity']}”")
            qs = qs.filter(entity__code=opts["entity"])
        if opts["connector"]:
            qs = qs.filter(name=opts["connector"])
            if not qs.exists():
                raise CommandError(f"没有名为“{opts['connector']}”的连接器")
        else:
            qs = qs.filter(enabled=True)
        actor = Actor.system(via="cli")
        results = [self._run(c, actor, opts["full"]) for c in qs]
        failed = any(r["status"] in ("failed", "busy") for r in results)
        findings = rules_follow(self.stderr) if any(r["runs"] for r in results) else None
        if opts["json"]:
            summary = None
            if findings is not None:
                summary = {
                    "opened": findings.opened,
                    "updated": findings.updated,
                    "resolved": findings.resolved,
                }
            self.stdout.write(json.dumps({"connectors": results, "findings": summary}, ensure_ascii=False))
        else:
            self._print(results)
            if findings is not None:
                self.stdout.write(findings_line(findings).strip())
        if failed:
            raise CommandError("有连接器同步失败", returncode=1)

    def _run(self, connector: Connector, actor: Actor, full: bool) -> dict[str, Any]:
        out: dict[str, Any] = {
            "connector": connector.name,
            "kind": connector.kind,
            "entity": connector.entity.code,
            "simulator": connector.is_simulator,
            "status": "",
            "runs": [],
            "error": "",
        }
        try:
            runs = connector_run(connector=connector, actor=actor, full=full)
        except ConnectorBusy as exc:
            return out | {"status": "busy", "error": exc.message}
        except ConnectorError as exc:
            return out | {"status": "failed", "error": exc.message}
        out["runs"] = [_run_json(r) for r in runs]
        if not runs:
            out["status"] = "idle"
        elif any(r.status == S.FAILED for r in runs):
            out["status"] = "failed"
        elif any(r.status == S.PARTIAL for r in runs):
            out["status"] = "partial"
        else:
            out["status"] = "succeeded"
        return out

    def _print(self, results: list[dict[str, Any]]) -> None:
        if not results:
            self.stdout.write("没有需要运行的连接器")
            return
        labels = {
            "succeeded": "成功",
            "partial": "部分成功",
            "failed": "失败",
            "busy": "正在运行",
            "idle": "无新文件",
        }
        for r in results:
            tag = " [模拟数据]" if r["simulator"] else ""
            self.stdout.write(
                f"{r['entity']} · {r['connector']}{tag}：{labels.get(r['status'], r['status'])}"
            )
            if r["error"]:
                self.stdout.write(f"  {r['error']}")
            for run in r["runs"]:
                c = run["counts"]
                name = f" {run['file_name']}" if run["file_name"] else ""
                self.stdout.write(
                    f"  同步记录 #{run['id']}{name}：{run['status_label']}；"
                    f"新增 {c.get('records_created', 0)}、变更 {c.get('records_changed', 0)} 条缴费记录，"
                    f"参保状态新增 {c.get('enrollments_created', 0)}、变更 {c.get('enrollments_changed', 0)}；"
                    f"{c.get('pages', 0)} 页，重试 {c.get('retries', 0)} 次，跳过重复 {c.get('duplicates_skipped', 0)} 条"
                    if run["source"] in ("http", "simulator")
                    else f"  同步记录 #{run['id']}{name}：{run['status_label']}；"
                    f"新增 {c.get('records_created', 0)}、变更 {c.get('records_changed', 0)} 条缴费记录"
                )
                for err in run["errors"][:SHOW_ERRORS]:
                    self.stdout.write(f"    - {err.get('message', err) if isinstance(err, dict) else err}")
                if len(run["errors"]) > SHOW_ERRORS:
                    self.stdout.write(f"    … 共 {len(run['errors'])} 条错误")


def _entity_exists(code: str) -> bool:
    from shebao.org.models import Entity

    return Entity.objects.filter(code=code).exists()


def _run_json(run: SyncRun) -> dict[str, Any]:
    return {
        "id": run.pk,
        "source": run.source,
        "status": run.status,
        "status_label": str(run.get_status_display()),
        "file_name": run.file_name,
        "counts": run.counts,
        "errors": run.errors,
        "warnings": run.warnings,
        "cursor": run.cursor,
    }
