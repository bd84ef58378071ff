"""The HTTP connector: a client for the API in docs/connector-api.md.

``HttpClient`` is the transport: HMAC signing of every attempt, separate connect and read
timeouts, retries with exponential backoff and jitter on 429 (honouring Retry-After), 5xx,
timeouts and connection errors, and an SSRF guard — http(s) only, no redirects, the host resolved
once per attempt, every address checked, and the connection pinned to the address checked.

``HttpSource`` reads one unit's pages (enrolments or contributions) and turns them into
``facts.SourceRow`` with ``RecordConverter``. Paging, de-duplication across pages, the cursor and
the transactions are ``shebao.ledger.sync``'s job.

Only the standard library is used (``http.client``): httpx is not a dependency.
"""

from __future__ import annotations

import email.utils
import http.client
import ipaddress
import json
import logging
import random
import socket
import ssl
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Any
from urllib.parse import quote, urlencode, urlsplit

from shebao.core.http import PinnedHTTPConnection, PinnedHTTPSConnection, address_refusal
from shebao.ledger.connectors.base import (
    ConnectorError,
    RecordConverter,
    connector_secret,
    connector_unit_no,
    signed_headers,
)

__all__ = ["HttpClient", "HttpSource", "Page", "RetryPolicy", "http_source_for"]

logger = logging.getLogger(__name__)

USER_AGENT = "Shebao-Connector/1"
MAX_RESPONSE_BYTES = 20 * 1024 * 1024
RETRY_STATUSES = frozenset({429, 500, 502, 503, 504})
RESOURCES = {"e": "enrollments", "c": "contributions"}


@dataclass(frozen=True)
class RetryPolicy:
    attempts: int = 5  # tries per request, the first included
    backoff: float = 1.0  # seconds before the 2nd try; doubled each time, with jitter
    backoff_max: float = 60.0
    retry_after_max: float = 120.0  # a longer Retry-After is shortened to this


def _setting(name: str, default):
    from django.conf import settings

    return getattr(settings, name, default)


# --- SSRF ------------------------------------------------------------------------------------
# address_refusal and the pinned connections live in shebao.core.http (shared with the
# notification transports); the connector names its own setting in the refusal messages.

CONNECTOR_SETTING = "SHEBAO_CONNECTOR_ALLOW_PRIVATE"


# --- the client --------------------------------------------------------------------------------


def _retry_after(value: str | None) -> float | None:
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, when.timestamp() - time.time())


def _error_message(body: bytes) -> tuple[str, str]:
    try:
        err = json.loads(body).get("error") or {}
        return str(err.get("code") or ""), str(err.get("message") or "")[:300]
    except (ValueError, AttributeError):
        return "", ""


