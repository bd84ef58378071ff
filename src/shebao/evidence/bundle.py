"""Evidence bundles: one ZIP with everything an arbitrator needs about a case (or an employee),
checkable by anyone without Shebao.

Inside: ``timeline.pdf`` (the entries in Chinese), every letter exactly as stored when it was
issued and sent, ``acknowledgements.json``, the uploaded files, the source data of each status
check (the entry's payload text, so its SHA-256 is the entry's ``payload_sha256``), the ledger
entries (``ledger.jsonl``), ``public_key.pem``, ``verify.py`` (a copy of ``verifier.py``),
``VERIFY.txt`` and ``SHA256SUMS`` (the standard-tool recipes), and ``manifest.json`` listing
every file's SHA-256 with its Ed25519 signature ``manifest.sig``.

The employee's chain is in the bundle from its first entry to its last: entries of the employee
that belong to another case are shown without their payload (``null``), so the links still
check and nothing about the other case is disclosed. Exporting is itself recorded
(``bundle.exported``, after the bundle is made, so a bundle never holds its own export entry).
"""

from __future__ import annotations

import datetime as dt
import io
import json
import re
import unicodedata
import zipfile
import zoneinfo
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from django.conf import settings
from django.db import transaction
from django.db.models import Q
from django.template.loader import render_to_string
from django.utils import timezone, translation

from shebao.accounts.models import Role
from shebao.accounts.permissions import can_see_employee
from shebao.core.context import Actor
from shebao.core.exceptions import ApplicationError, PermissionDenied
from shebao.evidence import keys, labels, verifier
from shebao.evidence.models import Entry, Head
from shebao.evidence.services import actor_text, at_text, entry_append, key_announce
from shebao.evidence.verifier import FORMAT, LEDGER, MANIFEST, PUBLIC_KEY, SIGNATURE, canonical, sha256_hex

EXPORT_ROLES = {Role.HR_ADMIN, Role.HR_SPECIALIST, Role.AUDITOR}
VERIFY_TEMPLATE = Path(__file__).resolve().parent / "data" / "VERIFY.txt"
SUMS = "SHA256SUMS"
TIMELINE = "timeline.pdf"
ACKS = "acknowledgements.json"
LOCAL = zoneinfo.ZoneInfo("Asia/Shanghai")  # evidence times are shown in China time


@dataclass
class Bundle:
    data: bytes  # the ZIP
    filename: str
    manifest_sha256: str
    subject: str  # "案件 AJ…（姓名，工号）"
    entry_count: int
    file_count: int = 0
    ref: str = ""  # "case:AJ…" or "employee:T…" (the export entry's subject)

    def http_response(self):
        """The ZIP as a download (pages and API alike): never cached, the manifest's SHA-256 in
        ``X-Manifest-SHA256``."""
        from django.http import HttpResponse
        from django.utils.http import content_disposition_header

        response = HttpResponse(self.data, content_type="application/zip")
        response["Content-Disposition"] = content_disposition_header(True, self.filename)
        response["Content-Length"] = str(len(self.data))
        response["X-Manifest-SHA256"] = self.manifest_sha256
        response["Cache-Control"] = "no-store"
        response["X-Content-Type-Options"] = "nosniff"
        return response


@dataclass
class _File:
    path: str
    data: bytes
    entry: int | None = None  # the seq of the entry that states this file's SHA-256
    entry_sha256: str | None = None

    def listed(self) -> dict[str, Any]:
        item: dict[str, Any] = {"path": self.path, "sha256": sha256_hex(self.data), "size": len(self.data)}
        if self.entry is not None:
            item["entry"] = self.entry
            item["entry_sha256"] = self.entry_sha256
        return item


@dataclass
class _Shown:
    entry: Entry
    full: bool  # False: an entry of another case, shown without its payload

    def line(self) -> dict[str, Any]:
        return {**self.entry.header(), "payload": self.entry.payload if self.full else None}


@dataclass
class _Contents:
    files: list[_File] = field(default_factory=list)

    def add(self, path: str, data: bytes, *, entry: int | None = None, entry_sha256: str | None = None):
        taken = {f.path for f in self.files}
        if path in taken:  # two files with the same name: keep both
            stem, dot, ext = path.rpartition(".")
            n = 2
            while f"{stem}-{n}{dot}{ext}" in taken:
                n += 1
            path = f"{stem}-{n}{dot}{ext}"
        self.files.append(_File(path, data, entry, entry_sha256))


# --- permission -----------------------------------------------------------------------------------


def can_export_bundle(user, employee) -> bool:
    """HR who may see the employee, and auditors. Never managers, never the employee."""
    return bool(
        user is not None
        and user.is_authenticated
        and user.is_active
        and user.role in EXPORT_ROLES
        and can_see_employee(user, employee)
    )


