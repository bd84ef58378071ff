from __future__ import annotations

import signal
import socket
import subprocess
import sys

from django.core.management import call_command
from django.core.management.base import BaseCommand, CommandError


class Command(BaseCommand):
    help = "同时启动 Web 服务与后台任务进程（make demo 使用）"

    def add_arguments(self, parser):
        parser.add_argument("--host", default="127.0.0.1")
        parser.add_argument("--port", type=int, default=8000)

    def handle(self, *args, host: str, port: int, **opts):
        with socket.socket() as probe:
            if probe.connect_ex((host, port)) == 0:
                raise CommandError(f"端口 {host}:{port} 已被占用：可能已有一个 make demo 在运行，请先停止它")
        worker = subprocess.Popen([sys.executable, "-m", "shebao.cli", "worker"])
        self.stdout.write(f"后台任务进程已启动（pid {worker.pid}）")
        children = [worker]
        simulator = self._simulator()
        if simulator is not None:
            children.append(simulator)
        sink = self._mail_sink()
        if sink is not None:
            children.append(sink)
        sms_sink = self._sms_sink()
        if sms_sink is not None:
            children.append(sms_sink)

        def stop(*_):
            for child in children:
                child.terminate()
            raise KeyboardInterrupt

        signal.signal(signal.SIGTERM, stop)
        try:
            call_command("serve", host=host, port=port)
        except KeyboardInterrupt:
            pass
        finally:
            for child in children:
                child.terminate()
                try:
                    child.wait(timeout=10)
                except subprocess.TimeoutExpired:
                    child.kill()

    def _mail_sink(self):
        """The demo's mailbox: a local SMTP server keeping the mail the demo sends (shown under
        通知 › 演示邮箱), started when the demo's email channel exists and the port is free."""
        from shebao.demo.notify import SINK_HOST, SINK_PORT, sink_channel

        if sink_channel() is None:
            return None
        with socket.socket() as probe:
            if probe.connect_ex((SINK_HOST, SINK_PORT)) == 0:
                self.stdout.write(f"端口 {SINK_PORT} 已有服务，未再启动演示邮件接收器")
                return None
        proc = subprocess.Popen(
            [sys.executable, "-m", "shebao.cli", "mail_sink", "--host", SINK_HOST, "--port", str(SINK_PORT)],
            stdout=subprocess.DEVNULL,
        )
        self.stdout.write(f"演示邮件接收器已启动：smtp://{SINK_HOST}:{SINK_PORT}（pid {proc.pid}）")
        return proc

    def _sms_sink(self):
        """The demo's phones: a local SMS sink (Alibaba Cloud's SendSms API) keeping the texts the
        demo sends employees (shown under 通知 › 演示短信), started when the demo's SMS channel
        exists and the port is free."""
        from shebao.demo.notify import SMS_SINK_HOST, SMS_SINK_PORT, sms_sink_channel

        if sms_sink_channel() is None:
            return None
        with socket.socket() as probe:
            if probe.connect_ex((SMS_SINK_HOST, SMS_SINK_PORT)) == 0:
                self.stdout.write(f"端口 {SMS_SINK_PORT} 已有服务，未再启动演示短信接收器")
                return None
        command = ["sms_sink", "--host", SMS_SINK_HOST, "--port", str(SMS_SINK_PORT)]
        proc = subprocess.Popen([sys.executable, "-m", "shebao.cli", *command], stdout=subprocess.DEVNULL)
        self.stdout.write(f"演示短信接收器已启动：http://{SMS_SINK_HOST}:{SMS_SINK_PORT}（pid {proc.pid}）")
        return proc

    def _simulator(self):
        """The demo's connectors sync from the simulator: serve it again (same roster and seed, same
        data) on the port they point at, unless something already listens there."""
        import os

        from shebao.audit.models import AuditEvent
        from shebao.demo.ledger import CLIENT_ID, SIMULATOR_PORT
        from shebao.ledger.connectors.base import connector_secret
        from shebao.ledger.models import Connector

        connector = Connector.objects.filter(is_simulator=True, enabled=True).first()
        if connector is None:
            return None
        with socket.socket() as probe:
            if probe.connect_ex(("127.0.0.1", SIMULATOR_PORT)) == 0:
                self.stdout.write(f"端口 {SIMULATOR_PORT} 已有服务，未再启动模拟平台")
                return None
        seeded = AuditEvent.objects.filter(action="demo.seed").order_by("-id").first()
        seed = (seeded.changes or {}).get("seed", 2026) if seeded else 2026
        env = {**os.environ, "SHEBAO_SIMULATOR_SECRET": connector_secret(connector)}
        proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "shebao.cli",
                "simulate-platform",
                "--port",
                str(SIMULATOR_PORT),
                "--seed",
                str(seed),
                "--client-id",
                connector.client_id or CLIENT_ID,
            ],
            env=env,
            stdout=subprocess.DEVNULL,
        )
        self.stdout.write(
            f"社保数据接口模拟平台（SIMULATOR）已启动：http://127.0.0.1:{SIMULATOR_PORT}/（pid {proc.pid}）"
        )
        return proc
