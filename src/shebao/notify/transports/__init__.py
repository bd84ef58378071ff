"""The channel kinds: one Transport class each, loaded lazily by kind."""

from __future__ import annotations

from importlib import import_module

from shebao.notify.transports.base import Message, SendResult, Transport, TransportError

TRANSPORTS: dict[str, tuple[str, str]] = {
    "email": ("邮件", "shebao.notify.transports.email.Email"),
    "sms_aliyun": ("阿里云短信", "shebao.notify.transports.sms_aliyun.AliyunSms"),
    "sms_tencent": ("腾讯云短信", "shebao.notify.transports.sms_tencent.TencentSms"),
    "dingtalk_work": ("钉钉工作通知", "shebao.notify.transports.dingtalk_work.DingTalkWork"),
    "wecom_app": ("企业微信应用消息", "shebao.notify.transports.wecom_app.WeComApp"),
    "dingtalk": ("钉钉群机器人", "shebao.notify.transports.dingtalk.DingTalk"),
    "wecom": ("企业微信群机器人", "shebao.notify.transports.wecom.WeCom"),
    "feishu": ("飞书群机器人", "shebao.notify.transports.feishu.Feishu"),
    "webhook": ("Webhook", "shebao.notify.transports.webhook.Webhook"),
    "inapp": ("站内信", "shebao.notify.transports.inapp.InApp"),
}
# Personal channels that reach a member of the company's DingTalk / WeCom by their mobile number.
WORK_KINDS = ("dingtalk_work", "wecom_app")
CHANNEL_KINDS = [(kind, label) for kind, (label, _path) in TRANSPORTS.items()]


def transport_class(kind: str) -> type[Transport]:
    try:
        path = TRANSPORTS[kind][1]
    except KeyError:
        raise KeyError(f"未知的通道类型“{kind}”（可选：{'、'.join(TRANSPORTS)}）") from None
    module, name = path.rsplit(".", 1)
    return getattr(import_module(module), name)


__all__ = [
    "CHANNEL_KINDS",
    "Message",
    "SendResult",
    "TRANSPORTS",
    "Transport",
    "TransportError",
    "WORK_KINDS",
    "transport_class",
]
