"""The ingestion wizard in the browser's shoes: upload → detected profile → preview → confirm,
a file that does not say its month, a file nobody recognises, a duplicate."""

from __future__ import annotations

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse

from shebao.imports.models import ImportBatch
from shebao.ledger.models import ContributionRecord, SyncRun
from shebao.ledger.tests import golden

pytestmark = pytest.mark.django_db


def _upload(client, org, name, data, **extra):
    return client.post(
        reverse("ledger:upload"),
        {"entity": org["bj"].pk, "file": SimpleUploadedFile(name, data), "profile": "auto", **extra},
    )


def test_upload_preview_confirm(login, admin, org, django_capture_on_commit_callbacks):
    g = golden.generic_long()
    client = login(admin)
    response = _upload(client, org, g.filename, g.data)
    assert response.status_code == 302
    run = SyncRun.objects.get()
    assert run.status == "previewed" and run.profile == "generic_long"
    assert not ContributionRecord.objects.exists()  # a preview writes nothing
    html = client.get(response["Location"]).content.decode()
    assert 'data-testid="confirm"' in html and "generic_long" in html
    assert run.counts["records_created"] > 0
    with django_capture_on_commit_callbacks(execute=True):
        client.post(reverse("ledger:run_confirm", args=[run.pk]))
    run.refresh_from_db()
    assert run.status in ("succeeded", "partial")
    assert ContributionRecord.objects.count() == run.counts["records_created"]
    batch = run.import_batch
    assert (
        batch.status == ImportBatch.Status.COMMITTED and batch.file_purged_at is not None
    )  # PIPL: file gone
    # the same file again: recognised as a duplicate when confirmed, nothing changes
    _upload(client, org, g.filename, g.data)
    second = SyncRun.objects.exclude(pk=run.pk).get()
    with django_capture_on_commit_callbacks(execute=True):
        client.post(reverse("ledger:run_confirm", args=[second.pk]))
    second.refresh_from_db()
    assert second.status == "duplicate" and second.duplicate_of == run
    assert ContributionRecord.objects.count() == run.counts["records_created"]


def test_file_without_a_month_asks_for_it(login, admin, org):
    g = golden.tax_item_without_period()
    client = login(admin)
    _upload(client, org, g.filename, g.data)
    run = SyncRun.objects.get()
    assert run.status == "failed" and run.errors[0]["field"] == "period"
    html = client.get(reverse("ledger:run", args=[run.pk])).content.decode()
    assert 'data-testid="retry"' in html
    response = client.post(
        reverse("ledger:run_retry", args=[run.pk]), {"profile": "auto", "period": "2026-03", "item": ""}
    )
    again = SyncRun.objects.exclude(pk=run.pk).get()
    assert response["Location"].endswith(f"/{again.pk}/")
    assert again.status == "previewed" and again.counts["records_created"] == 1


def test_unrecognised_file_says_what_to_do(login, admin, org):
    data = golden.csv_bytes([["甲", "乙", "丙"], ["1", "2", "3"]])
    client = login(admin)
    _upload(client, org, "别的东西.csv", data)
    run = SyncRun.objects.get()
    assert run.status == "failed" and run.errors[0]["code"] == "no_profile"
    html = client.get(reverse("ledger:run", args=[run.pk])).content.decode()
    assert "未能识别文件格式" in html


def test_cancel_deletes_the_upload(login, admin, org):
    g = golden.generic_long()
    client = login(admin)
    _upload(client, org, g.filename, g.data)
    run = SyncRun.objects.get()
    client.post(reverse("ledger:run_cancel", args=[run.pk]))
    run.refresh_from_db()
    assert run.status == "cancelled" and run.import_batch.file_purged_at is not None


def test_clerk_cannot_upload_for_another_entity(login, clerk, org):
    g = golden.generic_long()
    response = login(clerk).post(
        reverse("ledger:upload"),
        {"entity": org["sz"].pk, "file": SimpleUploadedFile(g.filename, g.data), "profile": "auto"},
    )
    assert response.status_code == 200 and not SyncRun.objects.exists()  # not offered: form error


