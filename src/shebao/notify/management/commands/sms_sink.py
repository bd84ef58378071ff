"""`shebao sms_sink`: a local stand-in for Alibaba Cloud's SMS API that keeps the demo's texts
instead of sending them."""

from __future__ import annotations

import signal
import threading
from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from shebao.notify.mailsink import is_loopback
from shebao.notify.smssink import SINK_KEEP, sms_sink_dir, sms_sink_server


class Command(BaseCommand):
    help = (
        "启动本机短信接收器（仅用于演示和测试）：按阿里云短信 SendSms 接口接收短信并保存为 JSON 文件，"
        "不会真正发送。阿里云短信通道的接入地址填 http://127.0.0.1:8026 即可把短信发到这里。"
    )

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        # Set by SIGINT/SIGTERM, or by whoever runs the command in a thread (tests).
        self.stop_event = threading.Event()
        self.ready = threading.Event()
        self.address: tuple[str, int] | None = None

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--host", default="127.0.0.1", help="监听地址（默认 127.0.0.1）")
        parser.add_argument("--port", type=int, default=8026, help="端口（默认 8026；0 = 任意空闲端口）")
        parser.add_argument(
            "--dir",
            default="",
            help="保存短信的目录（默认：设置 SHEBAO_SMS_SINK_DIR，或实例目录下的 sms-sink）",
        )
        parser.add_argument(
            "--allow-remote",
            action="store_true",
            help="允许监听非本机地址（任何能连上该端口的人都能往目录里写短信）",
        )

    def handle(self, *args: Any, **opts: Any) -> None:
        host: str = opts["host"]
        port: int = opts["port"]
        if not is_loopback(host) and not opts["allow_remote"]:
            raise CommandError(
                f"拒绝监听非本机地址 {host or '（所有地址）'}：任何人都能向接收器投递短信。确需如此请加 --allow-remote"
            )
        if not 0 <= port <= 65535:
            raise CommandError("--port 应在 0 到 65535 之间")
        directory = sms_sink_dir(opts["dir"] or None)
        try:
            directory.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise CommandError(f"无法创建目录 {directory}：{exc}") from exc
        try:
            server = sms_sink_server(host, port, directory, on_store=self._stored)
        except OSError as exc:
            raise CommandError(f"无法监听 {host}:{port}：{exc}") from exc
        thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.2}, daemon=True)
        thread.start()

        installed = self._install_signals()
        self.address = (host, server.server_address[1])
        w = self.stdout.write
        w(self.style.WARNING("短信接收器（仅用于演示和测试）— 收到的短信只保存到本机，不会发给收件人"))
        w(f"地址：{server.url}（阿里云短信 SendSms 接口，不校验签名和 AccessKey）")
        w(f"保存到：{directory}（保留最新 {SINK_KEEP} 条）")
        w("按 Ctrl+C 停止")
        self.ready.set()
        try:
            while not self.stop_event.wait(0.5):
                pass
        except KeyboardInterrupt:
            pass
        finally:
            server.shutdown()
            server.server_close()
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

    def _stored(self, path: Path, record: dict[str, Any]) -> None:
        from shebao.notify.transports.sms_aliyun import mask

        self.stdout.write(f"收到短信：{mask(record['phone'])} {record['text']}（{path.name}）")
