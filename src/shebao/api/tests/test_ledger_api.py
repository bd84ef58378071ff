"""/api/v1/ledger: uploads (preview → confirm / cancel), runs, coverage, overview, discrepancies,
reconciliation, unknown people and file-layout profiles — and who may and who may not."""

from __future__ import annotations

import datetime as dt
import itertools
import json
from decimal import Decimal

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.db import transaction
from django.utils import timezone

from shebao.api.tests.helpers import field_errors
from shebao.audit.models import AuditEvent
from shebao.core import crypto
from shebao.core.identity import make_resident_id
from shebao.core.yearmonth import YearMonth
from shebao.ledger import facts as F
from shebao.ledger.models import ContributionRecord, Discrepancy, ExportProfile, LedgerPerson, SyncRun
from shebao.ledger.services import ledger_facts_apply, sync_run_finish, sync_run_start
from shebao.roster.models import ID_PURPOSE

D = Decimal
HEADERS = ["姓名", "证件号码", "险种", "费款所属期", "缴费基数", "单位缴费", "个人缴费"]
_fingerprints = itertools.count(1)
STRANGER_ID = make_resident_id("440305", dt.date(1991, 2, 3), 17)


def full_id(employee) -> str:
    return crypto.decrypt(employee.id_number_enc, purpose=ID_PURPOSE)


def _ref(employee) -> F.PersonRef:
    return F.PersonRef(name=employee.name, id_number=full_id(employee))


def _apply(system, entity, rows) -> SyncRun:
    """A finished CLI run of ``entity`` that applied ``rows`` (F.SourceRow)."""
    run = sync_run_start(entity=entity, source="cli", actor=system, file_name=f"{entity.code}.csv")
    with transaction.atomic():
        result = ledger_facts_apply(run=run, rows=rows)
    return sync_run_finish(
        run=run,
        status="partial" if result.errors else "succeeded",
        counts=result.counts,
        errors=result.errors,
    )


def _months(ref: F.PersonRef, insurance, months: list[str], row: int, **kw) -> F.SourceRow:
    return F.SourceRow(
        row=row,
        cells={"姓名": ref.name, "证件号码": "****"},
        contributions=[
            F.ContributionFact(
                person=ref,
                insurance=insurance,
                period=YearMonth.parse(m),
                base=D("8000"),
                employer_due=D("1280.00"),
                employee_due=D("640.00"),
                **kw,
            )
            for m in months
        ],
    )


def _discrepancy(entity, kind, *, employee=None, person=None, status="open", **kw) -> Discrepancy:
    return Discrepancy.objects.create(
        fingerprint=f"test-{next(_fingerprints)}",
        entity=entity,
        kind=kind,
        employee=employee,
        person=person,
        status=status,
        last_seen_at=timezone.now(),
        resolved_at=timezone.now() if status == "resolved" else None,
        **kw,
    )


@pytest.fixture
def ledger(org, system, make_employee):
    """alice (北京 研发部, covered Jan–Mar 2025), bob (北京 销售部, nothing), carol (深圳), a stranger
    paid for by 北京, a row with an error; open discrepancies for each and one resolved."""
    alice = make_employee(name="爱丽丝", hire_date=dt.date(2024, 1, 1))
    bob = make_employee(name="鲍勃", department=org["sales"], hire_date=dt.date(2024, 1, 1))
    carol = make_employee(
        name="卡罗尔", entity=org["sz"], department=org["store"], hire_date=dt.date(2024, 1, 1)
    )
    stranger = F.PersonRef(name="陌生人", id_number=STRANGER_ID)
    bad = F.SourceRow(
        row=9,
        cells={"姓名": "坏行", "证件号码": "1101**"},
        errors=[{"column": "证件号码", "code": "checksum", "message": "第9行“证件号码”：校验码错误"}],
    )
    bj_run = _apply(
        system,
        org["bj"],
        [
            _months(_ref(alice), F.Insurance.PENSION, ["2025-01", "2025-02", "2025-03"], 2),
            _months(stranger, F.Insurance.PENSION, ["2025-02", "2025-03"], 3),
            bad,
        ],
    )
    sz_run = _apply(system, org["sz"], [_months(_ref(carol), F.Insurance.PENSION, ["2025-03"], 2)])
    person = LedgerPerson.objects.get(employee__isnull=True)
    d = {
        "d_alice": _discrepancy(
            org["bj"],
            "base_mismatch",
            employee=alice,
            insurance="pension",
            period_from=202501,
            period_to=202503,
            months=3,
            amount=D("120.50"),
            citations=["SIL-12"],
            explanation="缴费基数与申报工资不符",
        ),
        "d_bob": _discrepancy(
            org["bj"],
            "not_enrolled",
            employee=bob,
            insurance="pension",
            period_from=202501,
            period_to=202503,
            months=3,
            citations=["SIL-58"],
        ),
        "d_carol": _discrepancy(org["sz"], "not_enrolled", employee=carol, insurance="medical"),
        "d_stranger": _discrepancy(org["bj"], "unknown_person", person=person),
        "d_resolved": _discrepancy(
            org["bj"], "unpaid", employee=alice, insurance="pension", status="resolved"
        ),
    }
    return {
        "alice": alice,
        "bob": bob,
        "carol": carol,
        "bj_run": bj_run,
        "sz_run": sz_run,
        "person": person,
        **d,
    }


