"""Bearer-token authentication for /api/v1/.

Only ``Authorization: Bearer <token>`` is accepted: the session cookie is ignored, so the
API needs no CSRF protection and a logged-in browser tab cannot be used to call it.

Authentication and the coarse authorisation checks (token scope, user role) run before
ninja parses the request body, so a caller who may not write gets 403 even for a body
that would not validate.
"""

from __future__ import annotations

import dataclasses

from django.http import HttpRequest
from ninja.errors import AuthenticationError, AuthorizationError
from ninja.security import HttpBearer

from shebao.accounts.models import ApiToken
from shebao.accounts.permissions import can_edit_roster, can_view_roster
from shebao.accounts.services import api_token_authenticate
from shebao.core.context import Actor

MISSING = "未提供 API 令牌：请在请求头中发送 Authorization: Bearer <令牌>"
MALFORMED = "Authorization 请求头格式无效：应为 Bearer <令牌>"
INVALID = "API 令牌无效、已吊销或所属账号已停用"
NO_ROSTER = "该账号没有查看花名册的权限"
READ_ONLY = "只读令牌不能执行写操作：请使用读写（write）令牌"
NO_EDIT = "该账号没有维护花名册的权限"


class TokenAuth(HttpBearer):
    """``write=True`` additionally requires a write-scoped token held by a user who may edit the roster."""

    def __init__(self, *, write: bool = False) -> None:
        super().__init__()
        self.write = write

    def __call__(self, request: HttpRequest) -> ApiToken:
        value = request.headers.get(self.header, "").strip()
        if not value:
            raise AuthenticationError(401, MISSING)
        scheme, _, secret = value.partition(" ")
        secret = secret.strip()
        if scheme.lower() != self.openapi_scheme or not secret or " " in secret:
            raise AuthenticationError(401, MALFORMED)
        return self.authenticate(request, secret)

    def authenticate(self, request: HttpRequest, token: str) -> ApiToken:
        api_token = api_token_authenticate(secret=token)
        if api_token is None:
            raise AuthenticationError(401, INVALID)
        user = api_token.user
        if not can_view_roster(user):
            raise AuthorizationError(403, NO_ROSTER)
        if self.write:
            if api_token.scope != ApiToken.Scope.WRITE:
                raise AuthorizationError(403, READ_ONLY)
            if not can_edit_roster(user):
                raise AuthorizationError(403, NO_EDIT)
        return api_token


read_auth = TokenAuth()
write_auth = TokenAuth(write=True)


def actor_for(request: HttpRequest) -> Actor:
    """The token's user, with the client address worked out exactly as the web UI does."""
    return dataclasses.replace(Actor.from_request(request, via="api"), user=request.auth.user)


def entity_in_scope(user, code: str | None):
    """The entity a ``?entity=CODE`` filter names, among those the user may see; None when no code
    is given; a field error when the code is unknown or outside the user's scope."""
    from shebao.core.exceptions import ApplicationError
    from shebao.ledger.selectors import entities_for

    if code is None or not code.strip():
        return None
    entity = entities_for(user).filter(code=code.strip()).first()
    if entity is None:
        raise ApplicationError(
            f"参保主体“{code.strip()}”不存在或不在您的权限范围内",
            field_errors={"entity": "不存在或不在您的权限范围内"},
        )
    return entity
