"""The demo's SMS sink: a local stand-in for Alibaba Cloud's SMS API that keeps every message
as a file instead of sending it, so someone trying Shebao sees the texts it sends employees (the
letter's link, the one-time code) without an SMS account.

It answers ``SendSms`` (API version 2017-05-25) the way ``transports.sms_aliyun`` calls it — a
POST to the endpoint's ``/`` with the parameters in the query string — and checks nothing but
the parameters (no signature, any AccessKey): an SMS channel of kind ``sms_aliyun`` whose
``endpoint`` is ``http://127.0.0.1:8026`` sends here. Each number of a request becomes one file
``<UTC timestamp>-<n>.json`` (mode 0600) holding the number, signature, template code, the
template parameters and the text as the phone would show it; only the newest ``SINK_KEEP`` are
kept. ``shebao sms_sink`` runs the server; the web UI (demo only) reads the folder with
``sms_messages``; tests read a number's newest message with ``sms_latest``.
"""

from __future__ import annotations

import datetime as dt
import itertools
import json
import os
import re
import uuid
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlsplit

from django.conf import settings

from shebao.notify.sinkfiles import SinkFolder, utc_now
from shebao.notify.transports.sms_aliyun import mainland_mobile, mask

SINK_KEEP = 500
MAX_REQUEST = 64 * 1024  # a SendSms request is a few hundred bytes
_SUFFIX = ".json"
_VAR = re.compile(r"\$\{([A-Za-z][A-Za-z0-9_]*)\}")
_now = utc_now  # tests may replace it

# The demo channel's "approved" templates, so the sink shows the text a phone would. A template
# the sink does not know is shown as its parameters.
DEMO_SIGN_NAME = "社保合规助手"
DEMO_TEMPLATES = {
    "SMS_SHEBAO_NOTICE": "${name}您好：${title}，请于${deadline}前联系公司人事处理。",
    "SMS_SHEBAO_LETTER": "${name}您好：${company}向您发送了《${title}》，请于${deadline}前打开 ${link} 阅读并确认。",
    "SMS_SHEBAO_OTP": "您的验证码为${code}，10分钟内有效。请勿告诉他人（包括公司人事）。",
}
# How the demo channel uses them (its ``template_code``, ``params`` and ``templates``).
DEMO_CHANNEL_TEMPLATES = {
    "template_code": "SMS_SHEBAO_NOTICE",
    "params": ["name", "title", "deadline"],
    "templates": {
        "case_letter": "SMS_SHEBAO_LETTER name,company,title,deadline,link",
        "otp": "SMS_SHEBAO_OTP code",
    },
}


def sms_sink_dir(directory: str | os.PathLike[str] | None = None) -> Path:
    """The folder: the argument, else setting SHEBAO_SMS_SINK_DIR, else <instance>/sms-sink."""
    if directory:
        return Path(directory)
    configured = getattr(settings, "SHEBAO_SMS_SINK_DIR", None)
    if configured:
        return Path(configured)
    return Path(settings.INSTANCE_DIR) / "sms-sink"


def render_text(sign_name: str, template_code: str, params: dict[str, str], templates: dict[str, str]) -> str:
    """The message as the phone shows it: 【signature】 and the template with its parameters."""
    template = templates.get(template_code)
    if template is None:
        body = "；".join(f"{k}: {v}" for k, v in params.items()) or f"（模板 {template_code}，无参数）"
    else:
        body = _VAR.sub(lambda m: params.get(m.group(1), m.group(0)), template)
    return f"【{sign_name}】{body}"


def sms_store(directory: str | os.PathLike[str], record: dict[str, Any]) -> Path:
    """Write one message as a new file and drop the oldest beyond ``SINK_KEEP``."""
    data = json.dumps(record, ensure_ascii=False, indent=1).encode("utf-8")
    return SinkFolder(directory, _SUFFIX).store(data, now=_now(), keep=SINK_KEEP)


def sms_messages(*, directory: str | os.PathLike[str] | None = None, limit: int = 50) -> list[dict[str, Any]]:
    """The newest messages first: name, received_at (datetime), phone, phone_masked, sign_name,
    template_code, params, text, out_id, biz_id."""
    out = []
    for path in SinkFolder(sms_sink_dir(directory), _SUFFIX).files()[:limit]:
        record = _read(path)
        if record is not None:
            out.append(record)
    return out


def sms_latest(phone: str, *, directory: str | os.PathLike[str] | None = None) -> dict[str, Any] | None:
    """The newest message to ``phone`` (any form of a mainland number), or None."""
    wanted = mainland_mobile(phone) or phone
    for path in SinkFolder(sms_sink_dir(directory), _SUFFIX).files():
        record = _read(path)
        if record is not None and record.get("phone") == wanted:
            return record
    return None


# --- the HTTP side ----------------------------------------------------------------------------


