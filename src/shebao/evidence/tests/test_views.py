"""The evidence pages: the chain's status (verification OK, then BROKEN with the first broken entry
after a row is altered behind the application's back), the checkpoint and settings forms, the
entry list and one entry with its hashes recomputed, the evidence section of a case and of an
employee (the letter's hash, the acknowledgement, the employee's chain checked) and the bundle
downloads that ``verify.py`` accepts — each with who may and who may not."""

from __future__ import annotations

import io
import json
import re
import zipfile

import pytest
from django.db import DatabaseError, connection, transaction
from django.urls import reverse

from shebao.audit.models import AuditEvent
from shebao.cases import services as cases
from shebao.cases.testing.factories import medical_finding
from shebao.cases.testing.walk import answer
from shebao.core.context import Actor
from shebao.evidence import verifier
from shebao.evidence.models import Checkpoint, Entry, Settings, VerifyRun
from shebao.evidence.services import entry_append
from shebao.evidence.testing import raw

PDF = b"%PDF-1.4\n%proof\n"
CHAIN = "/evidence/"
HX = {"HTTP_HX_REQUEST": "true"}


def _actor(user) -> Actor:
    return Actor(user=user, ip="127.0.0.1", via="test")


def _body(response) -> str:
    return response.content.decode()


def closed_case_story(org, user, make_employee, **employee):
    """A medical-interruption case walked to the end through the real services: opened from its
    finding, letter issued and sent, acknowledged by the employee, proof uploaded, closed."""
    hr = _actor(user)
    finding = medical_finding(org, make_employee, **({"email": "wang@example.com"} | employee))
    case = cases.case_open(actor=hr, finding=finding)
    letter = cases.letter_issue(actor=hr, case=case)
    cases.letter_send(actor=hr, letter=letter)
    answer(letter, "acknowledged")
    cases.case_attach(actor=hr, case=case, filename="缴费凭证.pdf", data=PDF)
    case = cases.case_advance(actor=hr, case=case, choice="paid", note="员工已补缴 2 个月")
    assert case.status == "closed"
    letter.refresh_from_db()
    return case, letter


@pytest.fixture
def story(org, admin, make_employee, email_channel):
    return closed_case_story(org, admin, make_employee)


def _entries(n: int, *, employee_id=None, kind="test.event") -> list[Entry]:
    return [
        entry_append(kind=kind, payload={"n": i, "text": "记录"}, actor="hr", employee_id=employee_id)
        for i in range(n)
    ]


def _tamper(seq: int) -> None:
    """Edit an entry's payload in the database, as someone with database access would. On
    PostgreSQL the append-only trigger refuses first (the helper then switches it off, as only a
    superuser could)."""
    if connection.vendor == "postgresql":
        with pytest.raises(DatabaseError, match="append-only"), transaction.atomic():
            with connection.cursor() as cur:
                cur.execute("UPDATE evidence_entry SET payload = '{}' WHERE seq = %s", [seq])
    raw("UPDATE evidence_entry SET payload = %s WHERE seq = %s", ['{"n":999,"text":"记录"}', seq])


# --- navigation and who may see what ----------------------------------------------------------


def test_navigation_lists_evidence_for_hr_and_auditors(login, admin, clerk, auditor, manager):
    for user in (admin, clerk, auditor):
        assert f'href="{CHAIN}"' in _body(login(user).get("/"))
    assert f'href="{CHAIN}"' not in _body(login(manager).get("/"))


def test_chain_page_permissions(client, login, admin, clerk, auditor, manager, staff_employee):
    for user in (admin, clerk, auditor):
        assert login(user).get(CHAIN).status_code == 200
    for user in (manager, staff_employee):
        assert login(user).get(CHAIN).status_code == 403
    response = client.get(CHAIN)
    assert response.status_code == 302 and "/login/" in response["Location"]


def test_verify_checkpoint_and_settings_are_refused_to_others(login, clerk, manager, auditor):
    for user in (clerk, manager):
        assert login(user).post(reverse("evidence:verify")).status_code == 403
    for user in (clerk, auditor, manager):
        assert login(user).post(reverse("evidence:checkpoint")).status_code == 403
        assert login(user).post(reverse("evidence:settings"), {"tsa_url": ""}).status_code == 403
    assert not VerifyRun.objects.exists() and not Checkpoint.objects.exists()
    page = _body(login(auditor).get(CHAIN))
    assert 'data-testid="verify-now"' in page  # auditors verify …
    assert 'data-testid="checkpoint-now"' not in page and 'data-testid="settings-form"' not in page


