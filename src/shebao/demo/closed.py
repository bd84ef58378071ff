"""The demo's closed cases: a medical interruption and an onboarding check taken from finding to
closed case through the same services a user and an employee would use — the letter issued and
sent by SMS (to the demo's SMS sink, run here for the minute it takes), the employee opening the
link, confirming with the one-time code, acknowledging and uploading a photo; HR uploading the
receipt, recording the payment and closing. Every step lands in the evidence ledger as it would
in production, so a new user can export a closed case's evidence bundle and verify it.

Everything happens at the time of seeding (the services' own clock): the ledger records when an
entry was written, and a timeline dated weeks back would contradict the ledger's own times.
"""

from __future__ import annotations

import contextlib
import logging
import random
import struct
import threading
import zlib
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path

from django.conf import settings
from django.utils import timezone

from shebao.core.context import Actor
from shebao.core.exceptions import ApplicationError

logger = logging.getLogger(__name__)

MEDICAL_KINDS = ("medical_interrupted", "insurance_interrupted")
ONBOARDING_KINDS = ("enrolled_elsewhere", "registration_overdue")
# Where the employee "is" when answering: a phone on the mobile network, the WeChat browser.
PHONES = (
    ("223.104.3.27", "Mozilla/5.0 (iPhone; CPU iPhone OS 17_5 like Mac OS X) AppleWebKit/605.1.15 "
     "(KHTML, like Gecko) Mobile/15E148 MicroMessenger/8.0.49(0x18003137) NetType/4G Language/zh_CN"),
    ("117.136.38.142", "Mozilla/5.0 (Linux; Android 14; V2309A Build/UP1A.231005.007; wv) "
     "AppleWebKit/537.36 (KHTML, like Gecko) Chrome/116.0.0.0 Mobile Safari/537.36 MicroMessenger/8.0.47"),
    ("112.97.52.9", "Mozilla/5.0 (Linux; Android 13; PGBM10) AppleWebKit/537.36 (KHTML, like Gecko) "
     "Chrome/112.0.5615.136 Mobile Safari/537.36"),
)  # fmt: skip
MEDICAL_RATE = Decimal("0.118")  # 北京职工医保：单位 9.8% + 个人 2%


def demo_closed_cases(*, hr: Actor, admin: Actor, visible, seed: int = 2026) -> list:
    """Walk one medical-interruption and one onboarding case to the end. ``visible``: the
    employees HR sees (their findings first; others are handled by the admin). A case that
    cannot be finished stays where it stopped (logged). Returns the cases closed."""
    from shebao.accounts.permissions import can_see_employee
    from shebao.cases.models import Case

    rng = random.Random(seed)
    closed = []
    with _sms_sink() as sms:
        for kinds, walk in ((MEDICAL_KINDS, _medical), (ONBOARDING_KINDS, _onboarding)):
            finding = _finding(kinds, visible)
            if finding is None:
                continue
            actor = hr if hr.user is not None and can_see_employee(hr.user, finding.employee) else admin
            try:
                case = walk(finding, actor=actor, sms=sms, rng=rng)
            except ApplicationError as exc:  # the demo goes on without it
                logger.warning("demo closed case for %s: %s", finding.kind, exc.message)
                continue
            if case.status == Case.Status.CLOSED:
                closed.append(case)
    return closed


def _finding(kinds: tuple[str, ...], visible):
    from shebao.rules.models import Finding

    open_ = Finding.objects.filter(status=Finding.Status.OPEN, employee__isnull=False).exclude(
        employee__phone_enc=""
    )
    for kind in kinds:
        for scope in (open_.filter(employee__in=visible), open_):
            found = scope.filter(kind=kind).order_by("deadline", "id").first()
            if found is not None:
                return found
    return None


# --- the two stories ------------------------------------------------------------------------------


def _medical(finding, *, actor: Actor, sms: Path | None, rng: random.Random):
    from shebao.cases.models import Case
    from shebao.cases.services import case_advance, case_attach, case_open, letter_issue, letter_send

    case = case_open(actor=actor, finding=finding)
    letter = letter_issue(actor=actor, case=case)
    _deliver(letter_send(actor=actor, letter=letter))
    _answer(letter, sms=sms, rng=rng, files=[("社保缴费记录截图.png", demo_png(seed=rng.randrange(1000)))])
    case = Case.objects.get(pk=case.pk)
    details = finding.details or {}
    insurance = details.get("insurance") or "medical"
    label = (details.get("args") or {}).get("insurance") or "医疗保险"
    months = int(details.get("months_missed") or 1)
    amount = _backpay(actor, case, details, insurance) or _estimate(case.employee.declared_wage, months)
    reference = f"{timezone.localdate():%Y%m%d}{rng.randrange(10**7, 10**8)}"
    receipt = receipt_pdf(
        case=case, what=f"{label}费补缴（{months} 个月）", amount=amount, reference=reference
    )
    case_attach(
        actor=actor,
        case=case,
        filename=f"补缴回单-{reference}.pdf",
        data=receipt,
        description="社保费补缴银行回单",
    )
    return case_advance(
        actor=actor,
        case=case,
        choice="paid",
        note=f"单位已为员工补缴{label} {months} 个月（{details.get('gap_from', '')} 起），银行回单已上传",
        data={
            "payment": {
                "amount": str(amount),
                "date": timezone.localdate().isoformat(),
                "reference": reference,
            }
        },
    )


