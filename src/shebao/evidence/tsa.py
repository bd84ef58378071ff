"""RFC 3161 time stamps: a time-stamping authority (TSA) signs "this SHA-256 existed at this time".

The message imprint we send is the checkpoint's head hash itself (it *is* a SHA-256: of the
checkpoint entry's canonical header), so anyone can check a stored token with standard tools::

    openssl ts -reply -in checkpoint.tsr -text
    openssl ts -verify -in checkpoint.tsr -digest <head hash> -CAfile <the TSA's CA certificates>

The request is built here (it is 80 bytes of DER). The response is read with a small BER reader
that takes only what we check — the status, and from the token's TSTInfo the message imprint,
nonce and genTime — and skips the rest (certificates included: TSAs send their chain in any
order, which strict DER parsers such as rfc3161-client refuse). The signature is not checked
here: the token is kept as received, for ``openssl ts -verify`` against the TSA's published CA.
Requests go through ``core.http`` (the SSRF guard, a timeout).
"""

from __future__ import annotations

import datetime as dt
import secrets
from dataclasses import dataclass

from django.conf import settings

from shebao.core import http

TIMEOUT = 15.0
MAX_BYTES = 256 * 1024
QUERY_TYPE = "application/timestamp-query"
REPLY_TYPE = "application/timestamp-reply"

# Content octets of the object identifiers we compare (DER, without tag and length).
SHA256_OID = bytes.fromhex("608648016503040201")  # 2.16.840.1.101.3.4.2.1
SIGNED_DATA_OID = bytes.fromhex("2a864886f70d010702")  # 1.2.840.113549.1.7.2
TST_INFO_OID = bytes.fromhex("2a864886f70d0109100104")  # 1.2.840.113549.1.9.16.1.4

SEQUENCE, SET, INTEGER, BOOLEAN, OCTETS, OID, GENTIME = 0x30, 0x31, 0x02, 0x01, 0x04, 0x06, 0x18
EXPLICIT_0 = 0xA0

STATUS = {
    2: "拒绝（rejection）",
    3: "尚未完成（waiting）",
    4: "证书即将吊销（revocationWarning）",
    5: "证书已吊销（revocationNotification）",
}
FAILURES = {
    0: "不支持该哈希算法",
    2: "请求格式不被接受",
    5: "数据格式错误",
    14: "时间源暂不可用",
    15: "不接受所请求的策略",
    16: "不接受所请求的扩展",
    17: "附加信息不可用",
    25: "服务内部故障",
}


class TsaError(Exception):
    """The time stamp could not be had; ``message`` is Chinese and says why."""

    def __init__(self, message: str, *, code: str) -> None:
        super().__init__(message)
        self.message = message
        self.code = code


@dataclass(frozen=True)
class Stamp:
    token: bytes  # the TimeStampResp (DER) exactly as the TSA sent it
    gen_time: dt.datetime  # UTC
    serial: int
    policy: str  # dotted OID
    nonce: int | None


# --- the request --------------------------------------------------------------------------------