# --- who may ---------------------------------------------------------------------------------

READS = [
    "/ledger/runs",
    "/ledger/overview",
    "/ledger/discrepancies",
    "/ledger/unknown-people",
]


def _demoted(api_as, user, role):
    """A token made while ``user`` could hold it, kept after the user's role changed."""
    api = api_as(user, "write")
    user.role = role
    user.save()
    return api


@pytest.mark.parametrize("path", READS)
def test_reading_needs_a_token_and_a_roster_role(path, api_as, client, clerk, auditor, manager, ledger):
    response = client.get("/api/v1" + path)
    assert response.status_code == 401 and response["WWW-Authenticate"].startswith("Bearer")
    assert api_as(auditor).get(path).status_code == 200
    assert api_as(manager).get(path).status_code == 200
    response = _demoted(api_as, clerk, "employee").get(path)
    assert response.status_code == 403
    assert response.json()["detail"] == "该账号没有查看花名册的权限"


def test_the_employee_role_gets_no_token_at_all(staff_employee, system):
    from shebao.accounts.services import api_token_create
    from shebao.core.exceptions import PermissionDenied

    with pytest.raises(PermissionDenied):
        api_token_create(actor=system, user=staff_employee, name="r", scope="read")


WRITES = [
    ("/ledger/runs/{run}/confirm", None),
    ("/ledger/runs/{run}/cancel", None),
    ("/ledger/reconcile", {}),
    ("/ledger/profiles", {"code": "x", "title": "x", "definition": {}}),
]


@pytest.mark.parametrize("path,body", WRITES)
def test_writing_needs_a_write_token_of_an_hr_user(
    path, body, api_as, admin, manager, auditor, clerk, ledger
):
    path = path.format(run=ledger["bj_run"].pk)
    for user in (admin, manager, auditor):  # managers and auditors only ever hold read tokens
        response = api_as(user, "read").post(path, body)
        assert response.status_code == 403
        assert response.json()["detail"].startswith("只读令牌不能执行写操作")
    response = _demoted(api_as, clerk, "auditor").post(path, body)
    assert response.status_code == 403 and response.json()["detail"] == "该账号没有维护花名册的权限"


def test_uploading_needs_a_write_token_of_an_hr_user(api_as, client, admin, clerk, ledger):
    def post(api):
        return api.client.post(
            "/api/v1/ledger/uploads",
            {"entity": "BJ01", "file": SimpleUploadedFile("a.csv", b"x")},
            **api.headers,
        )

    assert post(api_as(admin, "read")).status_code == 403
    response = post(_demoted(api_as, clerk, "dept_manager"))
    assert response.status_code == 403 and response.json()["detail"] == "该账号没有维护花名册的权限"
    assert not SyncRun.objects.filter(source="upload").exists()


