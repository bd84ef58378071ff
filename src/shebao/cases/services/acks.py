"""The employee's side of a letter: the signed, expiring link, the identity check (a one-time
code by SMS, or the last 4 characters of the ID number where no SMS channel is configured), and
the answer — acknowledged, or disagreed with a reason — with proof files.

The link is ``/a/<token>/`` where the token is the request id and a random nonce, signed
(``Signer.sign_object``: salted HMAC with the secret key; altering any character breaks the
signature). The same request always gives the same token; expiry lives in the row. The
row decides the rest: expired, completed (the answer is kept; the page says so), revoked (a newer
link was sent). An answer records the time, IP, user agent, the SHA-256 of the document shown
and how identity was confirmed.
"""

from __future__ import annotations

import datetime as dt
import hmac
import secrets
from dataclasses import dataclass
from typing import Any

from django.conf import settings
from django.contrib.auth.hashers import check_password, make_password
from django.core import signing
from django.db import transaction
from django.db.models import F
from django.urls import reverse
from django.utils import timezone

from shebao.audit.services import audit_record
from shebao.cases.models import Acknowledgement, AckRequest, Case, CaseEvent, Letter
from shebao.cases.services.cases import attachment_store, case_event_happened, event_add, rules_follow
from shebao.core.context import Actor
from shebao.core.exceptions import ApplicationError

SALT = "shebao.cases.ack"
OTP_TTL = dt.timedelta(minutes=10)
OTP_RESEND_AFTER = dt.timedelta(seconds=60)
OTP_MAX_SENDS = 5
MAX_FAILED_CHECKS = 5
MAX_FILES = 5


class State:
    OK = "ok"
    INVALID = "invalid"  # tampered or unknown
    EXPIRED = "expired"
    COMPLETED = "completed"
    REVOKED = "revoked"
    LOCKED = "locked"  # too many wrong codes
    CLOSED = "closed"  # the case was closed or the letter withdrawn


@dataclass
class Resolved:
    state: str
    request: AckRequest | None = None

    @property
    def ok(self) -> bool:
        return self.state == State.OK


def request_create(*, letter: Letter, now: dt.datetime, valid_days: int = 14) -> AckRequest:
    """A new link for the letter; older pending ones are revoked (only the newest works)."""
    AckRequest.objects.filter(letter=letter, status=AckRequest.Status.PENDING).update(
        status=AckRequest.Status.REVOKED
    )
    return AckRequest.objects.create(
        letter=letter,
        employee=letter.case.employee,
        nonce=secrets.token_urlsafe(32),
        short=secrets.token_urlsafe(9),  # 12 characters, 72 random bits
        created_at=now,
        expires_at=now + dt.timedelta(days=valid_days),
    )


def ack_token(request: AckRequest) -> str:
    return signing.Signer(salt=SALT).sign_object({"r": request.pk, "n": request.nonce})


def ack_link(request: AckRequest) -> str:
    """The full link (the signed token)."""
    return f"{settings.SHEBAO_BASE_URL}{reverse('portal:letter', args=[ack_token(request)])}"


def ack_short_link(request: AckRequest) -> str:
    """The short link sent to the employee: ``/a/s/<12 characters>/`` redirects to the full one.
    It fits an SMS template variable and is as hard to guess (72 random bits)."""
    return f"{settings.SHEBAO_BASE_URL}{reverse('portal:short', args=[request.short])}"


def ack_by_short(short: str) -> AckRequest | None:
    if not short or len(short) > 16:
        return None
    return AckRequest.objects.filter(short=short).first()


