"""Routing: which destinations hear about a finding's transition, and when.

A rule's ``routing`` (JSON on AlertRule) names the recipients — ``entity_hr`` (the HR
specialists responsible for the finding's entity, or the HR admins where nobody is), the
``department_manager`` (nearest manager up the department tree), named ``users``, the
``employee``, ``group_robot`` (the channels listed in ``channels``), and ``case_assignee`` (for
the case rule kinds, whose findings name their case in ``details["case_id"]``: the case's
assignee, or the entity's HR where it has none) — and, per severity,
``immediate`` or ``digest`` (once a day at ``digest_at``), with optional ``quiet_hours`` during
which nothing external is sent. Users choose their own channels (in-app, email, SMS) in their
profile; in-app is always delivered at once.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

from django.utils import timezone

from shebao.core.exceptions import ApplicationError

RECIPIENTS = ("entity_hr", "department_manager", "users", "employee", "group_robot", "case_assignee")
MODES = ("immediate", "digest", "off")
DEFAULT_MODES = {"critical": "immediate", "warning": "immediate", "info": "digest"}
DEFAULT_RECIPIENTS = ["entity_hr"]
PERSONAL_DEFAULT = ["inapp", "email"]
PERSONAL_KINDS = ("inapp", "email", "sms")


@dataclass(frozen=True)
class Routing:
    recipients: tuple[str, ...]
    users: tuple[int, ...]
    channels: tuple[int, ...]
    modes: dict[str, str]
    quiet: tuple[dt.time, dt.time] | None
    digest_at: dt.time
    notify_resolved: bool

    def mode(self, severity: str) -> str:
        return self.modes.get(severity, "immediate")


def _time(value: Any, field: str) -> dt.time:
    try:
        hh, mm = str(value).strip().split(":")
        return dt.time(int(hh), int(mm))
    except (ValueError, TypeError):
        message = f"时间“{value}”无效（格式 HH:MM，如 22:00）"
        raise ApplicationError(message, field_errors={field: message}) from None


def routing_clean(raw: dict[str, Any] | None) -> dict[str, Any]:
    """A rule's routing, checked and completed with the defaults (the stored form)."""
    raw = dict(raw or {})
    errors: dict[str, str] = {}
    recipients = raw.get("recipients", DEFAULT_RECIPIENTS)
    if not isinstance(recipients, list) or any(r not in RECIPIENTS for r in recipients):
        errors["routing"] = f"通知对象无效（可选：{'、'.join(RECIPIENTS)}）"
        recipients = []
    users = raw.get("users", [])
    channels = raw.get("channels", [])
    for name, value in (("users", users), ("channels", channels)):
        if not isinstance(value, list) or not all(isinstance(v, int) for v in value):
            errors[name] = "应为编号列表"
    modes = dict(DEFAULT_MODES)
    modes.update(raw.get("modes") or {})
    bad = {k: v for k, v in modes.items() if k not in DEFAULT_MODES or v not in MODES}
    if bad:
        errors["modes"] = f"发送方式无效：{bad}（可选：immediate 立即、digest 每日摘要、off 不发送）"
    quiet = raw.get("quiet_hours") or {}
    if quiet:
        if not isinstance(quiet, dict) or not quiet.get("start") or not quiet.get("end"):
            errors["quiet_hours"] = "免打扰时段需填写开始和结束时间"
        else:
            _time(quiet["start"], "quiet_hours")
            _time(quiet["end"], "quiet_hours")
    digest_at = raw.get("digest_at") or "09:00"
    _time(digest_at, "digest_at")
    if "users" in recipients and not users:
        errors["users"] = "选择了“指定用户”，请选择用户"
    if "group_robot" in recipients and not channels:
        errors["channels"] = "选择了“群机器人/固定地址”，请选择通道"
    if errors:
        raise ApplicationError("通知设置有误：" + "；".join(errors.values()), field_errors=errors)
    return {
        "recipients": list(dict.fromkeys(recipients)),
        "users": list(dict.fromkeys(users)),
        "channels": list(dict.fromkeys(channels)),
        "modes": modes,
        "quiet_hours": {"start": quiet["start"], "end": quiet["end"]} if quiet else {},
        "digest_at": str(digest_at),
        "notify_resolved": bool(raw.get("notify_resolved", False)),
    }


def routing_of(raw: dict[str, Any] | None) -> Routing:
    """Parse a stored routing leniently (old rows may lack keys; a bad value falls back)."""
    raw = raw or {}
    recipients = tuple(r for r in raw.get("recipients", DEFAULT_RECIPIENTS) if r in RECIPIENTS)
    modes = dict(DEFAULT_MODES)
    modes.update({k: v for k, v in (raw.get("modes") or {}).items() if v in MODES})
    quiet = None
    q = raw.get("quiet_hours") or {}
    try:
        if q.get("start") and q.get("end"):
            quiet = (_time(q["start"], "quiet_hours"), _time(q["end"], "quiet_hours"))
        digest_at = _time(raw.get("digest_at") or "09:00", "digest_at")
    except ApplicationError:
        quiet, digest_at = None, dt.time(9, 0)
    return Routing(
        recipients=recipients,
        users=tuple(int(u) for u in raw.get("users", []) if str(u).isdigit()),
        channels=tuple(int(c) for c in raw.get("channels", []) if str(c).isdigit()),
        modes=modes,
        quiet=quiet,
        digest_at=digest_at,
        notify_resolved=bool(raw.get("notify_resolved", False)),
    )


def _in_quiet(t: dt.time, quiet: tuple[dt.time, dt.time]) -> bool:
    start, end = quiet
    if start <= end:
        return start <= t < end
    return t >= start or t < end  # overnight, e.g. 22:00–08:00


def _at(day: dt.date, t: dt.time) -> dt.datetime:
    return timezone.make_aware(dt.datetime.combine(day, t), timezone.get_current_timezone())


def due_time(routing: Routing, mode: str, now: dt.datetime) -> dt.datetime:
    """When an external message of ``mode`` is due: now, the end of the quiet hours, or the next
    digest time (which is itself pushed out of the quiet hours)."""
    local = timezone.localtime(now)
    due = now
    if mode == "digest":
        due = _at(local.date(), routing.digest_at)
        if due <= now:
            due = _at(local.date() + dt.timedelta(days=1), routing.digest_at)
    if routing.quiet is not None:
        ld = timezone.localtime(due)
        if _in_quiet(ld.time(), routing.quiet):
            end = _at(ld.date(), routing.quiet[1])
            if end <= due:
                end = _at(ld.date() + dt.timedelta(days=1), routing.quiet[1])
            due = end
    return due