def test_openapi_operations_are_tagged_and_summarised_in_chinese(client):
    schema = client.get("/api/v1/openapi.json").json()
    ours = {p: ops for p, ops in schema["paths"].items() if p.startswith("/api/v1/ledger/")}
    assert set(ours) >= {  # the full list is in test_docs
        "/api/v1/ledger/uploads",
        "/api/v1/ledger/runs",
        "/api/v1/ledger/runs/{run_id}",
        "/api/v1/ledger/runs/{run_id}/confirm",
        "/api/v1/ledger/runs/{run_id}/cancel",
        "/api/v1/ledger/employees/{employee_id}/coverage",
        "/api/v1/ledger/overview",
        "/api/v1/ledger/discrepancies",
        "/api/v1/ledger/reconcile",
        "/api/v1/ledger/unknown-people",
        "/api/v1/ledger/profiles",
    }
    assert set(ours["/api/v1/ledger/profiles"]) == {"get", "post"}
    for ops in ours.values():
        for op in ops.values():
            assert op["tags"] == ["缴费台账"]
            assert any("\u4e00" <= ch <= "\u9fff" for ch in op["summary"]), op["summary"]
            assert op["security"] == [{"TokenAuth": []}]


# --- runs ------------------------------------------------------------------------------------


def test_run_list_is_limited_to_the_callers_entities(api_as, admin, clerk, manager, auditor, ledger):
    bj, sz = ledger["bj_run"].pk, ledger["sz_run"].pk
    assert {r["id"] for r in api_as(admin).get("/ledger/runs").json()} == {bj, sz}
    assert {r["id"] for r in api_as(auditor).get("/ledger/runs").json()} == {bj, sz}
    assert [r["id"] for r in api_as(clerk).get("/ledger/runs").json()] == [bj]
    assert [r["id"] for r in api_as(manager).get("/ledger/runs").json()] == [bj]
    assert [r["id"] for r in api_as(admin).get("/ledger/runs", {"entity": "SZ01"}).json()] == [sz]
    assert len(api_as(admin).get("/ledger/runs", {"limit": 1}).json()) == 1
    response = api_as(clerk).get("/ledger/runs", {"entity": "SZ01"})
    assert response.status_code == 422
    assert field_errors(response) == {"entity": "不存在或不在您的权限范围内"}
    assert "SZ01" in response.json()["detail"]
    response = api_as(admin).get("/ledger/runs", {"limit": 0})
    assert response.status_code == 422 and field_errors(response) == {"limit": "不能小于 1"}


def test_run_detail_has_counts_errors_and_the_rows_with_errors(api_as, admin, clerk, ledger):
    run = ledger["bj_run"]
    body = api_as(admin).get(f"/ledger/runs/{run.pk}").json()
    assert body["id"] == run.pk and body["entity"] == "BJ01" and body["source"] == "cli"
    assert body["status"] == "partial" and body["status_label"] == "部分成功"
    assert body["counts"]["rows"] == 3 and body["counts"]["rejected"] == 1
    assert body["counts"]["records_created"] == 5 and body["counts"]["unknown_people"] == 1
    assert body["errors"] == [
        {"row": 9, "column": "证件号码", "code": "checksum", "message": "第9行“证件号码”：校验码错误"}
    ]
    assert body["rows"] == [
        {
            "row": 9,
            "cells": {"姓名": "坏行", "证件号码": "1101**"},
            "skipped": "",
            "errors": [{"column": "证件号码", "code": "checksum", "message": "第9行“证件号码”：校验码错误"}],
        }
    ]
    # Another entity's run does not exist for the Beijing specialist.
    response = api_as(clerk).get(f"/ledger/runs/{ledger['sz_run'].pk}")
    assert response.status_code == 404 and response.json()["detail"] == "同步记录不存在或不在您的权限范围内"
    assert api_as(admin).get("/ledger/runs/999999").status_code == 404


# --- coverage --------------------------------------------------------------------------------


def test_coverage_timeline(api_as, admin, ledger):
    alice = ledger["alice"]
    response = api_as(admin).get(f"/ledger/employees/{alice.pk}/coverage", {"months": 120})
    assert response.status_code == 200, response.content
    body = response.json()
    assert body["employee"] == alice.pk and len(body["months"]) == 120
    [pension] = body["insurances"]
    assert pension["insurance"] == "pension" and pension["label"] == "养老保险"
    cells = {c["month"]: c for c in pension["cells"]}
    march = cells["2025-03"]
    assert march["class"] == "declared" and march["employed"] is True
    [record] = march["records"]
    assert record["ours"] is True and record["base"] == "8000.00"
    assert (record["employer"], record["employee"]) == ("1280.00", "640.00")
    assert record["status"] == "declared" and record["evidence_label"].startswith("依据")
    # Employed since 2024-01, but the entity's data begins in 2025-01: "no data yet", not a gap
    # (the ledger cannot say); before hire: none.
    assert (cells["2024-12"]["class"], cells["2024-01"]["class"], cells["2023-12"]["class"]) == (
        "nodata",
        "nodata",
        "none",
    )
    assert cells["2024-12"]["in_data"] is False and cells["2025-03"]["in_data"] is True
    assert cells["2023-12"]["employed"] is False
    assert [d["id"] for d in body["discrepancies"]] == [ledger["d_alice"].pk]
    assert body["enrollments"] == []


