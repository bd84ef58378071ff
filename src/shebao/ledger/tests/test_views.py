"""Ledger pages: who may see them, and what they show."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest
from django.db import transaction
from django.urls import reverse
from django.utils import timezone

from shebao.core import crypto
from shebao.core.identity import make_resident_id
from shebao.core.yearmonth import YearMonth
from shebao.ledger import facts as F
from shebao.ledger.models import Discrepancy, LedgerPerson
from shebao.ledger.services import ledger_facts_apply, sync_run_finish, sync_run_start
from shebao.roster.models import ID_PURPOSE

pytestmark = pytest.mark.django_db
D = Decimal


def _ingest(entity, system, rows):
    run = sync_run_start(entity=entity, source="cli", actor=system, file_name="测试.csv")
    with transaction.atomic():
        result = ledger_facts_apply(run=run, rows=rows)
    return sync_run_finish(run=run, status="succeeded", counts=result.counts, errors=result.errors)


def _ref(emp):
    return F.PersonRef(name=emp.name, id_number=crypto.decrypt(emp.id_number_enc, purpose=ID_PURPOSE))


@pytest.fixture
def ledger(org, system, make_employee):
    """An employee paid by us Jan–Apr 2026 (pension, medical), with March medical by a former employer,
    April pension in arrears; and a stranger we pay for."""
    emp = make_employee(name="张时间轴", hire_date=dt.date(2025, 12, 10))
    ref = _ref(emp)
    rows = []
    n = 2
    for m in range(1, 5):
        month = YearMonth(2026, m)
        for ins in (F.Insurance.PENSION, F.Insurance.MEDICAL):
            status = F.ContributionStatus.ARREARS if (m == 4 and ins is F.Insurance.PENSION) else None
            rows.append(
                F.SourceRow(
                    row=n,
                    cells={"姓名": emp.name},
                    contributions=[
                        F.ContributionFact(
                            person=ref,
                            insurance=ins,
                            period=month,
                            base=D("10000"),
                            employer_paid=D("1600") if m < 3 else None,
                            employer_due=D("1600"),
                            status=status,
                            evidence=F.Evidence.PAID if m < 3 else F.Evidence.ASSESSED,
                        )
                    ],
                )
            )
            n += 1
    rows.append(
        F.SourceRow(
            row=n,
            cells={"姓名": emp.name},
            contributions=[
                F.ContributionFact(
                    person=ref,
                    insurance=F.Insurance.MEDICAL,
                    period=YearMonth(2026, 3),
                    unit_no="110999",
                    unit_name="原单位有限公司",
                    employer_due=D("700"),
                )
            ],
        )
    )
    stranger = F.PersonRef(name="路人甲", id_number=make_resident_id("110105", dt.date(1985, 1, 1), 99))
    rows.append(
        F.SourceRow(
            row=n + 1,
            cells={"姓名": "路人甲"},
            contributions=[
                F.ContributionFact(
                    person=stranger,
                    insurance=F.Insurance.PENSION,
                    period=YearMonth(2026, 4),
                    employer_due=D("900"),
                )
            ],
        )
    )
    run = _ingest(org["bj"], system, rows)
    return {"employee": emp, "run": run}


def test_pages_need_staff_role(login, staff_employee, ledger):
    client = login(staff_employee)
    for name in ("ledger:overview", "ledger:runs", "ledger:discrepancies", "ledger:unknown"):
        assert client.get(reverse(name)).status_code == 403
    assert client.get(reverse("ledger:coverage", args=[ledger["employee"].pk])).status_code == 403


def test_clerk_sees_only_her_entities_runs(login, clerk, org, system, ledger):
    other = _ingest(org["sz"], system, [])
    client = login(clerk)
    assert client.get(reverse("ledger:run", args=[ledger["run"].pk])).status_code == 200
    assert client.get(reverse("ledger:run", args=[other.pk])).status_code == 404


def test_coverage_timeline_colours_months_by_status_and_payer(login, admin, ledger):
    client = login(admin)
    html = client.get(
        reverse("ledger:coverage", args=[ledger["employee"].pk]), headers={"HX-Request": "true"}
    ).content.decode()
    assert 'data-testid="timeline"' in html
    assert 'data-month="2026-01" data-class="paid"' in html
    assert 'data-month="2026-03" data-class="both"' in html  # medical: us and the former employer
    assert 'data-month="2026-04" data-class="arrears"' in html
    assert 'data-month="2026-03" data-class="declared"' in html  # pension assessed only
    # employed, but the ledger holds nothing for the entity that month (before its data begins,
    # after it ends): "no data yet", not a gap; the browser test shows a real gap
    assert 'data-month="2025-12" data-class="nodata"' in html
    assert 'data-month="2026-05" data-class="nodata"' in html
    assert "原单位有限公司" in html
    assert "<html" not in html  # the partial


def test_employee_without_records_gets_an_explanation(login, admin, make_employee):
    emp = make_employee(name="无记录")
    html = login(admin).get(reverse("ledger:coverage", args=[emp.pk])).content.decode()
    assert 'data-testid="coverage-empty"' in html and "<html" in html


def test_employee_detail_loads_the_timeline(login, admin, ledger):
    html = login(admin).get(reverse("roster:detail", args=[ledger["employee"].pk])).content.decode()
    assert reverse("ledger:coverage", args=[ledger["employee"].pk]) in html


def test_overview_counts_coverage_of_the_month(login, admin, org, ledger):
    html = login(admin).get(reverse("ledger:overview") + "?month=2026-03").content.decode()
    assert "2026-03" in html
    assert f'data-testid="entity-{org["bj"].code}"' in html
    assert "医疗保险" in html and "养老保险" in html


def test_overview_bad_month_says_so(login, admin, ledger):
    response = login(admin).get(reverse("ledger:overview") + "?month=2026-13", follow=True)
    assert "月份" in response.content.decode()


def test_run_detail_shows_counts(login, admin, ledger):
    html = login(admin).get(reverse("ledger:run", args=[ledger["run"].pk])).content.decode()
    assert 'data-testid="run-counts"' in html and "测试.csv" in html


def test_unknown_people_listed_with_masked_id(login, admin, ledger):
    html = login(admin).get(reverse("ledger:unknown")).content.decode()
    assert "路人甲" in html
    person = LedgerPerson.objects.get(name="路人甲")
    assert person.id_number_masked in html
    number = crypto.decrypt(person.id_number_enc, purpose=ID_PURPOSE)
    assert number not in html


def test_discrepancy_list_filters_and_cites(login, admin, org, ledger):
    emp = ledger["employee"]
    Discrepancy.objects.create(
        fingerprint="x1",
        entity=org["bj"],
        kind=Discrepancy.Kind.OTHER_UNIT,
        employee=emp,
        insurance="medical",
        period_from=202603,
        period_to=202603,
        months=1,
        amount=D("700.00"),
        citations=["SIL-58"],
        explanation="2026-03 医疗保险由原单位有限公司缴纳",
        last_seen_at=timezone.now(),
    )
    client = login(admin)
    html = client.get(reverse("ledger:discrepancies")).content.decode()
    assert "原单位有限公司缴纳" in html and "SIL-58" in html and "2026-03" in html
    html = client.get(reverse("ledger:discrepancies") + "?kind=unpaid").content.decode()
    assert 'data-testid="no-discrepancies"' in html


def test_reconcile_requires_write_role(login, auditor, ledger):
    assert login(auditor).post(reverse("ledger:reconcile")).status_code == 403


# --- connectors ----------------------------------------------------------------------------------


def test_admin_creates_a_drop_folder_and_syncs_it_now(
    login, admin, org, tmp_path, django_capture_on_commit_callbacks
):
    from shebao.audit.models import AuditEvent
    from shebao.ledger.models import Connector

    folder = tmp_path / "drop"
    folder.mkdir()
    client = login(admin)
    response = client.post(
        reverse("ledger:connector_create", args=["drop_folder"]),
        {
            "entity": org["bj"].pk,
            "name": "北京导出文件",
            "folder": str(folder),
            "interval_minutes": 30,
            "enabled": "on",
        },
    )
    assert response.status_code == 302
    connector = Connector.objects.get()
    assert (connector.kind, connector.folder, connector.interval_minutes) == ("drop_folder", str(folder), 30)
    assert AuditEvent.objects.filter(action="ledger.connector_create").exists()
    (folder / "x.csv").write_text("姓名,证件号码\n", encoding="utf-8")
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(reverse("ledger:connector_sync", args=[connector.pk]))
    assert response.status_code == 302
    html = client.get(reverse("ledger:connectors")).content.decode()
    assert "北京导出文件" in html


def test_http_connector_secret_is_encrypted_and_kept_when_left_blank(login, admin, org):
    from shebao.ledger.connectors.base import connector_secret
    from shebao.ledger.models import Connector

    client = login(admin)
    client.post(
        reverse("ledger:connector_create", args=["http"]),
        {
            "entity": org["bj"].pk,
            "name": "代理机构接口",
            "base_url": "https://gateway.example.com",
            "client_id": "bj01",
            "secret": "s3cret-value",
            "interval_minutes": 60,
            "enabled": "on",
        },
    )
    connector = Connector.objects.get()
    assert "s3cret-value" not in connector.secret_enc and connector_secret(connector) == "s3cret-value"
    client.post(
        reverse("ledger:connector_edit", args=[connector.pk]),
        {
            "name": "代理机构接口",
            "base_url": "https://gateway2.example.com",
            "client_id": "bj01",
            "interval_minutes": 120,
        },
    )
    connector.refresh_from_db()
    assert connector.base_url == "https://gateway2.example.com" and connector.interval_minutes == 120
    assert connector_secret(connector) == "s3cret-value" and connector.enabled is False


def test_connector_form_errors_are_specific(login, admin, org):
    response = login(admin).post(
        reverse("ledger:connector_create", args=["http"]),
        {"entity": org["bj"].pk, "name": "x", "base_url": "ftp://example.com", "interval_minutes": 60},
    )
    assert "http:// 或 https://" in response.content.decode()


def test_only_admins_manage_connectors(login, clerk, org):
    client = login(clerk)
    assert client.get(reverse("ledger:connector_create", args=["drop_folder"])).status_code == 403
    assert client.get(reverse("ledger:connectors")).status_code == 200


def test_drop_folder_outside_the_allowed_roots_is_refused(login, admin, org, tmp_path, settings):
    from shebao.ledger.models import Connector

    settings.SHEBAO_DROP_FOLDER_ROOTS = [str(tmp_path / "allowed")]
    client = login(admin)
    for folder, message in (
        (str(tmp_path / "elsewhere"), "不在允许的目录之内"),
        ("relative/path", "请填写完整路径"),
    ):
        response = client.post(
            reverse("ledger:connector_create", args=["drop_folder"]),
            {"entity": org["bj"].pk, "name": "投递", "folder": folder, "interval_minutes": 60},
        )
        assert response.status_code == 200 and message in response.content.decode()
    assert not Connector.objects.exists()


def test_reconciling_all_touches_only_the_users_own_entities(
    login, clerk, org, django_capture_on_commit_callbacks
):
    """A Beijing-only specialist's 重新核对 (no entity chosen) must not recompute 深圳's rows."""
    stale = {
        "kind": Discrepancy.Kind.UNKNOWN_PERSON,
        "explanation": "旧数据",
        "last_seen_at": timezone.now(),
    }
    bj = Discrepancy.objects.create(fingerprint="bj-stale", entity=org["bj"], **stale)
    sz = Discrepancy.objects.create(fingerprint="sz-stale", entity=org["sz"], **stale)
    response = login(clerk).post(reverse("ledger:reconcile"), {"entity": ""})
    assert response.status_code == 302
    bj.refresh_from_db()
    sz.refresh_from_db()
    assert bj.status == "resolved" and sz.status == "open"
