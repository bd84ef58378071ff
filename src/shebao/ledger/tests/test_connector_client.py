"""The HTTP connector's pieces on their own: signing, the SSRF guard, retries, record conversion."""

from __future__ import annotations

import ipaddress
import json
import re
import socket
import threading
from decimal import Decimal
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from shebao.core.identity import make_resident_id
from shebao.ledger import facts as F
from shebao.ledger.connectors.base import (
    ConnectorError,
    NonceCache,
    RecordConverter,
    SignatureError,
    canonical_string,
    sign,
    signed_headers,
    verify_signature,
)
from shebao.ledger.connectors.http import HttpClient, RetryPolicy, address_refusal

DOC = Path(__file__).resolve().parents[4] / "docs" / "connector-api.md"


# --- signing ---------------------------------------------------------------------------------


def _block(text: str, marker: str) -> str:
    m = re.search(rf"<!-- {re.escape(marker)} -->\s*```\n(.*?)\n```", text, re.S)
    assert m, marker
    return m.group(1)


@pytest.mark.parametrize(
    ("marker", "path", "query", "ts", "nonce"),
    [
        (
            "test-vector-1",
            "/v1/units/110105000123/contributions",
            "since=s1532&limit=2",
            "1767225600",
            "4f1c2a9e7b3d4c58a1b2c3d4e5f60718",
        ),
        (
            "test-vector-2",
            "/gw/v1/units/110105000123/enrollments",
            "limit=100&cursor=eyJvIjo0MH0%3D",
            "1767225900",
            "nonce-0000000000000001",
        ),
    ],
)
def test_signature_matches_the_documented_test_vectors(marker, path, query, ts, nonce):
    doc = DOC.read_text(encoding="utf-8")
    canonical = canonical_string(method="get", path=path, query=query, timestamp=ts, nonce=nonce, body=b"")
    assert canonical == _block(doc, marker)
    expected = _block(doc, f"{marker}-signature").split(": ", 1)[1]
    assert sign("sim-secret-2026", canonical) == expected
    headers = signed_headers(
        client_id="shebao-demo",
        secret="sim-secret-2026",
        method="GET",
        path=path,
        query=query,
        timestamp=int(ts),
        nonce=nonce,
    )
    assert headers["X-Shebao-Signature"] == expected


def test_canonical_query_sorts_and_reencodes():
    a = canonical_string(
        method="GET", path="/p", query="b=2&a=%E5%8C%97+x&a=1", timestamp="1", nonce="n", body=b""
    )
    b = canonical_string(
        method="GET",
        path="/p",
        query=[("a", "1"), ("b", "2"), ("a", "北 x")],
        timestamp="1",
        nonce="n",
        body=b"",
    )
    assert a == b
    assert a.split("\n")[2] == "a=%E5%8C%97%20x&a=1&b=2"  # sorted as encoded: "%" < "1"


def _verify(headers, *, now, nonces=None, query="limit=2", path="/v1/units"):
    return verify_signature(
        headers=headers,
        secrets_by_client={"c1": "k1"},
        method="GET",
        path=path,
        query=query,
        body=b"",
        nonces=nonces or NonceCache(),
        now=now,
    )


def test_server_verification_rejects_skew_replay_and_tampering():
    h = signed_headers(
        client_id="c1", secret="k1", method="GET", path="/v1/units", query="limit=2", timestamp=1000
    )
    nonces = NonceCache()
    assert _verify(h, now=1000 + 300, nonces=nonces) == "c1"
    with pytest.raises(SignatureError) as e:
        _verify(h, now=1000 + 300, nonces=nonces)
    assert e.value.code == "nonce_replayed"
    with pytest.raises(SignatureError) as e:
        _verify(h, now=1000 + 301)
    assert e.value.code == "timestamp_skew"
    with pytest.raises(SignatureError) as e:
        _verify(h, now=1000, query="limit=3")
    assert e.value.code == "bad_signature"
    with pytest.raises(SignatureError) as e:
        _verify({**h, "X-Shebao-Client-Id": "c2"}, now=1000)
    assert e.value.code == "unauthenticated"
    wrong = signed_headers(
        client_id="c1", secret="other", method="GET", path="/v1/units", query="limit=2", timestamp=1000
    )
    with pytest.raises(SignatureError) as e:
        _verify(wrong, now=1000)
    assert e.value.code == "bad_signature"
    # a bad signature does not burn the nonce
    nonces = NonceCache()
    with pytest.raises(SignatureError):
        _verify({**h, "X-Shebao-Signature": "0" * 64}, now=1000, nonces=nonces)
    assert _verify(h, now=1000, nonces=nonces) == "c1"