def test_coverage_only_of_visible_employees(api_as, admin, clerk, manager, auditor, ledger):
    alice, bob, carol = ledger["alice"], ledger["bob"], ledger["carol"]

    def status(user, employee):
        return api_as(user).get(f"/ledger/employees/{employee.pk}/coverage").status_code

    assert status(admin, carol) == 200 and status(auditor, carol) == 200
    assert status(clerk, alice) == 200 and status(clerk, carol) == 404
    assert status(manager, alice) == 200  # 研发部
    assert status(manager, bob) == 404  # 销售部: not the manager's department
    response = api_as(clerk).get(f"/ledger/employees/{carol.pk}/coverage")
    assert response.json()["detail"] == "员工不存在或不在您的权限范围内"
    response = api_as(admin).get(f"/ledger/employees/{alice.pk}/coverage", {"months": 500})
    assert response.status_code == 422 and field_errors(response) == {"months": "不能大于 120"}


# --- overview --------------------------------------------------------------------------------


def test_overview_of_a_month(api_as, admin, clerk, ledger):
    response = api_as(admin).get("/ledger/overview", {"month": "2025-03"})
    assert response.status_code == 200, response.content
    body = response.json()
    assert body["month"] == "2025-03"
    by_code = {e["entity"]["code"]: e for e in body["entities"]}
    assert set(by_code) == {"BJ01", "SZ01"}
    bj = by_code["BJ01"]
    assert bj["entity"]["name"] == "北京示例科技有限公司"
    assert bj["employed"] == 2  # alice and bob
    [pension] = bj["insurances"]
    assert (pension["insurance"], pension["covered"], pension["missing"], pension["rate"]) == (
        "pension",
        1,
        1,
        50,
    )
    assert bj["open_discrepancies"] == 3
    assert bj["last_run"]["id"] == ledger["bj_run"].pk and bj["last_run"]["status"] == "partial"
    # Default: the latest month the ledger holds; compact month forms are accepted.
    assert api_as(admin).get("/ledger/overview").json()["month"] == "2025-03"
    assert api_as(admin).get("/ledger/overview", {"month": "202502"}).json()["month"] == "2025-02"
    # A specialist sees their entities only.
    assert [e["entity"]["code"] for e in api_as(clerk).get("/ledger/overview").json()["entities"]] == ["BJ01"]


def test_overview_rejects_an_invalid_month_in_chinese(api_as, admin, org):
    response = api_as(admin).get("/ledger/overview", {"month": "2025-13"})
    assert response.status_code == 422
    assert field_errors(response) == {"month": "月份“2025-13”无效：月必须在 1 到 12 之间"}
    response = api_as(admin).get("/ledger/overview", {"month": "三月"})
    assert field_errors(response)["month"].startswith("无法识别的月份“三月”")


# --- discrepancies ---------------------------------------------------------------------------