def _der(tag: int, content: bytes) -> bytes:
    n = len(content)
    if n < 0x80:
        return bytes([tag, n]) + content
    size = n.to_bytes((n.bit_length() + 7) // 8, "big")
    return bytes([tag, 0x80 | len(size)]) + size + content


def _der_int(value: int) -> bytes:
    return _der(INTEGER, value.to_bytes(value.bit_length() // 8 + 1, "big"))  # non-negative only


def stamp_request(digest: bytes, *, nonce: int) -> bytes:
    """A TimeStampReq (DER): version 1, the SHA-256 ``digest`` as the message imprint, ``nonce``,
    certReq TRUE (the TSA puts its certificate in the token, so the token can be checked alone)."""
    if len(digest) != 32:
        raise ValueError("时间戳请求需要 32 字节的 SHA-256 摘要")
    algorithm = _der(SEQUENCE, _der(OID, SHA256_OID) + b"\x05\x00")
    imprint = _der(SEQUENCE, algorithm + _der(OCTETS, digest))
    return _der(SEQUENCE, _der_int(1) + imprint + _der_int(nonce) + b"\x01\x01\xff")


# --- reading BER ----------------------------------------------------------------------------------


class _Bad(Exception):
    pass


def _tlv(data: bytes, pos: int, end: int) -> tuple[int, int, int, int]:
    """The element at ``pos``: (identifier octet, content start, content stop, next position).
    Definite and indefinite lengths (BER) are both read."""
    if pos + 2 > end:
        raise _Bad("数据被截断")
    tag, first = data[pos], data[pos + 1]
    if tag & 0x1F == 0x1F:
        raise _Bad("不支持的标签")
    pos += 2
    if first == 0x80:  # indefinite: the content runs to the end-of-contents octets
        if not tag & 0x20:
            raise _Bad("长度编码无效")
        p = pos
        while True:
            if p + 2 > end:
                raise _Bad("数据被截断")
            if data[p] == 0 and data[p + 1] == 0:
                return tag, pos, p, p + 2
            p = _tlv(data, p, end)[3]
    if first & 0x80:
        n = first & 0x7F
        if not 1 <= n <= 4 or pos + n > end:
            raise _Bad("长度编码无效")
        length = int.from_bytes(data[pos : pos + n], "big")
        pos += n
    else:
        length = first
    if pos + length > end:
        raise _Bad("数据被截断")
    return tag, pos, pos + length, pos + length


def _items(data: bytes, start: int, stop: int) -> list[tuple[int, int, int]]:
    out = []
    while start < stop:
        tag, s, e, start = _tlv(data, start, stop)
        out.append((tag, s, e))
    return out


def _at(items: list[tuple[int, int, int]], index: int, tag: int, what: str) -> tuple[int, int]:
    if index >= len(items) or items[index][0] != tag:
        raise _Bad(f"缺少{what}")
    return items[index][1], items[index][2]


def _inner(
    data: bytes, items: list[tuple[int, int, int]], index: int, tag: int, what: str
) -> list[tuple[int, int, int]]:
    return _items(data, *_at(items, index, tag, what))


def _value(data: bytes, items: list[tuple[int, int, int]], index: int, tag: int, what: str) -> bytes:
    return data[slice(*_at(items, index, tag, what))]


def _octets(data: bytes, item: tuple[int, int, int]) -> bytes:
    tag, s, e = item
    if tag == OCTETS:
        return data[s:e]
    if tag == OCTETS | 0x20:  # BER constructed OCTET STRING: its pieces in order
        return b"".join(_octets(data, part) for part in _items(data, s, e))
    raise _Bad("缺少时间戳内容")


def _oid_text(raw: bytes) -> str:
    parts, value = [], 0
    for byte in raw:
        value = (value << 7) | (byte & 0x7F)
        if not byte & 0x80:
            parts.append(value)
            value = 0
    if not parts:
        return ""
    first = min(parts[0] // 40, 2)
    return ".".join(str(p) for p in [first, parts[0] - 40 * first, *parts[1:]])


def _gen_time(raw: bytes) -> dt.datetime:
    text = raw.decode("ascii", errors="replace")
    if not text.endswith("Z") or len(text) < 15:
        raise _Bad(f"时间格式无效（{text}）")
    whole, _, fraction = text[:-1].partition(".")
    try:
        moment = dt.datetime.strptime(whole, "%Y%m%d%H%M%S").replace(tzinfo=dt.UTC)
    except ValueError:
        raise _Bad(f"时间格式无效（{text}）") from None
    if fraction:
        if not fraction.isdigit():
            raise _Bad(f"时间格式无效（{text}）")
        moment += dt.timedelta(microseconds=int(fraction[:6].ljust(6, "0")))
    return moment


def _status_detail(data: bytes, parts: list[tuple[int, int, int]]) -> str:
    texts, failures = [], []
    for tag, s, e in parts[1:]:
        if tag == SEQUENCE:  # PKIFreeText: UTF8Strings
            texts += [data[ps:pe].decode("utf-8", errors="replace") for _t, ps, pe in _items(data, s, e)]
        elif tag == 0x03 and e > s:  # PKIFailureInfo (BIT STRING)
            bits = data[s + 1 : e]
            failures = [
                FAILURES.get(i, f"错误位 {i}")
                for i in range(len(bits) * 8)
                if bits[i // 8] & (0x80 >> (i % 8))
            ]
    return "；".join(failures + texts)


def stamp_read(token: bytes, digest: bytes, *, nonce: int | None = None) -> Stamp:
    """Read a TimeStampResp and check that it answers for ``digest`` (SHA-256) and, when given,
    ``nonce``. ``TsaError`` says what is wrong."""
    try:
        tag, s, e, after = _tlv(token, 0, len(token))
        if tag != SEQUENCE or after != len(token):
            raise _Bad("不是一个完整的 TimeStampResp")
        resp = _items(token, s, e)
        status_info = _inner(token, resp, 0, SEQUENCE, "状态")
        status = int.from_bytes(_value(token, status_info, 0, INTEGER, "状态码"), "big")
        if status not in (0, 1):
            detail = _status_detail(token, status_info)
            label = STATUS.get(status, f"状态 {status}")
            raise TsaError(
                f"时间戳服务拒绝了请求：{label}" + (f"（{detail}）" if detail else ""), code="rejected"
            )
        content_info = _inner(token, resp, 1, SEQUENCE, "时间戳令牌")
        if _value(token, content_info, 0, OID, "令牌类型") != SIGNED_DATA_OID:
            raise _Bad("时间戳令牌不是 CMS SignedData")
        signed = _inner(
            token, _inner(token, content_info, 1, EXPLICIT_0, "签名数据"), 0, SEQUENCE, "签名数据"
        )
        encap = _inner(token, signed, 2, SEQUENCE, "签名内容")  # after version and digestAlgorithms
        if _value(token, encap, 0, OID, "内容类型") != TST_INFO_OID:
            raise _Bad("签名内容不是 TSTInfo")
        wrapped = _inner(token, encap, 1, EXPLICIT_0, "TSTInfo")
        info = _octets(token, wrapped[0]) if wrapped else b""
        fields = _inner(info, _items(info, 0, len(info)), 0, SEQUENCE, "TSTInfo")
        policy = _oid_text(_value(info, fields, 1, OID, "策略"))
        imprint = _inner(info, fields, 2, SEQUENCE, "消息摘要")
        algorithm_oid = _value(info, _inner(info, imprint, 0, SEQUENCE, "摘要算法"), 0, OID, "摘要算法")
        hashed = _value(info, imprint, 1, OCTETS, "消息摘要")
        serial = int.from_bytes(_value(info, fields, 3, INTEGER, "序列号"), "big", signed=True)
        gen_time = _gen_time(_value(info, fields, 4, GENTIME, "时间"))
        # then accuracy, ordering, nonce, tsa, extensions: all optional; the nonce is the INTEGER
        got_nonce = next((int.from_bytes(info[a:b], "big") for t, a, b in fields[5:] if t == INTEGER), None)
    except TsaError:
        raise
    except (_Bad, IndexError, ValueError) as exc:
        raise TsaError(
            f"时间戳服务的响应无法识别，不是有效的 RFC 3161 时间戳：{exc}", code="bad_response"
        ) from None
    if algorithm_oid != SHA256_OID or hashed != digest:
        raise TsaError(
            "时间戳服务返回的时间戳不是针对本校验点的链头哈希（消息摘要不符"
            + ("" if algorithm_oid == SHA256_OID else "，且不是 SHA-256")
            + f"：收到 {hashed.hex()[:16]}…，应为 {digest.hex()[:16]}…），已拒收",
            code="imprint",
        )
    if nonce is not None and got_nonce != nonce:
        raise TsaError("时间戳响应的随机数（nonce）与请求不符：可能是重放的旧响应，已拒收", code="nonce")
    return Stamp(token=bytes(token), gen_time=gen_time, serial=serial, policy=policy, nonce=got_nonce)


# --- asking the TSA -------------------------------------------------------------------------------


def stamp_fetch(
    url: str, digest: bytes, *, timeout: float = TIMEOUT, allow_private: bool | None = None
) -> Stamp:
    """Ask the TSA at ``url`` to time-stamp ``digest`` (SHA-256) and check its answer."""
    if allow_private is None:
        allow_private = settings.SHEBAO_ALLOW_PRIVATE_URLS
    nonce = secrets.randbits(64)
    try:
        resp = http.request(
            "POST",
            url,
            headers={"Content-Type": QUERY_TYPE, "Accept": REPLY_TYPE},
            body=stamp_request(digest, nonce=nonce),
            timeout=timeout,
            allow_private=allow_private,
            max_bytes=MAX_BYTES,
        )
    except http.HttpError as exc:
        raise TsaError(f"无法连接时间戳服务：{exc.message}", code=exc.code) from None
    if 300 <= resp.status < 400:
        raise TsaError(
            f"时间戳服务要求跳转（HTTP {resp.status}），不跟随跳转：请填写最终地址", code="redirect"
        )
    if resp.status != 200:
        raise TsaError(f"时间戳服务返回 HTTP {resp.status}：{resp.excerpt(200)}", code="http_status")
    try:
        return stamp_read(resp.body, digest, nonce=nonce)
    except TsaError as exc:
        kind = resp.headers.get("content-type", "")
        if exc.code == "bad_response" and kind and REPLY_TYPE not in kind:
            exc.message += f"（响应类型为 {kind}，应为 {REPLY_TYPE}：地址可能不是时间戳服务）"
        raise
