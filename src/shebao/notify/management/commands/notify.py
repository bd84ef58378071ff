"""shebao notify test NAME | flush — send a test message, or send what is due now."""

from __future__ import annotations

import json

from django.core.management.base import BaseCommand, CommandError

from shebao.core.context import Actor
from shebao.core.exceptions import ApplicationError
from shebao.notify import services
from shebao.notify.management.commands.channel import channel_arg


class Command(BaseCommand):
    help = (
        "test NAME：通过通道发送一条测试消息，失败时输出服务商的错误并以 1 退出（--to 指定邮箱或手机号）；"
        "flush：立即发送到期的通知（重试、摘要、免打扰结束后的消息），--json 输出统计。"
        "退出码：0 成功，1 失败或参数错误"
    )

    def add_arguments(self, parser):
        sub = parser.add_subparsers(dest="action", required=True)
        test = sub.add_parser("test", help="发送测试消息")
        test.add_argument("name", help="通道名称或 ID")
        test.add_argument("--to", default="", help="邮件或短信通道的接收地址")
        test.add_argument("--json", action="store_true")
        flush = sub.add_parser("flush", help="发送到期的通知")
        flush.add_argument("--limit", type=int, default=500, help="每轮最多处理条数")
        flush.add_argument("--json", action="store_true")

    def handle(self, *args, **opts):
        if opts["action"] == "test":
            channel = channel_arg(opts["name"])
            try:
                out = services.channel_test(actor=Actor.system(via="cli"), channel=channel, to=opts["to"])
            except ApplicationError as exc:
                raise CommandError(exc.message) from None
            attempt = out.notification.deliveries.order_by("-number").first()
            if opts["json"]:
                self.stdout.write(
                    json.dumps(
                        {
                            "ok": out.ok,
                            "channel": channel.name,
                            "error": out.error or None,
                            "status_code": attempt.status_code if attempt else None,
                            "error_code": attempt.error_code if attempt else None,
                            "provider_id": out.notification.provider_id or None,
                        },
                        ensure_ascii=False,
                    )
                )
            if not out.ok:
                code = f"（{attempt.error_code}）" if attempt and attempt.error_code else ""
                raise CommandError(f"通道“{channel.name}”测试失败{code}：{out.error}")
            if not opts["json"]:
                self.stdout.write(
                    f"通道“{channel.name}”测试消息已发送（{out.notification.provider_id or '成功'}）"
                )
            return
        total = services.FlushResult()
        for _ in range(100):
            r = services.notifications_flush(limit=opts["limit"])
            for k in ("sent", "retried", "failed", "merged", "deferred", "released"):
                setattr(total, k, getattr(total, k) + getattr(r, k))
            total.errors += r.errors
            if not (r.sent or r.failed or r.merged):
                break
        if opts["json"]:
            self.stdout.write(json.dumps(total.to_dict(), ensure_ascii=False))
        else:
            self.stdout.write(
                f"已发送 {total.sent} 条，合并 {total.merged} 条，待重试 {total.retried} 条，"
                f"失败 {total.failed} 条，等待限流 {total.deferred} 条"
            )
            for e in total.errors[:20]:
                self.stdout.write(f"  {e}")