def test_discrepancy_list_shape_filters_and_paging(api_as, admin, ledger):
    api = api_as(admin)
    body = api.get("/ledger/discrepancies").json()
    assert body["total"] == 4 and body["page"] == 1 and body["page_size"] == 50
    first = next(d for d in body["items"] if d["id"] == ledger["d_alice"].pk)
    assert first == {
        "id": ledger["d_alice"].pk,
        "entity": "BJ01",
        "kind": "base_mismatch",
        "kind_label": "缴费基数与申报工资不符",
        "employee": ledger["alice"].pk,
        "employee_name": "爱丽丝",
        "insurance": "pension",
        "insurance_label": "养老保险",
        "period_from": "2025-01",
        "period_to": "2025-03",
        "months": 3,
        "unit": None,
        "amount": "120.50",
        "detail": {},
        "citations": ["SIL-12"],
        "explanation": "缴费基数与申报工资不符",
        "status": "open",
        "first_seen_at": first["first_seen_at"],
        "last_seen_at": first["last_seen_at"],
        "resolved_at": None,
    }
    stranger = next(d for d in body["items"] if d["kind"] == "unknown_person")
    assert stranger["employee"] is None and stranger["employee_name"] == "陌生人"

    def ids(**params):
        return {d["id"] for d in api.get("/ledger/discrepancies", params).json()["items"]}

    assert ids(kind="not_enrolled") == {ledger["d_bob"].pk, ledger["d_carol"].pk}
    assert ids(status="resolved") == {ledger["d_resolved"].pk}
    assert len(ids(status="all")) == 5
    assert ids(entity="SZ01") == {ledger["d_carol"].pk}
    assert ids(employee=ledger["alice"].pk, status="all") == {ledger["d_alice"].pk, ledger["d_resolved"].pk}
    page = api.get("/ledger/discrepancies", {"page_size": 3, "page": 2}).json()
    assert page["total"] == 4 and len(page["items"]) == 1 and page["page"] == 2
    response = api.get("/ledger/discrepancies", {"kind": "nonsense", "status": "closed"})
    assert response.status_code == 422
    errors = field_errors(response)
    assert errors["kind"].startswith("无效的取值“nonsense”") and errors["status"].startswith(
        "无效的取值“closed”"
    )


def test_discrepancies_by_who_asks(api_as, clerk, manager, auditor, ledger):
    def ids(user, **params):
        response = api_as(user).get("/ledger/discrepancies", params)
        assert response.status_code == 200, response.content
        return {d["id"] for d in response.json()["items"]}

    everything = {ledger[k].pk for k in ("d_alice", "d_bob", "d_carol", "d_stranger")}
    assert ids(auditor) == everything
    assert ids(clerk) == everything - {ledger["d_carol"].pk}
    # The manager of 研发部 sees alice's and the stranger's (no employee), not bob's (销售部).
    assert ids(manager) == {ledger["d_alice"].pk, ledger["d_stranger"].pk}
    response = api_as(clerk).get("/ledger/discrepancies", {"employee": ledger["carol"].pk})
    assert response.status_code == 422
    assert field_errors(response) == {"employee": "不存在或不在您的权限范围内"}
    response = api_as(clerk).get("/ledger/discrepancies", {"entity": "SZ01"})
    assert response.status_code == 422 and "entity" in field_errors(response)


# --- unknown people --------------------------------------------------------------------------


def test_unknown_people_carry_masked_ids_only(api_as, admin, clerk, ledger):
    response = api_as(admin).get("/ledger/unknown-people")
    assert response.status_code == 200, response.content
    [person] = response.json()
    assert person["id"] == ledger["person"].pk and person["name"] == "陌生人"
    assert person["id_number_masked"] == ledger["person"].id_number_masked
    assert "*" in person["id_number_masked"]
    assert (person["months"], person["period_from"], person["period_to"]) == (2, "2025-02", "2025-03")
    assert person["amount"] == "3840.00"  # 2 × (1280 + 640)
    assert person["entities"] == [{"code": "BJ01", "name": "北京示例科技有限公司"}]
    assert person["match"] == "花名册中未找到"
    assert STRANGER_ID not in response.content.decode()
    assert STRANGER_ID[6:14] not in response.content.decode()  # not even the birth date
    assert api_as(admin).get("/ledger/unknown-people", {"entity": "SZ01"}).json() == []
    assert len(api_as(clerk).get("/ledger/unknown-people", {"entity": "BJ01"}).json()) == 1
    response = api_as(clerk).get("/ledger/unknown-people", {"entity": "SZ01"})
    assert response.status_code == 422 and field_errors(response) == {"entity": "不存在或不在您的权限范围内"}


# --- reconciliation --------------------------------------------------------------------------