def ack_resolve(token: str, *, now: dt.datetime | None = None) -> Resolved:
    """What a link is worth now. Never raises for a bad token."""
    now = now or timezone.now()
    try:
        payload = signing.Signer(salt=SALT).unsign_object(token)
        pk, nonce = int(payload["r"]), str(payload["n"])
    except (signing.BadSignature, KeyError, TypeError, ValueError):
        return Resolved(State.INVALID)
    request = (
        AckRequest.objects.select_related("letter", "letter__case", "letter__case__entity", "employee")
        .filter(pk=pk)
        .first()
    )
    if request is None or not hmac.compare_digest(request.nonce, nonce):
        return Resolved(State.INVALID)
    if request.status == AckRequest.Status.COMPLETED:
        return Resolved(State.COMPLETED, request)
    # Closed before revoked: withdrawing a letter also revokes its pending links.
    if request.letter.status == Letter.Status.WITHDRAWN or request.letter.case.status != Case.Status.OPEN:
        return Resolved(State.CLOSED, request)
    if request.status == AckRequest.Status.REVOKED:
        return Resolved(State.REVOKED, request)
    if now >= request.expires_at:
        return Resolved(State.EXPIRED, request)
    if request.failed_checks >= MAX_FAILED_CHECKS:
        return Resolved(State.LOCKED, request)
    return Resolved(State.OK, request)


def _portal_actor(ip: str | None) -> Actor:
    return Actor(user=None, ip=ip, via="portal")


def ack_opened(
    *, request: AckRequest, ip: str | None = None, user_agent: str = "", now: dt.datetime | None = None
) -> None:
    """The first opening of the link goes on the timeline."""
    now = now or timezone.now()
    if AckRequest.objects.filter(pk=request.pk, opened_at__isnull=True).update(opened_at=now):
        event_add(
            request.letter.case,
            CaseEvent.Kind.LETTER_OPENED,
            actor=_portal_actor(ip),
            letter=request.letter,
            at=now,
            text=f"员工打开了函件 {request.letter.number}",
            data={"ip": ip, "user_agent": (user_agent or "")[:300], "request": request.pk},
        )


def sms_available(request: AckRequest) -> bool:
    """A one-time code can be sent: the employee has a mobile and an SMS channel is set up."""
    from shebao.notify.models import Channel

    return (
        bool(request.employee.phone_enc)
        and Channel.objects.filter(
            enabled=True, for_people=True, kind__in=["sms_aliyun", "sms_tencent"]
        ).exists()
    )


def identity_method(request: AckRequest) -> str:
    return Acknowledgement.Method.SMS_OTP if sms_available(request) else Acknowledgement.Method.ID_LAST4


