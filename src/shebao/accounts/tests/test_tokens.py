from __future__ import annotations

import hashlib
import re

import pytest
from django.test import Client

from shebao.accounts.models import ApiToken
from shebao.accounts.services import api_token_authenticate, api_token_create
from shebao.audit.models import AuditEvent
from shebao.conftest import PASSWORD
from shebao.core.context import Actor

pytestmark = pytest.mark.django_db

SECRET_RE = re.compile(r'<code class="mono secret" id="new-token">(sb_[^<]+)</code>')


def _create(client, name="工资系统", scope="read"):
    return client.post("/account/tokens/", {"name": name, "scope": scope})


@pytest.mark.parametrize("method,url", [("get", "/account/tokens/"), ("post", "/account/tokens/1/revoke/")])
def test_anonymous_is_sent_to_login(method, url):
    response = getattr(Client(), method)(url)
    assert response.status_code == 302 and response.url.startswith("/login/")


def test_employee_role_is_forbidden(login, staff_employee):
    client = login(staff_employee)
    assert client.get("/account/tokens/").status_code == 403
    assert _create(client).status_code == 403
    assert not ApiToken.objects.exists()


def test_employee_role_cannot_revoke(login, staff_employee, clerk):
    token, _secret = api_token_create(actor=Actor(user=clerk), user=clerk, name="t", scope="read")
    assert login(staff_employee).post(f"/account/tokens/{token.pk}/revoke/").status_code == 403
    token.refresh_from_db()
    assert token.revoked_at is None


@pytest.mark.parametrize("who", ["admin", "clerk", "manager", "auditor"])
def test_staff_see_their_token_page(request, login, who):
    response = login(request.getfixturevalue(who)).get("/account/tokens/")
    assert response.status_code == 200
    body = response.content.decode()
    assert "创建令牌" in body and "还没有令牌" in body
    assert response["Cache-Control"].startswith("max-age=0")


def test_create_shows_secret_once_and_stores_only_hash(login, clerk):
    client = login(clerk)
    response = _create(client, name="工资系统", scope="write")
    assert response.status_code == 200
    body = response.content.decode()
    assert "请立即复制，此令牌只显示一次" in body
    secret = SECRET_RE.search(body).group(1)
    token = ApiToken.objects.get()
    assert token.user == clerk and token.name == "工资系统" and token.scope == "write"
    assert token.token_hash != secret
    assert token.token_hash == hashlib.sha256(secret.encode()).hexdigest()
    assert secret.startswith(token.prefix)
    assert "no-store" in response["Cache-Control"]
    # The secret works, and is never shown again.
    assert api_token_authenticate(secret=secret) == token
    again = client.get("/account/tokens/").content.decode()
    assert secret not in again
    assert "请立即复制" not in again
    assert f"{token.prefix}…" in again and "工资系统" in again and "读写" in again and "有效" in again
    assert AuditEvent.objects.filter(action="api_token.create", actor=clerk, object_id=str(token.pk)).exists()


def test_auditor_cannot_create_write_token(login, auditor):
    response = _create(login(auditor), scope="write")
    assert response.status_code == 200
    body = response.content.decode()
    assert "只读角色只能创建只读令牌" in body
    assert "请立即复制" not in body
    assert not ApiToken.objects.exists()


def test_auditor_can_create_read_token(login, auditor):
    response = _create(login(auditor), scope="read")
    assert "请立即复制，此令牌只显示一次" in response.content.decode()
    assert ApiToken.objects.get().scope == "read"


def test_form_errors_are_chinese(login, clerk):
    client = login(clerk)
    body = _create(client, name="   ").content.decode()
    assert "请填写令牌名称" in body
    body = _create(client, scope="admin").content.decode()
    assert "权限范围只能是只读或读写" in body
    assert not ApiToken.objects.exists()


def test_list_shows_only_own_tokens(login, clerk, manager):
    api_token_create(actor=Actor(user=manager), user=manager, name="经理的令牌", scope="read")
    api_token_create(actor=Actor(user=clerk), user=clerk, name="专员的令牌", scope="read")
    body = login(clerk).get("/account/tokens/").content.decode()
    assert "专员的令牌" in body and "经理的令牌" not in body


def test_revoke_own_token_is_audited(login, clerk):
    token, secret = api_token_create(actor=Actor(user=clerk), user=clerk, name="旧令牌", scope="read")
    client = login(clerk)
    response = client.post(f"/account/tokens/{token.pk}/revoke/", REMOTE_ADDR="10.9.8.7")
    assert response.status_code == 302 and response.url == "/account/tokens/"
    token.refresh_from_db()
    assert token.revoked_at is not None
    assert api_token_authenticate(secret=secret) is None
    event = AuditEvent.objects.get(action="api_token.revoke")
    assert (
        event.actor == clerk
        and event.object_id == str(token.pk)
        and event.ip == "10.9.8.7"
        and event.via == "web"
    )
    page = client.get("/account/tokens/").content.decode()
    assert "已吊销令牌“旧令牌”" in page
    assert "已吊销" in page


def test_revoke_requires_post(login, clerk):
    token, _secret = api_token_create(actor=Actor(user=clerk), user=clerk, name="t", scope="read")
    assert login(clerk).get(f"/account/tokens/{token.pk}/revoke/").status_code == 405
    token.refresh_from_db()
    assert token.revoked_at is None


def test_cannot_revoke_someone_elses_token(login, clerk, manager):
    token, _secret = api_token_create(
        actor=Actor(user=manager), user=manager, name="经理的令牌", scope="read"
    )
    client = login(clerk)
    response = client.post(f"/account/tokens/{token.pk}/revoke/", follow=True)
    assert "只能吊销自己的令牌" in response.content.decode()
    token.refresh_from_db()
    assert token.revoked_at is None
    assert not AuditEvent.objects.filter(action="api_token.revoke").exists()


def test_hr_admin_may_revoke_any_token(login, admin, manager):
    token, _secret = api_token_create(
        actor=Actor(user=manager), user=manager, name="经理的令牌", scope="read"
    )
    login(admin).post(f"/account/tokens/{token.pk}/revoke/")
    token.refresh_from_db()
    assert token.revoked_at is not None
    assert AuditEvent.objects.get(action="api_token.revoke").actor == admin


def test_revoke_unknown_token_is_404(login, clerk):
    assert login(clerk).post("/account/tokens/999999/revoke/").status_code == 404


def test_revoking_twice_is_harmless(login, clerk):
    token, _secret = api_token_create(actor=Actor(user=clerk), user=clerk, name="t", scope="read")
    client = login(clerk)
    client.post(f"/account/tokens/{token.pk}/revoke/")
    client.post(f"/account/tokens/{token.pk}/revoke/")
    assert AuditEvent.objects.filter(action="api_token.revoke").count() == 1


def test_passwords_are_hashed_with_argon2(admin):
    assert admin.password.startswith("argon2$")
    assert admin.check_password(PASSWORD)
