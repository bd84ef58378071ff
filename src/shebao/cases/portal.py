"""The employee's acknowledgement pages: public, reached only through the signed link in the
message (``/a/<token>/``). Mobile-first, no staff navigation, no JavaScript needed.

Before identity is confirmed a page shows only the company, the letter's title and number and
the employee's masked name. The letter itself, its PDF and the answer form come after the
identity check (a one-time code by SMS, or the last 4 characters of the ID number), which is
remembered in this browser's session for this one link. Every state of a link — tampered or
unknown, expired, answered, replaced by a newer one, locked, withdrawn — has its own friendly
page with a fitting status code.

Thin: ``shebao.cases.services.acks`` decides; this module reads the form, keeps the session
flags and renders. Responses carry ``noindex``, a same-origin referrer policy and ``no-store``
(the token is in the URL) and a Content-Security-Policy allowing only our own style sheet and script.
"""

from __future__ import annotations

import functools
import io
import logging
import math
import re
from collections.abc import Callable
from html import escape
from html.parser import HTMLParser
from typing import Any

from django.contrib import messages
from django.core.exceptions import SuspiciousOperation
from django.http import FileResponse, HttpRequest, HttpResponse, HttpResponseNotAllowed
from django.http.multipartparser import MultiPartParserError
from django.middleware.csrf import CsrfViewMiddleware
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone
from django.utils.cache import add_never_cache_headers
from django.utils.safestring import SafeString, mark_safe
from django.utils.translation import gettext as _
from django.views.decorators.csrf import csrf_exempt

from shebao.cases import services
from shebao.cases.models import Acknowledgement, AckRequest
from shebao.cases.services import acks
from shebao.cases.services.acks import State
from shebao.cases.services.cases import MAX_ATTACHMENT
from shebao.core.context import Actor
from shebao.core.exceptions import ApplicationError

log = logging.getLogger(__name__)
SESSION_KEY = "ack_portal"
MAX_BODY = acks.MAX_FILES * MAX_ATTACHMENT + 1024 * 1024  # the files plus the form fields
CSP = (
    "default-src 'none'; style-src 'self'; script-src 'self'; img-src 'self' data:; "
    "form-action 'self'; frame-ancestors 'none'; base-uri 'none'"
)
DIGITS6 = re.compile(r"^\d{6}$")
LAST4 = re.compile(r"^[0-9A-Z]{4}$")


# --- the letter's HTML, for display -----------------------------------------------------------------

ALLOWED_TAGS = {
    "h1", "h2", "h3", "h4", "h5", "h6", "p", "br", "hr", "blockquote", "strong", "b", "em", "i", "u",
    "s", "small", "sub", "sup", "span", "div", "ul", "ol", "li", "dl", "dt", "dd", "table", "thead",
    "tbody", "tfoot", "tr", "th", "td", "caption", "colgroup", "col", "pre", "code",
}  # fmt: skip
VOID_TAGS = {"br", "hr", "col"}
DROPPED_WITH_CONTENT = {
    "head", "title", "script", "style", "iframe", "object", "embed", "template", "svg", "math",
    "noscript", "textarea", "select", "button", "form",
}  # fmt: skip
ALLOWED_ATTRS = {"class", "colspan", "rowspan"}