def test_reconcile_everything(api_as, admin, ledger):
    response = api_as(admin, "write").post("/ledger/reconcile", {})
    assert response.status_code == 200, response.content
    body = response.json()
    assert body["entities"] == ["BJ01", "SZ01"]
    # bob is employed in Beijing with no pension month by us; the stranger is paid for by Beijing.
    assert body["counts"] == {"not_enrolled": 1, "unknown_person": 1}
    assert body["found"] == 2 and body["open"] == {"not_enrolled": 1, "unknown_person": 1}
    assert body["open_total"] == 2
    assert body["resolved"] == 4  # the rows this test planted are not found again
    assert isinstance(body["notes"], list)
    bob = Discrepancy.objects.get(status="open", kind="not_enrolled")
    assert (bob.employee, bob.period_from, bob.period_to) == (ledger["bob"], 202501, 202503)
    event = AuditEvent.objects.get(action="ledger.reconcile")
    assert event.actor == admin and event.via == "api"


def test_a_specialist_reconciles_only_their_entities(api_as, clerk, ledger):
    api = api_as(clerk, "write")
    body = api.post("/ledger/reconcile", {}).json()
    assert body["entities"] == ["BJ01"]
    assert body["open"] == {"not_enrolled": 1, "unknown_person": 1}
    ledger["d_carol"].refresh_from_db()
    assert ledger["d_carol"].status == "open"  # 深圳 untouched
    response = api.post("/ledger/reconcile", {"entity": "SZ01"})
    assert response.status_code == 422 and field_errors(response) == {"entity": "不存在或不在您的权限范围内"}
    response = api.post("/ledger/reconcile", {"entity": "BJ01", "extra": 1})
    assert response.status_code == 422 and field_errors(response) == {"extra": "不支持的字段"}


def test_reconcile_one_entity(api_as, admin, ledger):
    body = api_as(admin, "write").post("/ledger/reconcile", {"entity": "SZ01"}).json()
    assert body["entities"] == ["SZ01"] and body["counts"] == {} and body["resolved"] == 1
    assert body["open"] == {}
    ledger["d_bob"].refresh_from_db()
    assert ledger["d_bob"].status == "open"  # Beijing untouched


# --- uploads ---------------------------------------------------------------------------------


def csv_bytes(rows) -> bytes:
    lines = [",".join(HEADERS), *(",".join(r) for r in rows)]
    return ("\n".join(lines) + "\n").encode("utf-8-sig")


@pytest.fixture
def upload_file(make_employee):
    alice = make_employee(name="爱丽丝", hire_date=dt.date(2024, 1, 1))
    a = full_id(alice)
    return alice, csv_bytes(
        [
            ["爱丽丝", a, "基本养老保险", "2025-03", "8000.00", "1280.00", "640.00"],
            ["爱丽丝", a, "基本医疗保险", "2025-03", "8000.00", "800.00", "160.00"],
            ["陌生人", STRANGER_ID, "基本养老保险", "2025-03", "6000.00", "960.00", "480.00"],
        ]
    )


@pytest.fixture
def ledger_api(client, token_for, django_capture_on_commit_callbacks):
    """ledger_api(user) → upload/get/post with a write token; queued work runs inline."""

    class Caller:
        def __init__(self, user, scope="write"):
            self.headers = {"HTTP_AUTHORIZATION": f"Bearer {token_for(user, scope)}"}

        def upload(self, data: bytes, filename: str = "缴费明细.csv", **form):
            form.setdefault("entity", "BJ01")
            return client.post(
                "/api/v1/ledger/uploads", {**form, "file": SimpleUploadedFile(filename, data)}, **self.headers
            )

        def get(self, path: str, params=None):
            return client.get("/api/v1" + path, params or {}, **self.headers)

        def post(self, path: str, body=None):
            with django_capture_on_commit_callbacks(execute=True):
                return client.post(
                    "/api/v1" + path, json.dumps(body or {}), content_type="application/json", **self.headers
                )

    return Caller


