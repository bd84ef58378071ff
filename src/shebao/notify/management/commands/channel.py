"""shebao channel add|list|update|remove — the notification channels (通知通道)."""

from __future__ import annotations

import json
from typing import Any

from django.core.management.base import BaseCommand, CommandError

from shebao.core.context import Actor
from shebao.core.exceptions import ApplicationError
from shebao.notify import selectors, services
from shebao.notify.models import Channel
from shebao.notify.transports import TRANSPORTS

KINDS = [k for k in TRANSPORTS if k != "inapp"]


def _config(text: str) -> dict[str, Any]:
    try:
        value = json.loads(text or "{}")
    except json.JSONDecodeError as exc:
        raise CommandError(
            f"--config 不是有效的 JSON：{exc.msg}（第 {exc.lineno} 行第 {exc.colno} 列）"
        ) from None
    if not isinstance(value, dict):
        raise CommandError('--config 应为 JSON 对象，例如 \'{"url": "https://…", "secret": "…"}\'')
    return value


def channel_arg(name: str) -> Channel:
    channel = Channel.objects.filter(name=name).first()
    if channel is None and name.isdigit():
        channel = Channel.objects.filter(pk=int(name)).first()
    if channel is None:
        names = "、".join(Channel.objects.order_by("id").values_list("name", flat=True)) or "（无）"
        raise CommandError(f"通道“{name}”不存在（现有：{names}）")
    return channel


class Command(BaseCommand):
    help = (
        "管理通知通道。add 添加（--config 为 JSON；email: host, port, username, password, security, from, to；"
        "webhook: url, secret, headers；dingtalk/feishu: url, secret；wecom: url；"
        "sms_aliyun: access_key_id, access_key_secret, sign_name, template_code, params；"
        "sms_tencent: secret_id, secret_key, sdk_app_id, sign_name, template_id, params），"
        "list 列出（--json），update 修改，remove 删除。指向内网或本机地址的 URL 会被拒绝，"
        "除非设置 SHEBAO_ALLOW_PRIVATE_URLS=1。退出码：0 完成，1 参数或配置错误"
    )

    def add_arguments(self, parser):
        sub = parser.add_subparsers(dest="action", required=True)
        add = sub.add_parser("add", help="添加通道")
        add.add_argument("--kind", required=True, choices=KINDS)
        add.add_argument("--name", required=True)
        add.add_argument("--config", default="{}", help="JSON 对象")
        add.add_argument("--for-people", action="store_true", help="用于个人通知（邮件、短信）")
        add.add_argument("--rate-limit", type=int, default=None, help="每分钟最多条数")
        add.add_argument("--language", default="zh-hans", choices=["zh-hans", "en"])
        add.add_argument("--disabled", action="store_true", help="添加为停用状态")
        add.add_argument("--json", action="store_true")
        lst = sub.add_parser("list", help="列出通道")
        lst.add_argument("--json", action="store_true")
        upd = sub.add_parser("update", help="修改通道（未给出的配置项不变；密钥留空不变）")
        upd.add_argument("name")
        upd.add_argument("--config", default=None, help="要修改的配置项（JSON 对象，与现有配置合并）")
        upd.add_argument("--rename", default=None)
        upd.add_argument("--enable", action="store_true")
        upd.add_argument("--disable", action="store_true")
        upd.add_argument("--json", action="store_true")
        rm = sub.add_parser("remove", help="删除通道")
        rm.add_argument("name")

    def handle(self, *args, **opts):
        actor = Actor.system(via="cli")
        action = opts["action"]
        try:
            if action == "add":
                channel = services.channel_create(
                    actor=actor,
                    kind=opts["kind"],
                    name=opts["name"],
                    config=_config(opts["config"]),
                    enabled=not opts["disabled"],
                    for_people=opts["for_people"],
                    language=opts["language"],
                    rate_limit=opts["rate_limit"],
                )
                self._show([channel], opts["json"], single=True)
            elif action == "list":
                services.inapp_channel()
                self._show(list(selectors.channels_list()), opts["json"])
            elif action == "update":
                channel = channel_arg(opts["name"])
                config = None
                if opts["config"] is not None:
                    config = {**channel.config, **_config(opts["config"])}
                enabled = True if opts["enable"] else (False if opts["disable"] else None)
                channel = services.channel_update(
                    actor=actor, channel=channel, name=opts["rename"], config=config, enabled=enabled
                )
                self._show([channel], opts["json"], single=True)
            elif action == "remove":
                channel = channel_arg(opts["name"])
                services.channel_delete(actor=actor, channel=channel)
                self.stdout.write(f"已删除通道“{channel.name}”")
        except ApplicationError as exc:
            raise CommandError(exc.message) from None

    def _show(self, channels: list[Channel], as_json: bool, single: bool = False) -> None:
        data = [selectors.channel_data(c) for c in channels]
        if as_json:
            self.stdout.write(json.dumps(data[0] if single else data, ensure_ascii=False, indent=2))
            return
        status = dict(Channel.Status.choices)
        for d in data:
            flags = [str(status.get(d["status"], d["status"]))]
            if not d["enabled"]:
                flags.append("已停用")
            if d["for_people"]:
                flags.append("个人通知")
            if d["paused_until"]:
                flags.append(f"暂停至 {d['paused_until']}")
            line = f"{d['id']:>4}  {d['name']}  [{d['kind_label']}]  {'，'.join(flags)}"
            if d["last_error"]:
                line += f"\n      最近错误：{d['last_error'][:200]}"
            self.stdout.write(line)