def ack_otp_send(*, request: AckRequest, now: dt.datetime | None = None) -> dt.datetime:
    """Send a 6-digit code by SMS (valid 10 minutes; at most one a minute and 5 per link).
    Returns when another may be asked for."""
    from shebao.notify.services import employee_message_enqueue, notifications_flush_one

    now = now or timezone.now()
    if not sms_available(request):
        raise ApplicationError("未配置短信通道，请用身份证号后 4 位确认身份")
    if request.otp_sent_at and now - request.otp_sent_at < OTP_RESEND_AFTER:
        wait = int((request.otp_sent_at + OTP_RESEND_AFTER - now).total_seconds()) + 1
        raise ApplicationError(f"验证码已发送，请 {wait} 秒后再试")
    if request.otp_sent_count >= OTP_MAX_SENDS:
        raise ApplicationError("验证码发送次数已达上限，请联系公司 HR 重新发送函件")
    code = f"{secrets.randbelow(1_000_000):06d}"
    with transaction.atomic():
        AckRequest.objects.filter(pk=request.pk).update(
            otp_hash=make_password(code),
            otp_expires_at=now + OTP_TTL,
            otp_sent_at=now,
            otp_sent_count=F("otp_sent_count") + 1,
        )
        rows = employee_message_enqueue(
            event="otp",
            employee=request.employee,
            key=f"otp{request.pk}-{request.otp_sent_count + 1}",
            context={
                "code": code,
                "minutes": int(OTP_TTL.total_seconds() // 60),
                "company": request.letter.case.entity.name,
            },
            kinds=("sms",),
            ref={"case": request.letter.case_id, "letter": request.letter.number},
            now=now,
        )
    # a code is no use in a minute's time: send it now, not at the next flush
    results = [notifications_flush_one(notification=row) for row in rows]
    if all(r == "failed" for r in results):  # none sent (or none could be): may ask again at once
        AckRequest.objects.filter(pk=request.pk).update(otp_hash="", otp_expires_at=None, otp_sent_at=None)
        request.refresh_from_db()
        raise ApplicationError("验证码短信发送失败，请稍后再试；如仍收不到，请联系公司 HR", code="sms_failed")
    request.refresh_from_db()
    return request.otp_sent_at + OTP_RESEND_AFTER


def ack_verify(
    *, request: AckRequest, value: str, ip: str | None = None, now: dt.datetime | None = None
) -> str:
    """Check the code (or the ID number's last 4 characters). Returns the method on success;
    5 failures lock the link."""
    now = now or timezone.now()
    value = (value or "").strip().upper()
    if request.failed_checks >= MAX_FAILED_CHECKS:  # a completed link is not "locked" by ack_resolve
        raise ApplicationError("验证失败次数过多，链接已锁定，请联系公司 HR 重新发送", code="locked")
    method = identity_method(request)
    if method == Acknowledgement.Method.SMS_OTP:
        if not request.otp_hash:
            raise ApplicationError("请先获取短信验证码", field_errors={"code": "请先获取验证码"})
        good = (
            request.otp_expires_at is not None
            and now < request.otp_expires_at
            and check_password(value, request.otp_hash)
        )
        expired = request.otp_expires_at is not None and now >= request.otp_expires_at
    else:
        from shebao.core import crypto
        from shebao.roster.models import ID_PURPOSE

        number = crypto.decrypt(request.employee.id_number_enc, purpose=ID_PURPOSE).upper()
        good = len(value) == 4 and hmac.compare_digest(value, number[-4:])
        expired = False
    if not good:
        AckRequest.objects.filter(pk=request.pk).update(failed_checks=F("failed_checks") + 1)
        request.refresh_from_db()
        left = MAX_FAILED_CHECKS - request.failed_checks
        if left <= 0:
            event_add(
                request.letter.case,
                CaseEvent.Kind.IDENTITY,
                actor=_portal_actor(ip),
                letter=request.letter,
                text="身份验证连续失败，链接已锁定",
                data={"method": method, "ok": False, "ip": ip},
            )
            raise ApplicationError("验证失败次数过多，链接已锁定，请联系公司 HR 重新发送", code="locked")
        if expired:
            raise ApplicationError("验证码已过期，请重新获取", field_errors={"code": "已过期"})
        what = "验证码" if method == Acknowledgement.Method.SMS_OTP else "身份证号后 4 位"
        raise ApplicationError(f"{what}不正确，还可以尝试 {left} 次", field_errors={"code": "不正确"})
    with transaction.atomic():
        AckRequest.objects.filter(pk=request.pk).update(verified_at=now, verified_method=method, otp_hash="")
        event_add(
            request.letter.case,
            CaseEvent.Kind.IDENTITY,
            actor=_portal_actor(ip),
            letter=request.letter,
            at=now,
            text=f"员工通过{Acknowledgement.Method(method).label}确认了身份",
            data={"method": method, "ok": True, "ip": ip},
        )
    request.refresh_from_db()
    return method


def ack_submit(
    *,
    request: AckRequest,
    decision: str,
    reason: str = "",
    shown_sha256: str,
    files: list[tuple[str, bytes]] | None = None,
    ip: str | None = None,
    user_agent: str = "",
    now: dt.datetime | None = None,
) -> Acknowledgement:
    """Record the employee's answer (once). ``shown_sha256`` is the hash of the PDF the page
    showed; it must be the letter's."""
    now = now or timezone.now()
    files = files or []
    reason = (reason or "").strip()
    if decision not in Acknowledgement.Decision.values:
        raise ApplicationError("请选择“确认收到”或“有异议”", field_errors={"decision": "必选"})
    if decision == Acknowledgement.Decision.DISAGREED and not reason:
        raise ApplicationError("请写明异议理由", field_errors={"reason": "必填"})
    if len(files) > MAX_FILES:
        raise ApplicationError(f"最多上传 {MAX_FILES} 个文件", field_errors={"files": "文件过多"})
    actor = _portal_actor(ip)
    with transaction.atomic():
        req = (
            AckRequest.objects.select_for_update(of=("self",))
            .select_related("letter", "letter__case", "employee")
            .get(pk=request.pk)
        )
        state = ack_resolve(ack_token(req), now=now).state
        if state != State.OK:
            raise ApplicationError("链接已失效，答复未保存", code=state)
        if req.verified_at is None:
            raise ApplicationError("请先确认身份", code="unverified")
        letter = req.letter
        if not hmac.compare_digest(shown_sha256 or "", letter.sha256):
            raise ApplicationError("页面显示的函件与存档不一致，请刷新页面后重新确认", code="stale")
        ack = Acknowledgement.objects.create(
            letter=letter,
            request=req,
            employee=req.employee,
            decision=decision,
            reason=reason[:4000],
            at=now,
            ip=ip,
            user_agent=(user_agent or "")[:500],
            document_sha256=letter.sha256,
            method=req.verified_method,
        )
        stored = [
            attachment_store(
                case=letter.case, filename=name, data=data, by_employee=True, acknowledgement=ack, now=now
            )
            for name, data in files
        ]
        req.status, req.completed_at = AckRequest.Status.COMPLETED, now
        req.save(update_fields=["status", "completed_at"])
        letter.status = (
            Letter.Status.ACKNOWLEDGED
            if decision == Acknowledgement.Decision.ACKNOWLEDGED
            else Letter.Status.DISAGREED
        )
        letter.answered_at = now
        letter.save(update_fields=["status", "answered_at"])
        kind = (
            CaseEvent.Kind.ACKNOWLEDGED
            if decision == Acknowledgement.Decision.ACKNOWLEDGED
            else CaseEvent.Kind.DISAGREED
        )
        event_add(
            letter.case,
            kind,
            actor=actor,
            letter=letter,
            at=now,
            text=reason[:4000] if reason else f"员工确认收到函件 {letter.number}",
            data={
                "acknowledgement": ack.pk,
                "document_sha256": letter.sha256,
                "method": req.verified_method,
                "ip": ip,
                "user_agent": (user_agent or "")[:300],
                "files": [{"name": a.filename, "sha256": a.sha256, "size": a.size} for a in stored],
            },
        )
        for a in stored:
            event_add(
                letter.case,
                CaseEvent.Kind.ATTACHMENT,
                actor=actor,
                attachment=a,
                at=now,
                text=a.filename,
                data={"sha256": a.sha256, "size": a.size, "by_employee": True},
            )
        Case.objects.filter(pk=letter.case_id).update(updated_at=now)
        rules_follow(letter.case)
        audit_record(
            actor=actor,
            action=f"letter.{decision}",
            obj=letter,
            changes={"acknowledgement": ack.pk, "sha256": letter.sha256},
        )
    case_event_happened(case=letter.case, event=decision, actor=actor, now=now)
    if stored:
        case_event_happened(case=letter.case, event="proof_uploaded", actor=actor, now=now)
    return ack


def ack_summary(request: AckRequest) -> dict[str, Any]:
    ack = Acknowledgement.objects.filter(request=request).first()
    return {
        "decision": ack.decision if ack else None,
        "decision_label": ack.get_decision_display() if ack else "",
        "at": ack.at if ack else None,
        "reason": ack.reason if ack else "",
        "sha256": ack.document_sha256 if ack else request.letter.sha256,
    }