def _check_permission(actor: Actor, employee) -> None:
    if actor.user is not None and not can_export_bundle(actor.user, employee):
        raise PermissionDenied("只有负责该员工的 HR 和审计员可以导出证据包")


# --- helpers --------------------------------------------------------------------------------------


def safe_name(name: str, *, limit: int = 100) -> str:
    """A file name that is the same on every system and in ``sha256sum`` lines: no folders, no
    spaces or control characters (Chinese is kept)."""
    name = unicodedata.normalize("NFC", name or "")
    name = re.sub(r'[\x00-\x20\x7f/\\:*?"<>|]+', "_", name).strip("._") or "file"
    if len(name) > limit:
        stem, dot, ext = name.rpartition(".")
        name = (stem[: limit - len(ext) - 1] + dot + ext) if dot and len(ext) <= 10 else name[:limit]
    return name


def local_time(at: str) -> str:
    """An entry's UTC timestamp as China time, to the second."""
    try:
        moment = dt.datetime.fromisoformat(at.replace("Z", "+00:00"))
    except ValueError:
        return at
    return moment.astimezone(LOCAL).strftime("%Y-%m-%d %H:%M:%S")


def _payload(entry: Entry) -> dict[str, Any]:
    return labels.payload_of(entry)


def _vouching(shown: list[_Shown], subject: str, key: str) -> tuple[int | None, str | None]:
    """The first full entry about ``subject`` whose payload states the file's SHA-256."""
    for item in shown:
        if item.full and item.entry.subject == subject:
            sha = (_payload(item.entry).get(key) or {}).get("sha256")
            if sha:
                return item.entry.seq, sha
    return None, None


def _blob(sha256: str, what: str) -> bytes:
    from shebao.core import blobs

    try:
        return blobs.blob_read(sha256)
    except ApplicationError as exc:
        raise ApplicationError(
            f"无法导出证据包：{what}的存档文件无法读取（{exc.message}）", code=exc.code
        ) from exc


# --- what goes in ---------------------------------------------------------------------------------


def _entries(*, employee, case) -> list[_Shown]:
    """The employee's whole chain (payloads of other cases left out for a case bundle), plus the
    organisation-level entries the shown status checks name (the source runs) and the key."""
    q = Q(stream=f"e{employee.pk}")
    if case is not None:
        q |= Q(case_id=case.pk)
    shown = [
        _Shown(e, full=case is None or e.case_id == case.pk or _opened(e, case))
        for e in Entry.objects.filter(q).order_by("seq")
    ]
    subjects = {f"key:{keys.fingerprint()}"}
    for item in shown:
        if item.full and item.entry.kind == "status.checked":
            for source in _payload(item.entry).get("sources") or []:
                if isinstance(source, dict) and source.get("run") is not None:
                    subjects.add(f"run:{source['run']}")
    have = {item.entry.seq for item in shown}
    extra = Entry.objects.filter(stream="", kind__in=("source.applied", "key.created"), subject__in=subjects)
    shown += [_Shown(e, full=True) for e in extra if e.seq not in have]
    shown.sort(key=lambda item: item.entry.seq)
    return shown


def _opened(entry: Entry, case) -> bool:
    """The finding the case was opened from, as the rules found it: part of the case."""
    return (
        case.finding_id is not None
        and entry.kind == "finding.opened"
        and _payload(entry).get("finding") == case.finding_id
    )


def _letters(contents: _Contents, cases, shown: list[_Shown]) -> None:
    for case in cases:
        for letter in case.letters.order_by("id"):
            seq, sha = _vouching(shown, f"letter:{letter.number}", "letter")
            contents.add(
                f"letters/{safe_name(letter.number)}.pdf",
                _blob(letter.sha256, f"函件 {letter.number} "),
                entry=seq,
                entry_sha256=sha,
            )


