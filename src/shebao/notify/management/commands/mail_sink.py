"""`shebao mail_sink`: a local SMTP server that keeps the demo's emails instead of sending them."""

from __future__ import annotations

import signal
import socket
import threading
from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from shebao.notify.mailsink import SINK_KEEP, is_loopback, sink_controller, sink_dir, sink_message


class Command(BaseCommand):
    help = (
        "启动本机邮件接收器（仅用于演示和测试）：接收发往它的所有邮件并保存为 .eml 文件，不会真正投递。"
        "在邮件通道中填写主机 127.0.0.1、端口 8025、加密方式“不加密”即可把通知发到这里。"
    )

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        # Set by SIGINT/SIGTERM, or by whoever runs the command in a thread (tests).
        self.stop_event = threading.Event()
        self.ready = threading.Event()
        self.address: tuple[str, int] | None = None

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--host", default="127.0.0.1", help="监听地址（默认 127.0.0.1）")
        parser.add_argument("--port", type=int, default=8025, help="端口（默认 8025；0 = 任意空闲端口）")
        parser.add_argument(
            "--dir",
            default="",
            help="保存邮件的目录（默认：设置 SHEBAO_MAIL_SINK_DIR，或实例目录下的 mail-sink）",
        )
        parser.add_argument(
            "--allow-remote",
            action="store_true",
            help="允许监听非本机地址（任何能连上该端口的人都能往目录里写邮件）",
        )

    def handle(self, *args: Any, **opts: Any) -> None:
        host: str = opts["host"]
        port: int = opts["port"]
        if not is_loopback(host) and not opts["allow_remote"]:
            raise CommandError(
                f"拒绝监听非本机地址 {host or '（所有地址）'}：任何人都能向接收器投递邮件。确需如此请加 --allow-remote"
            )
        if not 0 <= port <= 65535:
            raise CommandError("--port 应在 0 到 65535 之间")
        if port == 0:
            port = _free_port(host)
        directory = sink_dir(opts["dir"] or None)
        try:
            directory.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise CommandError(f"无法创建目录 {directory}：{exc}") from exc

        controller = sink_controller(host, port, directory, on_store=self._stored)
        try:
            controller.start()
        except OSError as exc:
            raise CommandError(f"无法监听 {host}:{port}：{exc}") from exc

        installed = self._install_signals()
        self.address = (host, port)
        w = self.stdout.write
        w(self.style.WARNING("邮件接收器（仅用于演示和测试）— 收到的邮件只保存到本机，不会投递给收件人"))
        w(f"地址：smtp://{host}:{port}（不加密、无需登录）")
        w(f"保存到：{directory}（保留最新 {SINK_KEEP} 封）")
        w("按 Ctrl+C 停止")
        self.ready.set()
        try:
            while not self.stop_event.wait(0.5):
                pass
        except KeyboardInterrupt:
            pass
        finally:
            controller.stop()
            for signum, previous in installed.items():
                signal.signal(signum, previous)
            w("已停止")

    def _install_signals(self) -> dict[int, Any]:
        """Stop cleanly on SIGINT and SIGTERM (only the main thread may set handlers)."""
        if threading.current_thread() is not threading.main_thread():
            return {}
        previous = {}
        for signum in (signal.SIGINT, signal.SIGTERM):
            previous[signum] = signal.signal(signum, lambda *_: self.stop_event.set())
        return previous

    def _stored(self, path: Path) -> None:
        info = sink_message(path.name, directory=path.parent) or {}
        self.stdout.write(
            f"收到邮件：{info.get('subject') or '（无主题）'} → {info.get('to', '')}（{path.name}）"
        )


def _free_port(host: str) -> int:
    """aiosmtpd's controller cannot start on port 0 (it connects to its own port to check that
    the server is up), so pick a free port first."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        return sock.getsockname()[1]
