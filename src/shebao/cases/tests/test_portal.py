"""The employee acknowledgement portal (/a/<token>/) through the Django test client: a valid link
walked through identity (last 4 of the ID number, or a code by SMS), the letter, the answer and
the done page; every broken link state gets its friendly page and status; the security headers,
CSRF, the per-link session flag and upload limits."""

from __future__ import annotations

import datetime as dt
import hashlib
import re

import pytest
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from shebao.cases import portal, services
from shebao.cases.models import Acknowledgement, AckRequest, Attachment, CaseEvent, Letter
from shebao.cases.services import acks
from shebao.cases.services.acks import request_create
from shebao.core import crypto
from shebao.core.context import Actor
from shebao.roster.models import ID_PURPOSE

PNG = b"\x89PNG\r\n\x1a\n" + b"\0" * 64
PDF = b"%PDF-1.4\n%proof\n"
UA = "Mozilla/5.0 (iPhone; CPU iPhone OS 17_0 like Mac OS X) Mobile/15E148"
BODY_TEXT = "经公司核查"  # a sentence of the medical_notice letter's body


def _can_send() -> bool:
    from shebao.notify import services as notify_services

    return hasattr(notify_services, "employee_message_enqueue")


needs_sending = pytest.mark.skipif(not _can_send(), reason="notify.employee_message_enqueue 尚未提供")


@pytest.fixture
def hr(admin):
    return Actor(user=admin)


@pytest.fixture
def employee(make_employee):
    return make_employee(name="张三", email="zhangsan@example.com")


@pytest.fixture
def letter(hr, employee):
    case = services.case_open(actor=hr, employee=employee, template="medical_interruption")
    return services.letter_issue(actor=hr, case=case)


@pytest.fixture
def link(letter) -> str:
    """A fresh link to the letter (made directly; ``sent`` below goes through letter_send)."""
    return _url(request_create(letter=letter, now=timezone.now()))


@pytest.fixture
def sent(hr, letter, email_channel) -> str:
    """The letter sent the way HR sends it: the case moves to 等待员工确认."""
    req = services.letter_send(actor=hr, letter=letter)
    letter.case.refresh_from_db()
    assert letter.case.current_step == "await_ack"
    return _url(req)


@pytest.fixture
def phone() -> Client:
    return Client(HTTP_USER_AGENT=UA)


def _url(req: AckRequest, name: str = "letter") -> str:
    return reverse(f"portal:{name}", args=[services.ack_token(req)])


def _sub(link: str, name: str) -> str:
    return f"{link}{name}/"


def _last4(letter: Letter) -> str:
    return crypto.decrypt(letter.case.employee.id_number_enc, purpose=ID_PURPOSE)[-4:].upper()


def _wrong(letter: Letter) -> str:
    right = _last4(letter)
    return "1234" if right != "1234" else "4321"


def _text(response) -> str:
    return re.sub(r"\s+", " ", response.content.decode())


def _verify(client: Client, link: str, letter: Letter):
    response = client.post(_sub(link, "verify"), {"code": _last4(letter)})
    assert response.status_code == 302, _text(response)
    return response


def _answer(client: Client, link: str, letter: Letter, **data):
    data = {"decision": "acknowledged", "sha256": letter.sha256} | data
    return client.post(_sub(link, "answer"), data)


def _kinds(letter: Letter) -> list[str]:
    return list(letter.case.events.order_by("at", "id").values_list("kind", flat=True))


def _assert_portal_headers(response) -> None:
    assert response["X-Robots-Tag"].startswith("noindex")
    assert response["Referrer-Policy"] == "same-origin"  # the token never goes to another site
    assert "no-store" in response["Cache-Control"]


# --- the whole walk ---------------------------------------------------------------------------------


