from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from shebao.accounts.models import User


@dataclass(frozen=True)
class Actor:
    """Who is acting and from where: passed to every service so it can write the audit row."""

    user: User | None
    ip: str | None = None
    via: str = "web"  # web / api / cli / worker

    @classmethod
    def from_request(cls, request, via: str = "web") -> Actor:
        from django.conf import settings

        ip = request.META.get("REMOTE_ADDR")
        # X-Forwarded-For is client-controlled unless a trusted proxy sets it.
        if settings.SHEBAO_TRUST_X_FORWARDED_FOR and request.META.get("HTTP_X_FORWARDED_FOR"):
            ip = request.META["HTTP_X_FORWARDED_FOR"].split(",")[0].strip()
        user = request.user if getattr(request, "user", None) and request.user.is_authenticated else None
        return cls(user=user, ip=ip, via=via)

    @classmethod
    def system(cls, via: str = "cli") -> Actor:
        return cls(user=None, ip=None, via=via)
