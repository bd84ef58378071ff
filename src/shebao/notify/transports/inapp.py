"""In-app: the message is the notification row itself, shown in the user's inbox."""

from __future__ import annotations

from shebao.notify.transports.base import ChannelConfig, Message, SendResult, Transport


class InAppConfig(ChannelConfig):
    pass


class InApp(Transport):
    kind = "inapp"
    label = "站内信"
    Config = InAppConfig
    personal = True
    format = "text"

    def send(self, message: Message) -> SendResult:
        return SendResult(provider_id="inapp", response="已写入站内信")