@needs_sending
def test_valid_link_walk_with_id_last4(phone, letter, sent):
    # before identity: company, title, number, the masked name and the identity step — no letter
    response = phone.get(sent)
    page = _text(response)
    assert response.status_code == 200
    _assert_portal_headers(response)
    assert "script-src 'self'" in response["Content-Security-Policy"]
    assert "北京示例科技有限公司" in page and letter.title in page and letter.number in page
    assert "致 张*" in page and "张三" not in page
    assert "身份证号码的最后 4 位" in page and 'data-testid="identity"' in page
    assert BODY_TEXT not in page and letter.sha256 not in page and _sub(sent, "pdf") not in page
    assert 'name="viewport"' in page and 'href="/static/cases/portal.css"' in page

    phone.get(sent)  # the first opening only goes on the timeline
    [opened] = letter.case.events.filter(kind=CaseEvent.Kind.LETTER_OPENED)
    assert opened.data["ip"] == "127.0.0.1" and opened.data["user_agent"] == UA
    assert opened.actor_label == "员工（确认页面）"

    # the PDF needs identity first
    response = phone.get(_sub(sent, "pdf"))
    assert response.status_code == 302 and response["Location"].endswith(f"{sent}#identity")

    # a value of the wrong shape is a slip, not a guess
    response = phone.post(_sub(sent, "verify"), {"code": "12"})
    assert response.status_code == 200 and "请输入身份证号码的最后 4 位" in _text(response)
    assert AckRequest.objects.get(letter=letter).failed_checks == 0

    _verify(phone, sent, letter)
    identity = letter.case.events.get(kind=CaseEvent.Kind.IDENTITY)
    assert identity.data == {"method": "id_last4", "ok": True, "ip": "127.0.0.1"}

    # the letter, its hash, the PDF and the answer form
    response = phone.get(sent)
    page = _text(response)
    assert BODY_TEXT in page and letter.sha256 in page
    assert f'name="sha256" value="{letter.sha256}"' in page
    assert 'accept="image/*,application/pdf"' in page and "multiple" in page
    pdf = phone.get(_sub(sent, "pdf"))
    _assert_portal_headers(pdf)
    data = b"".join(pdf.streaming_content)
    assert pdf["Content-Type"] == "application/pdf" and data.startswith(b"%PDF-")
    assert hashlib.sha256(data).hexdigest() == letter.sha256
    assert f"{letter.number}.pdf" in pdf["Content-Disposition"]

    response = _answer(phone, sent, letter)
    assert response.status_code == 302 and response["Location"] == sent
    ack = Acknowledgement.objects.get(letter=letter)
    assert (ack.decision, ack.method, ack.ip, ack.user_agent) == ("acknowledged", "id_last4", "127.0.0.1", UA)
    assert ack.document_sha256 == letter.sha256
    letter.refresh_from_db()
    assert letter.status == Letter.Status.ACKNOWLEDGED

    # the done page: what was recorded, and the PDF for this session
    response = phone.get(sent)
    page = _text(response)
    assert response.status_code == 200 and "提交成功" in page
    assert "确认收到" in page and "身份证号后4位" in page and letter.sha256 in page
    assert timezone.localtime(ack.at).strftime("%Y-%m-%d %H:%M") in page
    assert _sub(sent, "pdf") in page
    assert phone.get(_sub(sent, "pdf")).status_code == 200

    # the timeline, and the case moved on by itself
    kinds = _kinds(letter)
    for kind in ("letter_opened", "identity", "acknowledged"):
        assert kind in kinds
    assert kinds.index("letter_opened") < kinds.index("identity") < kinds.index("acknowledged")
    letter.case.refresh_from_db()
    assert letter.case.current_step == "backpay"


