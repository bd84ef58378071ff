"""RFC 3161 time stamps from a real TSA: a throw-away CA and TSA certificate made with openssl, and
``openssl ts -reply`` answering each request over HTTP. The token is checked on receipt (status,
message imprint, nonce) and kept; what goes wrong is said in Chinese and kept on the checkpoint,
which is recorded and sent all the same."""

from __future__ import annotations

import datetime as dt
import hashlib
import subprocess
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from django.utils import timezone

from shebao.core.context import Actor
from shebao.evidence import outbound, tsa
from shebao.evidence.models import Checkpoint, Entry
from shebao.evidence.services import checkpoint_create, evidence_settings
from shebao.notify.models import Notification

SYSTEM = Actor.system(via="test")
DIGEST = hashlib.sha256(b"chain head").digest()

TSA_CONFIG = """
[ tsa ]
default_tsa = tsa_config1
[ tsa_config1 ]
dir = {dir}
serial = {dir}/serial
crypto_device = builtin
signer_cert = {dir}/tsa.pem
certs = {dir}/ca.pem
signer_key = {dir}/tsa.key
signer_digest = sha256
default_policy = 1.2.3.4.1
digests = sha256
accuracy = secs:1
ordering = yes
tsa_name = yes
ess_cert_id_chain = no
ess_cert_id_alg = sha256
"""


def _request(body: bytes) -> tuple[bytes, int]:
    """The digest and nonce of a TimeStampReq (read with the module's own BER reader)."""
    _tag, start, stop, _next = tsa._tlv(body, 0, len(body))
    _version, imprint, nonce, _cert_req = tsa._items(body, start, stop)
    digest = tsa._value(body, tsa._items(body, imprint[1], imprint[2]), 1, tsa.OCTETS, "摘要")
    return digest, int.from_bytes(body[nonce[1] : nonce[2]], "big")


def _openssl(*args: str, cwd: Path, data: bytes | None = None) -> bytes:
    done = subprocess.run(["openssl", *args], cwd=cwd, input=data, capture_output=True, check=False)
    assert done.returncode == 0, done.stderr.decode(errors="replace")
    return done.stdout


class Tsa:
    """A TSA on 127.0.0.1: ``mode`` says how it answers the next requests."""

    def __init__(self, folder: Path) -> None:
        self.dir = folder
        self.mode = "ok"
        self.requests: list[bytes] = []
        self._n = 0
        ec = ("-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes")
        _openssl(
            "req",
            "-x509",
            *ec,
            "-keyout",
            "ca.key",
            "-out",
            "ca.pem",
            "-days",
            "2",
            "-subj",
            "/CN=Test CA",
            cwd=folder,
        )
        _openssl("req", *ec, "-keyout", "tsa.key", "-out", "tsa.csr", "-subj", "/CN=Test TSA", cwd=folder)
        (folder / "ext.cnf").write_text("extendedKeyUsage=critical,timeStamping\n")
        _openssl(
            "x509", "-req", "-in", "tsa.csr", "-CA", "ca.pem", "-CAkey", "ca.key", "-CAcreateserial",
            "-out", "tsa.pem", "-days", "2", "-extfile", "ext.cnf", cwd=folder,
        )  # fmt: skip
        (folder / "serial").write_text("01\n")
        (folder / "tsa.cnf").write_text(TSA_CONFIG.format(dir=folder))

    def reply(self, query: bytes) -> bytes:
        self._n += 1
        path = self.dir / f"q{self._n}.tsq"
        path.write_bytes(query)
        return _openssl(
            "ts", "-reply", "-config", "tsa.cnf", "-queryfile", path.name, "-out", "-", cwd=self.dir
        )

    def query(self, *args: str) -> bytes:
        return _openssl("ts", "-query", *args, "-cert", cwd=self.dir)

    def answer(self, body: bytes) -> tuple[int, str, bytes]:
        self.requests.append(body)
        if self.mode == "500":
            return 500, "text/html", b"<html>Internal Server Error</html>"
        if self.mode == "garbage":
            return 200, "text/html; charset=utf-8", "<html>登录页</html>".encode()
        if self.mode == "other":  # a valid token, for another hash
            other = hashlib.sha256(b"something else").hexdigest()
            return 200, tsa.REPLY_TYPE, self.reply(self.query("-sha256", "-digest", other))
        if self.mode == "replay":  # the right hash but another request's nonce
            return 200, tsa.REPLY_TYPE, self.reply(self.query("-sha256", "-digest", _request(body)[0].hex()))
        if self.mode == "reject":  # SHA-1 is not among this TSA's digests: it refuses
            return 200, tsa.REPLY_TYPE, self.reply(self.query("-sha1", "-digest", "00" * 20))
        return 200, tsa.REPLY_TYPE, self.reply(body)

    def verify(self, token: bytes, digest: bytes) -> str:
        path = self.dir / "check.tsr"
        path.write_bytes(token)
        return _openssl(
            "ts", "-verify", "-in", path.name, "-digest", digest.hex(), "-CAfile", "ca.pem", cwd=self.dir
        ).decode()


