"""The demo's notifications: a local SMTP sink as the company mailbox, demo users with addresses
and their channel choices, so opening a finding visibly sends mail (to the sink) and fills the
in-app inbox. Nothing here leaves the machine."""

from __future__ import annotations

from shebao.core.context import Actor
from shebao.notify.models import Channel

SINK_HOST, SINK_PORT = "127.0.0.1", 8025
CHANNEL_NAME = "演示邮箱（本机接收器）"
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
    return channel


def sink_channel() -> Channel | None:
    return Channel.objects.filter(name=CHANNEL_NAME, enabled=True).first()