@needs_sending
def test_disagree_with_reason_and_proof_files(phone, letter, sent):
    _verify(phone, sent, letter)

    # no reason: the form comes back with the answer kept, nothing is recorded
    response = _answer(phone, sent, letter, decision="disagreed", reason="  ")
    page = _text(response)
    assert response.status_code == 200 and "请写明异议理由" in page
    assert 'value="disagreed" id="decision-disagree" data-testid="decision-disagreed" checked' in page

    # a file that is neither a photo nor a PDF: refused by its content, nothing is kept
    fake = _file("证明.pdf", b"just text", "application/pdf")
    response = _answer(phone, sent, letter, decision="disagreed", reason="我已在新单位参保", files=[fake])
    page = _text(response)
    assert response.status_code == 200 and "不是照片（JPG/PNG/HEIC/WebP）或 PDF" in page
    assert "我已在新单位参保" in page  # the reason is kept for the next try
    assert not Acknowledgement.objects.exists() and not Attachment.objects.exists()

    response = _answer(
        phone,
        sent,
        letter,
        decision="disagreed",
        reason="我已在新单位参保，医保没有中断",
        files=[_file("停保证明.png", PNG, "image/png"), _file("转移凭证.pdf", PDF, "application/pdf")],
    )
    assert response.status_code == 302
    ack = Acknowledgement.objects.get(letter=letter)
    assert ack.decision == "disagreed" and ack.reason == "我已在新单位参保，医保没有中断"
    files = list(Attachment.objects.filter(acknowledgement=ack).order_by("id"))
    assert [(f.filename, f.content_type, f.by_employee) for f in files] == [
        ("停保证明.png", "image/png", True),
        ("转移凭证.pdf", "application/pdf", True),
    ]
    assert files[0].sha256 == hashlib.sha256(PNG).hexdigest()
    letter.case.refresh_from_db()
    assert letter.case.current_step == "review"
    assert "disagreed" in _kinds(letter) and _kinds(letter).count("attachment") == 2

    page = _text(phone.get(sent))
    assert "有异议" in page and "我已在新单位参保，医保没有中断" in page
    assert "停保证明.png" in page and "转移凭证.pdf" in page


def _file(name: str, data: bytes, content_type: str):
    from django.core.files.uploadedfile import SimpleUploadedFile

    return SimpleUploadedFile(name, data, content_type=content_type)


def test_answer_needs_identity_in_this_session(phone, letter, link):
    other = Client()
    _verify(other, link, letter)  # someone verified — in another browser
    response = _answer(phone, link, letter)
    assert response.status_code == 302 and response["Location"].endswith("#identity")
    assert not Acknowledgement.objects.exists()
    assert phone.get(_sub(link, "pdf")).status_code == 302
    assert BODY_TEXT not in _text(phone.get(link))


def test_session_flag_is_per_link(hr, make_employee, phone, letter, link):
    _verify(phone, link, letter)
    assert BODY_TEXT in _text(phone.get(link))
    other_case = services.case_open(actor=hr, employee=make_employee(), template="medical_interruption")
    other_letter = services.letter_issue(actor=hr, case=other_case)
    other_link = _url(request_create(letter=other_letter, now=timezone.now()))
    page = _text(phone.get(other_link))
    assert 'data-testid="identity"' in page and BODY_TEXT not in page
    assert phone.get(_sub(other_link, "pdf")).status_code == 302


def test_stale_document_hash(phone, letter, link):
    _verify(phone, link, letter)
    page = _text(phone.get(link))
    assert (
        'name="decision" value="acknowledged"' in page and " checked" not in page
    )  # no answer chosen for them
    response = _answer(phone, link, letter, decision="")
    assert response.status_code == 200 and "请选择“确认收到”或“有异议”" in _text(response)
    response = _answer(phone, link, letter, sha256="0" * 64)
    page = _text(response)
    assert response.status_code == 409 and "与存档不一致" in page
    assert BODY_TEXT in page and f'name="sha256" value="{letter.sha256}"' in page  # shown again, current
    assert not Acknowledgement.objects.exists()
    assert AckRequest.objects.get(letter=letter).status == AckRequest.Status.PENDING


# --- links that do not work -----------------------------------------------------------------------


def test_expired_link(phone, letter):
    req = request_create(letter=letter, now=timezone.now() - dt.timedelta(days=3), valid_days=2)
    link = _url(req)
    response = phone.get(link)
    page = _text(response)
    assert response.status_code == 410 and "链接已过期" in page
    _assert_portal_headers(response)
    assert "请联系 北京示例科技有限公司 的 HR 重新发送函件" in page and letter.number in page
    assert BODY_TEXT not in page
    assert not letter.case.events.filter(kind=CaseEvent.Kind.LETTER_OPENED).exists()
    assert phone.post(_sub(link, "verify"), {"code": _last4(letter)}).status_code == 410
    assert phone.get(_sub(link, "pdf")).status_code == 410
    assert AckRequest.objects.get(pk=req.pk).verified_at is None