@pytest.fixture(scope="module")
def tsa_server(tmp_path_factory):
    authority = Tsa(tmp_path_factory.mktemp("tsa"))

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:  # noqa: N802 - http.server's naming
            body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
            assert self.headers.get("Content-Type") == tsa.QUERY_TYPE
            status, kind, data = authority.answer(body)
            self.send_response(status)
            self.send_header("Content-Type", kind)
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def log_message(self, format, *args) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    authority.url = f"http://127.0.0.1:{server.server_address[1]}/tsr"
    yield authority
    server.shutdown()
    server.server_close()


@pytest.fixture
def authority(tsa_server):
    tsa_server.mode = "ok"
    tsa_server.requests.clear()
    return tsa_server


# --- the client -----------------------------------------------------------------------------------


def test_the_request_is_what_openssl_reads(authority, tmp_path):
    (tmp_path / "q.tsq").write_bytes(tsa.stamp_request(DIGEST, nonce=0xFEDCBA9876543210))
    text = _openssl("ts", "-query", "-in", "q.tsq", "-text", cwd=tmp_path).decode()
    assert "Version: 1" in text and "Hash Algorithm: sha256" in text
    assert "Nonce: 0xFEDCBA9876543210" in text and "Certificate required: yes" in text
    assert DIGEST[:8].hex(" ", 1).replace(" ", "") in text.replace(" ", "").replace("-", "").lower()


def test_a_real_token_is_read_checked_and_verifiable_with_openssl(authority):
    before = dt.datetime.now(dt.UTC).replace(microsecond=0)
    stamp = tsa.stamp_fetch(authority.url, DIGEST)
    assert (
        before - dt.timedelta(seconds=1)
        <= stamp.gen_time
        <= dt.datetime.now(dt.UTC) + dt.timedelta(seconds=1)
    )
    assert stamp.gen_time.tzinfo is not None and stamp.policy == "1.2.3.4.1" and stamp.serial >= 1
    # the nonce we sent came back, and the token is the TSA's whole answer, good for openssl
    assert _request(authority.requests[-1]) == (DIGEST, stamp.nonce)
    assert "Verification: OK" in authority.verify(stamp.token, DIGEST)


def test_each_request_has_a_fresh_nonce(authority):
    a, b = tsa.stamp_fetch(authority.url, DIGEST), tsa.stamp_fetch(authority.url, DIGEST)
    assert a.nonce != b.nonce and a.serial != b.serial


@pytest.mark.parametrize(
    ("mode", "code", "words"),
    [
        ("500", "http_status", "时间戳服务返回 HTTP 500"),
        ("garbage", "bad_response", "不是有效的 RFC 3161 时间戳"),
        ("other", "imprint", "不是针对本校验点的链头哈希"),
        ("replay", "nonce", "随机数（nonce）与请求不符"),
        ("reject", "rejected", "时间戳服务拒绝了请求：拒绝（rejection）（不支持该哈希算法"),
    ],
)
def test_a_bad_answer_is_refused_with_the_reason(authority, mode, code, words):
    authority.mode = mode
    with pytest.raises(tsa.TsaError) as caught:
        tsa.stamp_fetch(authority.url, DIGEST)
    assert caught.value.code == code
    assert words in caught.value.message
    if mode == "garbage":
        assert "text/html" in caught.value.message  # says the address is probably not a TSA