# --- the chain's status -----------------------------------------------------------------------


def test_chain_ok_then_broken_after_a_row_is_altered(login, admin, auditor):
    _entries(5)
    page = _body(login(admin).get(CHAIN))
    assert 'data-result="none"' in page and "尚未校验" in page

    response = login(auditor).post(reverse("evidence:verify"), follow=True)
    page = _body(response)
    assert 'data-result="ok"' in page and "证据链完整" in page
    assert "校验通过：5 条记录完整" in page
    run = VerifyRun.objects.get()
    assert (run.result, run.entries, run.via) == ("ok", 5, "web")
    assert "核对 5 条记录" in page and "在网页上手动校验" in page

    _tamper(3)
    page = _body(login(admin).post(reverse("evidence:verify"), follow=True))
    assert 'data-result="broken"' in page
    assert "证据链被改动：首个问题在第 3 条" in page
    assert "第 3 条（test.event）的内容被改动" in page
    assert f'href="{reverse("evidence:entry", args=[3])}"' in page
    assert VerifyRun.objects.first().first_bad_seq == 3


def test_chain_head_key_and_public_key(login, admin, auditor, story_exported):
    page = _body(login(auditor).get(CHAIN))
    head = Entry.objects.order_by("-seq").first()
    assert head.hash in page and f"#{head.seq}" in page
    from shebao.evidence import keys

    assert keys.fingerprint() in page  # the bundle made the key; the page shows its fingerprint
    response = login(auditor).get(reverse("evidence:public_key"))
    assert response.status_code == 200 and response["Content-Type"] == "application/x-pem-file"
    assert verifier.key_fingerprint(response.content) == keys.fingerprint()


@pytest.fixture
def story_exported(story, admin, login):
    case, letter = story
    response = login(admin).get(reverse("evidence:case_bundle", args=[case.pk]))
    assert response.status_code == 200
    return case, letter, response


def test_public_key_is_404_before_the_key_exists(login, admin, settings, tmp_path):
    settings.SHEBAO_EVIDENCE_KEY_FILE = str(tmp_path / "none" / "key.pem")
    assert login(admin).get(reverse("evidence:public_key")).status_code == 404
    assert "尚未生成" in _body(login(admin).get(CHAIN))


def test_checkpoint_button(login, admin):
    _entries(2)
    response = login(admin).post(reverse("evidence:checkpoint"), follow=True)
    cp = Checkpoint.objects.get()
    assert cp.seq == 3 and Entry.objects.get(seq=3).kind == "chain.checkpoint"
    page = _body(response)
    assert f"已生成校验点：链头第 3 条，哈希 {cp.head_hash[:16]}" in page
    assert f'data-checkpoint="{cp.pk}"' in page and cp.head_hash[:24] in page
    assert AuditEvent.objects.filter(action="evidence.checkpoint").exists()


def test_settings_form_saves_through_the_service(login, admin, system):
    from shebao.notify.services import channel_create

    channel = channel_create(
        actor=system,
        kind="webhook",
        name="审计群",
        config={"url": "https://example.com/hook"},
    )
    off = channel_create(
        actor=system, kind="webhook", name="旧通道", config={"url": "https://example.com/old"}, enabled=False
    )
    page = _body(login(admin).get(CHAIN))
    assert "审计群" in page and "旧通道" not in page  # only enabled channels are offered

    response = login(admin).post(
        reverse("evidence:settings"), {"channel": channel.pk, "tsa_url": "https://freetsa.org/tsr"}
    )
    assert response.status_code == 302 and response["Location"].endswith("#settings")
    row = Settings.objects.get(pk=1)
    assert (row.channel, row.tsa_url) == (channel, "https://freetsa.org/tsr")
    audit = AuditEvent.objects.get(action="evidence.settings")
    assert audit.changes["channel"] == ["", "审计群"] and audit.actor == admin

    response = login(admin).post(
        reverse("evidence:settings"), {"channel": "", "tsa_url": "ftp://tsa.example"}
    )
    assert response.status_code == 422
    assert "应为 http:// 或 https:// 开头" in _body(response)
    response = login(admin).post(reverse("evidence:settings"), {"channel": off.pk, "tsa_url": ""})
    assert response.status_code == 422  # not among the choices
    row.refresh_from_db()
    assert row.tsa_url == "https://freetsa.org/tsr"


