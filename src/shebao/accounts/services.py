from __future__ import annotations

import hashlib
import secrets

from django.db import transaction
from django.utils import timezone

from shebao.accounts.models import ApiToken, Role, User
from shebao.accounts.permissions import can_edit_roster, can_manage_tokens
from shebao.audit.services import audit_record
from shebao.core.context import Actor
from shebao.core.exceptions import ApplicationError, PermissionDenied
from shebao.org.models import Department, Entity

TOKEN_PREFIX = "sb_"


@transaction.atomic
def user_create(
    *,
    actor: Actor,
    username: str,
    password: str,
    role: str,
    full_name: str = "",
    email: str = "",
    entities: list[Entity] | None = None,
    department: Department | None = None,
    is_superuser: bool = False,
) -> User:
    if role not in Role.values:
        raise ApplicationError(f"未知角色“{role}”，可选：{'、'.join(Role.values)}")
    if User.objects.filter(username=username).exists():
        raise ApplicationError(f"用户名“{username}”已存在")
    if role == Role.DEPT_MANAGER and department is None:
        raise ApplicationError("部门经理必须指定所管理的部门")
    # HR admins manage entities, departments and users in the Django admin.
    user = User(
        username=username,
        role=role,
        email=email,
        department=department,
        is_staff=is_superuser or role == Role.HR_ADMIN,
        is_superuser=is_superuser,
    )
    user.first_name = full_name
    user.set_password(password)
    user.save()
    if entities:
        user.entities.set(entities)
    audit_record(
        actor=actor,
        action="user.create",
        obj=user,
        changes={"role": role, "entities": [e.code for e in entities or []]},
    )
    return user


def _hash(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


@transaction.atomic
def api_token_create(*, actor: Actor, user: User, name: str, scope: str) -> tuple[ApiToken, str]:
    """Create a token and return it with its secret, which is shown once and never stored."""
    if not can_manage_tokens(user):
        raise PermissionDenied("该账号不能创建 API 令牌")
    if scope not in ApiToken.Scope.values:
        raise ApplicationError(
            f"权限范围只能是 read 或 write，而不是“{scope}”", field_errors={"scope": "无效"}
        )
    if scope == ApiToken.Scope.WRITE and not can_edit_roster(user):
        raise PermissionDenied("只读角色只能创建只读令牌")
    name = name.strip()
    if not name:
        raise ApplicationError("请填写令牌名称", field_errors={"name": "必填"})
    secret = TOKEN_PREFIX + secrets.token_urlsafe(32)
    token = ApiToken.objects.create(
        user=user, name=name[:80], prefix=secret[:10], token_hash=_hash(secret), scope=scope
    )
    audit_record(
        actor=actor, action="api_token.create", obj=token, changes={"name": token.name, "scope": scope}
    )
    return token, secret


@transaction.atomic
def api_token_revoke(*, actor: Actor, token: ApiToken) -> ApiToken:
    if actor.user is None or (actor.user.pk != token.user_id and actor.user.role != Role.HR_ADMIN):
        raise PermissionDenied("只能吊销自己的令牌")
    if token.revoked_at is None:
        token.revoked_at = timezone.now()
        token.save(update_fields=["revoked_at"])
        audit_record(actor=actor, action="api_token.revoke", obj=token, changes={"name": token.name})
    return token


def api_token_authenticate(*, secret: str) -> ApiToken | None:
    token = ApiToken.objects.select_related("user").filter(token_hash=_hash(secret), revoked_at=None).first()
    if token is None or not token.user.is_active:
        return None
    now = timezone.now()
    if token.last_used_at is None or (now - token.last_used_at).total_seconds() > 60:
        ApiToken.objects.filter(pk=token.pk).update(last_used_at=now)  # throttled: not on every request
    return token