def _acknowledgements(cases, shown: list[_Shown]) -> tuple[bytes, list[dict[str, Any]]]:
    from shebao.cases.models import Acknowledgement

    answered = {}
    for item in shown:
        if item.full and item.entry.kind in ("case.acknowledged", "case.disagreed"):
            ack_id = (_payload(item.entry).get("data") or {}).get("acknowledgement")
            answered.setdefault(ack_id, item.entry.seq)
    rows = []
    acks = (
        Acknowledgement.objects.filter(letter__case__in=[c.pk for c in cases])
        .select_related("letter", "letter__case")
        .order_by("at", "id")
    )
    for ack in acks:
        rows.append(
            {
                "case": ack.letter.case.number,
                "letter": ack.letter.number,
                "letter_sha256": ack.letter.sha256,
                "decision": ack.decision,
                "decision_label": str(ack.get_decision_display()),
                "reason": ack.reason,
                "at": at_text(ack.at),
                "at_local": local_time(at_text(ack.at)),
                "ip": ack.ip,
                "user_agent": ack.user_agent,
                "document_sha256": ack.document_sha256,
                "document_matches_letter": ack.document_sha256 == ack.letter.sha256,
                "identity_method": ack.method,
                "identity_method_label": str(ack.get_method_display()),
                "attachments": [a.pk for a in ack.attachments.order_by("id")],
                "entry": answered.get(ack.pk),
            }
        )
    text = json.dumps({"acknowledgements": rows}, ensure_ascii=False, indent=2) + "\n"
    return text.encode("utf-8"), rows


def _attachments(contents: _Contents, cases, shown: list[_Shown]) -> list[dict[str, Any]]:
    listed = []
    for case in cases:
        for att in case.attachments.order_by("id"):
            seq, sha = _vouching(shown, f"attachment:{att.pk}", "attachment")
            path = f"attachments/{att.pk}-{safe_name(att.filename)}"
            contents.add(path, _blob(att.sha256, f"附件“{att.filename}”"), entry=seq, entry_sha256=sha)
            listed.append({"path": contents.files[-1].path, "att": att})
    return listed


def _status_checks(contents: _Contents, shown: list[_Shown]) -> None:
    for item in shown:
        e = item.entry
        if item.full and e.kind == "status.checked":
            contents.add(
                f"source/status-check-{e.seq}.json",
                e.payload.encode("utf-8"),
                entry=e.seq,
                entry_sha256=e.payload_sha256,
            )


# --- the human-readable parts ---------------------------------------------------------------------


def _rows(shown: list[_Shown]) -> list[dict[str, Any]]:
    rows = []
    for item in shown:
        e = item.entry
        if item.full:
            summary = labels.entry_summary(e)
        else:
            summary = f"（{'案件 ' + e.case if e.case else '其他事项'}的记录：内容不在本证据包中，仅用于衔接记录链）"
        rows.append(
            {
                "seq": e.seq,
                "time": local_time(e.at),
                "kind": labels.kind_label(e.kind),
                "actor": e.actor,
                "case": e.case,
                "summary": summary,
                "hash": e.hash[:12],
                "prev": e.stream_prev[:12] if e.stream else e.prev[:12],
                "full": item.full,
            }
        )
    return rows


def _timeline_pdf(context: dict[str, Any]) -> bytes:
    from shebao.cases.pdf import render_pdf

    html = render_to_string("evidence/bundle_timeline.html", context)
    return render_pdf(html, footer=f"证据包 · {context['ref']}")


def _verify_text(context: dict[str, Any]) -> bytes:
    text = VERIFY_TEMPLATE.read_text(encoding="utf-8")
    for key, value in context.items():
        text = text.replace("{{" + key + "}}", str(value))
    return text.encode("utf-8")


# --- the ZIP --------------------------------------------------------------------------------------


def _zip(members: list[tuple[str, bytes]], moment: dt.datetime) -> bytes:
    """Members in the given order, all with the export time and the same attributes: the same
    contents make the same bytes."""
    stamp = moment.astimezone(LOCAL).timetuple()[:6]
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zf:
        for name, data in members:
            info = zipfile.ZipInfo(name, date_time=stamp)
            info.compress_type = zipfile.ZIP_DEFLATED
            info.create_system = 3  # Unix, whatever the host
            info.external_attr = 0o644 << 16
            zf.writestr(info, data)
    return buf.getvalue()