class SmsSinkServer(ThreadingHTTPServer):
    """Answers Aliyun SendSms requests and stores the messages (``serve_forever`` to run)."""

    daemon_threads = True

    def __init__(
        self,
        address: tuple[str, int],
        directory: str | os.PathLike[str],
        *,
        templates: dict[str, str] | None = None,
        on_store: Callable[[Path, dict[str, Any]], None] | None = None,
    ) -> None:
        self.directory = Path(directory)
        self.templates = DEMO_TEMPLATES if templates is None else templates
        self.on_store = on_store
        self._serial = itertools.count(1)
        super().__init__(address, _Handler)

    @property
    def url(self) -> str:
        host, port = self.server_address[:2]
        return f"http://{host}:{port}"

    def send_sms(self, params: dict[str, str]) -> tuple[int, dict[str, Any]]:
        """Handle one SendSms call's parameters: (HTTP status, Aliyun's JSON answer)."""
        request_id = str(uuid.uuid4()).upper()

        def error(code: str, message: str, status: int = 200) -> tuple[int, dict[str, Any]]:
            return status, {"Code": code, "Message": message, "RequestId": request_id}

        missing = [k for k in ("PhoneNumbers", "SignName", "TemplateCode") if not params.get(k)]
        if missing:
            return error("MissingParameter", f"缺少参数：{', '.join(missing)}", 400)
        try:
            template_param = json.loads(params.get("TemplateParam") or "{}")
        except ValueError:
            return error("isv.INVALID_JSON_PARAM", "JSON参数不合法，只接受字符串值")
        if not isinstance(template_param, dict) or not all(
            isinstance(v, str) for v in template_param.values()
        ):
            return error("isv.INVALID_JSON_PARAM", "JSON参数不合法，只接受字符串值")
        numbers = [mainland_mobile(n) for n in params["PhoneNumbers"].split(",")]
        if not all(numbers):
            return error("isv.MOBILE_NUMBER_ILLEGAL", "非法手机号")
        biz_id = f"{next(self._serial):06d}{int(_now().timestamp())}^0"
        text = render_text(params["SignName"], params["TemplateCode"], template_param, self.templates)
        for number in numbers:
            record = {
                "received_at": _now().isoformat(),
                "phone": number,
                "sign_name": params["SignName"],
                "template_code": params["TemplateCode"],
                "params": template_param,
                "text": text,
                "out_id": params.get("OutId", ""),
                "biz_id": biz_id,
            }
            path = sms_store(self.directory, record)
            if self.on_store is not None:
                self.on_store(path, record)
        return 200, {"Code": "OK", "Message": "OK", "BizId": biz_id, "RequestId": request_id}


class _Handler(BaseHTTPRequestHandler):
    server: SmsSinkServer

    def do_POST(self) -> None:  # noqa: N802 - http.server's naming
        length = int(self.headers.get("Content-Length") or 0)
        if length > MAX_REQUEST:
            self._reply(413, {"Code": "RequestTooLarge", "Message": "请求过大"})
            return
        body = self.rfile.read(length) if length else b""
        params, action = send_sms_params(self.path, {k.lower(): v for k, v in self.headers.items()}, body)
        if urlsplit(self.path).path != "/" or action != "SendSms":
            self._reply(
                400,
                {
                    "Code": "InvalidAction.NotFound",
                    "Message": "Specified api is not found, please check your url and method.",
                },
            )
            return
        status, answer = self.server.send_sms(params)
        self._reply(status, answer)

    def do_GET(self) -> None:  # noqa: N802
        self._reply(405, {"Code": "MethodNotAllowed", "Message": "短信接收器只接受 SendSms 的 POST 请求"})

    def log_message(self, format: str, *args: Any) -> None:  # quiet: the command prints what it stores
        pass

    def _reply(self, status: int, body: dict[str, Any]) -> None:
        data = json.dumps(body, ensure_ascii=False).encode("utf-8")
        try:
            self.send_response(status)
            self.send_header("Content-Type", "application/json;charset=UTF-8")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)
        except (BrokenPipeError, ConnectionResetError):
            pass


def send_sms_params(path: str, headers: dict[str, str], body: bytes) -> tuple[dict[str, str], str]:
    """The parameters of an Aliyun API request (the query string, plus a form-encoded body when
    there is one) and its action (the ``x-acs-action`` header of the V3 scheme, or the older
    RPC style's ``Action`` parameter). ``headers`` lower-cased."""
    params = dict(parse_qsl(urlsplit(path).query, keep_blank_values=True))
    if "form-urlencoded" in headers.get("content-type", "") and body:
        params |= dict(parse_qsl(body.decode("utf-8", "replace"), keep_blank_values=True))
    return params, headers.get("x-acs-action") or params.get("Action", "")


def sms_sink_server(
    host: str,
    port: int,
    directory: str | os.PathLike[str],
    *,
    on_store: Callable[[Path, dict[str, Any]], None] | None = None,
) -> SmsSinkServer:
    """A sink bound to ``host:port`` (0: a free port), not yet serving."""
    return SmsSinkServer((host, port), directory, on_store=on_store)


# --- helpers ----------------------------------------------------------------------------------


def _read(path: Path) -> dict[str, Any] | None:
    """One file as a dict; None when it is gone or is not a sink record."""
    try:
        record = json.loads(path.read_text("utf-8"))
    except (FileNotFoundError, IsADirectoryError, UnicodeDecodeError, ValueError):
        return None
    if not isinstance(record, dict):
        return None
    phone = str(record.get("phone", ""))
    try:
        received = dt.datetime.fromisoformat(str(record.get("received_at", "")))
    except ValueError:
        received = _now()
    params = record.get("params") if isinstance(record.get("params"), dict) else {}
    return {
        "name": path.name,
        "received_at": received,
        "phone": phone,
        "phone_masked": mask(phone),
        "sign_name": str(record.get("sign_name", "")),
        "template_code": str(record.get("template_code", "")),
        "params": params,
        "text": str(record.get("text", "")),
        "out_id": str(record.get("out_id", "")),
        "biz_id": str(record.get("biz_id", "")),
    }
