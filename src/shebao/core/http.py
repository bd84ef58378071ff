"""The one way Shebao talks HTTP to the outside world (robots, webhooks, SMS APIs, connectors).

Every outbound request goes through the SSRF guard: http(s) only, no user:password in the URL,
the host name resolved once and *every* address it resolves to checked (a name that resolves to
one public and one private address is refused: the attacker picks which one we would get), and
the connection pinned to the address that was checked (so a second, different DNS answer cannot
slip in between the check and the connect). Redirects are never followed: a 3xx is returned to
the caller, who treats it as an error.

Link-local (cloud metadata at 169.254.169.254), multicast, reserved and unspecified addresses are
refused always; loopback and private (RFC 1918, ULA, CGNAT …) addresses only unless
``allow_private`` (``SHEBAO_ALLOW_PRIVATE_URLS`` for notification channels: an in-house webhook
receiver or SMS gateway on the LAN).

Only the standard library is used (``http.client``): httpx/requests are not dependencies.
"""

from __future__ import annotations

import http.client
import ipaddress
import json
import socket
import ssl
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import SplitResult, urlsplit, urlunsplit

__all__ = [
    "HttpError",
    "PinnedHTTPConnection",
    "PinnedHTTPSConnection",
    "Response",
    "address_refusal",
    "check_url",
    "host_header",
    "parse_url",
    "request",
]

USER_AGENT = "Shebao/1"
DEFAULT_MAX_BYTES = 1024 * 1024
DEFAULT_SETTING = "SHEBAO_ALLOW_PRIVATE_URLS"

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address


class HttpError(Exception):
    """A request could not be made or finished. ``message`` is user-facing Chinese and never
    contains the URL (webhook URLs carry their access token); ``transient`` says whether trying
    again later may help (DNS failure, refused or reset connection, timeout)."""

    def __init__(self, message: str, *, code: str, transient: bool = False) -> None:
        super().__init__(message)
        self.message = message
        self.code = code
        self.transient = transient


@dataclass
class Response:
    status: int
    headers: dict[str, str] = field(default_factory=dict)  # names lower-cased
    body: bytes = b""

    def json(self) -> Any:
        """The body decoded as JSON; ``HttpError(code="bad_json", transient=True)`` if it is not
        (a proxy's HTML error page in front of the provider is the usual cause)."""
        try:
            return json.loads(self.body.decode("utf-8"))
        except (UnicodeDecodeError, ValueError):
            raise HttpError(
                f"服务器返回的内容不是有效的 JSON（HTTP {self.status}）：{self.excerpt()}",
                code="bad_json",
                transient=True,
            ) from None

    def excerpt(self, limit: int = 300) -> str:
        """The start of the body as one line of text, for logs and error messages."""
        text = " ".join(self.body[: limit * 4].decode("utf-8", errors="replace").split())
        return text if len(text) <= limit else text[: limit - 1] + "…"


# --- addresses -----------------------------------------------------------------------------------


def address_refusal(
    ip: IPAddress, *, allow_private: bool, allow_loopback: bool = False, setting: str = DEFAULT_SETTING
) -> str:
    """Why we may not connect to ``ip`` ("" when we may). ``setting`` names the switch shown in
    the message (the HTTP connector has its own, ``SHEBAO_CONNECTOR_ALLOW_PRIVATE``)."""
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped  # ::ffff:127.0.0.1 is 127.0.0.1
    if ip.is_link_local or ip.is_multicast or ip.is_unspecified or ip.is_reserved:
        return f"地址 {ip} 是链路本地/组播/保留地址，不允许连接"
    if ip.is_loopback:
        if allow_loopback or allow_private:
            return ""
        return f"地址 {ip} 是本机回环地址，不允许连接（管理员可设置 {setting}=1）"
    if not ip.is_global:
        return "" if allow_private else f"地址 {ip} 是内网地址，不允许连接（管理员可设置 {setting}=1）"
    return ""


def parse_url(url: str) -> SplitResult:
    """The URL split, or ``HttpError(code="invalid_url")``: http(s) only, a host, a valid port, no
    user name or password (they would be sent to whoever the host is, and logged). Does not
    resolve anything, so it is also what channel configuration forms validate with."""
    text = (url or "").strip()
    try:
        parts = urlsplit(text)
        port = parts.port
    except ValueError:
        raise HttpError("地址无效（端口或格式有误）", code="invalid_url") from None
    if parts.scheme.lower() not in ("http", "https"):
        raise HttpError("地址无效：只支持 http:// 或 https://", code="invalid_url")
    if not parts.hostname:
        raise HttpError("地址无效：缺少主机名", code="invalid_url")
    if "@" in parts.netloc:
        raise HttpError("地址中不能包含用户名或密码", code="invalid_url")
    if any(ch.isspace() for ch in text) or any(ord(ch) < 32 for ch in text):
        raise HttpError("地址中不能包含空白或控制字符", code="invalid_url")
    if port == 0:
        raise HttpError("地址无效：端口不能为 0", code="invalid_url")
    return parts


def _port(parts: SplitResult) -> int:
    return parts.port or (443 if parts.scheme.lower() == "https" else 80)


def host_header(url: str) -> str:
    """The Host header ``request`` sends for ``url`` (what a provider's signature covers)."""
    parts = parse_url(url)
    host = parts.hostname or ""
    if ":" in host:
        host = f"[{host}]"
    default = 443 if parts.scheme.lower() == "https" else 80
    return host if _port(parts) == default else f"{host}:{_port(parts)}"


