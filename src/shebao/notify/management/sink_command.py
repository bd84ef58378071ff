"""What `shebao mail_sink` and `shebao sms_sink` share: the options, the checks of the address
and the folder, the banner, and running until Ctrl+C, SIGTERM or ``stop_event``."""

from __future__ import annotations

import signal
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from shebao.notify.mailsink import is_loopback


class SinkCommand(BaseCommand):
    """A demo sink's command; a subclass sets the texts and defaults and implements ``sink_dir``
    and ``serve``."""

    noun: str  # what the sink keeps: "邮件", "短信"
    measure: str  # its measure word: "封", "条"
    default_port: int
    keep: int  # how many the sink keeps (its SINK_KEEP)
    dir_help: str
    warning: str  # the banner's first line
    address_note: str  # after the address in the banner

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        # Set by SIGINT/SIGTERM, or by whoever runs the command in a thread (tests).
        self.stop_event = threading.Event()
        self.ready = threading.Event()
        self.address: tuple[str, int] | None = None

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--host", default="127.0.0.1", help="监听地址（默认 127.0.0.1）")
        parser.add_argument(
            "--port",
            type=int,
            default=self.default_port,
            help=f"端口（默认 {self.default_port}；0 = 任意空闲端口）",
        )
        parser.add_argument("--dir", default="", help=self.dir_help)
        parser.add_argument(
            "--allow-remote",
            action="store_true",
            help=f"允许监听非本机地址（任何能连上该端口的人都能往目录里写{self.noun}）",
        )

    def sink_dir(self, directory: str | None) -> Path:
        """The folder: ``--dir``, else the sink's default."""
        raise NotImplementedError

    def pick_port(self, host: str, port: int) -> int:
        """The port to listen on, given ``--port`` (0: any free port)."""
        return port

    def serve(self, host: str, port: int, directory: Path) -> tuple[tuple[str, int], str, Callable[[], None]]:
        """Start the sink (CommandError when it cannot): the address it listens on, its URL for
        the banner, and how to stop it."""
        raise NotImplementedError

    def handle(self, *args: Any, **opts: Any) -> None:
        host: str = opts["host"]
        port: int = opts["port"]
        if not is_loopback(host) and not opts["allow_remote"]:
            raise CommandError(
                f"拒绝监听非本机地址 {host or '（所有地址）'}：任何人都能向接收器投递{self.noun}。"
                "确需如此请加 --allow-remote"
            )
        if not 0 <= port <= 65535:
            raise CommandError("--port 应在 0 到 65535 之间")
        port = self.pick_port(host, port)
        directory = self.sink_dir(opts["dir"] or None)
        try:
            directory.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise CommandError(f"无法创建目录 {directory}：{exc}") from exc
        address, url, stop = self.serve(host, port, directory)

        installed = self._install_signals()
        self.address = address
        w = self.stdout.write
        w(self.style.WARNING(self.warning))
        w(f"地址：{url}（{self.address_note}）")
        w(f"保存到：{directory}（保留最新 {self.keep} {self.measure}）")
        w("按 Ctrl+C 停止")
        self.ready.set()
        try:
            while not self.stop_event.wait(0.5):
                pass
        except KeyboardInterrupt:
            pass
        finally:
            stop()
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