class _Clean(HTMLParser):
    """An allow-list copy of the letter's body: known structural tags, ``class`` and table spans;
    no scripts, styles, links, images or event handlers. Tags are kept balanced so the letter
    cannot break out of its container."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.out: list[str] = []
        self.open: list[str] = []
        self.skipping: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if self.skipping:
            if tag == self.skipping[-1]:
                self.skipping.append(tag)
            return
        if tag in DROPPED_WITH_CONTENT:
            self.skipping.append(tag)
            return
        if tag not in ALLOWED_TAGS:
            return
        kept = "".join(
            f' {name}="{escape(value or "", quote=True)}"'
            for name, value in attrs
            if name in ALLOWED_ATTRS and (name == "class" or (value or "").isdigit())
        )
        self.out.append(f"<{tag}{kept}>")
        if tag not in VOID_TAGS:
            self.open.append(tag)

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.handle_starttag(tag, attrs)
        if tag not in VOID_TAGS and self.open and self.open[-1] == tag and not self.skipping:
            self.handle_endtag(tag)

    def handle_endtag(self, tag: str) -> None:
        if self.skipping:
            if tag == self.skipping[-1]:
                self.skipping.pop()
            return
        if tag not in self.open:
            return
        while self.open:
            top = self.open.pop()
            self.out.append(f"</{top}>")
            if top == tag:
                break

    def handle_data(self, data: str) -> None:
        if not self.skipping:
            self.out.append(escape(data, quote=False))

    def result(self) -> str:
        self.close()
        return "".join(self.out) + "".join(f"</{t}>" for t in reversed(self.open))


def letter_body(html: str) -> SafeString:
    """The stored letter HTML (a whole document) as a fragment safe to put in our page."""
    match = re.search(r"<body[^>]*>(.*)</body>", html or "", flags=re.S | re.I)
    cleaner = _Clean()
    cleaner.feed(match.group(1) if match else html or "")
    return mark_safe(cleaner.result())  # noqa: S308 - built from escaped text and allow-listed tags


# --- helpers ------------------------------------------------------------------------------------------


def mask_name(name: str) -> str:
    """张三 → 张*, 欧阳娜娜 → 欧***."""
    name = (name or "").strip()
    return f"{name[0]}{'*' * max(1, len(name) - 1)}" if name else "*"


def _flags(request: HttpRequest, pk: int) -> dict[str, bool]:
    return request.session.get(SESSION_KEY, {}).get(str(pk), {})


def _flag(request: HttpRequest, pk: int, **values: bool) -> None:
    store = dict(request.session.get(SESSION_KEY, {}))
    store[str(pk)] = {**store.get(str(pk), {}), **values}
    request.session[SESSION_KEY] = store


def _verified(request: HttpRequest, req: AckRequest) -> bool:
    """Identity confirmed in this browser for this link (and recorded on the link)."""
    return bool(_flags(request, req.pk).get("verified")) and req.verified_at is not None


def _letter_url(token: str) -> str:
    return reverse("portal:letter", args=[token])


def _company(req: AckRequest | None) -> str:
    return req.letter.case.entity.name if req is not None else ""


def _context(req: AckRequest, token: str) -> dict[str, Any]:
    letter = req.letter
    return {
        "token": token,
        "req": req,
        "letter": letter,
        "company": _company(req),
        "masked_name": mask_name(req.employee.name),
    }


def _identity_context(req: AckRequest) -> dict[str, Any]:
    """What the identity step needs: the method, and for SMS the masked mobile and whether (and
    when) a code may be asked for again."""
    method = services.identity_method(req)
    ctx: dict[str, Any] = {"method": method, "max_checks": acks.MAX_FAILED_CHECKS}
    ctx["checks_left"] = acks.MAX_FAILED_CHECKS - req.failed_checks
    if method == Acknowledgement.Method.SMS_OTP:
        now = timezone.now()
        ctx["phone"] = req.employee.phone_masked
        ctx["code_sent"] = bool(req.otp_hash) and req.otp_expires_at is not None and now < req.otp_expires_at
        wait = 0
        if req.otp_sent_at is not None:
            wait = max(0, math.ceil((req.otp_sent_at + acks.OTP_RESEND_AFTER - now).total_seconds()))
        ctx["wait"] = wait
    return ctx


def _secure(response: HttpResponse, *, csp: bool = True) -> HttpResponse:
    response["X-Robots-Tag"] = "noindex, nofollow, noarchive"
    # Not "no-referrer": with it browsers send "Origin: null" on form posts, which Django's CSRF
    # check refuses. "same-origin" sends the URL (and its token) to this site only, never elsewhere.
    response["Referrer-Policy"] = "same-origin"
    response["X-Frame-Options"] = "DENY"
    if csp:
        response["Content-Security-Policy"] = CSP
    add_never_cache_headers(response)  # Cache-Control: max-age=0, no-cache, no-store, …, private
    return response


# --- the pages for a link that does not (or no longer) work -----------------------------------------

STATUS = {
    State.INVALID: 404,
    State.EXPIRED: 410,
    State.REVOKED: 410,
    State.CLOSED: 410,
    State.LOCKED: 403,
}


def _state_page(request: HttpRequest, state: str, req: AckRequest | None, token: str = "") -> HttpResponse:
    ctx = {"state": state, "req": req, "company": _company(req), "token": token}
    if req is not None:
        ctx["letter"] = req.letter
    return render(request, "cases/portal/state.html", ctx, status=STATUS.get(state, 400))


def _problem(request: HttpRequest, *, title: str, text: str, status: int, token: str = "") -> HttpResponse:
    return render(
        request,
        "cases/portal/state.html",
        {"state": "problem", "title": title, "text": text, "token": token},
        status=status,
    )


# --- CSRF with a friendly page ------------------------------------------------------------------------


class _PortalCsrf(CsrfViewMiddleware):
    """Django's CSRF check, but a failure (usually: the page was open so long the session ended,
    or cookies are off) gets the portal's page rather than Django's."""

    def _reject(self, request: HttpRequest, reason: str) -> HttpResponse:
        token = (
            getattr(request, "resolver_match", None) and request.resolver_match.kwargs.get("token")
        ) or ""
        return _problem(
            request,
            title=_("页面已失效"),
            text=_("页面停留时间过长或浏览器禁用了 Cookie，提交未成功。请返回重新打开链接后再试。"),
            status=403,
            token=token,
        )


def _csrf_failure(request: HttpRequest) -> HttpResponse | None:
    return _PortalCsrf(lambda r: HttpResponse()).process_view(request, _csrf_failure, (), {})


def portal_page(*, csp: bool = True) -> Callable[[Callable[..., HttpResponse]], Callable[..., HttpResponse]]:
    """A GET page: other methods are refused; the portal's headers are set (``csp=False`` for
    the PDF, which the browser's viewer shows)."""

    def decorate(view: Callable[..., HttpResponse]) -> Callable[..., HttpResponse]:
        @functools.wraps(view)
        def wrapper(request: HttpRequest, token: str) -> HttpResponse:
            if request.method not in ("GET", "HEAD"):
                return _secure(HttpResponseNotAllowed(["GET", "HEAD"]))
            return _secure(view(request, token), csp=csp)

        return wrapper

    return decorate


