"""Error responses of /api/v1/: every error is JSON with a Chinese ``detail``.

* 401 — no, malformed, unknown or revoked token (with ``WWW-Authenticate: Bearer``)
* 403 — read-only token on a write endpoint, a role that may not do this, ``PermissionDenied``
* 404 — no such object, or not in the caller's scope (indistinguishable on purpose)
* 422 — ``{"detail": …, "errors": [{"field": …, "message": …}]}`` for invalid bodies and
  queries (pydantic) and for business-rule failures (``ApplicationError`` from services, which
  add their stable ``code``, e.g. ``will_reject``)
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any

from django.http import Http404, HttpRequest, HttpResponse
from ninja.errors import AuthenticationError, HttpError, ValidationError, ValidationErrorContext

from shebao.core.exceptions import ApplicationError, PermissionDenied

if TYPE_CHECKING:
    from ninja import NinjaAPI

INVALID = "请求数据无效"
BAD_JSON = "请求体不是有效的 JSON"
NOT_FOUND = "未找到"


class BodyParseError(ValueError):
    """Raised by our parser so the 400 ninja turns it into can be recognised reliably."""


def _choices(expected: str) -> str:
    values = re.findall(r"'([^']*)'", expected)
    return "、".join(values) if values else expected


def _message(err: dict[str, Any]) -> str:
    """A Chinese message for one pydantic error."""
    kind = err.get("type", "")
    ctx = err.get("ctx") or {}
    given = err.get("input")
    if kind == "shebao":  # our own validators already speak Chinese
        return err["msg"]
    if kind == "missing":
        return "必填"
    if given is None and (kind.endswith("_type") or kind.endswith("_parsing")):
        return "不能为空"
    if kind == "extra_forbidden":
        return "不支持的字段"
    if kind in ("enum", "literal_error"):
        return f"无效的取值“{str(given)[:40]}”，可选：{_choices(str(ctx.get('expected', '')))}"
    if kind in ("int_parsing", "int_type", "int_from_float"):
        return "应为整数"
    if kind in ("string_type", "string_unicode"):
        return "应为字符串"
    if kind in ("string_too_long", "too_long"):
        return f"不能超过{ctx.get('max_length')}个字符"
    if kind in ("string_too_short", "too_short"):
        return f"不能少于{ctx.get('min_length')}个字符"
    if kind == "greater_than_equal":
        return f"不能小于 {ctx.get('ge')}"
    if kind == "greater_than":
        return f"应大于 {ctx.get('gt')}"
    if kind == "less_than_equal":
        return f"不能大于 {ctx.get('le')}"
    if kind == "less_than":
        return f"应小于 {ctx.get('lt')}"
    if kind in ("decimal_parsing", "decimal_type", "finite_number"):
        return "应为金额，如 8000.00"
    if kind == "decimal_max_places":
        return f"最多{ctx.get('decimal_places')}位小数"
    if kind in ("decimal_max_digits", "decimal_whole_digits"):
        return "金额过大"
    if kind.startswith("date") or kind.startswith("datetime"):
        return "日期格式无效：应为 YYYY-MM-DD，例如 2024-03-01"
    if kind in ("bool_parsing", "bool_type"):
        return "应为 true 或 false"
    if kind in ("model_type", "model_attributes_type", "dict_type"):
        return "应为 JSON 对象"
    if kind in ("list_type", "iterable_type"):
        return "应为数组"
    if kind == "json_invalid":
        return BAD_JSON
    if kind == "value_error" and "error" in ctx:
        return str(ctx["error"])
    return "数据无效"


def _field(loc: tuple, body_params: set[str]) -> str:
    """("body", "payload", "hire_date") → "hire_date"; ("query", "page") → "page"; a whole body → ""."""
    parts = [str(p) for p in loc[1:]]  # the first element is the source: body, query, path…
    if loc and loc[0] == "body" and parts and parts[0] in body_params:
        parts = parts[1:]
    return ".".join(parts)


def translate(error_contexts: list[ValidationErrorContext]) -> list[dict[str, str]]:
    """pydantic errors → ``[{"field", "message"}]`` in Chinese. Inputs are read, never echoed whole."""
    out: list[dict[str, str]] = []
    for context in error_contexts:
        model = context.model
        reverse = model.__ninja_flatten_map_reverse__
        body_params = set(model.model_fields) if model.__ninja_param_source__ == "body" else set()
        for err in context.pydantic_validation_error.errors(include_url=False):
            loc = (model.__ninja_param_source__,) + tuple(reverse.get(err["loc"], err["loc"]))
            field = _field(loc, body_params)
            message = "缺少请求体（JSON 对象）" if not field and err["type"] == "missing" else _message(err)
            out.append({"field": field, "message": message})
    return out


def install(api: NinjaAPI) -> None:
    """Register the handlers on ``api``."""

    def on_validation_error(request: HttpRequest, exc: ValidationError) -> HttpResponse:
        # ShebaoAPI.validation_error_from_error_contexts has already translated the errors.
        return api.create_response(request, {"detail": INVALID, "errors": exc.errors}, status=422)

    def on_application_error(request: HttpRequest, exc: ApplicationError) -> HttpResponse:
        errors = [{"field": k, "message": v} for k, v in exc.field_errors.items()]
        body = {"detail": exc.message, "errors": errors, "code": exc.code}
        return api.create_response(request, body, status=422)

    def on_permission_denied(request: HttpRequest, exc: PermissionDenied) -> HttpResponse:
        return api.create_response(request, {"detail": exc.message}, status=403)

    def on_authentication_error(request: HttpRequest, exc: AuthenticationError) -> HttpResponse:
        response = api.create_response(request, {"detail": exc.message}, status=401)
        response["WWW-Authenticate"] = 'Bearer realm="shebao"'
        return response

    def on_http_error(request: HttpRequest, exc: HttpError) -> HttpResponse:
        if isinstance(exc.__cause__, BodyParseError):
            return api.create_response(request, {"detail": BAD_JSON, "errors": []}, status=422)
        return api.create_response(request, {"detail": exc.message}, status=exc.status_code)

    def on_404(request: HttpRequest, exc: Http404) -> HttpResponse:
        return api.create_response(request, {"detail": NOT_FOUND}, status=404)

    api.add_exception_handler(ValidationError, on_validation_error)
    api.add_exception_handler(ApplicationError, on_application_error)
    api.add_exception_handler(PermissionDenied, on_permission_denied)
    api.add_exception_handler(AuthenticationError, on_authentication_error)
    api.add_exception_handler(HttpError, on_http_error)
    api.add_exception_handler(Http404, on_404)
