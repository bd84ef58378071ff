"""/api/v1/evidence: entries (filters by case and employee by id or number, by kind, the cursor),
one entry, the chain's status, verification (HR admins and auditors) and the bundles as ZIP —
scoped like the rest of the API, with 403 for roles that may not see evidence and 422 for bad
parameters."""

from __future__ import annotations

import pytest
from django.urls import reverse

from shebao.api.tests.helpers import ApiClient, field_errors
from shebao.evidence import verifier
from shebao.evidence.models import Entry, VerifyRun
from shebao.evidence.services import entry_append
from shebao.evidence.tests.test_views import _tamper, closed_case_story


@pytest.fixture
def api_as(client, system):
    """``api_as(user, "write")`` → an ApiClient holding a fresh token of that user and scope."""
    from shebao.accounts.services import api_token_create

    def make(user, scope: str = "read") -> ApiClient:
        _, secret = api_token_create(actor=system, user=user, name=f"{user.username}-{scope}", scope=scope)
        return ApiClient(client, secret)

    return make


@pytest.fixture
def story(org, admin, make_employee, email_channel):
    return closed_case_story(org, admin, make_employee)


@pytest.fixture
def two_people(org, make_employee):
    """An employee in Beijing (the clerk's) and one in Shenzhen, each with entries; and one
    organisation-wide entry."""
    bj = make_employee()
    sz = make_employee(entity=org["sz"], department=org["store"])
    for i in range(3):
        entry_append(kind="test.event", payload={"i": i}, actor="hr", employee_id=bj.pk)
        entry_append(kind="test.event", payload={"i": i}, actor="hr", employee_id=sz.pk)
    entry_append(kind="chain.checkpoint", payload={"head_seq": 6}, actor="系统")
    return bj, sz


def _seqs(response) -> list[int]:
    return [e["seq"] for e in response.json()["items"]]


def test_entries_need_a_token_and_an_evidence_role(
    client, api_as, manager, staff_employee, admin, two_people
):
    assert client.get("/api/v1/evidence/entries").status_code == 401
    response = api_as(manager).get("/evidence/entries")
    assert response.status_code == 403 and "没有查看证据的权限" in response.json()["detail"]
    assert api_as(manager).get("/evidence/status").status_code == 403
    assert api_as(manager).get("/evidence/entries/1").status_code == 403


def test_entries_in_order_with_the_payload_and_header(api_as, auditor, two_people):
    response = api_as(auditor).get("/evidence/entries")
    assert response.status_code == 200
    body = response.json()
    assert _seqs(response) == [1, 2, 3, 4, 5, 6, 7] and body["next"] is None
    first = body["items"][0]
    entry = Entry.objects.get(seq=1)
    assert first["payload"] == {"i": 0} and first["hash"] == entry.hash
    assert first["payload_sha256"] == verifier.payload_digest(entry.payload)
    header = {k: first[k] for k in verifier.HEADER_FIELDS}
    assert verifier.entry_hash(header) == first["hash"]  # the header as returned recomputes
    assert first["stream"] == f"e{two_people[0].pk}" and first["employee_id"] == two_people[0].pk


def test_cursor_pages_through_everything(api_as, admin, two_people):
    api = api_as(admin)
    seen, after = [], None
    while True:
        params = {"limit": 3} | ({"after": after} if after is not None else {})
        body = api.get("/evidence/entries", params).json()
        seen += [e["seq"] for e in body["items"]]
        if body["next"] is None:
            break
        after = body["next"]
    assert seen == [1, 2, 3, 4, 5, 6, 7]
    assert api.get("/evidence/entries", {"after": 7}).json() == {"items": [], "next": None}


def test_filters_by_employee_kind_and_case(api_as, admin, two_people, story):
    bj, sz = two_people
    api = api_as(admin)
    by_id = api.get("/evidence/entries", {"employee": bj.pk})
    by_no = api.get("/evidence/entries", {"employee": bj.employee_no})
    assert _seqs(by_id) == _seqs(by_no) == [1, 3, 5]
    assert _seqs(api.get("/evidence/entries", {"kind": "chain.checkpoint"})) == [7]

    case, letter = story
    by_case = api.get("/evidence/entries", {"case": case.pk}).json()["items"]
    assert by_case == api.get("/evidence/entries", {"case": case.number}).json()["items"]
    assert {e["case"] for e in by_case} == {case.number}
    issued = next(e for e in by_case if e["kind"] == "case.letter_issued")
    assert issued["payload"]["letter"]["sha256"] == letter.sha256 and issued["kind_label"] == "生成函件"
    acked = [e for e in by_case if e["kind"] == "case.acknowledged"]
    assert len(acked) == 1 and "SHA-256" in acked[0]["summary"]