def test_reused_after_completion(phone, letter, link):
    _verify(phone, link, letter)
    assert _answer(phone, link, letter).status_code == 302
    ack = Acknowledgement.objects.get()

    # the same browser again: the answer stays, and another answer changes nothing
    response = _answer(phone, link, letter, decision="disagreed", reason="改主意了")
    assert response.status_code == 302 and Acknowledgement.objects.count() == 1

    # a new browser: when and what — but not the details or the PDF until identity again
    stranger = Client()
    response = stranger.get(link)
    page = _text(response)
    assert response.status_code == 200 and "此函件已答复" in page
    assert "确认收到" in page and timezone.localtime(ack.at).strftime("%Y-%m-%d %H:%M") in page
    assert letter.sha256 not in page and _sub(link, "pdf") not in page
    assert stranger.get(_sub(link, "pdf")).status_code == 302
    assert stranger.post(_sub(link, "answer"), {"decision": "acknowledged"}).status_code == 302
    assert Acknowledgement.objects.count() == 1

    response = stranger.post(_sub(link, "verify"), {"code": _wrong(letter)})
    assert response.status_code == 200 and "还可以尝试 4 次" in _text(response)
    _verify(stranger, link, letter)
    page = _text(stranger.get(link))
    assert letter.sha256 in page and _sub(link, "pdf") in page and "提交成功" not in page
    assert stranger.get(_sub(link, "pdf")).status_code == 200


def test_reused_after_completion_cannot_be_guessed_at(letter, link, phone):
    _verify(phone, link, letter)
    _answer(phone, link, letter)
    stranger = Client()
    for _ in range(acks.MAX_FAILED_CHECKS):
        response = stranger.post(_sub(link, "verify"), {"code": _wrong(letter)})
    assert response.status_code == 403 and 'data-testid="locked-note"' in _text(response)
    response = stranger.post(_sub(link, "verify"), {"code": _last4(letter)})  # too late
    assert response.status_code == 302
    assert stranger.get(_sub(link, "pdf")).status_code == 302
    assert 'data-testid="locked-note"' in _text(stranger.get(link))


@pytest.mark.parametrize("where", ["payload", "signature", "garbage"])
def test_tampered_link(phone, letter, link, where):
    token = link.strip("/").split("/")[-1]
    if where == "garbage":
        bad = "not-a-token"
    else:
        i = 5 if where == "payload" else len(token) - 6
        bad = token[:i] + ("A" if token[i] != "A" else "B") + token[i + 1 :]
    for url in (f"/a/{bad}/", f"/a/{bad}/pdf/"):
        response = phone.get(url)
        assert response.status_code == 404, url
        assert "链接无效" in _text(response) and letter.number not in _text(response)
        _assert_portal_headers(response)
    response = phone.post(f"/a/{bad}/verify/", {"code": _last4(letter)})
    assert response.status_code == 404
    assert not letter.case.events.filter(kind__in=["letter_opened", "identity"]).exists()


def test_unknown_request(phone, letter):
    req = request_create(letter=letter, now=timezone.now())
    link = _url(req)
    req.nonce = "x" * 43  # the row's nonce no longer matches the signed one
    req.save()
    assert phone.get(link).status_code == 404


def test_revoked_older_link(phone, letter):
    old = _url(request_create(letter=letter, now=timezone.now()))
    new = _url(request_create(letter=letter, now=timezone.now()))
    response = phone.get(old)
    page = _text(response)
    assert response.status_code == 410 and "请使用最新收到的链接" in page
    assert phone.post(_sub(old, "verify"), {"code": _last4(letter)}).status_code == 410
    assert phone.get(new).status_code == 200


