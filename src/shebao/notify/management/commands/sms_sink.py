"""`shebao sms_sink`: a local stand-in for Alibaba Cloud's SMS API that keeps the demo's texts
instead of sending them."""

from __future__ import annotations

import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

from django.core.management.base import CommandError

from shebao.notify.management.sink_command import SinkCommand
from shebao.notify.smssink import SINK_KEEP, sms_sink_dir, sms_sink_server


class Command(SinkCommand):
    help = (
        "启动本机短信接收器（仅用于演示和测试）：按阿里云短信 SendSms 接口接收短信并保存为 JSON 文件，"
        "不会真正发送。阿里云短信通道的接入地址填 http://127.0.0.1:8026 即可把短信发到这里。"
    )
    noun = "短信"
    measure = "条"
    default_port = 8026
    keep = SINK_KEEP
    dir_help = "保存短信的目录（默认：设置 SHEBAO_SMS_SINK_DIR，或实例目录下的 sms-sink）"
    warning = "短信接收器（仅用于演示和测试）— 收到的短信只保存到本机，不会发给收件人"
    address_note = "阿里云短信 SendSms 接口，不校验签名和 AccessKey"

    def sink_dir(self, directory: str | None) -> Path:
        return sms_sink_dir(directory)

    def serve(self, host: str, port: int, directory: Path) -> tuple[tuple[str, int], str, Callable[[], None]]:
        try:
            server = sms_sink_server(host, port, directory, on_store=self._stored)
        except OSError as exc:
            raise CommandError(f"无法监听 {host}:{port}：{exc}") from exc
        thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.2}, daemon=True)
        thread.start()

        def stop() -> None:
            server.shutdown()
            server.server_close()

        return (host, server.server_address[1]), server.url, stop

    def _stored(self, path: Path, record: dict[str, Any]) -> None:
        from shebao.notify.transports.sms_aliyun import mask

        self.stdout.write(f"收到短信：{mask(record['phone'])} {record['text']}（{path.name}）")