def test_clerk_is_scoped_to_their_employees(api_as, clerk, two_people):
    bj, sz = two_people
    api = api_as(clerk)
    assert _seqs(api.get("/evidence/entries")) == [1, 3, 5, 7]  # theirs and the organisation's
    assert api.get("/evidence/entries/2").status_code == 404
    assert api.get("/evidence/entries/1").json()["seq"] == 1
    response = api.get("/evidence/entries", {"employee": sz.employee_no})
    assert response.status_code == 422
    assert field_errors(response) == {"employee": "不存在或不在您的权限范围内"}


def test_bad_parameters_are_422(api_as, admin, two_people):
    api = api_as(admin)
    for params, field in (
        ({"limit": 0}, "limit"),
        ({"limit": 1001}, "limit"),
        ({"after": -1}, "after"),
        ({"after": "x"}, "after"),
        ({"case": "AJ000000-0000"}, "case"),
        ({"employee": "nobody"}, "employee"),
    ):
        response = api.get("/evidence/entries", params)
        assert response.status_code == 422, params
        assert field in field_errors(response), (params, response.json())
    assert api.get("/evidence/entries/99").status_code == 404


def test_status_and_verify(api_as, admin, auditor, clerk, two_people):
    api = api_as(auditor)  # a read token: verification changes nothing
    response = api.post("/evidence/verify")
    assert response.status_code == 200
    run = response.json()
    assert (run["result"], run["entries"], run["problems"], run["via"]) == ("ok", 7, [], "api")
    status = api.get("/evidence/status").json()
    assert status["entries"] == 7 and status["head_seq"] == 7
    assert status["head_hash"] == Entry.objects.get(seq=7).hash
    assert status["last_verification"]["result"] == "ok"

    _tamper(4)
    run = api_as(admin, "write").post("/evidence/verify").json()
    assert run["result"] == "broken" and run["first_bad_seq"] == 4
    assert run["problems"][0]["seq"] == 4 and "内容被改动" in run["problems"][0]["message"]

    response = api_as(clerk, "write").post("/evidence/verify")
    assert response.status_code == 403 and "只有HR管理员和审计员" in response.json()["detail"]
    assert VerifyRun.objects.count() == 2


def test_case_bundle(api_as, auditor, clerk, manager, org, make_employee, story, tmp_path):
    case, _ = story
    response = api_as(auditor).get(f"/cases/{case.pk}/evidence-bundle")
    assert response.status_code == 200 and response["Content-Type"] == "application/zip"
    assert "attachment" in response["Content-Disposition"] and response["X-Manifest-SHA256"]
    path = tmp_path / "case.zip"
    path.write_bytes(response.content)
    report = verifier.verify_bundle(path)
    assert report.ok, [p.message for p in report.problems]
    assert case.number in report.subject

    assert api_as(manager).get(f"/cases/{case.pk}/evidence-bundle").status_code == 403
    assert api_as(auditor).get("/cases/999999/evidence-bundle").status_code == 404


def test_employee_bundle(api_as, admin, clerk, org, make_employee, story, tmp_path):
    case, _ = story
    response = api_as(clerk).get(f"/employees/{case.employee_id}/evidence-bundle")
    assert response.status_code == 200 and response["Content-Type"] == "application/zip"
    path = tmp_path / "employee.zip"
    path.write_bytes(response.content)
    assert verifier.verify_bundle(path).ok
    sz = make_employee(entity=org["sz"], department=org["store"])
    assert api_as(clerk).get(f"/employees/{sz.pk}/evidence-bundle").status_code == 404


def test_openapi_documents_the_endpoints(client):
    paths = client.get(reverse("api:openapi-json")).json()["paths"]
    for path in (
        "/api/v1/evidence/entries",
        "/api/v1/evidence/entries/{seq}",
        "/api/v1/evidence/status",
        "/api/v1/evidence/verify",
        "/api/v1/cases/{case_id}/evidence-bundle",
        "/api/v1/employees/{employee_id}/evidence-bundle",
    ):
        assert path in paths, path