def test_unreachable_and_private_addresses(authority):
    with pytest.raises(tsa.TsaError, match="无法连接时间戳服务"):
        tsa.stamp_fetch("http://127.0.0.1:9/tsr", DIGEST, timeout=2)
    with pytest.raises(tsa.TsaError, match="回环地址"):
        tsa.stamp_fetch(authority.url, DIGEST, allow_private=False)
    assert authority.requests == []


def test_indefinite_lengths_and_truncation():
    # BER: a SEQUENCE of indefinite length holding an INTEGER, then the end-of-contents octets
    data = bytes.fromhex("3080020105" + "0000")
    tag, start, stop, after = tsa._tlv(data, 0, len(data))
    assert (tag, after) == (0x30, len(data)) and tsa._items(data, start, stop) == [(0x02, 4, 5)]
    with pytest.raises(tsa.TsaError, match="数据被截断"):
        tsa.stamp_read(bytes.fromhex("3080020105"), DIGEST)
    with pytest.raises(ValueError):
        tsa.stamp_request(b"short", nonce=1)


# --- on a checkpoint ------------------------------------------------------------------------------


def _configure(url: str) -> None:
    row = evidence_settings()
    row.tsa_url = url
    row.save()


def _checkpoint(capture) -> Checkpoint:
    with capture(execute=True):
        cp = checkpoint_create(actor=SYSTEM)
    return Checkpoint.objects.get(pk=cp.pk)


@pytest.mark.django_db
def test_a_checkpoint_keeps_its_token_and_time(authority, auditor, django_capture_on_commit_callbacks):
    _configure(authority.url)
    cp = _checkpoint(django_capture_on_commit_callbacks)
    token = bytes(cp.tsa_token)
    assert cp.tsa_url == authority.url and cp.tsa_error == ""
    assert abs((cp.tsa_time - cp.created_at).total_seconds()) < 5
    assert tsa.stamp_read(token, bytes.fromhex(cp.head_hash)).gen_time == cp.tsa_time
    assert "Verification: OK" in authority.verify(token, bytes.fromhex(cp.head_hash))
    # the auditors' message gives the trusted time
    message = Notification.objects.get(event="evidence_checkpoint", user=auditor)
    assert "可信时间戳：" + timezone.localtime(cp.tsa_time).strftime("%Y-%m-%d %H:%M:%S") in message.body
    # published again: the stamp is not asked for twice
    outbound.publish(cp)
    assert len(authority.requests) == 1


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("mode", "words"),
    [
        ("500", "时间戳服务返回 HTTP 500"),
        ("garbage", "不是有效的 RFC 3161 时间戳"),
        ("other", "不是针对本校验点的链头哈希"),
    ],
)
def test_a_failed_stamp_is_kept_and_the_checkpoint_still_recorded_and_sent(
    authority, auditor, mode, words, django_capture_on_commit_callbacks
):
    authority.mode = mode
    _configure(authority.url)
    cp = _checkpoint(django_capture_on_commit_callbacks)
    assert words in cp.tsa_error and cp.tsa_token is None and cp.tsa_time is None
    assert Entry.objects.filter(kind="chain.checkpoint", seq=cp.seq).exists()
    message = Notification.objects.get(event="evidence_checkpoint", user=auditor)
    assert cp.head_hash in message.body and "可信时间戳：未取得" in message.body
    # the next publication tries again, and keeps the token once the TSA answers
    authority.mode = "ok"
    outbound.publish(cp)
    cp.refresh_from_db()
    assert cp.tsa_time is not None and cp.tsa_error == ""


@pytest.mark.django_db
def test_without_a_tsa_nothing_is_asked(authority, auditor, django_capture_on_commit_callbacks):
    cp = _checkpoint(django_capture_on_commit_callbacks)
    assert (cp.tsa_url, cp.tsa_token, cp.tsa_time, cp.tsa_error) == ("", None, None, "")
    assert authority.requests == []