# --- SSRF and URLs ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("address", "private", "loopback", "refused"),
    [
        ("8.8.8.8", False, False, False),
        ("127.0.0.1", False, False, True),
        ("127.0.0.1", False, True, False),
        ("127.0.0.1", True, False, False),
        ("10.1.2.3", False, True, True),
        ("10.1.2.3", True, False, False),
        ("192.168.1.5", False, False, True),
        ("169.254.169.254", True, True, True),
        ("::1", False, False, True),
        ("::ffff:127.0.0.1", False, False, True),
        ("fe80::1", True, True, True),
        ("0.0.0.0", True, True, True),
        ("224.0.0.1", True, True, True),
    ],
)
def test_address_refusal(address, private, loopback, refused):
    reason = address_refusal(ipaddress.ip_address(address), allow_private=private, allow_loopback=loopback)
    assert bool(reason) is refused


@pytest.mark.parametrize(
    "url",
    [
        "ftp://example.com/",
        "file:///etc/passwd",
        "gopher://x",
        "http://user:pw@example.com/",
        "http:///nohost",
        "http://h/?a=1",
    ],
)
def test_client_refuses_bad_urls(url):
    with pytest.raises(ConnectorError) as e:
        HttpClient(url)
    assert e.value.code == "invalid_url" and not e.value.transient


def test_client_refuses_loopback_unless_allowed():
    client = HttpClient("http://localhost:9/", retry=RetryPolicy(attempts=1))
    with pytest.raises(ConnectorError) as e:
        client.get_json("/v1/units")
    assert e.value.code == "address_refused" and "回环" in e.value.message


# --- retries against a scripted server ------------------------------------------------------------


class _Scripted:
    """A tiny server answering from a script: [(status, headers, body)], then 200 {}."""

    def __init__(self, script):
        self.script = list(script)
        self.requests = []
        outer = self

        class H(BaseHTTPRequestHandler):
            def do_GET(self):  # noqa: N802
                outer.requests.append((self.path, dict(self.headers.items())))
                status, headers, body = outer.script.pop(0) if outer.script else (200, {}, b'{"data": []}')
                self.send_response(status)
                for k, v in headers.items():
                    self.send_header(k, v)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *a):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), H)
        threading.Thread(
            target=self.server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        ).start()
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"

    def close(self):
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def scripted():
    servers = []

    def make(script):
        s = _Scripted(script)
        servers.append(s)
        return s

    yield make
    for s in servers:
        s.close()


def _client(url, **kw):
    waits = []
    kw.setdefault("retry", RetryPolicy(attempts=4, backoff=1.0, backoff_max=8.0, retry_after_max=30.0))
    client = HttpClient(url, allow_loopback=True, sleep=waits.append, rand=lambda: 1.0, **kw)
    return client, waits