def _onboarding(finding, *, actor: Actor, sms: Path | None, rng: random.Random):
    from shebao.cases.models import Case
    from shebao.cases.services import case_advance, case_open, letter_issue, letter_send

    case = case_open(actor=actor, finding=finding)
    unit = (finding.details or {}).get("unit") or "原单位"
    case = case_advance(
        actor=actor,
        case=case,
        choice="blocked",
        note=f"经办平台查询：{unit}仍在为其缴纳医疗保险和养老保险，需员工提供原单位停保证明",
    )
    letter = letter_issue(actor=actor, case=case)
    _deliver(letter_send(actor=actor, letter=letter))
    _answer(letter, sms=sms, rng=rng, files=[("原单位停保证明.png", demo_png(seed=rng.randrange(1000)))])
    case = Case.objects.get(pk=case.pk)
    if case.current_step == "proof":
        case = case_advance(
            actor=actor, case=case, choice="received", note="员工已上传原单位停保证明，已核对"
        )
    serial = rng.randrange(10**11, 10**12)
    return case_advance(
        actor=actor, case=case, choice="done", note=f"已办理参保登记（增员），业务流水号 {serial}"
    )


# --- the employee's side --------------------------------------------------------------------------


def _deliver(request) -> None:
    """Send the letter's messages now (the worker would, a moment later)."""
    from shebao.notify.models import Notification
    from shebao.notify.services import notifications_flush_one

    pending = Notification.objects.filter(
        idempotency_key__startswith=f"ack{request.pk}:", status=Notification.Status.PENDING
    )
    for n in pending:
        notifications_flush_one(notification=n)


def _answer(letter, *, sms: Path | None, rng: random.Random, files):
    """The employee opens the newest link, confirms who they are, acknowledges with a photo."""
    from shebao.cases.models import Acknowledgement
    from shebao.cases.services import ack_opened, ack_otp_send, ack_resolve, ack_submit, ack_token, ack_verify
    from shebao.cases.services.acks import identity_method

    ip, agent = PHONES[rng.randrange(len(PHONES))]
    resolved = ack_resolve(ack_token(letter.requests.order_by("-id").first()))
    if not resolved.ok:
        raise ApplicationError(f"函件链接不可用（{resolved.state}）")
    request = resolved.request
    ack_opened(request=request, ip=ip, user_agent=agent)
    if identity_method(request) == Acknowledgement.Method.SMS_OTP:
        ack_otp_send(request=request)
        value = _code(request.employee, sms)
    else:
        value = _id_last4(request.employee)
    request.refresh_from_db()
    ack_verify(request=request, value=value, ip=ip)
    request.refresh_from_db()
    return ack_submit(
        request=request,
        decision=Acknowledgement.Decision.ACKNOWLEDGED,
        shown_sha256=letter.sha256,
        files=files,
        ip=ip,
        user_agent=agent,
    )


def _code(employee, sms: Path | None) -> str:
    """The one-time code as the employee's phone (the sink) received it."""
    from shebao.core import crypto
    from shebao.notify.smssink import sms_latest
    from shebao.roster.models import PHONE_PURPOSE

    record = (
        sms_latest(crypto.decrypt(employee.phone_enc, purpose=PHONE_PURPOSE), directory=sms) if sms else None
    )
    code = ((record or {}).get("params") or {}).get("code")
    if not code:
        raise ApplicationError("演示短信接收器没有收到验证码")
    return code


def _id_last4(employee) -> str:
    from shebao.core import crypto
    from shebao.roster.models import ID_PURPOSE

    return crypto.decrypt(employee.id_number_enc, purpose=ID_PURPOSE)[-4:]


