"""The demo's notifications: a local SMTP sink as the company mailbox, demo users with addresses
and their channel choices, so opening a finding visibly sends mail (to the sink) and fills the
in-app inbox; and a local SMS sink (Alibaba Cloud's SendSms API) as the employees' phones, so a
letter's link and the one-time code are readable under 通知 › 演示短信. Nothing here leaves the
machine."""

from __future__ import annotations

from shebao.core.context import Actor
from shebao.notify.models import Channel

SINK_HOST, SINK_PORT = "127.0.0.1", 8025
CHANNEL_NAME = "演示邮箱（本机接收器）"
SMS_SINK_HOST, SMS_SINK_PORT = "127.0.0.1", 8026
SMS_CHANNEL_NAME = "演示短信（本机接收器）"
ADDRESSES = {
    "demo": "demo@shebao.demo",
    "hr_bj": "hr-bj@shebao.demo",
    "manager": "manager@shebao.demo",
    "auditor": "auditor@shebao.demo",
}


def demo_notify_setup(*, actor: Actor | None = None) -> Channel:
    """Create the sink's email channel (for people) and give the demo users addresses and
    choices (in-app and email). Idempotent."""
    from shebao.accounts.models import User
    from shebao.notify.services import channel_create, inapp_channel, preference_update

    actor = actor or Actor.system(via="cli")
    inapp_channel()
    channel = Channel.objects.filter(name=CHANNEL_NAME).first()
    if channel is None:
        channel = channel_create(
            actor=actor,
            kind="email",
            name=CHANNEL_NAME,
            config={
                "host": SINK_HOST,
                "port": SINK_PORT,
                "security": "none",
                "from": "社保合规助手 <shebao@shebao.demo>",
            },
            for_people=True,
        )
    for user in User.objects.filter(username__in=list(ADDRESSES)):
        if user.email != ADDRESSES[user.username]:
            user.email = ADDRESSES[user.username]
            user.save(update_fields=["email"])
        preference_update(actor=actor, user=user, channels=["inapp", "email"])
    demo_sms_setup(actor=actor)
    return channel


def sms_sink_config(endpoint: str) -> dict:
    """An ``sms_aliyun`` channel configuration sending to the SMS sink at ``endpoint``, with the
    sink's demo templates: findings through a notification template, a letter's link and the
    one-time code each through their own."""
    from shebao.notify.smssink import DEMO_CHANNEL_TEMPLATES, DEMO_SIGN_NAME

    return {
        "access_key_id": "demo-access-key",
        "access_key_secret": "demo-secret",  # the sink checks no signature
        "sign_name": DEMO_SIGN_NAME,
        "template_code": DEMO_CHANNEL_TEMPLATES["template_code"],
        "params": list(DEMO_CHANNEL_TEMPLATES["params"]),
        "templates": dict(DEMO_CHANNEL_TEMPLATES["templates"]),
        "endpoint": endpoint,
    }


def demo_sms_setup(*, actor: Actor | None = None) -> Channel:
    """The SMS channel for people sending to the local SMS sink (``shebao sms_sink`` on
    127.0.0.1:8026). Idempotent (an existing channel of that name is kept as it is)."""
    from shebao.notify.services import channel_create

    channel = Channel.objects.filter(name=SMS_CHANNEL_NAME).first()
    if channel is not None:
        return channel
    return channel_create(
        actor=actor or Actor.system(via="cli"),
        kind="sms_aliyun",
        name=SMS_CHANNEL_NAME,
        config=sms_sink_config(f"http://{SMS_SINK_HOST}:{SMS_SINK_PORT}"),
        for_people=True,
        allow_private=True,  # the sink is on this machine, on purpose
    )


def sink_channel() -> Channel | None:
    return Channel.objects.filter(name=CHANNEL_NAME, enabled=True).first()


def sms_sink_channel() -> Channel | None:
    return Channel.objects.filter(name=SMS_CHANNEL_NAME, enabled=True).first()
