"""A transport that records what it is given and fails on cue (for the outbox's own tests)."""

from __future__ import annotations

from typing import ClassVar

from shebao.notify.transports.base import ChannelConfig, Message, SendResult, Transport, TransportError


class RecorderConfig(ChannelConfig):
    url: str = "https://example.com/hook"
    secret: str = ""


class Recorder(Transport):
    kind = "webhook"
    label = "记录器"
    Config = RecorderConfig
    secret_fields = ("secret",)
    format = "markdown"
    sent: ClassVar[list[Message]] = []
    failures: ClassVar[list[TransportError]] = []

    def send(self, message: Message) -> SendResult:
        if self.failures:
            raise self.failures.pop(0)
        self.sent.append(message)
        return SendResult(provider_id=f"r{len(self.sent)}", status_code=200, response="ok")


class PersonalRecorder(Recorder):
    kind = "email"
    personal = True
    format = "email"
