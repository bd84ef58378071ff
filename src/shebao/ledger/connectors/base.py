"""What every connector shares: errors, request signing (docs/connector-api.md §2), the API's
record shapes turned into ``facts.SourceRow``, and the connector's secret and unit number.

Django-free except :func:`connector_secret` / :func:`connector_secret_set` (they use the key ring),
so the simulator and the client share one implementation of the signature.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import re
import secrets
import threading
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from typing import Any
from urllib.parse import parse_qsl, quote

from shebao.core.identity import IdentityError, IdKind, mask_identity, parse_identity
from shebao.core.yearmonth import YearMonth
from shebao.ledger import facts

__all__ = [
    "CLOCK_SKEW_SECONDS",
    "EMPTY_SHA256",
    "SECRET_PURPOSE",
    "ConnectorError",
    "NonceCache",
    "RecordConverter",
    "SignatureError",
    "canonical_query",
    "canonical_string",
    "connector_secret",
    "connector_secret_set",
    "connector_unit_no",
    "sign",
    "signed_headers",
    "verify_signature",
]

SECRET_PURPOSE = "ledger.connector_secret"
CLOCK_SKEW_SECONDS = 300
NONCE_TTL_SECONDS = 2 * CLOCK_SKEW_SECONDS
EMPTY_SHA256 = hashlib.sha256(b"").hexdigest()

H_CLIENT = "X-Shebao-Client-Id"
H_TIMESTAMP = "X-Shebao-Timestamp"
H_NONCE = "X-Shebao-Nonce"
H_CONTENT = "X-Shebao-Content-SHA256"
H_SIGNATURE = "X-Shebao-Signature"

_NONCE_RE = re.compile(r"[A-Za-z0-9_-]{16,64}")


class ConnectorError(Exception):
    """A source could not be read. ``message`` is user-facing Chinese; ``transient`` errors
    (timeouts, 429, 5xx, connection resets) are retried and, once retries are exhausted, leave the
    run resumable from its cursor."""

    def __init__(self, message: str, *, code: str = "connector_error", transient: bool = False) -> None:
        super().__init__(message)
        self.message = message
        self.code = code
        self.transient = transient


# --- signing ----------------------------------------------------------------------------------


def _rfc3986(text: str) -> str:
    return quote(text, safe="-_.~")


def canonical_query(query: str | Iterable[tuple[str, str]]) -> str:
    """Query parameters percent-encoded (RFC 3986, UTF-8), sorted by name then value, joined by &."""
    pairs = parse_qsl(query, keep_blank_values=True) if isinstance(query, str) else list(query)
    encoded = sorted((_rfc3986(str(k)), _rfc3986(str(v))) for k, v in pairs)
    return "&".join(f"{k}={v}" for k, v in encoded)


def canonical_string(
    *, method: str, path: str, query: str | Iterable[tuple[str, str]], timestamp: str, nonce: str, body: bytes
) -> str:
    """METHOD, path as sent, canonical query, timestamp, nonce, hex SHA-256 of the body: one per line."""
    return "\n".join(
        [
            method.upper(),
            path,
            canonical_query(query),
            str(timestamp),
            nonce,
            hashlib.sha256(body).hexdigest(),
        ]
    )


def sign(secret: str, canonical: str) -> str:
    return hmac.new(secret.encode(), canonical.encode(), hashlib.sha256).hexdigest()


def signed_headers(
    *,
    client_id: str,
    secret: str,
    method: str,
    path: str,
    query: str | Iterable[tuple[str, str]] = "",
    body: bytes = b"",
    timestamp: int | None = None,
    nonce: str | None = None,
) -> dict[str, str]:
    """The five X-Shebao-* headers of one request; a fresh nonce and timestamp unless given."""
    ts = str(int(time.time()) if timestamp is None else timestamp)
    nonce = nonce or secrets.token_hex(16)
    canonical = canonical_string(method=method, path=path, query=query, timestamp=ts, nonce=nonce, body=body)
    return {
        H_CLIENT: client_id,
        H_TIMESTAMP: ts,
        H_NONCE: nonce,
        H_CONTENT: hashlib.sha256(body).hexdigest(),
        H_SIGNATURE: sign(secret, canonical),
    }


class SignatureError(Exception):
    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


class NonceCache:
    """Nonces seen in the last ``ttl`` seconds, per client (thread-safe, in memory)."""

    def __init__(self, ttl: int = NONCE_TTL_SECONDS) -> None:
        self.ttl = ttl
        self._seen: dict[tuple[str, str], float] = {}
        self._lock = threading.Lock()

    def add(self, client_id: str, nonce: str, now: float) -> bool:
        """False when the nonce was already used (a replay)."""
        with self._lock:
            if len(self._seen) > 10_000:
                self._seen = {k: t for k, t in self._seen.items() if now - t < self.ttl}
            key = (client_id, nonce)
            seen = self._seen.get(key)
            if seen is not None and now - seen < self.ttl:
                return False
            self._seen[key] = now
            return True


def verify_signature(
    *,
    headers: Mapping[str, str],
    secrets_by_client: Mapping[str, str],
    method: str,
    path: str,
    query: str,
    body: bytes,
    nonces: NonceCache,
    now: float | None = None,
) -> str:
    """What a server does with a signed request (docs §2.3). Returns the client id or raises
    :class:`SignatureError` with the error code to answer 401 with."""
    get = {k.lower(): v for k, v in headers.items()}.get
    client_id = get(H_CLIENT.lower(), "")
    ts, nonce, signature = (
        get(H_TIMESTAMP.lower(), ""),
        get(H_NONCE.lower(), ""),
        get(H_SIGNATURE.lower(), ""),
    )
    if not (client_id and ts and nonce and signature):
        raise SignatureError(
            "unauthenticated", "缺少签名请求头（X-Shebao-Client-Id/Timestamp/Nonce/Signature）"
        )
    secret = secrets_by_client.get(client_id)
    if secret is None:
        raise SignatureError("unauthenticated", f"未知的客户端标识“{client_id}”")
    if not ts.isdigit():
        raise SignatureError("timestamp_skew", "X-Shebao-Timestamp 应为 Unix 秒数")
    now = time.time() if now is None else now
    if abs(now - int(ts)) > CLOCK_SKEW_SECONDS:
        raise SignatureError("timestamp_skew", f"请求时间与服务器时间相差超过 {CLOCK_SKEW_SECONDS} 秒")
    if not _NONCE_RE.fullmatch(nonce):
        raise SignatureError("unauthenticated", "X-Shebao-Nonce 应为 16–64 位字母、数字、- 或 _")
    content = get(H_CONTENT.lower())
    if content is not None and not hmac.compare_digest(content, hashlib.sha256(body).hexdigest()):
        raise SignatureError("bad_signature", "请求体与 X-Shebao-Content-SHA256 不符")
    canonical = canonical_string(method=method, path=path, query=query, timestamp=ts, nonce=nonce, body=body)
    if not hmac.compare_digest(sign(secret, canonical), signature.lower()):
        raise SignatureError("bad_signature", "签名不正确")
    if not nonces.add(client_id, nonce, now):  # after the signature: junk must not burn nonces
        raise SignatureError("nonce_replayed", "该 nonce 已使用过（重放请求）")
    return client_id


# --- the connector's own settings --------------------------------------------------------------


def connector_secret(connector) -> str:
    from shebao.core import crypto

    return crypto.decrypt(connector.secret_enc, purpose=SECRET_PURPOSE) if connector.secret_enc else ""


def connector_secret_set(connector, secret: str) -> None:
    """Store the signing secret encrypted (the caller saves the connector)."""
    from shebao.core import crypto

    connector.secret_enc = crypto.encrypt(secret, purpose=SECRET_PURPOSE) if secret else ""


def connector_unit_no(entity) -> str:
    """The 参保单位编号 an entity is read under: its social-insurance unit number, else its code
    (what the simulator serves when none is recorded)."""
    return (entity.si_unit_no or "").strip() or entity.code


# --- records → facts --------------------------------------------------------------------------

CONTRIBUTION_FIELDS = (
    "record_id",
    "version",
    "person.name",
    "person.id_type",
    "person.id_number",
    "person.account_no",
    "insurance",
    "period",
    "posting_period",
    "unit_no",
    "unit_name",
    "base",
    "employer_due",
    "employee_due",
    "employer_paid",
    "employee_paid",
    "late_fee",
    "status",
    "payment_type",
)
ENROLLMENT_FIELDS = (
    "record_id",
    "version",
    "person.name",
    "person.id_type",
    "person.id_number",
    "person.account_no",
    "insurance",
    "state",
    "unit_no",
    "unit_name",
    "since",
    "reported_at",
)
AMOUNT_FIELDS = ("base", "employer_due", "employee_due", "employer_paid", "employee_paid", "late_fee")
_PERIOD_RE = re.compile(r"\d{4}-\d{2}")
_MAX_AMOUNT = Decimal("9999999999.99")  # the ledger's max_digits=12, decimal_places=2


@dataclass
class RowProblem:
    column: str
    code: str
    message: str


@dataclass
class Converted:
    """One record read: its SourceRow (facts or errors), its id and version for de-duplication."""

    source_row: facts.SourceRow
    record_id: str = ""
    version: int = 0
    errors: list[dict[str, Any]] = field(default_factory=list)


def _text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


class RecordConverter:
    """Turns the API's records into ``facts.SourceRow`` (docs §4), one row per record.

    A malformed record becomes a row with errors and no facts (never dropped silently): each
    error names the record id and the field, in Chinese. Identity numbers appear only masked, in
    the cells and in messages. Records paid by ``own_unit_no`` carry ``unit_no=""`` (the entity
    the data is ingested for); records of other units keep their number and name."""

    def __init__(self, *, own_unit_no: str) -> None:
        self.own_unit_no = own_unit_no

    # cells ---------------------------------------------------------------------------------

    def cells(self, record: Any, fields: tuple[str, ...]) -> dict[str, str]:
        if not isinstance(record, dict):
            return {"record": _text(record)[:200]}
        person = record.get("person") if isinstance(record.get("person"), dict) else {}
        out: dict[str, str] = {}
        for name in fields:
            if name.startswith("person."):
                value = person.get(name.split(".", 1)[1])
            else:
                value = record.get(name)
            out[name] = _text(value)
        raw_id = out.get("person.id_number", "")
        if raw_id:
            out["person.id_number"] = mask_identity(raw_id, out.get("person.id_type") or IdKind.RESIDENT)
        return out

    # fields --------------------------------------------------------------------------------

    def _label(self, record: Any, index: int) -> str:
        rid = record.get("record_id") if isinstance(record, dict) else None
        return f"记录 {rid}" if isinstance(rid, str) and rid else f"第 {index} 条记录（无 record_id）"

    def _person(self, record: dict, label: str, problems: list[RowProblem]) -> facts.PersonRef | None:
        person = record.get("person")
        if not isinstance(person, dict):
            problems.append(RowProblem("person", "missing", f"{label}：缺少字段 person（人员信息）"))
            return None
        name = person.get("name")
        if not isinstance(name, str) or not name.strip():
            problems.append(RowProblem("person.name", "missing", f"{label}：字段 person.name（姓名）为空"))
            name = ""
        raw_id = person.get("id_number") or ""
        kind_text = person.get("id_type") or ""
        account = person.get("account_no") or ""
        if not isinstance(raw_id, str) or not isinstance(kind_text, str) or not isinstance(account, str):
            problems.append(
                RowProblem("person", "invalid", f"{label}：person.id_type/id_number/account_no 应为字符串")
            )
            return None
        number, kind = "", ""
        if raw_id.strip():
            try:
                identity = parse_identity(raw_id, kind_text or None)
            except IdentityError as exc:
                masked = mask_identity(raw_id, kind_text or IdKind.RESIDENT)
                problems.append(
                    RowProblem(
                        "person.id_number",
                        "invalid_id",
                        f"{label}：字段 person.id_number“{masked}”无效：{exc.message}",
                    )
                )
                return None
            number, kind = identity.number, identity.kind.value
        elif not account.strip():
            problems.append(
                RowProblem(
                    "person.id_number",
                    "missing",
                    f"{label}：person.id_number 与 person.account_no 不能都为空",
                )
            )
            return None
        return facts.PersonRef(name=name.strip(), id_number=number, id_kind=kind, account_no=account.strip())

    def _choice(
        self, record: dict, name: str, enum_cls, label: str, problems: list[RowProblem], *, required=True
    ):
        value = record.get(name)
        if value is None or value == "":
            if required:
                problems.append(RowProblem(name, "missing", f"{label}：缺少字段 {name}"))
            return None
        try:
            return enum_cls(value)
        except (ValueError, TypeError):
            allowed = "、".join(m.value for m in enum_cls)
            problems.append(
                RowProblem(
                    name,
                    "invalid_choice",
                    f"{label}：字段 {name} 的值“{_text(value)[:40]}”无效（应为 {allowed}）",
                )
            )
            return None

    def _month(self, record: dict, name: str, label: str, problems: list[RowProblem], *, required: bool):
        value = record.get(name)
        if value is None or value == "":
            if required:
                problems.append(RowProblem(name, "missing", f"{label}：缺少字段 {name}（YYYY-MM）"))
            return None
        if isinstance(value, str) and _PERIOD_RE.fullmatch(value):
            try:
                return YearMonth.parse(value)
            except ValueError:
                pass
        problems.append(
            RowProblem(
                name,
                "invalid_period",
                f"{label}：字段 {name} 的值“{_text(value)[:40]}”不是有效的月份（应为 YYYY-MM）",
            )
        )
        return None

    def _amount(self, record: dict, name: str, label: str, problems: list[RowProblem]) -> Decimal | None:
        value = record.get(name)
        if value is None or value == "":
            return None
        reason = ""
        amount: Decimal | None = None
        if isinstance(value, bool) or not isinstance(value, str | int | Decimal):
            reason = '金额应为十进制字符串，如 "1280.00"'
        else:
            try:
                amount = Decimal(value.strip() if isinstance(value, str) else value)
            except InvalidOperation:
                reason = "不是数字"
            else:
                if not amount.is_finite():
                    reason, amount = "不是有限的数字", None
                elif amount.as_tuple().exponent < -2:  # type: ignore[operator]
                    reason, amount = "最多两位小数", None
                elif abs(amount) > _MAX_AMOUNT:
                    reason, amount = "金额过大", None
        if reason:
            problems.append(
                RowProblem(
                    name, "invalid_amount", f"{label}：字段 {name} 的值“{_text(value)[:40]}”无效：{reason}"
                )
            )
            return None
        return amount

    def _identity(self, record: dict, label: str, problems: list[RowProblem]) -> tuple[str, int]:
        rid, version = record.get("record_id"), record.get("version")
        if not isinstance(rid, str) or not rid.strip() or len(rid) > 100:
            problems.append(
                RowProblem("record_id", "missing", f"{label}：record_id 应为 1–100 个字符的字符串")
            )
            rid = ""
        if isinstance(version, bool) or not isinstance(version, int) or version < 1:
            problems.append(
                RowProblem(
                    "version",
                    "invalid",
                    f"{label}：字段 version 的值“{_text(version)[:20]}”无效（应为正整数）",
                )
            )
            version = 0
        return rid, version

    def _unit(self, record: dict, label: str, problems: list[RowProblem]) -> tuple[str, str]:
        unit_no, unit_name = record.get("unit_no"), record.get("unit_name") or ""
        if not isinstance(unit_no, str) or not unit_no.strip():
            problems.append(RowProblem("unit_no", "missing", f"{label}：缺少字段 unit_no（缴费单位编号）"))
            return "", ""
        if not isinstance(unit_name, str):
            unit_name = ""
        if unit_no.strip() == self.own_unit_no:
            return "", ""
        return unit_no.strip(), unit_name.strip()

    # records -------------------------------------------------------------------------------

    def _finish(self, row: facts.SourceRow, problems: list[RowProblem], rid: str, version: int) -> Converted:
        if problems:
            row.contributions, row.enrollments = [], []
            row.errors = [{"column": p.column, "code": p.code, "message": p.message} for p in problems]
        errors = [
            {"row": row.row, "column": p.column, "code": p.code, "message": p.message, "record_id": rid}
            for p in problems
        ]
        return Converted(source_row=row, record_id=rid, version=version, errors=errors)

    def contribution(self, record: Any, *, row: int) -> Converted:
        out = facts.SourceRow(row=row, cells=self.cells(record, CONTRIBUTION_FIELDS))
        label = self._label(record, row)
        if not isinstance(record, dict):
            return self._finish(out, [RowProblem("record", "invalid", f"{label}：应为 JSON 对象")], "", 0)
        problems: list[RowProblem] = []
        rid, version = self._identity(record, label, problems)
        person = self._person(record, label, problems)
        insurance = self._choice(record, "insurance", facts.Insurance, label, problems)
        period = self._month(record, "period", label, problems, required=True)
        posting = self._month(record, "posting_period", label, problems, required=False)
        unit_no, unit_name = self._unit(record, label, problems)
        status = self._choice(record, "status", facts.ContributionStatus, label, problems)
        payment_type = self._choice(
            record, "payment_type", facts.PaymentType, label, problems, required=False
        )
        amounts = {name: self._amount(record, name, label, problems) for name in AMOUNT_FIELDS}
        if not problems:
            paid = any(amounts[name] for name in ("employer_paid", "employee_paid"))  # neither None nor 0
            out.contributions.append(
                facts.ContributionFact(
                    person=person,  # type: ignore[arg-type]
                    insurance=insurance,
                    period=period,  # type: ignore[arg-type]
                    row=row,
                    posting_period=posting,
                    unit_no=unit_no,
                    unit_name=unit_name,
                    status=status,
                    payment_type=payment_type,
                    evidence=facts.Evidence.PAID
                    if paid or status is facts.ContributionStatus.PAID
                    else facts.Evidence.ASSESSED,
                    **amounts,
                )
            )
        return self._finish(out, problems, rid, version)

    def enrollment(self, record: Any, *, row: int) -> Converted:
        out = facts.SourceRow(row=row, cells=self.cells(record, ENROLLMENT_FIELDS))
        label = self._label(record, row)
        if not isinstance(record, dict):
            return self._finish(out, [RowProblem("record", "invalid", f"{label}：应为 JSON 对象")], "", 0)
        problems: list[RowProblem] = []
        rid, version = self._identity(record, label, problems)
        person = self._person(record, label, problems)
        insurance = self._choice(record, "insurance", facts.Insurance, label, problems)
        state = self._choice(record, "state", facts.EnrollmentState, label, problems)
        unit_no, unit_name = self._unit(record, label, problems)
        since = None
        if record.get("since"):
            try:
                since = dt.date.fromisoformat(str(record["since"]))
            except ValueError:
                problems.append(
                    RowProblem(
                        "since",
                        "invalid_date",
                        f"{label}：字段 since 的值“{_text(record['since'])[:40]}”不是有效日期（YYYY-MM-DD）",
                    )
                )
        reported_at = None
        if record.get("reported_at"):
            try:
                reported_at = dt.datetime.fromisoformat(str(record["reported_at"]))
                if reported_at.tzinfo is None:
                    raise ValueError("naive")
            except ValueError:
                problems.append(
                    RowProblem(
                        "reported_at",
                        "invalid_datetime",
                        f"{label}：字段 reported_at 的值“{_text(record['reported_at'])[:40]}”无效（应为带时区的 ISO 8601 时间）",
                    )
                )
                reported_at = None
        if not problems:
            out.enrollments.append(
                facts.EnrollmentFact(
                    person=person,  # type: ignore[arg-type]
                    insurance=insurance,
                    state=state,
                    row=row,
                    unit_no=unit_no,
                    unit_name=unit_name,
                    since=since,
                    reported_at=reported_at,
                )
            )
        return self._finish(out, problems, rid, version)