def portal_post(view: Callable[..., HttpResponse]) -> Callable[..., HttpResponse]:
    """A form target: GET goes back to the letter page; too large a body, a broken form and a
    failed CSRF check get friendly pages (the CSRF check is made here, not by the middleware,
    so that its failure page is ours)."""

    @csrf_exempt
    @functools.wraps(view)
    def wrapper(request: HttpRequest, token: str) -> HttpResponse:
        if request.method != "POST":
            return _secure(redirect(_letter_url(token)))
        try:
            length = int(request.META.get("CONTENT_LENGTH") or 0)
        except ValueError:
            length = 0
        if length > MAX_BODY:
            return _secure(_too_big(request, token))
        try:
            failed = _csrf_failure(request)
            if failed is not None:
                return _secure(failed)
            return _secure(view(request, token))
        except (SuspiciousOperation, MultiPartParserError):
            return _secure(
                _problem(
                    request,
                    title=_("提交未成功"),
                    text=_("提交的内容无法读取（文件过多或上传中断）。请返回重新提交。"),
                    status=400,
                    token=token,
                )
            )

    return wrapper


def _too_big(request: HttpRequest, token: str) -> HttpResponse:
    limit = MAX_BODY // (1024 * 1024)
    message = _("上传的文件总大小超过 %(mb)s MB，答复未提交。请减少或压缩文件后重新提交。") % {"mb": limit}
    resolved = services.ack_resolve(token)
    if resolved.ok and _verified(request, resolved.request):
        return _letter_page(
            request, token, resolved, error=message, field_errors={"files": message}, status=413
        )
    return _problem(request, title=_("文件太大"), text=message, status=413, token=token)


# --- the pages -----------------------------------------------------------------------------------------


@portal_page()
def letter_page(request: HttpRequest, token: str) -> HttpResponse:
    resolved = services.ack_resolve(token)
    if resolved.state == State.COMPLETED:
        return _completed_page(request, token, resolved.request)
    if not resolved.ok:
        return _state_page(request, resolved.state, resolved.request, token)
    req = resolved.request
    if request.method == "GET" and req.opened_at is None:
        services.ack_opened(
            request=req, ip=Actor.from_request(request).ip, user_agent=request.META.get("HTTP_USER_AGENT", "")
        )
    return _letter_page(request, token, resolved)


