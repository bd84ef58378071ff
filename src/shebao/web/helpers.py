"""Small pieces every room's views share: permission checks, HTMX partials, service-backed forms."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.utils.cache import patch_vary_headers

from shebao.core import exceptions

T = TypeVar("T")


def require(allowed: bool) -> None:
    """403 unless the permission check said yes."""
    if not allowed:
        raise PermissionDenied


def render_htmx(request: HttpRequest, partial: str, page: str, context: dict[str, Any]) -> HttpResponse:
    """The partial for an HTMX swap, the whole page otherwise (also for history restores)."""
    htmx = getattr(request, "htmx", None)
    template = partial if htmx and not htmx.history_restore_request else page
    response = render(request, template, context)
    patch_vary_headers(response, ["HX-Request"])
    return response


class ServiceErrorsMixin:
    """Forms that only collect input: the service's field errors land on the fields, its message on top."""

    def add_service_errors(self, field_errors: dict[str, str], message: str) -> None:
        for field, error in field_errors.items():
            self.add_error(field if field in self.fields else None, error)
        if message not in field_errors.values():  # a lone field message is not repeated on top
            self.add_error(None, message)


def submit_form(form, call: Callable[[], T]) -> T | None:
    """Run a service for a valid form and return its result. A refusal lands on the form (None is
    returned); a permission refusal is a 403."""
    if not form.is_valid():
        return None
    try:
        return call()
    except exceptions.PermissionDenied as exc:
        raise PermissionDenied(exc.message) from exc
    except exceptions.ApplicationError as exc:
        form.add_service_errors(exc.field_errors, exc.message)
        return None


def back_url(request: HttpRequest, fallback: str) -> str:
    """Where to go after a form: the ``next`` the page sent (POST, else the query string) when it
    is on this site, else ``fallback``."""
    from django.utils.http import url_has_allowed_host_and_scheme

    target = request.POST.get("next") or request.GET.get("next") or ""
    if target and url_has_allowed_host_and_scheme(
        target, allowed_hosts={request.get_host()}, require_https=request.is_secure()
    ):
        return target
    return fallback