def test_upload_preview_then_confirm(ledger_api, admin, upload_file):
    from shebao.imports.models import ImportBatch

    alice, data = upload_file
    api = ledger_api(admin)
    response = api.upload(data, period="2025-03")
    assert response.status_code == 201, response.content
    body = response.json()
    assert (body["status"], body["source"], body["entity"], body["file_name"]) == (
        "previewed",
        "upload",
        "BJ01",
        "缴费明细.csv",
    )
    assert body["profile"] and body["errors"] == [] and body["rows"] == []
    assert (body["counts"]["rows"], body["counts"]["records_created"], body["counts"]["unknown_people"]) == (
        3,
        3,
        1,
    )
    assert body["context"]["options"]["period"] == "2025-03"
    assert not ContributionRecord.objects.exists()  # a preview writes nothing
    assert ImportBatch.objects.get().kind == "ledger"
    run_id = body["id"]

    response = api.post(f"/ledger/runs/{run_id}/confirm")
    assert response.status_code == 202, response.content
    assert response.json()["id"] == run_id
    body = api.get(f"/ledger/runs/{run_id}").json()
    assert body["status"] == "succeeded" and body["counts"]["records_created"] == 3
    assert ContributionRecord.objects.filter(person__employee=alice).count() == 2
    for action in ("ledger.upload", "ledger.ingest"):
        event = AuditEvent.objects.get(action=action)
        assert event.actor == admin and event.via == "api"

    response = api.post(f"/ledger/runs/{run_id}/confirm")
    assert response.status_code == 422 and response.json()["code"] == "not_previewed"
    assert response.json()["detail"] == "该文件不是待确认状态，不能再次确认"


def test_upload_cancel(ledger_api, admin, upload_file):

    _, data = upload_file
    api = ledger_api(admin)
    run_id = api.upload(data).json()["id"]
    response = api.post(f"/ledger/runs/{run_id}/cancel")
    assert response.status_code == 200, response.content
    assert response.json()["status"] == "cancelled" and response.json()["status_label"] == "已取消"
    run = SyncRun.objects.select_related("import_batch").get(pk=run_id)
    assert run.import_batch.file_purged_at is not None
    assert api.post(f"/ledger/runs/{run_id}/confirm").status_code == 422
    response = api.post(f"/ledger/runs/{run_id}/cancel")
    assert response.status_code == 422 and response.json()["detail"] == "只有待确认的文件可以取消"
    assert not ContributionRecord.objects.exists()


def test_an_unreadable_upload_is_a_failed_run(ledger_api, admin, org):
    api = ledger_api(admin)
    response = api.upload(b"\x00\x01 not a workbook", filename="明细.xlsx")
    assert response.status_code == 201, response.content
    body = response.json()
    assert body["status"] == "failed" and body["errors"][0]["message"]
    assert api.post(f"/ledger/runs/{body['id']}/confirm").status_code == 422
    response = api.upload(b"", filename="空.csv")
    assert response.status_code == 422 and field_errors(response) == {"file": "空文件"}
    response = api.upload(b"%PDF-1.4", filename="明细.pdf")
    assert response.status_code == 422 and field_errors(response) == {"file": "不支持的文件类型"}
    assert response.json()["detail"] == "不支持的文件类型“.pdf”：请上传 .xlsx、.xls 或 .csv 文件"
    assert SyncRun.objects.count() == 1  # only the unreadable workbook


def test_upload_form_is_validated_in_chinese(ledger_api, admin, org):
    api = ledger_api(admin)
    response = api.upload(b"x", period="2025-13")
    assert response.status_code == 422
    assert field_errors(response) == {"period": "月份“2025-13”无效：月必须在 1 到 12 之间"}
    response = api.upload(b"x", entity="")
    assert response.status_code == 422 and field_errors(response) == {"entity": "必填"}
    assert not SyncRun.objects.exists()


def test_a_specialist_uploads_for_their_entities_only(ledger_api, admin, clerk, upload_file):
    _, data = upload_file
    response = ledger_api(clerk).upload(data, entity="SZ01")
    assert response.status_code == 422
    assert field_errors(response) == {"entity": "不存在或不在您的权限范围内"}
    assert not SyncRun.objects.exists()
    response = ledger_api(clerk).upload(data, entity="BJ01")
    assert response.status_code == 201 and response.json()["status"] == "previewed"
    # An administrator's upload for 深圳 does not exist for the Beijing specialist.
    sz_run = ledger_api(admin).upload(data, entity="SZ01", filename="深圳.csv").json()["id"]
    for action in ("confirm", "cancel"):
        response = ledger_api(clerk).post(f"/ledger/runs/{sz_run}/{action}")
        assert response.status_code == 404, action
    assert SyncRun.objects.get(pk=sz_run).status == "previewed"


# --- profiles --------------------------------------------------------------------------------

