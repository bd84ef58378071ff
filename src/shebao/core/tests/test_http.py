"""shebao.core.http: the SSRF guard, pinning, errors, and a real round trip on loopback."""

from __future__ import annotations

import ipaddress
import socket
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

from shebao.core import http
from shebao.core.http import HttpError, address_refusal, check_url, request


class _Server:
    """A loopback server answering every request with ``reply`` (status, headers, body) after
    ``delay`` seconds, recording what it got."""

    def __init__(self) -> None:
        self.reply: tuple[int, dict[str, str], bytes] = (200, {"Content-Type": "application/json"}, b"{}")
        self.delay = 0.0
        self.seen: list[dict[str, Any]] = []
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def _answer(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                outer.seen.append(
                    {
                        "method": self.command,
                        "path": self.path,
                        "headers": {k.lower(): v for k, v in self.headers.items()},
                        "body": self.rfile.read(length) if length else b"",
                    }
                )
                if outer.delay:
                    time.sleep(outer.delay)
                status, headers, body = outer.reply
                try:
                    self.send_response(status)
                    for name, value in headers.items():
                        self.send_header(name, value)
                    self.send_header("Content-Length", str(len(body)))
                    self.end_headers()
                    self.wfile.write(body)
                except (BrokenPipeError, ConnectionResetError):
                    pass  # the client gave up (the timeout and oversize tests)

            do_GET = do_POST = _answer  # noqa: N815

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.port = self.httpd.server_address[1]
        threading.Thread(target=self.httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture
def server() -> Iterator[_Server]:
    s = _Server()
    yield s
    s.close()


def _fake_dns(monkeypatch: pytest.MonkeyPatch, mapping: dict[str, list[str]]) -> None:
    real = socket.getaddrinfo

    def getaddrinfo(host: str, port: Any, *args: Any, **kwargs: Any) -> Any:
        if host in mapping:
            return [
                (socket.AF_INET6 if ":" in a else socket.AF_INET, socket.SOCK_STREAM, 6, "", (a, port))
                for a in mapping[host]
            ]
        return real(host, port, *args, **kwargs)

    monkeypatch.setattr(socket, "getaddrinfo", getaddrinfo)


# --- refusals -------------------------------------------------------------------------------------


def test_loopback_refused_unless_allowed(server: _Server) -> None:
    url = f"http://127.0.0.1:{server.port}/x"
    with pytest.raises(HttpError) as e:
        request("GET", url)
    assert e.value.code == "address_refused" and not e.value.transient
    assert "本机回环地址" in e.value.message and "SHEBAO_ALLOW_PRIVATE_URLS=1" in e.value.message
    assert server.seen == []  # refused before connecting
    assert request("GET", url, allow_private=True).status == 200


@pytest.mark.parametrize(
    "url",
    [
        "http://10.1.2.3/",
        "http://192.168.1.5/",
        "http://172.16.0.1/",
        "http://100.64.0.1/",
        "http://[fc00::1]/",
    ],
)
def test_private_addresses_refused(url: str) -> None:
    with pytest.raises(HttpError) as e:
        request("GET", url, timeout=0.5)
    assert e.value.code == "address_refused" and "内网地址" in e.value.message


@pytest.mark.parametrize(
    "url",
    [
        "http://169.254.169.254/latest/meta-data/",
        "http://[fe80::1]/",
        "http://0.0.0.0/",
        "http://224.0.0.1/",
        "http://[::ffff:169.254.169.254]/",
    ],
)
def test_link_local_and_reserved_refused_even_when_private_allowed(url: str) -> None:
    with pytest.raises(HttpError) as e:
        request("GET", url, allow_private=True, timeout=0.5)
    assert e.value.code == "address_refused" and not e.value.transient


def test_hostname_resolving_to_loopback_refused() -> None:
    with pytest.raises(HttpError) as e:
        request("GET", "http://localhost:9/")
    assert e.value.code == "address_refused" and "回环" in e.value.message


def test_any_bad_address_refuses_the_name(monkeypatch: pytest.MonkeyPatch) -> None:
    _fake_dns(monkeypatch, {"mixed.example": ["93.184.216.34", "10.0.0.7"]})
    with pytest.raises(HttpError) as e:
        request("GET", "http://mixed.example/")
    assert e.value.code == "address_refused" and "10.0.0.7" in e.value.message


def test_connection_is_pinned_to_the_checked_address(
    monkeypatch: pytest.MonkeyPatch, server: _Server
) -> None:
    _fake_dns(monkeypatch, {"hooks.example": ["127.0.0.1"]})
    resp = request("GET", f"http://hooks.example:{server.port}/p?q=1", allow_private=True)
    assert resp.status == 200
    assert server.seen[0]["headers"]["host"] == f"hooks.example:{server.port}"
    assert server.seen[0]["path"] == "/p?q=1"


@pytest.mark.parametrize(
    "url",
    [
        "ftp://example.com/",
        "file:///etc/passwd",
        "http://user:pw@example.com/",
        "http:///nohost",
        "http://h:99999/",
        "",
    ],
)
def test_invalid_urls(url: str) -> None:
    with pytest.raises(HttpError) as e:
        request("GET", url)
    assert e.value.code == "invalid_url" and not e.value.transient


def test_address_refusal_names_the_setting() -> None:
    ip = ipaddress.ip_address("10.0.0.1")
    assert "SHEBAO_CONNECTOR_ALLOW_PRIVATE" in address_refusal(
        ip, allow_private=False, setting="SHEBAO_CONNECTOR_ALLOW_PRIVATE"
    )
    assert address_refusal(ipaddress.ip_address("127.0.0.1"), allow_private=False, allow_loopback=True) == ""
    assert address_refusal(ipaddress.ip_address("8.8.8.8"), allow_private=False) == ""


# --- check_url ------------------------------------------------------------------------------------


def test_check_url(monkeypatch: pytest.MonkeyPatch) -> None:
    _fake_dns(monkeypatch, {"hooks.example.com": ["93.184.216.34"], "intranet.corp": ["10.1.1.1"]})
    assert check_url("HTTPS://Hooks.Example.COM/a?token=X#frag", allow_private=False) == (
        "https://hooks.example.com/a?token=X"
    )
    with pytest.raises(HttpError) as e:
        check_url("http://127.0.0.1:8000/hook", allow_private=False)
    assert (
        e.value.message
        == "地址 127.0.0.1 是本机回环地址，不允许连接（管理员可设置 SHEBAO_ALLOW_PRIVATE_URLS=1）"
    )
    with pytest.raises(HttpError):
        check_url("http://intranet.corp/", allow_private=False)
    assert check_url("http://intranet.corp/", allow_private=True) == "http://intranet.corp/"
    with pytest.raises(HttpError):
        check_url("http://169.254.169.254/", allow_private=True)


def test_dns_failure_is_transient(monkeypatch: pytest.MonkeyPatch) -> None:
    def fail(*args: Any, **kwargs: Any) -> Any:
        raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")

    monkeypatch.setattr(socket, "getaddrinfo", fail)
    with pytest.raises(HttpError) as e:
        request("GET", "https://no-such-host.example/")
    assert e.value.code == "dns" and e.value.transient


# --- a real round trip ----------------------------------------------------------------------------


def test_round_trip(server: _Server) -> None:
    server.reply = (201, {"Content-Type": "application/json", "X-Request-Id": "r-1"}, '{"ok": "好"}'.encode())
    resp = request(
        "POST",
        f"http://127.0.0.1:{server.port}/hook?a=1",
        headers={"Content-Type": "application/json; charset=utf-8", "X-Extra": "1"},
        body='{"text": "社保"}'.encode(),
        allow_private=True,
    )
    assert resp.status == 201 and resp.headers["x-request-id"] == "r-1" and resp.json() == {"ok": "好"}
    seen = server.seen[0]
    assert seen["method"] == "POST" and seen["path"] == "/hook?a=1"
    assert seen["body"].decode() == '{"text": "社保"}' and seen["headers"]["x-extra"] == "1"
    assert seen["headers"]["user-agent"].startswith("Shebao/")


def test_redirects_are_not_followed(server: _Server) -> None:
    server.reply = (302, {"Location": "http://169.254.169.254/"}, b"")
    resp = request("GET", f"http://127.0.0.1:{server.port}/", allow_private=True)
    assert resp.status == 302 and len(server.seen) == 1


def test_bad_json_is_transient(server: _Server) -> None:
    server.reply = (200, {"Content-Type": "text/html"}, b"<html>gateway</html>")
    resp = request("GET", f"http://127.0.0.1:{server.port}/", allow_private=True)
    with pytest.raises(HttpError) as e:
        resp.json()
    assert e.value.code == "bad_json" and e.value.transient and "gateway" in e.value.message


def test_timeout_is_transient(server: _Server) -> None:
    server.delay = 1.0
    started = time.monotonic()
    with pytest.raises(HttpError) as e:
        request("GET", f"http://127.0.0.1:{server.port}/", allow_private=True, timeout=0.2)
    assert e.value.code == "timeout" and e.value.transient
    assert time.monotonic() - started < 0.9


def test_connection_refused_is_transient() -> None:
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    sock.close()  # nothing listens there now
    with pytest.raises(HttpError) as e:
        request("GET", f"http://127.0.0.1:{port}/", allow_private=True, timeout=1)
    assert e.value.code == "connection_refused" and e.value.transient


def test_oversize_body_refused(server: _Server) -> None:
    server.reply = (200, {}, b"x" * 5000)
    with pytest.raises(HttpError) as e:
        request("GET", f"http://127.0.0.1:{server.port}/", allow_private=True, max_bytes=4096)
    assert e.value.code == "too_large" and not e.value.transient
    assert len(request("GET", f"http://127.0.0.1:{server.port}/", allow_private=True).body) == 5000


def test_host_header() -> None:
    assert http.host_header("https://sms.tencentcloudapi.com/") == "sms.tencentcloudapi.com"
    assert http.host_header("http://127.0.0.1:8080/x") == "127.0.0.1:8080"
    assert http.host_header("http://[::1]:81/") == "[::1]:81"