@contextlib.contextmanager
def _sms_sink() -> Iterator[Path | None]:
    """The demo's SMS sink serving while the stories run (``shebao up`` runs it afterwards), on
    its port — or, when that is taken (another demo is up), on a free one the channel points to
    meanwhile. The sink is on this machine on purpose: private addresses are allowed meanwhile,
    as ``make demo`` allows them for ``shebao up``."""
    from shebao.demo.notify import SMS_SINK_HOST, SMS_SINK_PORT, sms_sink_channel
    from shebao.notify.models import Channel
    from shebao.notify.smssink import sms_sink_dir, sms_sink_server

    channel = sms_sink_channel()
    if channel is None:
        yield None
        return
    folder = sms_sink_dir()
    try:
        server = sms_sink_server(SMS_SINK_HOST, SMS_SINK_PORT, folder)
    except OSError:
        server = sms_sink_server(SMS_SINK_HOST, 0, folder)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    config, allow = dict(channel.config), settings.SHEBAO_ALLOW_PRIVATE_URLS
    try:
        if config.get("endpoint") != server.url:
            Channel.objects.filter(pk=channel.pk).update(config={**config, "endpoint": server.url})
        settings.SHEBAO_ALLOW_PRIVATE_URLS = True
        yield folder
    finally:
        settings.SHEBAO_ALLOW_PRIVATE_URLS = allow
        Channel.objects.filter(pk=channel.pk).update(config=config)
        server.shutdown()
        server.server_close()
        thread.join(5)


# --- HR's side ------------------------------------------------------------------------------------


def _backpay(actor: Actor, case, details: dict, insurance: str) -> Decimal | None:
    """The calculator's figure for the gap, kept on the case — when the city's policy covers
    those months (the demo's most recent months often are not covered yet)."""
    from shebao.cases.services import case_backpay

    months = (details.get("backpay_estimate") or {}).get("months") or []
    base = case.employee.declared_wage
    if not months or not base:
        return None
    try:
        case = case_backpay(
            actor=actor, case=case, start=months[0], end=months[-1], base=base, insurances=[insurance]
        )
    except ApplicationError as exc:
        logger.info("demo closed case: no back-pay calculation (%s)", exc.message)
        return None
    total = (case.data.get("backpay") or {}).get("grand_total")
    return Decimal(total) if total else None


def _estimate(wage, months: int) -> Decimal:
    """What HR paid, for the demo: the declared wage at medical insurance's rates (demo data)."""
    return (Decimal(wage or 0) * MEDICAL_RATE * months).quantize(Decimal("0.01")) or Decimal("1000.00")


def receipt_pdf(*, case, what: str, amount: Decimal, reference: str) -> bytes:
    """A bank receipt for the back payment, as HR would scan or download it (a real PDF)."""
    from django.utils.html import escape

    from shebao.cases.pdf import render_pdf

    today = timezone.localdate()
    rows = [
        ("回单编号", reference),
        ("交易日期", f"{today:%Y年%m月%d日}"),
        ("付款单位", case.entity.name),
        ("收款单位", "国家金库（社会保险基金代收）"),
        ("业务种类", what),
        ("缴费人员", f"{case.employee.name}（工号 {case.employee.employee_no}）"),
        ("金额", f"人民币 {amount:,.2f} 元"),
        ("状态", "交易成功"),
    ]
    body = "".join(f"<tr><th>{escape(k)}</th><td>{escape(v)}</td></tr>" for k, v in rows)
    html = (
        "<html><head><meta charset='utf-8'><style>body{font-size:11pt} h1{font-size:16pt;text-align:center}"
        "table{border-collapse:collapse;width:100%} th,td{border:1px solid #555;padding:6px;text-align:left}"
        "th{width:30%;background:#eee}</style></head><body><h1>社会保险费缴费回单</h1>"
        f"<table>{body}</table><p>（演示数据：由社保合规助手演示环境生成）</p></body></html>"
    )
    return render_pdf(html, footer=f"回单 {reference}")


def demo_png(*, seed: int = 0, width: int = 240, height: int = 320) -> bytes:
    """A small valid PNG (a phone screenshot's look: grey text lines on white) for the
    employee's upload; different seeds give different images (and hashes)."""
    rng = random.Random(seed)
    lines = [(rng.randrange(16, 40), rng.randrange(60, width - 16)) for _ in range(height // 24)]
    raw = bytearray()
    for y in range(height):
        raw.append(0)  # filter: none
        band, inside = divmod(y, 24)
        left, right = lines[band] if band < len(lines) else (0, 0)
        for x in range(width):
            dark = 6 <= inside < 14 and left <= x < right
            raw += b"\x88\x88\x88" if dark else (b"\x1a\x73\xe8" if y < 20 else b"\xff\xff\xff")

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)  # 8-bit RGB
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(bytes(raw), 9))
        + chunk(b"IEND", b"")
    )