def test_settings_service_refuses_disabled_channels_and_bad_urls(admin, system):
    from shebao.core.exceptions import ApplicationError, PermissionDenied
    from shebao.evidence.services import settings_update
    from shebao.notify.services import channel_create

    off = channel_create(
        actor=system, kind="webhook", name="旧通道", config={"url": "https://example.com/old"}, enabled=False
    )
    with pytest.raises(ApplicationError, match="已停用"):
        settings_update(actor=_actor(admin), channel=off, tsa_url="")
    with pytest.raises(ApplicationError) as exc:
        settings_update(actor=_actor(admin), channel=None, tsa_url="not a url")
    assert exc.value.field_errors == {"tsa_url": "应为 http:// 或 https:// 开头、不超过 200 个字符的网址"}
    from shebao.accounts.models import User

    clerk = User.objects.create(username="c2", role="hr_specialist")
    with pytest.raises(PermissionDenied):
        settings_update(actor=_actor(clerk), channel=None, tsa_url="")


# --- the entry list and one entry ---------------------------------------------------------------


def test_entry_list_filters_and_pages(login, admin, settings):
    settings.SHEBAO_PAGE_SIZE = 10
    _entries(15)
    _entries(3, kind="source.applied")
    c = login(admin)
    page = _body(c.get(CHAIN))
    assert "共 18 条 · 第 1 / 2 页" in page
    assert re.findall(r'data-seq="(\d+)"', page)[:2] == ["18", "17"]  # newest first

    partial = _body(c.get(CHAIN, {"kind": "source.applied"}, **HX))
    assert "<html" not in partial and "导入政府数据" in partial
    assert re.findall(r'data-seq="(\d+)"', partial) == ["18", "17", "16"]

    partial = _body(c.get(CHAIN, {"seq_from": 4, "seq_to": 6}, **HX))
    assert re.findall(r'data-seq="(\d+)"', partial) == ["6", "5", "4"]
    partial = _body(c.get(CHAIN, {"page": 2}, **HX))
    assert re.findall(r'data-seq="(\d+)"', partial)[0] == "8"

    partial = _body(c.get(CHAIN, {"seq_from": 9, "seq_to": 2}, **HX))
    assert "截止序号不能小于起始序号" in partial


def test_clerk_sees_only_entries_of_their_employees(login, clerk, org, make_employee):
    bj = make_employee()
    sz = make_employee(entity=org["sz"], department=org["store"])
    (mine,) = _entries(1, employee_id=bj.pk)
    (theirs,) = _entries(1, employee_id=sz.pk)
    (org_wide,) = _entries(1, kind="chain.checkpoint")
    c = login(clerk)
    seqs = re.findall(r'data-seq="(\d+)"', _body(c.get(CHAIN)))
    assert seqs == [str(org_wide.seq), str(mine.seq)]
    assert c.get(reverse("evidence:entry", args=[mine.seq])).status_code == 200
    assert c.get(reverse("evidence:entry", args=[theirs.seq])).status_code == 404


def test_entry_page_recomputes_the_hashes(login, auditor, make_employee):
    emp = make_employee()
    first, second = _entries(2, employee_id=emp.pk)
    c = login(auditor)
    page = _body(c.get(reverse("evidence:entry", args=[second.seq])))
    assert (
        'data-result="ok"' in page and 'data-testid="payload-ok"' in page and 'data-testid="hash-ok"' in page
    )
    assert second.hash in page and second.prev == first.hash and first.hash in page
    assert "&quot;text&quot;: &quot;记录&quot;" in page  # pretty-printed payload
    assert emp.name in page

    _tamper(second.seq)
    page = _body(c.get(reverse("evidence:entry", args=[second.seq])))
    assert 'data-result="broken"' in page and 'data-testid="payload-bad"' in page
    assert c.get(reverse("evidence:entry", args=[99])).status_code == 404


# --- a case's and an employee's evidence --------------------------------------------------------


def test_case_page_loads_the_evidence_section(login, admin, story):
    case, letter = story
    page = _body(login(admin).get(reverse("cases:detail", args=[case.pk])))
    assert f'hx-get="{reverse("evidence:case", args=[case.pk])}"' in page