def test_withdrawn_letter(hr, phone, letter, link):
    services.letter_withdraw(actor=hr, letter=letter, reason="金额有误，重新出具")
    response = phone.get(link)
    assert response.status_code == 410 and "此函件无需再处理" in _text(response)
    assert "请使用最新收到的链接" not in _text(response)


def test_closed_case(hr, phone, letter, link):
    services.case_cancel(actor=hr, case=letter.case, reason="重复立案")
    response = phone.get(link)
    assert response.status_code == 410 and "此函件无需再处理" in _text(response)


def test_wrong_last4_five_times_locks(phone, letter, link):
    for left in range(acks.MAX_FAILED_CHECKS - 1, 0, -1):
        response = phone.post(_sub(link, "verify"), {"code": _wrong(letter)})
        assert response.status_code == 200 and f"还可以尝试 {left} 次" in _text(response)
    response = phone.post(_sub(link, "verify"), {"code": _wrong(letter)})
    assert response.status_code == 403 and "链接已锁定" in _text(response)
    failed = letter.case.events.filter(kind=CaseEvent.Kind.IDENTITY).get()
    assert failed.data["ok"] is False

    # locked for everyone, the right value included
    response = phone.post(_sub(link, "verify"), {"code": _last4(letter)})
    assert response.status_code == 403
    response = Client().get(link)
    assert response.status_code == 403 and "链接已锁定" in _text(response)
    assert AckRequest.objects.get(letter=letter).verified_at is None


# --- the form's edges -------------------------------------------------------------------------------


def test_csrf_failure_gets_a_friendly_page(letter, link):
    client = Client(enforce_csrf_checks=True)
    client.get(link)
    response = client.post(_sub(link, "verify"), {"code": _last4(letter)})
    assert response.status_code == 403 and "页面已失效" in _text(response)
    assert f'href="{link}"' in _text(response)
    _assert_portal_headers(response)
    assert AckRequest.objects.get(letter=letter).verified_at is None

    # with the form's token it works
    token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', client.get(link).content.decode())[1]
    response = client.post(
        _sub(link, "verify"),
        {"code": _last4(letter), "csrfmiddlewaretoken": token},
        HTTP_ORIGIN="http://testserver",  # what a browser sends under the same-origin referrer policy
    )
    assert response.status_code == 302


def test_upload_limits(phone, letter, link, monkeypatch):
    _verify(phone, link, letter)
    monkeypatch.setattr(portal, "MAX_ATTACHMENT", 1000)
    big = _file("照片.png", PNG + b"\0" * 2000, "image/png")
    response = _answer(phone, link, letter, files=[big])
    assert response.status_code == 200 and "文件“照片.png”超过" in _text(response)

    files = [_file(f"{i}.png", PNG, "image/png") for i in range(acks.MAX_FILES + 1)]
    response = _answer(phone, link, letter, files=files)
    assert response.status_code == 200 and f"最多上传 {acks.MAX_FILES} 个文件" in _text(response)

    # a body larger than all allowed files together is not even read
    response = phone.post(
        _sub(link, "answer"), {"decision": "acknowledged"}, CONTENT_LENGTH=str(portal.MAX_BODY + 1)
    )
    page = _text(response)
    assert response.status_code == 413 and "上传的文件总大小超过" in page and BODY_TEXT in page
    assert not Acknowledgement.objects.exists()


def test_methods(phone, link):
    assert phone.post(link).status_code == 405
    response = phone.get(_sub(link, "verify"))
    assert response.status_code == 302 and response["Location"] == link
    assert phone.get(_sub(link, "answer")).status_code == 302


# --- identity by SMS ----------------------------------------------------------------------------------


@pytest.fixture
def sms(db, system):
    """An Aliyun SMS channel for people, pointed at the local fake provider."""
    from shebao.notify.services import channel_create
    from shebao.notify.testing.fakes import ALIYUN_TEMPLATE_CODE, FakeProviders

    with FakeProviders() as server:
        # the fake accepts one template, with (at least) the parameters name and deadline
        config = server.config("sms_aliyun", templates={"otp": f"{ALIYUN_TEMPLATE_CODE} code,name,deadline"})
        channel_create(actor=system, kind="sms_aliyun", name="短信", config=config, for_people=True)
        yield server


