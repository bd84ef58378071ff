"""`shebao mail_sink`: a local SMTP server that keeps the demo's emails instead of sending them."""

from __future__ import annotations

import socket
from collections.abc import Callable
from pathlib import Path

from django.core.management.base import CommandError

from shebao.notify.mailsink import SINK_KEEP, sink_controller, sink_dir, sink_message
from shebao.notify.management.sink_command import SinkCommand


class Command(SinkCommand):
    help = (
        "启动本机邮件接收器（仅用于演示和测试）：接收发往它的所有邮件并保存为 .eml 文件，不会真正投递。"
        "在邮件通道中填写主机 127.0.0.1、端口 8025、加密方式“不加密”即可把通知发到这里。"
    )
    noun = "邮件"
    measure = "封"
    default_port = 8025
    keep = SINK_KEEP
    dir_help = "保存邮件的目录（默认：设置 SHEBAO_MAIL_SINK_DIR，或实例目录下的 mail-sink）"
    warning = "邮件接收器（仅用于演示和测试）— 收到的邮件只保存到本机，不会投递给收件人"
    address_note = "不加密、无需登录"

    def sink_dir(self, directory: str | None) -> Path:
        return sink_dir(directory)

    def pick_port(self, host: str, port: int) -> int:
        return _free_port(host) if port == 0 else port

    def serve(self, host: str, port: int, directory: Path) -> tuple[tuple[str, int], str, Callable[[], None]]:
        controller = sink_controller(host, port, directory, on_store=self._stored)
        try:
            controller.start()
        except OSError as exc:
            raise CommandError(f"无法监听 {host}:{port}：{exc}") from exc
        return (host, port), f"smtp://{host}:{port}", controller.stop

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