def test_retries_429_honouring_retry_after_and_5xx_with_backoff(scripted):
    err = json.dumps({"error": {"code": "rate_limited", "message": "慢点"}}).encode()
    server = scripted(
        [
            (429, {"Retry-After": "7"}, err),
            (500, {}, b"oops"),
            (503, {}, b""),
            (200, {}, b'{"data": [{"base": 1280.10}], "next_cursor": null}'),
        ]
    )
    client, waits = _client(server.url + "/prefix/", client_id="c", secret="k")
    data = client.get_json("/v1/units/U%201/contributions", [("limit", "2"), ("since", "s 1")])
    assert data["data"][0]["base"] == Decimal("1280.10")  # JSON numbers kept exact
    assert waits == [7.0, 2.0, 4.0]  # Retry-After, then 1·2¹, 1·2² (jitter at its top)
    assert client.retries == 3
    # every attempt signed afresh, over the path as sent with the prefix
    nonces = {h["X-Shebao-Nonce"] for _, h in server.requests}
    assert len(nonces) == 4
    path, headers = server.requests[-1]
    assert path == "/prefix/v1/units/U%201/contributions?limit=2&since=s%201"
    assert (
        _verify_any(headers, path="/prefix/v1/units/U%201/contributions", query="limit=2&since=s%201") == "c"
    )


def _verify_any(headers, *, path, query):
    return verify_signature(
        headers=headers,
        secrets_by_client={"c": "k"},
        method="GET",
        path=path,
        query=query,
        body=b"",
        nonces=NonceCache(),
    )


def test_retry_after_is_capped_and_retries_end_resumable(scripted):
    server = scripted([(429, {"Retry-After": "3600"}, b"")] * 3)
    client, waits = _client(server.url, retry=RetryPolicy(attempts=3, backoff=0.5, retry_after_max=9.0))
    with pytest.raises(ConnectorError) as e:
        client.get_json("/v1/units")
    assert waits == [9.0, 9.0]
    assert e.value.transient and "已尝试 3 次" in e.value.message


def test_client_errors_are_not_retried(scripted):
    body = json.dumps({"error": {"code": "bad_signature", "message": "签名不正确"}}).encode()
    server = scripted([(401, {}, body)])
    client, waits = _client(server.url)
    with pytest.raises(ConnectorError) as e:
        client.get_json("/v1/units")
    assert not e.value.transient and waits == [] and "签名不正确" in e.value.message
    server = scripted([(302, {"Location": "http://169.254.169.254/"}, b"")])
    client, waits = _client(server.url)
    with pytest.raises(ConnectorError) as e:
        client.get_json("/v1/units")
    assert e.value.code == "redirect" and len(server.requests) == 1


def test_read_timeout_is_retried():
    # a server that accepts and never answers
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    sock.listen(5)
    try:
        client, waits = _client(
            f"http://127.0.0.1:{sock.getsockname()[1]}",
            read_timeout=0.1,
            retry=RetryPolicy(attempts=2, backoff=0.01),
        )
        with pytest.raises(ConnectorError) as e:
            client.get_json("/v1/units")
        assert e.value.code == "read_timeout" and e.value.transient and len(waits) == 1
    finally:
        sock.close()


def test_invalid_json_is_retried_then_fails(scripted):
    server = scripted([(200, {}, b"{not json"), (200, {}, b"[1, 2]")])
    client, waits = _client(server.url)
    with pytest.raises(ConnectorError) as e:
        client.get_json("/v1/units")
    assert e.value.code == "protocol" and len(waits) == 1


# --- records → facts ---------------------------------------------------------------------------

NUMBER = make_resident_id("110105", __import__("datetime").date(1990, 5, 17), 123)


def _contribution(**kw):
    record = {
        "record_id": "c-1",
        "version": 1,
        "person": {"name": "张三", "id_type": "resident_id", "id_number": NUMBER, "account_no": "100"},
        "insurance": "pension",
        "period": "2025-03",
        "posting_period": "2025-03",
        "unit_no": "U1",
        "unit_name": "本单位",
        "base": "8000.00",
        "employer_due": "1280.00",
        "employee_due": "640.00",
        "employer_paid": None,
        "employee_paid": None,
        "late_fee": None,
        "status": "declared",
        "payment_type": "normal",
    }
    for k, v in kw.items():
        if k.startswith("person_"):
            record["person"] = {**record["person"], k[7:]: v}
        else:
            record[k] = v
    return record