def test_case_evidence_shows_the_letter_hash_and_the_acknowledgement(login, auditor, story):
    case, letter = story
    response = login(auditor).get(reverse("evidence:case", args=[case.pk]), **HX)
    assert response.status_code == 200
    part = _body(response)
    assert "<html" not in part and 'data-testid="case-evidence"' in part
    kinds = re.findall(r'data-kind="([^"]+)"', part)
    assert set(kinds[:2]) == {"case.opened", "status.checked"} and kinds[-1] == "case.closed"
    for kind in (
        "case.letter_issued",
        "case.letter_sent",
        "case.identity",
        "case.acknowledged",
        "case.attachment",
    ):
        assert kind in kinds
    assert letter.sha256 in part  # the letter's SHA-256 as the entry states it
    assert "员工确认收到" in part and "生成函件" in part and "核查参保状态" in part
    assert 'data-result="ok"' in part and "该员工的记录链完整" in part
    assert reverse("evidence:case_bundle", args=[case.pk]) in part
    # not an HTMX request: the whole page around it
    page = _body(login(auditor).get(reverse("evidence:case", args=[case.pk])))
    assert "<html" in page and case.number in page


def test_case_evidence_shows_a_broken_employee_chain(login, admin, story):
    case, _ = story
    ack = Entry.objects.get(case_id=case.pk, kind="case.acknowledged")
    _tamper(ack.seq)
    part = _body(login(admin).get(reverse("evidence:case", args=[case.pk]), **HX))
    assert 'data-testid="stream-status" data-result="broken"' in part
    assert f"首个问题在第 {ack.seq} 条" in part
    assert f'<tr data-seq="{ack.seq}" data-kind="case.acknowledged" class="bad">' in part


def test_case_evidence_permissions(login, manager, clerk, org, make_employee, email_channel, admin):
    hr = _actor(admin)
    sz = make_employee(entity=org["sz"], department=org["store"])
    sz_case = cases.case_open(actor=hr, employee=sz, template="onboarding")
    bj_case = cases.case_open(actor=hr, employee=make_employee(), template="onboarding")
    url = reverse("evidence:case", args=[bj_case.pk])
    assert login(manager).get(url).status_code == 403
    assert login(manager).get(url, **HX).status_code == 204  # nothing swapped into the case page
    assert login(clerk).get(url).status_code == 200
    assert login(clerk).get(reverse("evidence:case", args=[sz_case.pk])).status_code == 404
    assert login(manager).get(reverse("evidence:case_bundle", args=[bj_case.pk])).status_code == 403
    assert login(clerk).get(reverse("evidence:case_bundle", args=[sz_case.pk])).status_code == 404


def test_case_bundle_download_is_a_zip_verify_accepts(story_exported, tmp_path):
    case, letter, response = story_exported
    assert response["Content-Type"] == "application/zip"
    disposition = response["Content-Disposition"]
    assert disposition.startswith("attachment;") and ".zip" in disposition and case.number in disposition
    path = tmp_path / "bundle.zip"
    path.write_bytes(response.content)
    report = verifier.verify_bundle(path)
    assert report.ok, [p.message for p in report.problems]
    assert report.signature == "valid" and case.number in report.subject
    with zipfile.ZipFile(io.BytesIO(response.content)) as zf:
        manifest = json.loads(zf.read("manifest.json"))
        assert any(f.get("entry_sha256") == letter.sha256 for f in manifest["files"])
    assert response["X-Manifest-SHA256"] == verifier.sha256_hex(
        zipfile.ZipFile(io.BytesIO(response.content)).read("manifest.json")
    )
    # the export is on record (ledger and audit log)
    assert Entry.objects.filter(kind="bundle.exported", case_id=case.pk).exists()
    assert AuditEvent.objects.filter(action="evidence.bundle_export").exists()


def test_employee_page_and_evidence(login, clerk, admin, story, manager, tmp_path):
    case, letter = story
    employee = case.employee
    page = _body(login(clerk).get(reverse("roster:detail", args=[employee.pk])))
    assert f'hx-get="{reverse("evidence:employee", args=[employee.pk])}"' in page
    part = _body(login(clerk).get(reverse("evidence:employee", args=[employee.pk]), **HX))
    assert 'data-testid="employee-evidence"' in part and case.number in part and letter.sha256 in part
    assert 'data-result="ok"' in part
    assert login(manager).get(reverse("evidence:employee", args=[employee.pk]), **HX).status_code == 204

    response = login(clerk).get(reverse("evidence:employee_bundle", args=[employee.pk]))
    assert response.status_code == 200 and response["Content-Type"] == "application/zip"
    path = tmp_path / "employee.zip"
    path.write_bytes(response.content)
    report = verifier.verify_bundle(path)
    assert report.ok, [p.message for p in report.problems]
    assert employee.employee_no in report.subject