def _letter_page(
    request: HttpRequest,
    token: str,
    resolved: acks.Resolved,
    *,
    error: str = "",
    identity_error: str = "",
    field_errors: dict[str, str] | None = None,
    values: dict[str, str] | None = None,
    status: int = 200,
) -> HttpResponse:
    req = resolved.request
    ctx = _context(req, token)
    ctx.update(
        error=error,
        identity_error=identity_error,
        field_errors=field_errors or {},
        values=values or {},  # nothing chosen in advance: the employee picks an answer
        max_files=acks.MAX_FILES,
        max_mb=MAX_ATTACHMENT // (1024 * 1024),
    )
    if _verified(request, req):
        ctx.update(verified=True, letter_html=letter_body(req.letter.html), sha256=req.letter.sha256)
    else:
        ctx.update(verified=False, **_identity_context(req))
    return render(request, "cases/portal/letter.html", ctx, status=status)


def _completed_page(
    request: HttpRequest, token: str, req: AckRequest, *, identity_error: str = "", status: int = 200
) -> HttpResponse:
    """The link was answered. Everyone holding it learns when and what; the details, the proof
    files' names and the PDF only this session's verified holder."""
    ack = Acknowledgement.objects.filter(request=req).first()
    ctx = _context(req, token)
    flags = _flags(request, req.pk)
    may_see = _verified(request, req)
    ctx.update(
        ack=ack,
        just_done=bool(flags.get("done")),
        may_see=may_see,
        identity_error=identity_error,
        locked=req.failed_checks >= acks.MAX_FAILED_CHECKS,
    )
    if may_see and ack is not None:
        ctx["files"] = list(ack.attachments.order_by("id"))
    elif not ctx["locked"]:
        ctx.update(_identity_context(req))
    return render(request, "cases/portal/done.html", ctx, status=status)


@portal_page(csp=False)
def letter_pdf(request: HttpRequest, token: str) -> HttpResponse:
    """The stored PDF, byte for byte — to this session's verified holder of a working or
    answered link; anyone else is sent to the letter page (which asks who they are)."""
    resolved = services.ack_resolve(token)
    if resolved.state not in (State.OK, State.COMPLETED):
        return _state_page(request, resolved.state, resolved.request, token)
    req = resolved.request
    if not _verified(request, req):
        messages.info(request, _("请先确认身份，再下载函件。"))
        return redirect(_letter_url(token) + "#identity")
    try:
        data = services.letter_pdf(req.letter)
    except ApplicationError:  # the stored file is missing or its hash no longer matches
        log.exception("letter %s: stored PDF %s unreadable", req.letter.number, req.letter.sha256)
        return _problem(
            request,
            title=_("文件暂时无法读取"),
            text=_("函件文件暂时无法读取，请稍后再试或联系公司 HR。"),
            status=503,
            token=token,
        )
    response = FileResponse(
        io.BytesIO(data),
        as_attachment=True,
        filename=f"{req.letter.number}.pdf",
        content_type="application/pdf",
    )
    response["X-Document-SHA256"] = req.letter.sha256
    return response


def _may_reverify(request: HttpRequest, resolved: acks.Resolved) -> bool:
    """An answered link may confirm identity again (to see the details and download the PDF)."""
    req = resolved.request
    return (
        resolved.state == State.COMPLETED
        and req.failed_checks < acks.MAX_FAILED_CHECKS
        and not _verified(request, req)
    )


