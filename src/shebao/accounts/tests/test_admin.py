from __future__ import annotations

import pytest

from shebao.accounts.models import ApiToken, User
from shebao.accounts.services import api_token_create
from shebao.audit.models import AuditEvent
from shebao.conftest import PASSWORD
from shebao.core.context import Actor

pytestmark = pytest.mark.django_db


@pytest.fixture
def superuser(org, system):
    from shebao.accounts.services import user_create

    return user_create(actor=system, username="root", password=PASSWORD, role="hr_admin", is_superuser=True)


def test_user_admin_pages(login, superuser, clerk):
    client = login(superuser)
    listing = client.get("/admin/accounts/user/")
    assert listing.status_code == 200
    assert "HR专员" in listing.content.decode()
    page = client.get(f"/admin/accounts/user/{clerk.pk}/change/")
    assert page.status_code == 200
    body = page.content.decode()
    for field in ['name="role"', 'name="entities"', 'name="department"', 'name="employee"']:
        assert field in body
    assert client.get("/admin/accounts/user/add/").status_code == 200


def test_user_admin_add_with_role_is_audited(login, superuser):
    response = login(superuser).post(
        "/admin/accounts/user/add/",
        {
            "username": "newclerk",
            "first_name": "新专员",
            "role": "hr_specialist",
            "usable_password": "true",
            "password1": "A-long-enough-pw-2026",
            "password2": "A-long-enough-pw-2026",
        },
    )
    assert response.status_code == 302, response.content.decode()[:2000]
    user = User.objects.get(username="newclerk")
    assert user.role == "hr_specialist" and user.check_password("A-long-enough-pw-2026")
    event = AuditEvent.objects.get(action="user.create", object_id=str(user.pk))
    assert event.actor == superuser and event.changes["role"] == "hr_specialist"


def test_user_admin_role_change_is_audited(login, superuser, clerk, org):
    page = login(superuser).get(f"/admin/accounts/user/{clerk.pk}/change/")
    form = page.context["adminform"].form
    data = {
        k: v
        for k, v in form.initial.items()
        if v is not None and k not in {"password", "groups", "user_permissions", "entities"}
    }
    data.update(
        {
            "role": "hr_admin",
            "entities": [org["bj"].pk, org["sz"].pk],
            "date_joined_0": clerk.date_joined.strftime("%Y-%m-%d"),
            "date_joined_1": clerk.date_joined.strftime("%H:%M:%S"),
        }
    )
    data.pop("date_joined", None)
    data.pop("last_login", None)
    response = login(superuser).post(f"/admin/accounts/user/{clerk.pk}/change/", data)
    assert response.status_code == 302, response.context["adminform"].form.errors
    clerk.refresh_from_db()
    assert clerk.role == "hr_admin"
    event = AuditEvent.objects.get(action="user.update", object_id=str(clerk.pk))
    assert event.changes["role"] == ["hr_specialist", "hr_admin"]
    assert event.changes["entities"][1] == "北京示例科技有限公司、深圳示例零售有限公司"


def test_api_tokens_read_only_in_admin(login, superuser, clerk):
    token, _secret = api_token_create(actor=Actor(user=clerk), user=clerk, name="t", scope="read")
    client = login(superuser)
    listing = client.get("/admin/accounts/apitoken/")
    assert listing.status_code == 200
    assert token.token_hash not in listing.content.decode()
    detail = client.get(f"/admin/accounts/apitoken/{token.pk}/change/")
    assert detail.status_code == 200 and token.token_hash not in detail.content.decode()
    assert client.get("/admin/accounts/apitoken/add/").status_code == 403
    assert client.get(f"/admin/accounts/apitoken/{token.pk}/delete/").status_code == 403


def test_admin_revoke_action_goes_through_service(login, superuser, clerk):
    token, _secret = api_token_create(actor=Actor(user=clerk), user=clerk, name="t", scope="read")
    response = login(superuser).post(
        "/admin/accounts/apitoken/",
        {
            "action": "revoke",
            "_selected_action": [token.pk],
        },
    )
    assert response.status_code == 302
    token.refresh_from_db()
    assert token.revoked_at is not None
    assert AuditEvent.objects.get(action="api_token.revoke").actor == superuser
    assert ApiToken.objects.count() == 1
