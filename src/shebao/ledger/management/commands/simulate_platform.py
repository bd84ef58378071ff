"""shebao simulate-platform: serve simulated social-insurance data over the connector API."""

from __future__ import annotations

import ipaddress
import os
import secrets as _secrets

from django.core.management.base import BaseCommand, CommandError

from shebao.ledger.simulator import FAULTS, Simulator, build_dataset


def _faults(text: str) -> list[str]:
    faults = [f.strip() for f in (text or "").split(",") if f.strip()]
    unknown = [f for f in faults if f not in FAULTS]
    if unknown:
        raise CommandError(f"未知的故障类型：{'、'.join(unknown)}（可用：{','.join(FAULTS)}）")
    return faults


def _loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


class Command(BaseCommand):
    help = (
        "启动社保数据接口模拟平台（仅用于演示和测试）：按 docs/connector-api.md 的接口，"
        "以数据库中的参保主体和花名册生成最近若干个月的参保和缴费数据（含中断、前单位仍在缴、欠缴补缴、"
        "离职未停保、花名册外人员等异常），可注入故障。数据为模拟生成，不是任何经办机构的数据。"
    )

    def add_arguments(self, parser):
        parser.add_argument("--host", default="127.0.0.1", help="监听地址（默认 127.0.0.1）")
        parser.add_argument("--port", type=int, default=8765, help="端口（默认 8765；0 = 任意空闲端口）")
        parser.add_argument("--seed", type=int, default=2026, help="随机种子：相同种子和花名册生成相同数据")
        parser.add_argument("--months", type=int, default=36, help="生成截至本月的最近几个月（默认 36）")
        parser.add_argument(
            "--entity", action="append", default=[], help="只模拟该参保主体（编码，可重复）；默认全部"
        )
        parser.add_argument(
            "--faults",
            default="",
            help=f"注入的故障，逗号分隔：{','.join(FAULTS)}（500 与 429 为 HTTP 状态）",
        )
        parser.add_argument(
            "--fault-rate", type=float, default=0.1, help="每个数据请求注入故障的概率（默认 0.1）"
        )
        parser.add_argument(
            "--slow-seconds", type=float, default=40.0, help="slow 故障的响应延迟秒数（默认 40）"
        )
        parser.add_argument(
            "--retry-after", type=int, default=2, help="429 响应的 Retry-After 秒数（默认 2）"
        )
        parser.add_argument("--client-id", default="shebao", help="签名用的客户端标识（默认 shebao）")
        parser.add_argument(
            "--secret",
            default=os.environ.get("SHEBAO_SIMULATOR_SECRET", ""),
            help="签名密钥（或环境变量 SHEBAO_SIMULATOR_SECRET）；为空则不校验签名（监听非本机地址时必填）",
        )
        parser.add_argument(
            "--register",
            action="store_true",
            help="为每个模拟的参保主体创建或更新一个“模拟平台”HTTP 连接器，指向本模拟平台",
        )

    def handle(self, *args, **opts):
        faults = _faults(opts["faults"])
        if not 0 <= opts["fault_rate"] <= 1:
            raise CommandError("--fault-rate 应在 0 到 1 之间")
        if not 1 <= opts["months"] <= 240:
            raise CommandError("--months 应在 1 到 240 之间")
        if not _loopback(opts["host"]) and not opts["secret"]:
            raise CommandError("监听非本机地址时必须设置 --secret：模拟数据取自花名册，含姓名和证件号码")
        try:
            dataset = build_dataset(
                entity_codes=opts["entity"] or None, months=opts["months"], seed=opts["seed"]
            )
        except ValueError as exc:
            raise CommandError(str(exc)) from exc
        if not dataset.units:
            raise CommandError("数据库中没有参保主体：请先运行 shebao seed 或 shebao entity add")
        sim = Simulator(
            dataset,
            faults=faults,
            fault_rate=opts["fault_rate"],
            secret=opts["secret"],
            client_id=opts["client_id"],
            seed=opts["seed"],
            slow_seconds=opts["slow_seconds"],
            retry_after=opts["retry_after"],
            host=opts["host"],
            port=opts["port"],
        )
        try:
            url = sim.start()
        except OSError as exc:
            raise CommandError(f"无法监听 {opts['host']}:{opts['port']}：{exc}") from exc
        w = self.stdout.write
        w(self.style.WARNING("社保数据接口模拟平台（SIMULATOR）— 数据为模拟生成，仅用于演示和测试"))
        w(f"地址：{url}/   接口：{url}/v1/units")
        for unit, s in dataset.stats().items():
            w(f"  {unit}  {s['name']}：参保记录 {s['enrollments']} 条，缴费记录 {s['contributions']} 条")
        w(
            f"种子 {opts['seed']}，{opts['months']} 个月；故障：{','.join(faults) or '无'}"
            + (f"（概率 {opts['fault_rate']:g}）" if faults else "")
        )
        w(
            f"签名：客户端标识 {opts['client_id']}，已设置密钥"
            if opts["secret"]
            else "签名：未设置 --secret，不校验签名"
        )
        if opts["register"]:
            for line in self._register(url, opts["client_id"], opts["secret"], dataset):
                w(line)
        w("按 Ctrl+C 停止")
        try:
            sim.serve_forever()
        except KeyboardInterrupt:
            w("已停止")
        finally:
            sim.close()

    def _register(self, url: str, client_id: str, secret: str, dataset) -> list[str]:
        from shebao.ledger.connectors.manage import simulator_connectors_register

        lines = []
        if not secret:
            secret = _secrets.token_urlsafe(24)
            lines.append("（连接器已保存随机密钥；模拟平台未校验签名）")
        for connector, created in simulator_connectors_register(
            url=url, client_id=client_id, secret=secret, units=dataset.units
        ):
            lines.append(
                f"  {'已创建' if created else '已更新'}连接器：{connector.entity.code} · 模拟平台 → {url}"
            )
        lines.append("运行 shebao sync 立即同步，或由后台任务按计划同步")
        return lines
