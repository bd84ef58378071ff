from __future__ import annotations

import pytest
from django.test import Client

from shebao.conftest import PASSWORD

pytestmark = pytest.mark.django_db


def test_login_page_is_chinese_and_centred():
    response = Client().get("/login/")
    assert response.status_code == 200
    body = response.content.decode()
    assert "社保合规助手" in body
    assert "用户名" in body and "密码" in body
    assert 'class="login-wrap"' in body


def test_wrong_password_shows_chinese_error(clerk):
    response = Client().post("/login/", {"username": "clerk", "password": "wrong-password"})
    assert response.status_code == 200
    assert "用户名或密码错误" in response.content.decode()


def test_login_then_dashboard(clerk):
    client = Client()
    response = client.post("/login/", {"username": "clerk", "password": PASSWORD})
    assert response.status_code == 302 and response.url == "/"
    assert client.get("/").status_code == 200


def test_logout_is_post_only(login, clerk):
    client = login(clerk)
    assert client.get("/logout/").status_code == 405
    assert client.post("/logout/").status_code == 302
    assert client.get("/").status_code == 302


def test_lockout_after_five_failures_even_with_right_password(settings, clerk):
    assert settings.AXES_FAILURE_LIMIT == 5
    client = Client()
    for _ in range(4):
        response = client.post("/login/", {"username": "clerk", "password": "wrong-password"})
        assert response.status_code == 200
    # The fifth failure locks the account: django-axes 8 answers 429 with our template.
    response = client.post("/login/", {"username": "clerk", "password": "wrong-password"})
    assert response.status_code == 429
    assert "registration/locked_out.html" in [t.name for t in response.templates]
    # Locked: the right password does not get in either.
    response = client.post("/login/", {"username": "clerk", "password": PASSWORD})
    assert response.status_code == 429
    body = response.content.decode()
    assert "已被锁定 15 分钟" in body
    assert "连续 5 次登录失败" in body
    assert "_auth_user_id" not in client.session


def test_lockout_minutes_follow_setting(settings, clerk):
    settings.AXES_COOLOFF_TIME = 0.5  # hours
    client = Client()
    for _ in range(5):
        response = client.post("/login/", {"username": "clerk", "password": "nope-nope-nope"})
    assert response.status_code == 429
    assert "已被锁定 30 分钟" in response.content.decode()


def test_lockout_without_cooloff_asks_for_hr(settings, clerk):
    settings.AXES_COOLOFF_TIME = None  # locked until an administrator resets it
    client = Client()
    for _ in range(5):
        response = client.post("/login/", {"username": "clerk", "password": "nope-nope-nope"})
    assert response.status_code == 429
    assert "请联系HR管理员解锁" in response.content.decode()


def test_lockout_is_per_username(clerk, manager):
    client = Client()
    for _ in range(5):
        client.post("/login/", {"username": "clerk", "password": "wrong-password"})
    response = client.post("/login/", {"username": "manager", "password": PASSWORD})
    assert response.status_code == 302


def test_success_resets_failures(clerk):
    client = Client()
    for _ in range(4):
        client.post("/login/", {"username": "clerk", "password": "wrong-password"})
    assert client.post("/login/", {"username": "clerk", "password": PASSWORD}).status_code == 302
    client.post("/logout/")
    for _ in range(4):
        assert client.post("/login/", {"username": "clerk", "password": "wrong-password"}).status_code == 200
