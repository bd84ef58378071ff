from __future__ import annotations

import pytest

from shebao.audit.models import AuditEvent

pytestmark = pytest.mark.django_db


@pytest.fixture
def superuser(org, system):
    from shebao.accounts.services import user_create
    from shebao.conftest import PASSWORD

    return user_create(actor=system, username="root", password=PASSWORD, role="hr_admin", is_superuser=True)


def test_audit_events_are_read_only_in_admin(login, superuser):
    client = login(superuser)
    event = AuditEvent.objects.first()
    assert client.get("/admin/audit/auditevent/").status_code == 200
    assert client.get(f"/admin/audit/auditevent/{event.pk}/change/").status_code == 200
    assert client.get("/admin/audit/auditevent/add/").status_code == 403
    assert client.get(f"/admin/audit/auditevent/{event.pk}/delete/").status_code == 403
    response = client.post(f"/admin/audit/auditevent/{event.pk}/change/", {"action": "x"})
    assert response.status_code == 403
    event.refresh_from_db()
    assert event.action != "x"


def test_hr_admin_administers_in_the_admin_and_others_cannot(login, admin, auditor, clerk):
    assert admin.is_staff and not admin.is_superuser
    page = login(admin).get("/admin/")
    assert page.status_code == 200 and "/admin/org/entity/" in page.content.decode()
    assert login(admin).get("/admin/org/entity/add/").status_code == 200
    for user in (auditor, clerk):
        response = login(user).get("/admin/")
        assert response.status_code == 302 and "/admin/login/" in response.url