MAPPING = {
    "姓名": "name",
    "证件号码": "id_number",
    "险种": "insurance",
    "费款所属期": "period",
    "缴费基数": "base",
    "单位缴费": "employer_due",
    "个人缴费": "employee_due",
}


def test_profiles_list_and_save(api_as, admin, clerk, org):
    from shebao.ledger import parsing

    shipped = api_as(clerk).get("/ledger/profiles").json()
    assert shipped and {"code", "title", "shape", "note"} == set(shipped[0])
    assert [p["code"] for p in shipped] == [p.code for p in parsing.profile_list()]
    definition = parsing.mapping_profile(HEADERS, MAPPING, code="my-layout", title="我的格式", shape="long")
    body = {"code": "my-layout", "title": "我的格式", "definition": definition}
    response = api_as(clerk, "write").post("/ledger/profiles", body)
    assert response.status_code == 201, response.content
    assert response.json() == {
        "code": "my-layout",
        "title": "我的格式",
        "shape": "long",
        "note": definition.get("note", ""),
    }
    saved = ExportProfile.objects.get()
    assert saved.code == "my-layout" and saved.created_by == clerk
    assert AuditEvent.objects.get(action="ledger.profile_save").actor == clerk
    listed = api_as(admin).get("/ledger/profiles").json()
    assert [p["code"] for p in listed][-1] == "my-layout"


def test_profile_definitions_are_validated(api_as, admin, org):
    api = api_as(admin, "write")
    shipped = api.get("/ledger/profiles").json()[0]["code"]
    response = api.post("/ledger/profiles", {"code": shipped, "title": "冒名", "definition": {}})
    assert response.status_code == 422 and field_errors(response) == {"code": "重复"}
    response = api.post("/ledger/profiles", {"code": "bad", "title": "坏", "definition": {"shape": "round"}})
    assert response.status_code == 422
    assert response.json()["detail"].startswith("格式模板有误：") and "definition" in field_errors(response)
    response = api.post("/ledger/profiles", {"code": "我的 模板", "title": "坏", "definition": {}})
    assert response.status_code == 422
    assert field_errors(response) == {"code": "只能包含英文字母、数字、- 和 _"}
    assert not ExportProfile.objects.exists()


def test_retry_with_the_month_the_file_does_not_say(ledger_api, admin):
    from shebao.ledger.tests import golden

    g = golden.tax_item_without_period()
    api = ledger_api(admin)
    body = api.upload(g.data, filename=g.filename).json()
    assert body["status"] == "failed" and body["errors"][0]["field"] == "period"
    response = api.post(f"/ledger/runs/{body['id']}/retry", {"period": "2026-03"})
    assert response.status_code == 201, response.content
    again = response.json()
    assert again["status"] == "previewed" and again["id"] != body["id"]
    assert again["counts"]["records_created"] == 1
    response = api.post(f"/ledger/runs/{again['id']}/retry", {"period": "2026-13"})
    assert response.status_code == 422


def test_connectors_listed_without_secret_and_synced_on_request(
    ledger_api, admin, clerk, org, tmp_path, settings
):
    from shebao.ledger.connectors.base import connector_secret_set
    from shebao.ledger.models import Connector

    settings.SHEBAO_DROP_FOLDER_ROOTS = [str(tmp_path)]
    folder = tmp_path / "drop"
    folder.mkdir()
    Connector.objects.create(entity=org["bj"], kind="drop_folder", name="北京投递", folder=str(folder))
    http = Connector(entity=org["sz"], kind="http", name="深圳接口", base_url="https://gw.example.com")
    connector_secret_set(http, "top-secret")
    http.save()
    body = ledger_api(admin).get("/ledger/connectors").json()
    assert {c["name"] for c in body} == {"北京投递", "深圳接口"}
    assert "top-secret" not in json.dumps(body) and http.secret_enc not in json.dumps(body)
    assert {c["name"] for c in ledger_api(clerk).get("/ledger/connectors").json()} == {"北京投递"}
    drop = Connector.objects.get(name="北京投递")
    response = ledger_api(clerk).post(f"/ledger/connectors/{drop.pk}/sync")
    assert response.status_code == 202
    drop.refresh_from_db()
    assert drop.last_run_at is not None  # the queued poll ran (immediate mode in tests)
    assert ledger_api(clerk).post(f"/ledger/connectors/{http.pk}/sync").status_code == 404