def test_wrong_extension_is_refused_with_a_reason(login, admin, org):
    response = _upload(login(admin), org, "x.pdf", b"%PDF-1.4")
    assert "不支持的文件类型" in response.content.decode()


def test_unrecognised_file_mapped_by_hand_becomes_a_profile(login, admin, org, make_employee):
    from shebao.core import crypto
    from shebao.ledger.models import ExportProfile
    from shebao.roster.models import ID_PURPOSE

    emp = make_employee(name="对应列")
    number = crypto.decrypt(emp.id_number_enc, purpose=ID_PURPOSE)
    data = golden.csv_bytes(
        [
            ["职员", "身份号", "保险项目", "月份", "公司出", "自己出"],
            ["对应列", number, "养老", "2026-01", "1600", "800"],
            ["对应列", number, "医疗", "2026-01", "800", "200"],
        ]
    )
    client = login(admin)
    _upload(client, org, "本地格式.csv", data)
    run = SyncRun.objects.get()
    assert run.errors[0]["code"] == "no_profile"
    assert 'data-testid="map-columns"' in client.get(reverse("ledger:run", args=[run.pk])).content.decode()
    page = client.get(reverse("ledger:run_mapping", args=[run.pk])).content.decode()
    assert "身份号" in page and number not in page  # samples are masked
    response = client.post(
        reverse("ledger:run_mapping", args=[run.pk]),
        {
            "save": "1",
            "shape": "long",
            "code": "local-export",
            "title": "本地导出格式",
            "col_0": "name",
            "col_1": "id_number",
            "col_2": "insurance",
            "col_3": "period",
            "col_4": "employer_due",
            "col_5": "employee_due",
        },
    )
    assert response.status_code == 302, response.content.decode()[:2000]
    assert ExportProfile.objects.filter(code="local-export").exists()
    new = SyncRun.objects.exclude(pk=run.pk).get()
    assert new.status == "previewed" and new.profile == "local-export" and new.counts["records_created"] == 2
    # the next file with the same headers is recognised on its own
    _upload(client, org, "本地格式2.csv", data)
    third = SyncRun.objects.order_by("-pk").first()
    assert third.status == "previewed" and third.profile == "local-export"


@pytest.mark.parametrize(
    ("post", "expected"),
    [
        ({"code": "generic_long", "col_0": "name", "col_1": "id_number"}, "与系统内置模板重复"),
        ({"code": "only-insurance", "col_2": "insurance"}, "格式模板有误"),
        ({"code": "坏 编码", "col_0": "name", "col_1": "id_number"}, "模板编码只能包含英文字母"),
    ],
)
def test_bad_column_mapping_is_refused_with_a_reason_and_saves_nothing(login, admin, org, post, expected):
    from shebao.ledger.models import ExportProfile

    data = golden.csv_bytes(
        [["职员", "身份号", "保险项目", "月份", "公司出"], ["甲", "x", "养老", "2026-01", "1"]]
    )
    client = login(admin)
    _upload(client, org, "本地格式.csv", data)
    run = SyncRun.objects.get()
    response = client.post(
        reverse("ledger:run_mapping", args=[run.pk]), {"save": "1", "shape": "long", "title": "本地", **post}
    )
    assert response.status_code == 200
    assert expected in response.content.decode()
    assert not ExportProfile.objects.exists() and SyncRun.objects.count() == 1


def test_mapping_page_finds_the_header_below_a_title_block(login, admin, org):
    data = golden.csv_bytes(
        [
            ["本地缴费情况表"],
            ["单位：示例公司", "月份：2026-01"],
            ["职员", "身份号", "保险项目", "月份", "公司出"],
            ["甲", "110105199001010016", "养老", "2026-01", "1"],
        ]
    )
    client = login(admin)
    _upload(client, org, "带标题.csv", data)
    run = SyncRun.objects.get()
    page = client.get(reverse("ledger:run_mapping", args=[run.pk])).content.decode()
    assert "第 3 行是表头" in page and "保险项目" in page and "公司出" in page
