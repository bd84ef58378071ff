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

        def stop(*_):
            worker.terminate()
            raise KeyboardInterrupt

        signal.signal(signal.SIGTERM, stop)
        try:
            call_command("serve", host=host, port=port)
        except KeyboardInterrupt:
            pass
        finally:
            worker.terminate()
            try:
                worker.wait(timeout=10)
            except subprocess.TimeoutExpired:
                worker.kill()