def test_contribution_record_becomes_a_fact_with_masked_cells():
    conv = RecordConverter(own_unit_no="U1")
    out = conv.contribution(_contribution(), row=4)
    assert out.errors == [] and out.record_id == "c-1" and out.version == 1
    row = out.source_row
    assert row.row == 4 and NUMBER not in json.dumps(row.cells, ensure_ascii=False)
    assert row.cells["person.id_number"] == NUMBER[:6] + "********" + NUMBER[-4:]
    (fact,) = row.contributions
    assert fact.person == F.PersonRef(name="张三", id_number=NUMBER, id_kind="resident_id", account_no="100")
    assert (fact.unit_no, fact.unit_name) == ("", "")  # our own unit: the entity ingested for
    assert fact.period == F.YearMonth(2025, 3) and fact.base == Decimal("8000.00")
    assert fact.status is F.ContributionStatus.DECLARED and fact.evidence is F.Evidence.ASSESSED
    paid = conv.contribution(
        _contribution(unit_no="SIM9", unit_name="前单位", employer_paid="1280.00", status="paid"), row=5
    )
    (fact,) = paid.source_row.contributions
    assert (fact.unit_no, fact.unit_name, fact.evidence) == ("SIM9", "前单位", F.Evidence.PAID)
    zero = conv.contribution(_contribution(employer_paid="0.00", status="arrears"), row=6)
    assert zero.source_row.contributions[0].evidence is F.Evidence.ASSESSED


@pytest.mark.parametrize(
    ("change", "column"),
    [
        ({"period": "2025-13"}, "period"),
        ({"period": "202503"}, "period"),
        ({"base": "12,3x4"}, "base"),
        ({"base": "1.234"}, "base"),
        ({"employer_due": 1.5}, "employer_due"),
        ({"insurance": "pensoin"}, "insurance"),
        ({"status": "paied"}, "status"),
        ({"status": None}, "status"),
        ({"unit_no": ""}, "unit_no"),
        ({"version": "2"}, "version"),
        ({"person_name": ""}, "person.name"),
        ({"person_id_number": NUMBER[:-1] + ("0" if NUMBER[-1] != "0" else "1")}, "person.id_number"),
    ],
)
def test_malformed_contribution_gives_a_row_error_naming_record_and_field(change, column):
    conv = RecordConverter(own_unit_no="U1")
    if "employer_due" in change:  # a JSON float as parsed without parse_float=Decimal
        change = {"employer_due": float(change["employer_due"])}
    out = conv.contribution(_contribution(record_id="c-77", **change), row=9)
    assert out.source_row.contributions == []
    assert [e["column"] for e in out.errors] == [column]
    err = out.errors[0]
    assert err["row"] == 9 and err["record_id"] == "c-77"
    assert "记录 c-77" in err["message"] and column.split(".")[-1] in err["message"]
    assert out.source_row.errors == [{k: err[k] for k in ("column", "code", "message")}]
    assert NUMBER not in err["message"]


def test_enrollment_record():
    conv = RecordConverter(own_unit_no="U1")
    record = {
        "record_id": "e-1",
        "version": 3,
        "person": {"name": "张三", "id_number": NUMBER},
        "insurance": "medical",
        "state": "suspended",
        "unit_no": "U1",
        "unit_name": "本单位",
        "since": "2025-03-01",
        "reported_at": "2025-06-03T08:00:00+08:00",
    }
    (fact,) = conv.enrollment(record, row=1).source_row.enrollments
    assert fact.state is F.EnrollmentState.SUSPENDED and fact.since.isoformat() == "2025-03-01"
    assert fact.reported_at.utcoffset().total_seconds() == 8 * 3600
    bad = conv.enrollment({**record, "state": "actve", "since": "2025-02-30"}, row=2)
    assert {e["column"] for e in bad.errors} == {"state", "since"}
    assert conv.enrollment("junk", row=3).errors[0]["column"] == "record"