@portal_post
def send_code(request: HttpRequest, token: str) -> HttpResponse:
    resolved = services.ack_resolve(token)
    if not (resolved.ok or _may_reverify(request, resolved)):
        if resolved.state == State.COMPLETED:
            return redirect(_letter_url(token))
        return _state_page(request, resolved.state, resolved.request, token)
    req = resolved.request
    if resolved.ok and _verified(request, req):
        return redirect(_letter_url(token))
    try:
        services.ack_otp_send(request=req)
    except ApplicationError as e:
        messages.error(request, e.message)
    else:
        messages.success(
            request,
            _("验证码已发送至 %(phone)s，%(minutes)s 分钟内有效。")
            % {"phone": req.employee.phone_masked, "minutes": int(acks.OTP_TTL.total_seconds() // 60)},
        )
    return redirect(_letter_url(token) + "#identity")


@portal_post
def verify(request: HttpRequest, token: str) -> HttpResponse:
    resolved = services.ack_resolve(token)
    reverify = _may_reverify(request, resolved)
    if not (resolved.ok or reverify):
        if resolved.state == State.COMPLETED:
            return redirect(_letter_url(token))
        return _state_page(request, resolved.state, resolved.request, token)
    req = resolved.request
    if resolved.ok and _verified(request, req):
        return redirect(_letter_url(token))

    def again(message: str, status: int = 200) -> HttpResponse:
        if reverify:
            return _completed_page(request, token, req, identity_error=message, status=status)
        return _letter_page(request, token, resolved, identity_error=message, status=status)

    value = (request.POST.get("code") or "").strip().upper().replace(" ", "")
    method = services.identity_method(req)
    # A value of the wrong shape is a typing slip, not a guess: it does not count as a failure.
    if method == Acknowledgement.Method.SMS_OTP and not DIGITS6.match(value):
        return again(_("请输入短信中的 6 位数字验证码"))
    if method == Acknowledgement.Method.ID_LAST4 and not LAST4.match(value):
        return again(_("请输入身份证号码的最后 4 位（数字或字母 X）"))
    try:
        services.ack_verify(request=req, value=value, ip=Actor.from_request(request).ip)
    except ApplicationError as e:
        if e.code == State.LOCKED:
            if reverify:
                req.refresh_from_db()
                return _completed_page(request, token, req, status=403)
            return _state_page(request, State.LOCKED, req, token)
        return again(e.message)
    request.session.cycle_key()  # a fresh session id once identity is confirmed
    _flag(request, req.pk, verified=True)
    return redirect(_letter_url(token) + ("#letter" if resolved.ok else ""))


@portal_post
def answer(request: HttpRequest, token: str) -> HttpResponse:
    resolved = services.ack_resolve(token)
    if resolved.state == State.COMPLETED:
        return redirect(_letter_url(token))
    if not resolved.ok:
        return _state_page(request, resolved.state, resolved.request, token)
    req = resolved.request
    if not _verified(request, req):
        messages.error(request, _("请先确认身份。"))
        return redirect(_letter_url(token) + "#identity")

    decision = request.POST.get("decision", "")
    reason = request.POST.get("reason", "")
    values = {"decision": decision, "reason": reason}

    def again(message: str, field_errors: dict[str, str] | None = None, status: int = 200) -> HttpResponse:
        return _letter_page(
            request, token, resolved, error=message, field_errors=field_errors, values=values, status=status
        )

    uploads = [f for f in request.FILES.getlist("files") if f.name or f.size]
    if len(uploads) > acks.MAX_FILES:
        message = _("最多上传 %(n)s 个文件") % {"n": acks.MAX_FILES}
        return again(message, {"files": message})
    for f in uploads:
        if f.size > MAX_ATTACHMENT:
            message = _("文件“%(name)s”超过 %(mb)s MB，请压缩后重新选择") % {
                "name": f.name,
                "mb": MAX_ATTACHMENT // (1024 * 1024),
            }
            return again(message, {"files": message})
    try:
        services.ack_submit(
            request=req,
            decision=decision,
            reason=reason,
            shown_sha256=request.POST.get("sha256", ""),
            files=[(f.name, f.read()) for f in uploads],
            ip=Actor.from_request(request).ip,
            user_agent=request.META.get("HTTP_USER_AGENT", ""),
        )
    except ApplicationError as e:
        if e.code == "stale":
            return again(
                _("页面显示的函件与存档不一致（函件可能已更新）。请重新阅读下方函件后再提交。"), status=409
            )
        if e.code == "unverified":
            _flag(request, req.pk, verified=False)
            messages.error(request, _("请先确认身份。"))
            return redirect(_letter_url(token) + "#identity")
        current = services.ack_resolve(token)  # the link stopped working meanwhile (expired, answered …)
        if current.state == State.COMPLETED:
            return redirect(_letter_url(token))
        if not current.ok:
            return _state_page(request, current.state, current.request, token)
        fields = dict(e.field_errors)
        if "file" in fields:
            fields["files"] = e.message
        if uploads and "files" not in fields:
            fields["files"] = _("请重新选择要上传的文件")
        return again(e.message, fields)
    _flag(request, req.pk, done=True)
    return redirect(_letter_url(token))


def short_link(request: HttpRequest, short: str) -> HttpResponse:
    """The short link from an SMS (``/a/s/<code>/``): on to the signed link's page."""
    found = acks.ack_by_short(short)
    if found is None:
        return letter_page(request, "invalid")  # the "link is not valid" page
    return _secure(redirect("portal:letter", token=acks.ack_token(found)))
