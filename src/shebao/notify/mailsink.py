"""The demo's mail sink: a local SMTP server that keeps every message as a file instead of
delivering it, so someone trying Shebao sees the emails it sends without a real mail account.

``shebao mail_sink`` runs the server; the web UI reads the folder with ``sink_messages`` and
``sink_message``. Files are ``<UTC timestamp>-<n>.eml`` (raw RFC 5322, openable in any mail
client); only the newest ``SINK_KEEP`` are kept.
"""

from __future__ import annotations

import datetime as dt
import email
import email.policy
import ipaddress
import os
from collections.abc import Callable
from email.message import EmailMessage
from pathlib import Path
from typing import TYPE_CHECKING, Any

from django.conf import settings

from shebao.notify.sinkfiles import SinkFolder, utc_now

if TYPE_CHECKING:
    from aiosmtpd.controller import Controller
    from aiosmtpd.smtp import SMTP, Envelope, Session

SINK_KEEP = 500
SINK_MAX_BYTES = 5 * 1024 * 1024  # per message: notifications are small; bounds the folder too
LIST_TEXT_CHARS = 1000
_SUFFIX = ".eml"
_NAME = SinkFolder.name_pattern(_SUFFIX)
_now = utc_now  # tests replace it


def sink_dir(directory: str | os.PathLike[str] | None = None) -> Path:
    """The folder: the argument, else setting SHEBAO_MAIL_SINK_DIR, else <instance>/mail-sink."""
    if directory:
        return Path(directory)
    configured = getattr(settings, "SHEBAO_MAIL_SINK_DIR", None)
    if configured:
        return Path(configured)
    return Path(settings.INSTANCE_DIR) / "mail-sink"


def sink_store(directory: str | os.PathLike[str], data: bytes) -> Path:
    """Write one message (raw bytes) as a new file and drop the oldest beyond ``SINK_KEEP``."""
    return SinkFolder(directory, _SUFFIX).store(data, now=_now(), keep=SINK_KEEP)


def sink_messages(
    *, directory: str | os.PathLike[str] | None = None, limit: int = 50
) -> list[dict[str, Any]]:
    """The newest messages first: name, subject, from, to, date, text (first
    ``LIST_TEXT_CHARS`` characters), has_html, size."""
    summaries = []
    for path in SinkFolder(sink_dir(directory), _SUFFIX).files()[:limit]:
        parsed = _read(path)
        if parsed is None:
            continue  # deleted by the retention meanwhile
        info, text, _html = parsed
        info["text"] = text[:LIST_TEXT_CHARS]
        summaries.append(info)
    return summaries


def sink_message(name: str, *, directory: str | os.PathLike[str] | None = None) -> dict[str, Any] | None:
    """One message with its full text and HTML, or None (unknown name, or one that is not a
    plain file name of the sink: no path separators, no ``..``)."""
    if not _NAME.fullmatch(name or ""):
        return None
    parsed = _read(sink_dir(directory) / name)
    if parsed is None:
        return None
    info, text, html = parsed
    info["text"] = text
    info["html"] = html
    return info


# --- the SMTP side ----------------------------------------------------------------------------


class SinkHandler:
    """aiosmtpd handler: accepts every message and stores it. The envelope goes in as
    ``Return-Path``/``X-Original-To`` headers so Bcc recipients stay visible."""

    def __init__(
        self, directory: str | os.PathLike[str], on_store: Callable[[Path], None] | None = None
    ) -> None:
        self.directory = Path(directory)
        self.on_store = on_store

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        content = envelope.original_content or b""
        rcpts = ", ".join(envelope.rcpt_tos)
        head = f"Return-Path: <{envelope.mail_from or ''}>\r\nX-Original-To: {rcpts}\r\n"
        # A blocking write on the event loop: a demo sink receives a few small messages at a time.
        path = sink_store(self.directory, head.encode("utf-8", "replace") + content)
        if self.on_store is not None:
            self.on_store(path)
        return f"250 2.0.0 OK: stored as {path.name}"


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def sink_controller(
    host: str, port: int, directory: str | os.PathLike[str], on_store: Callable[[Path], None] | None = None
) -> Controller:
    """An aiosmtpd controller (not started) that stores what it receives in ``directory``."""
    from aiosmtpd.controller import Controller

    return Controller(
        SinkHandler(directory, on_store),
        hostname=host,
        port=port,
        server_hostname="shebao-mail-sink",  # avoids socket.getfqdn(), slow without DNS
        data_size_limit=SINK_MAX_BYTES,
        ready_timeout=10,
    )


# --- helpers ----------------------------------------------------------------------------------


def _read(path: Path) -> tuple[dict[str, Any], str, str] | None:
    """(summary, text body, html body) of one file; None when it is gone. A malformed message
    still lists (with what could be read) rather than breaking the page."""
    try:
        raw = path.read_bytes()
        mtime = path.stat().st_mtime
    except (FileNotFoundError, IsADirectoryError):
        return None
    msg = email.message_from_bytes(raw, policy=email.policy.default)
    assert isinstance(msg, EmailMessage)
    text = _body(msg, "plain")
    html = _body(msg, "html")
    info: dict[str, Any] = {
        "name": path.name,
        "subject": _header(msg, "Subject"),
        "from": _header(msg, "From"),
        "to": _header(msg, "To") or _header(msg, "X-Original-To"),
        "date": _date(msg) or dt.datetime.fromtimestamp(mtime, dt.UTC),
        "message_id": _header(msg, "Message-ID"),
        "has_html": bool(html),
        "size": len(raw),
    }
    return info, text, html


def _header(msg: EmailMessage, name: str) -> str:
    try:
        value = msg.get(name)
    except Exception:  # a header the parser chokes on
        return ""
    return " ".join(str(value).split()) if value is not None else ""


def _date(msg: EmailMessage) -> dt.datetime | None:
    try:
        header = msg.get("Date")
        value = getattr(header, "datetime", None)
    except Exception:
        return None
    if isinstance(value, dt.datetime) and value.tzinfo is None:
        value = value.replace(tzinfo=dt.UTC)  # "-0000": UTC, origin unknown
    return value if isinstance(value, dt.datetime) else None


def _body(msg: EmailMessage, subtype: str) -> str:
    try:
        part = msg.get_body(preferencelist=(subtype,))
        if part is None:
            return ""
        content = part.get_content()
    except Exception:  # undecodable charset or transfer encoding
        return ""
    # The wire's CRLF line ends survive in an 8bit body.
    return content.replace("\r\n", "\n") if isinstance(content, str) else ""
