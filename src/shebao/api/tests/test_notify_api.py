"""/api/v1/channels, /notifications and /inbox."""

from __future__ import annotations

import io

import pytest
from django.core.management import call_command

from shebao.notify.models import Notification
from shebao.notify.testing.fakes import FakeProviders
from shebao.notify.testing.scenario import webhook_finding


def run(name: str, *args: str) -> str:
    out = io.StringIO()
    call_command(name, *args, stdout=out, stderr=io.StringIO())
    return out.getvalue()


@pytest.fixture
def fakes():
    with FakeProviders() as server:
        yield server


def test_api_channels_log_and_inbox(org, make_employee, admin, clerk, auditor, api_as, fakes):
    webhook_finding(org, make_employee, fakes, recipients=["entity_hr", "group_robot"])
    run("notify", "flush")

    r = api_as(admin).get("/channels")
    assert r.status_code == 200
    hook = next(c for c in r.json() if c["name"] == "钩子")
    assert hook["status"] == "ok" and hook["secrets_set"] == {"secret": True}
    assert fakes.config("webhook")["secret"] not in r.content.decode()
    assert api_as(clerk).get("/channels").status_code == 403
    assert api_as(admin).get("/channels/999").status_code == 404

    log = api_as(auditor).get("/notifications").json()
    assert log["total"] == 1 and log["items"][0]["status"] == "sent"
    one = api_as(auditor).get(f"/notifications/{log['items'][0]['id']}").json()
    assert [d["ok"] for d in one["deliveries"]] == [True] and one["deliveries"][0]["status_code"] == 200
    assert api_as(clerk).get("/notifications").status_code == 403

    inbox = api_as(clerk).get("/inbox").json()
    assert inbox["unread"] == 1 and inbox["items"][0]["link"].startswith("/rules/findings/")
    assert api_as(clerk).post("/inbox/read", {}).status_code == 403  # a read token cannot write
    r = api_as(clerk, "write").post("/inbox/read", {"ids": None})
    assert r.json() == {"marked": 1, "unread": 0}
    assert api_as(admin).get("/inbox").json()["total"] == 0  # the clerk's, not the admin's
    assert Notification.objects.filter(user=clerk, read_at__isnull=False).count() == 1