class HttpClient:
    """GET JSON from a connector API with signing, timeouts, retries and the SSRF guard.

    ``retries`` counts the extra attempts made over the client's life; ``sleep`` and ``rand``
    are injectable so tests can see the waits without waiting."""

    def __init__(
        self,
        base_url: str,
        *,
        client_id: str = "",
        secret: str = "",
        allow_private: bool = False,
        allow_loopback: bool = False,
        connect_timeout: float = 5.0,
        read_timeout: float = 30.0,
        retry: RetryPolicy | None = None,
        sleep: Callable[[float], None] = time.sleep,
        rand: Callable[[], float] = random.random,
        max_bytes: int = MAX_RESPONSE_BYTES,
    ) -> None:
        parts = urlsplit((base_url or "").strip())
        if parts.scheme not in ("http", "https"):
            raise ConnectorError(f"接口地址“{base_url}”无效：只支持 http:// 或 https://", code="invalid_url")
        if not parts.hostname:
            raise ConnectorError(f"接口地址“{base_url}”缺少主机名", code="invalid_url")
        if parts.username or parts.password:
            raise ConnectorError(
                "接口地址中不能包含用户名或密码（请使用客户端标识和密钥）", code="invalid_url"
            )
        if parts.query or parts.fragment:
            raise ConnectorError("接口地址不能包含查询参数或 #", code="invalid_url")
        try:
            port = parts.port
        except ValueError:
            raise ConnectorError(f"接口地址“{base_url}”的端口无效", code="invalid_url") from None
        self.scheme = parts.scheme
        self.host = parts.hostname
        self.port = port or (443 if parts.scheme == "https" else 80)
        self.prefix = parts.path.rstrip("/")
        self.client_id, self.secret = client_id, secret
        self.allow_private, self.allow_loopback = allow_private, allow_loopback
        self.connect_timeout, self.read_timeout = connect_timeout, read_timeout
        self.retry = retry or RetryPolicy()
        self.sleep, self.rand = sleep, rand
        self.max_bytes = max_bytes
        self.retries = 0
        self.waits: list[float] = []

    # one attempt -----------------------------------------------------------------------------

    def _resolve(self) -> str:
        try:
            infos = socket.getaddrinfo(self.host, self.port, type=socket.SOCK_STREAM)
        except socket.gaierror as exc:
            raise ConnectorError(f"无法解析主机名 {self.host}：{exc}", code="dns", transient=True) from exc
        addresses = list(dict.fromkeys(info[4][0] for info in infos))
        for address in addresses:  # every address: a name resolving to one bad address is refused
            reason = address_refusal(
                ipaddress.ip_address(address.split("%", 1)[0]),
                allow_private=self.allow_private,
                allow_loopback=self.allow_loopback,
                setting=CONNECTOR_SETTING,
            )
            if reason:
                raise ConnectorError(f"拒绝连接 {self.host}：{reason}", code="address_refused")
        if not addresses:
            raise ConnectorError(f"无法解析主机名 {self.host}", code="dns", transient=True)
        return addresses[0]

    def _attempt(self, path: str, query: str) -> tuple[int, http.client.HTTPMessage, bytes]:
        ip = self._resolve()
        cls = PinnedHTTPSConnection if self.scheme == "https" else PinnedHTTPConnection
        conn = cls(
            self.host, self.port, ip=ip, connect_timeout=self.connect_timeout, read_timeout=self.read_timeout
        )
        headers = {"Accept": "application/json", "User-Agent": USER_AGENT}
        if self.secret:
            headers |= signed_headers(
                client_id=self.client_id, secret=self.secret, method="GET", path=path, query=query
            )
        try:
            try:
                conn.connect()
            except TimeoutError as exc:
                raise ConnectorError(
                    f"连接 {self.host} 超时（{self.connect_timeout:g} 秒）",
                    code="connect_timeout",
                    transient=True,
                ) from exc
            conn.request("GET", f"{path}?{query}" if query else path, headers=headers)
            resp = conn.getresponse()
            body = resp.read(self.max_bytes + 1)
            if len(body) > self.max_bytes:
                raise ConnectorError(
                    f"响应超过 {self.max_bytes // (1024 * 1024)} MB，已中止", code="too_large"
                )
            return resp.status, resp.headers, body
        except ssl.SSLCertVerificationError as exc:
            raise ConnectorError(f"{self.host} 的 HTTPS 证书无效：{exc.verify_message}", code="tls") from exc
        except TimeoutError as exc:
            raise ConnectorError(
                f"读取 {self.host} 的响应超时（{self.read_timeout:g} 秒）",
                code="read_timeout",
                transient=True,
            ) from exc
        except (OSError, http.client.HTTPException) as exc:
            raise ConnectorError(
                f"与 {self.host} 的连接出错：{exc.__class__.__name__}: {exc}",
                code="connection",
                transient=True,
            ) from exc
        finally:
            conn.close()

    # with retries ----------------------------------------------------------------------------

    def _backoff(self, attempt: int) -> float:
        cap = min(self.retry.backoff_max, self.retry.backoff * (2 ** (attempt - 1)))
        return cap / 2 + self.rand() * cap / 2  # "equal jitter": never zero, never in lockstep

    def get_json(self, path: str, query: Sequence[tuple[str, str]] = ()) -> dict[str, Any]:
        """GET ``prefix + path`` and return the decoded object (amounts as Decimal).

        Raises ``ConnectorError``: transient after the last attempt failed transiently, permanent
        at once on other 4xx, redirects, a body that is no JSON object, or a refused address."""
        full_path = self.prefix + path
        qs = urlencode(list(query), quote_via=quote)
        last: ConnectorError | None = None
        for attempt in range(1, self.retry.attempts + 1):
            wait: float | None = None
            try:
                status, headers, body = self._attempt(full_path, qs)
            except ConnectorError as exc:
                if not exc.transient:
                    raise
                last = exc
            else:
                if status == 200:
                    try:
                        data = json.loads(body, parse_float=Decimal)
                    except (ValueError, UnicodeDecodeError):
                        last = ConnectorError(
                            "服务器返回的内容不是有效的 JSON", code="bad_json", transient=True
                        )
                    else:
                        if isinstance(data, dict):
                            return data
                        raise ConnectorError("服务器返回的 JSON 不是对象", code="protocol")
                else:
                    code, message = _error_message(body)
                    detail = (
                        f"HTTP {status}" + (f" {code}" if code else "") + (f"：{message}" if message else "")
                    )
                    if status in RETRY_STATUSES:
                        last = ConnectorError(
                            f"服务器暂时不可用（{detail}）", code=code or f"http_{status}", transient=True
                        )
                        wait = _retry_after(headers.get("Retry-After"))
                    elif 300 <= status < 400:
                        raise ConnectorError(
                            f"服务器要求跳转（{detail}），连接器不跟随跳转，请直接配置最终地址",
                            code="redirect",
                        )
                    elif status in (401, 403):
                        raise ConnectorError(
                            f"服务器拒绝了请求（{detail}），请检查客户端标识、密钥和服务器时间",
                            code=code or f"http_{status}",
                        )
                    else:
                        raise ConnectorError(f"服务器拒绝了请求（{detail}）", code=code or f"http_{status}")
            if attempt == self.retry.attempts:
                break
            wait = min(wait, self.retry.retry_after_max) if wait is not None else self._backoff(attempt)
            logger.info(
                "connector %s%s: %s; retry %d in %.2fs",
                self.host,
                full_path,
                last.message if last else "",
                attempt,
                wait,
            )
            self.retries += 1
            self.waits.append(wait)
            self.sleep(wait)
        assert last is not None
        raise ConnectorError(
            f"{last.message}；已尝试 {self.retry.attempts} 次，本次同步中止，下次同步将从上次完成的页继续",
            code=last.code,
            transient=True,
        )