def bundle_build(*, actor: Actor, case=None, employee=None, now: dt.datetime | None = None) -> Bundle:
    """The evidence bundle of a case (or of everything about an employee), signed with the
    instance's key. Exporting is recorded in the ledger and the audit log."""
    from shebao.audit.services import audit_record

    if (case is None) == (employee is None):
        raise ApplicationError("请指定一个案件或一名员工")
    if case is not None:
        employee = case.employee
    _check_permission(actor, employee)
    now = now or timezone.now()
    key_announce()  # the chain names the key that signs the manifest
    cases = [case] if case is not None else list(employee.cases.order_by("id"))
    if case is not None:
        ref = f"case:{case.number}"
        subject = f"案件 {case.number}（{employee.name}，工号 {employee.employee_no}）"
    else:
        ref = f"employee:{employee.employee_no}"
        subject = f"员工 {employee.name}（工号 {employee.employee_no}）的全部记录"

    with transaction.atomic():  # one consistent reading of the ledger
        shown = _entries(employee=employee, case=case)
        head = Head.objects.filter(pk=1).values_list("seq", "hash").first() or (0, verifier.GENESIS)
    stream = f"e{employee.pk}"
    stream_entries = [i.entry for i in shown if i.entry.stream == stream]
    stream_heads = {stream: stream_entries[-1].hash} if stream_entries else {}

    contents = _Contents()
    _letters(contents, cases, shown)
    with translation.override(settings.LANGUAGE_CODE):  # evidence is in Chinese, whoever asks
        ack_bytes, acks = _acknowledgements(cases, shown)
    uploads = _attachments(contents, cases, shown)
    _status_checks(contents, shown)
    ledger = b"".join(canonical(item.line()) + b"\n" for item in shown)
    public = keys.public_pem()
    fingerprint = keys.fingerprint()
    generated_by = actor_text(actor)
    zip_name = _filename(ref, now)
    entity = case.entity if case is not None else employee.entity
    example = next((i.entry.seq for i in shown if i.full), 1)  # for the jq recipe
    facts = {
        "subject": subject,
        "ref": ref,
        "generated_at": now.astimezone(LOCAL).strftime("%Y-%m-%d %H:%M:%S"),
        "generated_by": generated_by,
        "fingerprint": fingerprint,
        "head_seq": head[0],
        "head_hash": head[1],
        "stream_heads": "；".join(f"{k}：{v}" for k, v in stream_heads.items()) or "（无）",
        "example_seq": example,
        "zip_name": zip_name,
    }
    with translation.override(settings.LANGUAGE_CODE):
        timeline = _timeline_pdf(
            {
                **facts,
                "employee": employee,
                "id_masked": employee.id_number_masked,
                "entity": entity.name if entity else "",
                "cases": cases,
                "rows": _rows(shown),
                "letters": [f for f in contents.files if f.path.startswith("letters/")],
                "uploads": uploads,
                "acks": acks,
                "stream": stream,
            }
        )

    members = [_File(TIMELINE, timeline)]
    members += [f for f in contents.files if f.path.startswith("letters/")]
    members.append(_File(ACKS, ack_bytes))
    members += [f for f in contents.files if not f.path.startswith("letters/")]
    members += [
        _File(LEDGER, ledger),
        _File(PUBLIC_KEY, public),
        _File("verify.py", Path(verifier.__file__).read_bytes()),
        _File("VERIFY.txt", _verify_text(facts)),
    ]
    sums = "".join(f"{sha256_hex(f.data)}  {f.path}\n" for f in members).encode("utf-8")
    members.append(_File(SUMS, sums))

    manifest = {
        "format": FORMAT,
        "subject": subject,
        "ref": ref,
        "generated_at": at_text(now),
        "generated_by": generated_by,
        "employee": {
            "employee_no": employee.employee_no,
            "name": employee.name,
            "id_number": employee.id_number_masked,
            "entity": entity.name if entity else "",
        },
        "cases": [c.number for c in cases],
        "key_fingerprint": fingerprint,
        "chain_head": {"seq": head[0], "hash": head[1]},
        "stream_heads": stream_heads,
        "files": [f.listed() for f in members],
        "entries": [
            {
                "seq": i.entry.seq,
                "kind": i.entry.kind,
                "hash": i.entry.hash,
                "payload_sha256": i.entry.payload_sha256,
                "payload_included": i.full,
            }
            for i in shown
        ],
    }
    manifest_bytes = (json.dumps(manifest, ensure_ascii=False, indent=2) + "\n").encode("utf-8")
    signature = keys.sign(manifest_bytes)
    data = _zip(
        [(f.path, f.data) for f in members] + [(MANIFEST, manifest_bytes), (SIGNATURE, signature)], now
    )
    digest = sha256_hex(manifest_bytes)
    record = {"subject": subject, "manifest_sha256": digest, "files": len(members), "entries": len(shown)}
    with transaction.atomic():
        entry_append(
            kind="bundle.exported",
            payload={**record, "ref": ref, "zip_name": zip_name},
            actor=actor,
            case=case,
            employee_id=employee.pk,
            entity_id=entity.pk if entity else None,
            subject=ref,
        )
        audit_record(actor=actor, action="evidence.bundle_export", obj=case or employee, changes=record)
    return Bundle(
        data=data,
        filename=zip_name,
        manifest_sha256=digest,
        subject=subject,
        entry_count=len(shown),
        file_count=len(members),
        ref=ref,
    )


def _filename(ref: str, now: dt.datetime) -> str:
    kind, _, name = ref.partition(":")
    return f"shebao-evidence-{kind}-{safe_name(name)}-{now.astimezone(LOCAL):%Y%m%d-%H%M%S}.zip"
