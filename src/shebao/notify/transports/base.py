"""What every channel's Transport shares: the message it is given, the result it returns, the
error it raises, and the typed configuration it validates.

A transport is small and stateless: it turns one ``Message`` into one request to its provider
and says how it went. Retries, rate limits, digests and the delivery log live in the outbox
(``shebao.notify.services``), not here.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, ClassVar

from pydantic import BaseModel, ConfigDict, ValidationError

from shebao.core.exceptions import ApplicationError


@dataclass(frozen=True)
class Message:
    """One message, already rendered for the channel's format.

    ``to`` holds the addresses for personal channels (email addresses, mobile numbers as 11
    digits or +86…); robot and webhook channels ignore it (the channel is the destination).
    ``sms_params`` are the template parameters of an SMS channel in the channel's order.
    ``idempotency_key`` is the same on every attempt of one delivery: transports pass it to the
    provider wherever the provider takes one (a header, OutId, SessionContext, Message-ID).
    ``event`` is the notification's event (finding, digest, test, case_letter, otp …): an SMS
    channel may have its own approved template for an event (a one-time code needs a
    verification-code template)."""

    subject: str
    text: str
    html: str = ""
    markdown: str = ""
    to: tuple[str, ...] = ()
    sms_params: tuple[tuple[str, str], ...] = ()
    idempotency_key: str = ""
    link: str = ""
    payload: dict[str, Any] = field(default_factory=dict)  # the generic webhook's JSON body
    severity: str = ""  # info / warning / critical: a card's colour where the provider has one
    event: str = ""


@dataclass
class SendResult:
    """What the provider answered (for the delivery log; never secrets)."""

    provider_id: str = ""
    status_code: int | None = None
    response: str = ""


class TransportError(Exception):
    """A send failed.

    ``permanent``: retrying the same request will not help (bad credentials, unknown template,
    invalid recipient). ``channel_broken``: the channel itself is misconfigured, so it is marked
    failing and the admins are told (defaults to ``permanent``; an invalid mobile number is
    permanent for that delivery but says nothing about the channel). ``retry_after``: seconds
    the provider asked us to wait (a DingTalk robot blocked for 10 minutes)."""

    def __init__(
        self,
        message: str,
        *,
        permanent: bool = False,
        channel_broken: bool | None = None,
        retry_after: float | None = None,
        status_code: int | None = None,
        code: str = "",
        response: str = "",
    ) -> None:
        super().__init__(message)
        self.message = message
        self.permanent = permanent
        self.channel_broken = permanent if channel_broken is None else channel_broken
        self.retry_after = retry_after
        self.status_code = status_code
        self.code = code
        self.response = response


class ChannelConfig(BaseModel):
    """Base of each transport's configuration model (unknown keys are refused)."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)


class Transport:
    """One channel kind. Subclasses set the class attributes and implement ``send``."""

    kind: ClassVar[str]
    label: ClassVar[str]  # Chinese, shown in the UI
    Config: ClassVar[type[ChannelConfig]]
    secret_fields: ClassVar[tuple[str, ...]] = ()  # keys of Config stored encrypted
    personal: ClassVar[bool] = False  # addressed to people (email, SMS) rather than a group
    format: ClassVar[str] = "text"  # which rendering it sends: email | markdown | text | sms | json
    max_text: ClassVar[int | None] = None  # bytes of text the provider accepts (longer is cut)

    def __init__(self, config: dict[str, Any], *, allow_private: bool = False) -> None:
        self.config = self.Config.model_validate(config)
        self.allow_private = allow_private

    @classmethod
    def validate(cls, config: dict[str, Any]) -> dict[str, Any]:
        """The configuration, checked and normalised; ApplicationError with Chinese field errors."""
        try:
            return cls.Config.model_validate(config).model_dump(mode="json")
        except ValidationError as exc:
            errors: dict[str, str] = {}
            for err in exc.errors():
                name = ".".join(str(p) for p in err["loc"]) or "config"
                errors[name] = _chinese(err)
            raise ApplicationError(
                "通道配置有误：" + "；".join(f"{k}：{v}" for k, v in errors.items()),
                field_errors=errors,
            ) from None

    def sms_template(self, event: str) -> tuple[str, list[str]]:
        """The approved SMS template this channel sends ``event`` with, and the template's
        parameter names in order (not an SMS channel: none)."""
        return "", []

    def send(self, message: Message) -> SendResult:  # pragma: no cover - interface
        raise NotImplementedError


def _chinese(err: dict[str, Any]) -> str:
    kind = err.get("type", "")
    ctx = err.get("ctx") or {}
    if kind == "missing":
        return "必填"
    if kind == "extra_forbidden":
        return "不支持的配置项"
    if kind in ("int_parsing", "int_type"):
        return "应为整数"
    if kind in ("string_type",):
        return "应为文本"
    if kind in ("bool_parsing", "bool_type"):
        return "应为 true 或 false"
    if kind == "literal_error":
        return f"可选值：{ctx.get('expected', '')}"
    if kind == "value_error":
        return str(ctx.get("error", err.get("msg", "")))
    if kind in ("greater_than_equal", "less_than_equal", "greater_than", "less_than"):
        return f"超出范围（{err.get('msg', '')}）"
    return str(err.get("msg", "无效"))