def test_employee_without_evidence(login, admin, make_employee):
    emp = make_employee()
    part = _body(login(admin).get(reverse("evidence:employee", args=[emp.pk]), **HX))
    assert 'data-testid="evidence-empty"' in part and 'data-testid="bundle-download"' not in part


# --- in a browser -------------------------------------------------------------------------------


def _shot(page, path) -> None:
    """The whole page, however long."""
    size = page.viewport_size
    height = page.evaluate("document.documentElement.scrollHeight")
    page.set_viewport_size({"width": size["width"], "height": max(height, size["height"])})
    page.evaluate("window.scrollTo(0, 0)")
    page.screenshot(path=str(path))
    page.set_viewport_size(size)


@pytest.mark.browser
@pytest.mark.django_db(transaction=True)
def test_chain_page_and_case_evidence_in_a_browser(
    live_server, page, screenshot_dir, org, admin, make_employee, mailbox, tmp_path
):
    from playwright.sync_api import expect

    from shebao.conftest import PASSWORD
    from shebao.evidence.bundle import bundle_build
    from shebao.evidence.services import chain_verify, checkpoint_create

    out = screenshot_dir / "evidence"
    out.mkdir(parents=True, exist_ok=True)
    case, letter = closed_case_story(org, admin, make_employee, name="孙丽")
    bundle_build(actor=_actor(admin), case=case)
    checkpoint_create(actor=_actor(admin))
    chain_verify(via="worker")

    page.goto(f"{live_server.url}/login/")
    page.fill("input[name=username]", admin.username)
    page.fill("input[name=password]", PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_url(re.compile(r"/(dashboard/?)?$"))

    page.goto(f"{live_server.url}{CHAIN}")
    expect(page.get_by_test_id("verify-result")).to_contain_text("证据链完整")
    page.get_by_test_id("verify-now").click()
    expect(page.locator(".messages")).to_contain_text("校验通过")
    _shot(page, out / "chain-ok.png")

    page.goto(f"{live_server.url}{reverse('cases:detail', args=[case.pk])}")
    page.add_style_tag(content=".topbar { position: static; }")  # not over the section's picture
    section = page.get_by_test_id("case-evidence")
    expect(section).to_contain_text("该员工的记录链完整")
    expect(section).to_contain_text(letter.sha256[:16])
    section.scroll_into_view_if_needed()
    section.screenshot(path=str(out / "case-evidence.png"))
    page.set_viewport_size({"width": 390, "height": 844})  # on a phone the table scrolls, not the page
    page.reload()
    expect(page.get_by_test_id("case-evidence")).to_contain_text("该员工的记录链完整")
    assert page.evaluate("document.documentElement.scrollWidth - window.innerWidth") <= 0
    page.set_viewport_size({"width": 1360, "height": 900})
    with page.expect_download() as download:
        page.get_by_test_id("bundle-download").click()
    saved = tmp_path / "evidence-bundle.zip"
    download.value.save_as(saved)
    assert verifier.verify_bundle(saved).ok

    ack = Entry.objects.get(case_id=case.pk, kind="case.acknowledged")
    raw("UPDATE evidence_entry SET payload = %s WHERE seq = %s", ['{"forged":true}', ack.seq])
    page.goto(f"{live_server.url}{CHAIN}")
    page.get_by_test_id("verify-now").click()
    expect(page.get_by_test_id("verify-result")).to_contain_text(f"首个问题在第 {ack.seq} 条")
    _shot(page, out / "chain-broken.png")
    page.goto(f"{live_server.url}{reverse('cases:detail', args=[case.pk])}")
    page.add_style_tag(content=".topbar { position: static; }")
    section = page.get_by_test_id("case-evidence")
    expect(section.get_by_test_id("stream-status")).to_contain_text(f"首个问题在第 {ack.seq} 条")
    section.screenshot(path=str(out / "case-evidence-broken.png"))
    page.goto(f"{live_server.url}{reverse('evidence:entry', args=[ack.seq])}")
    expect(page.get_by_test_id("entry-check")).to_have_attribute("data-result", "broken")
    _shot(page, out / "entry-broken.png")