# --- one unit's pages ------------------------------------------------------------------------


@dataclass
class Page:
    records: list[Any]
    next_cursor: str | None
    sync_token: str


class HttpSource:
    """Reads one unit's enrolments (``phase="e"``) or contributions (``"c"``) page by page."""

    def __init__(self, client: HttpClient, *, unit_no: str, limit: int = 200) -> None:
        self.client = client
        self.unit_no = unit_no
        self.limit = limit
        self.converter = RecordConverter(own_unit_no=unit_no)

    def page(self, phase: str, *, cursor: str = "", since: str = "") -> Page:
        query = [("limit", str(self.limit))]
        if cursor:
            query.append(("cursor", cursor))
        elif since:
            query.append(("since", since))
        data = self.client.get_json(f"/v1/units/{quote(self.unit_no, safe='')}/{RESOURCES[phase]}", query)
        records, next_cursor, token = data.get("data"), data.get("next_cursor"), data.get("sync_token")
        if not isinstance(records, list):
            raise ConnectorError("服务器响应缺少 data 数组", code="protocol")
        if next_cursor is not None and (not isinstance(next_cursor, str) or not next_cursor):
            raise ConnectorError("服务器响应的 next_cursor 应为非空字符串或 null", code="protocol")
        if token is not None and not isinstance(token, str):
            raise ConnectorError("服务器响应的 sync_token 应为字符串", code="protocol")
        return Page(records=records, next_cursor=next_cursor, sync_token=token or "")

    def convert(self, phase: str, record: Any, *, row: int):
        return (
            self.converter.enrollment(record, row=row)
            if phase == "e"
            else self.converter.contribution(record, row=row)
        )


def http_source_for(connector, **client_kwargs) -> HttpSource:
    """The source of an HTTP connector, configured from settings (``SHEBAO_CONNECTOR_*``).

    A simulator connector may reach loopback (the simulator runs on this machine); anything
    private needs ``SHEBAO_CONNECTOR_ALLOW_PRIVATE`` (an in-house gateway on the LAN)."""
    retry = RetryPolicy(
        attempts=int(_setting("SHEBAO_CONNECTOR_MAX_ATTEMPTS", 5)),
        backoff=float(_setting("SHEBAO_CONNECTOR_BACKOFF", 1.0)),
        backoff_max=float(_setting("SHEBAO_CONNECTOR_BACKOFF_MAX", 60.0)),
        retry_after_max=float(_setting("SHEBAO_CONNECTOR_RETRY_AFTER_MAX", 120.0)),
    )
    kwargs: dict[str, Any] = {
        "client_id": connector.client_id,
        "secret": connector_secret(connector),
        "allow_private": bool(_setting("SHEBAO_CONNECTOR_ALLOW_PRIVATE", False)),
        "allow_loopback": bool(connector.is_simulator),
        "connect_timeout": float(_setting("SHEBAO_CONNECTOR_CONNECT_TIMEOUT", 5.0)),
        "read_timeout": float(_setting("SHEBAO_CONNECTOR_READ_TIMEOUT", 30.0)),
        "retry": retry,
    } | client_kwargs
    client = HttpClient(connector.base_url, **kwargs)
    return HttpSource(
        client,
        unit_no=connector_unit_no(connector.entity),
        limit=int(_setting("SHEBAO_CONNECTOR_PAGE_LIMIT", 200)),
    )
