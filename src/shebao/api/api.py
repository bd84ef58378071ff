"""The REST API at /api/v1/ (django-ninja). Bearer tokens only; see ``shebao.api.auth``.

Swagger UI at /api/v1/docs is served from the ``ninja`` app's bundled static files (it is in
INSTALLED_APPS), so the docs work offline and load nothing from a CDN.
"""

from __future__ import annotations

import json

from django.http import HttpRequest
from ninja import NinjaAPI
from ninja.errors import ValidationError, ValidationErrorContext
from ninja.openapi.docs import Swagger
from ninja.parser import Parser
from ninja.renderers import JSONRenderer

from shebao.api import (
    calc,
    cases,
    employees,
    entities,
    errors,
    evidence,
    imports,
    law,
    ledger,
    notify,
    policy,
    rules,
)
from shebao.api.auth import read_auth


class JsonParser(Parser):
    def parse_body(self, request: HttpRequest):
        try:
            return json.loads(request.body)
        except ValueError as exc:  # JSONDecodeError and UnicodeDecodeError
            raise errors.BodyParseError(str(exc)) from exc


class Utf8JsonRenderer(JSONRenderer):
    json_dumps_params = {"ensure_ascii": False}  # Chinese messages readable in curl and logs


class ShebaoAPI(NinjaAPI):
    def validation_error_from_error_contexts(
        self, error_contexts: list[ValidationErrorContext]
    ) -> ValidationError:
        return ValidationError(errors.translate(error_contexts))


api = ShebaoAPI(
    title="社保合规助手 API",
    version="1",
    description=(
        "花名册 REST API。认证：请求头 `Authorization: Bearer <令牌>`（在“账户 › API 令牌”中创建）；"
        '只读令牌只能调用 GET 接口。错误响应均为 JSON：`{"detail": "…", "errors": [{"field", "message"}]}`。'
    ),
    urls_namespace="api",
    auth=read_auth,
    docs=Swagger(),
    parser=JsonParser(),
    renderer=Utf8JsonRenderer(),
)
errors.install(api)
api.add_router("", employees.router)
api.add_router("", entities.router)
api.add_router("", law.router)
api.add_router("", calc.router)
api.add_router("", policy.router)
api.add_router("", imports.router)
api.add_router("", ledger.router)
api.add_router("", rules.router)
api.add_router("", notify.router)
api.add_router("", cases.router)
api.add_router("", evidence.router)