def _literal_ip(host: str) -> IPAddress | None:
    try:
        return ipaddress.ip_address(host.split("%", 1)[0])
    except ValueError:
        return None


def _resolve(host: str, port: int, *, allow_private: bool) -> str:
    """The address to connect to; every address the name resolves to must pass."""
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except (socket.gaierror, UnicodeError) as exc:
        raise HttpError(f"无法解析主机名 {host}：{exc}", code="dns", transient=True) from exc
    addresses = list(dict.fromkeys(str(info[4][0]) for info in infos))
    if not addresses:
        raise HttpError(f"无法解析主机名 {host}", code="dns", transient=True)
    for address in addresses:
        ip = _literal_ip(address)
        reason = "无法识别的地址" if ip is None else address_refusal(ip, allow_private=allow_private)
        if reason:
            raise HttpError(f"拒绝连接 {host}：{reason}", code="address_refused")
    return addresses[0]


def check_url(url: str, *, allow_private: bool) -> str:
    """The normalised URL if we may send to it, else ``HttpError`` with a Chinese message.

    Used when a channel is saved, so the admin hears about http://10.0.0.5/ at once rather than at
    the first delivery. A literal IP is checked without DNS; a host name is resolved (a DNS
    failure is ``code="dns", transient=True``: the caller may decide to save anyway)."""
    parts = parse_url(url)
    host = parts.hostname or ""
    ip = _literal_ip(host)
    if ip is not None:
        reason = address_refusal(ip, allow_private=allow_private)
        if reason:
            raise HttpError(reason, code="address_refused")
    else:
        _resolve(host, _port(parts), allow_private=allow_private)
    netloc = parts.netloc.rsplit("@", 1)[-1]
    return urlunsplit((parts.scheme.lower(), netloc.lower(), parts.path or "/", parts.query, ""))


# --- pinned connections --------------------------------------------------------------------------


class PinnedHTTPConnection(http.client.HTTPConnection):
    """Connects to the address that was checked, sends the host name in Host."""

    def __init__(self, host: str, port: int, *, ip: str, connect_timeout: float, read_timeout: float) -> None:
        super().__init__(host, port, timeout=connect_timeout)
        self._ip, self._read_timeout = ip, read_timeout

    def connect(self) -> None:
        self.sock = socket.create_connection((self._ip, self.port), self.timeout, self.source_address)
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.sock.settimeout(self._read_timeout)


class PinnedHTTPSConnection(http.client.HTTPSConnection):
    """As ``PinnedHTTPConnection``, with TLS verified against the host name (not the address)."""

    def __init__(self, host: str, port: int, *, ip: str, connect_timeout: float, read_timeout: float) -> None:
        super().__init__(host, port, timeout=connect_timeout, context=ssl.create_default_context())
        self._ip, self._read_timeout = ip, read_timeout

    def connect(self) -> None:
        sock = socket.create_connection((self._ip, self.port), self.timeout, self.source_address)
        sock.settimeout(self._read_timeout)
        self.sock = self._context.wrap_socket(sock, server_hostname=self.host)  # type: ignore[attr-defined]


# --- the request ---------------------------------------------------------------------------------


def request(
    method: str,
    url: str,
    *,
    headers: dict[str, str] | None = None,
    body: bytes | None = None,
    timeout: float = 10.0,
    allow_private: bool = False,
    max_bytes: int = DEFAULT_MAX_BYTES,
) -> Response:
    """Send one request and return the response, whatever its status (3xx included: redirects
    are not followed). ``timeout`` applies to the connect and to each read.

    Raises ``HttpError``: transient for DNS failures, refused/reset connections, timeouts and
    other network errors; not transient for an invalid URL, a refused address, a bad TLS
    certificate or a body over ``max_bytes``."""
    parts = parse_url(url)
    host = parts.hostname or ""
    port = _port(parts)
    ip = _resolve(host, port, allow_private=allow_private)
    path = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    cls = PinnedHTTPSConnection if parts.scheme.lower() == "https" else PinnedHTTPConnection
    conn = cls(host, port, ip=ip, connect_timeout=timeout, read_timeout=timeout)
    sent = {"User-Agent": USER_AGENT, "Accept": "application/json"}
    for name, value in (headers or {}).items():
        sent = {k: v for k, v in sent.items() if k.lower() != name.lower()}
        sent[name] = value
    if not any(k.lower() == "host" for k in sent):
        sent["Host"] = host_header(url)  # the same value signers use (see host_header)
    try:
        conn.request(method.upper(), path, body=body, headers=sent)
        resp = conn.getresponse()
        data = resp.read(max_bytes + 1)
        if len(data) > max_bytes:
            raise HttpError(f"{host} 的响应超过 {max_bytes} 字节，已中止", code="too_large")
        return Response(status=resp.status, headers={k.lower(): v for k, v in resp.getheaders()}, body=data)
    except ssl.SSLCertVerificationError as exc:
        raise HttpError(f"{host} 的 HTTPS 证书无效：{exc.verify_message}", code="tls") from exc
    except TimeoutError as exc:
        raise HttpError(f"连接 {host} 超时（{timeout:g} 秒）", code="timeout", transient=True) from exc
    except ConnectionRefusedError as exc:
        raise HttpError(f"{host} 拒绝连接", code="connection_refused", transient=True) from exc
    except ConnectionResetError as exc:
        raise HttpError(f"与 {host} 的连接被重置", code="connection_reset", transient=True) from exc
    except (OSError, http.client.HTTPException) as exc:
        raise HttpError(
            f"与 {host} 的连接出错：{exc.__class__.__name__}: {exc}", code="connection", transient=True
        ) from exc
    finally:
        conn.close()