@needs_sending
def test_sms_code_flow(phone, letter, link, sms):
    page = _text(phone.get(link))
    assert "发送验证码" in page and 'autocomplete="one-time-code"' in page and 'inputmode="numeric"' in page
    assert letter.case.employee.phone_masked in page and "身份证号码" not in page

    # a code asked for before sending
    response = phone.post(_sub(link, "verify"), {"code": "123456"})
    assert "请先获取短信验证码" in _text(response)

    # the provider refuses: said so, and the employee may ask again at once
    sms.error_next("sms_aliyun", "isv.SMS_TEMPLATE_ILLEGAL")
    response = phone.post(_sub(link, "code"), follow=True)
    assert "验证码短信发送失败" in _text(response) and "秒后可重发" not in _text(response)

    response = phone.post(_sub(link, "code"), follow=True)
    page = _text(response)
    assert "验证码已发送至" in page and "秒后可重发" in page and 'data-wait="' in page
    code = _sms_code(sms)
    # asked again at once: how long to wait
    response = phone.post(_sub(link, "code"), follow=True)
    assert re.search(r"验证码已发送，请 \d+ 秒后再试", _text(response))
    assert len(sms.received["sms_aliyun"]) == 1  # the refused one is not "received"

    wrong = "000000" if code != "000000" else "111111"
    response = phone.post(_sub(link, "verify"), {"code": wrong})
    assert "验证码不正确，还可以尝试 4 次" in _text(response)
    _ = phone.post(_sub(link, "verify"), {"code": code})
    page = _text(phone.get(link))
    assert BODY_TEXT in page
    assert _answer(phone, link, letter).status_code == 302
    assert Acknowledgement.objects.get().method == "sms_otp"
    assert "短信验证码" in _text(phone.get(link))


def _sms_code(server) -> str:
    [sent] = server.received["sms_aliyun"]
    return sent["TemplateParam"]["code"]


# --- the letter's HTML on the page -------------------------------------------------------------------


def test_letter_body_is_cleaned():
    html = (
        "<!doctype html><html><head><title>x</title><style>body{}</style></head><body>"
        '<h1 class="t" onclick="evil()">标题</h1><p>一 &lt;b&gt; 二<script>alert(1)</script></p>'
        '<a href="javascript:x">链接</a><img src="x" onerror="y"><table><tr><td colspan="2" rowspan="x">格</td></tr>'
        "</table></div></div><blockquote>引文<br>续</blockquote><p>未闭合"
        "</body></html>"
    )
    out = str(portal.letter_body(html))
    assert out == (
        '<h1 class="t">标题</h1><p>一 &lt;b&gt; 二</p>链接<table><tr><td colspan="2">格</td></tr></table>'
        "<blockquote>引文<br>续</blockquote><p>未闭合</p>"
    )


def test_mask_name():
    assert [portal.mask_name(n) for n in ("张三", "欧阳娜娜", "李", "")] == ["张*", "欧***", "李*", "*"]


def test_pdf_missing_from_the_store(phone, letter, link):
    from shebao.core import blobs

    _verify(phone, link, letter)
    blobs.blob_path(letter.sha256).unlink()
    response = phone.get(_sub(link, "pdf"))
    assert response.status_code == 503 and "函件文件暂时无法读取" in _text(response)


def test_short_link_from_the_sms_leads_to_the_signed_link(phone, letter):
    req = request_create(letter=letter, now=timezone.now())
    short = services.ack_short_link(req)
    assert len(req.short) == 12 and short.endswith(f"/a/s/{req.short}/")
    response = phone.get(reverse("portal:short", args=[req.short]))
    assert response.status_code == 302 and response["Location"] == _url(req)
    _assert_portal_headers(response)
    wrong = phone.get(reverse("portal:short", args=["A" * 12]))
    assert wrong.status_code == 404 and not letter.case.events.filter(kind="letter_opened").exists()
    assert phone.get(reverse("portal:short", args=["A" * 40])).status_code == 404
