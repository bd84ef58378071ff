#!/usr/bin/env python3
"""Check Shebao's evidence chain and evidence bundles with nothing but Python's standard library.

This one file is both the hashing rules the application uses to write its evidence ledger and a
stand-alone checker: every bundle carries a copy as ``verify.py``, so a bundle can be checked on
any machine with Python 3.8+ and no Shebao, no database, no network::

    python3 verify.py bundle.zip          # or: python3 verify.py extracted-folder/

How an entry is hashed (the same rules as ``VERIFY.txt`` spells out for jq and sha256sum):

* ``payload`` is canonical JSON — keys sorted, no spaces, UTF-8, non-ASCII characters unescaped —
  and ``payload_sha256`` is the SHA-256 of those bytes;
* the entry's ``hash`` is the SHA-256 of the canonical JSON of its header: ``seq``, ``at``,
  ``kind``, ``actor``, ``stream``, ``case``, ``subject``, ``payload_sha256``, ``prev`` (the hash of
  the entry before it in the whole ledger) and ``stream_prev`` (the hash of the entry before it
  about the same employee — the employee's own chain);
* the first entry's ``prev`` and each employee's first ``stream_prev`` are 64 zeros.

Changing any byte of an entry changes its hash; removing, inserting or reordering entries breaks
the link of the next one. The bundle's ``manifest.json`` lists every other file with its SHA-256
and is signed (Ed25519, ``manifest.sig``) with the instance's key whose public half is in
``public_key.pem``: without the ``cryptography`` package this script checks everything except the
signature and tells how to check it with ``openssl``.
"""

from __future__ import annotations

import hashlib
import io
import json
import sys
import zipfile
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

GENESIS = "0" * 64
HEADER_FIELDS = (
    "seq",
    "at",
    "kind",
    "actor",
    "stream",
    "case",
    "subject",
    "payload_sha256",
    "prev",
    "stream_prev",
)
FORMAT = "shebao-evidence-bundle/1"
MANIFEST = "manifest.json"
SIGNATURE = "manifest.sig"
PUBLIC_KEY = "public_key.pem"
LEDGER = "ledger.jsonl"
UNSIGNED = (MANIFEST, SIGNATURE)  # the two files the manifest cannot list


_ENCODER = json.JSONEncoder(ensure_ascii=False, sort_keys=True, separators=(",", ":"))


def canonical(value: Any) -> bytes:
    """The one byte form that is hashed: sorted keys, no spaces, UTF-8 (what
    ``json.dumps(value, ensure_ascii=False, sort_keys=True, separators=(",", ":"))`` gives)."""
    return _ENCODER.encode(value).encode("utf-8")


def sha256_hex(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def payload_digest(payload_text: str) -> str:
    return sha256_hex(payload_text.encode("utf-8"))


def entry_hash(header: dict[str, Any]) -> str:
    return sha256_hex(canonical({name: header[name] for name in HEADER_FIELDS}))


@dataclass
class Problem:
    code: str  # payload | hash | link | sequence | stream | file_changed | file_added | file_missing | manifest | signature | format
    message: str  # in Chinese, naming the entry or the file
    seq: int | None = None
    path: str | None = None

    def __str__(self) -> str:
        return self.message


@dataclass
class ChainState:
    """Walks entries in ``seq`` order, one at a time (``feed``), keeping only the last hash."""

    full: bool = True  # the whole ledger: seq must go 1, 2, 3 … and every prev must link
    last_seq: int | None = None
    last_hash: str = GENESIS
    streams: dict[str, str] = field(default_factory=dict)  # stream → hash of its last entry seen
    checked: int = 0

    def feed(self, entry: dict[str, Any], *, payload_text: str | None) -> Iterator[Problem]:
        # Called once per entry of the whole ledger (a million and more): the wording of a
        # problem is only put together when there is one.
        seq = entry.get("seq")
        get = entry.get

        def where() -> str:
            return f"第 {seq} 条（{get('kind', '?')}）"

        if payload_text is not None and payload_digest(payload_text) != get("payload_sha256"):
            yield Problem("payload", f"{where()}的内容被改动：内容的 SHA-256 与记录的摘要不符", seq=seq)
        try:
            computed = entry_hash(entry)
        except KeyError as exc:
            yield Problem("format", f"{where()}缺少字段 {exc.args[0]}", seq=seq)
            return
        if computed != get("hash"):
            yield Problem("hash", f"{where()}的记录被改动：按其字段重新计算的哈希与记录的哈希不符", seq=seq)
        last_seq = self.last_seq
        if self.full:
            expected_seq = 1 if last_seq is None else last_seq + 1
            if seq != expected_seq:
                if isinstance(seq, int) and last_seq is not None and seq > expected_seq:
                    gap = f"第 {expected_seq} 至 {seq - 1} 条缺失（被删除）"
                elif isinstance(seq, int) and last_seq is None and seq > 1:
                    gap = f"第 1 至 {seq - 1} 条缺失（被删除）"
                else:
                    gap = f"顺序错乱（上一条是第 {last_seq} 条）"
                yield Problem("sequence", f"序号不连续：第 {expected_seq} 条之后是{where()}，{gap}", seq=seq)
            if get("prev") != self.last_hash:
                before = "链的开头" if last_seq is None else f"第 {last_seq} 条"
                yield Problem(
                    "link",
                    f"{where()}与{before}衔接不上：它记录的上一条哈希与{before}的哈希不符"
                    f"（{before}被改动，或两者之间的记录被删除、插入或调换了顺序）",
                    seq=seq,
                )
        own = get("hash", "")
        stream = get("stream") or ""
        if stream:
            streams = self.streams
            if get("stream_prev") != streams.get(stream, GENESIS):
                yield Problem(
                    "stream",
                    f"{where()}与同一员工的上一条记录衔接不上（其间的记录被删除、插入、调换或改动）",
                    seq=seq,
                )
            streams[stream] = own
        if isinstance(seq, int):
            self.last_seq = seq
        self.last_hash = own
        self.checked += 1


def check_entries(entries: Iterable[dict[str, Any]], *, full: bool) -> tuple[int, list[Problem]]:
    """Entries as dicts (each with ``payload`` as text, or ``None`` for one shown without it)."""
    state = ChainState(full=full)
    problems: list[Problem] = []
    for entry in entries:
        problems.extend(state.feed(entry, payload_text=entry.get("payload")))
    return state.checked, problems


# --- bundles --------------------------------------------------------------------------------------


@dataclass
class BundleReport:
    ok: bool
    problems: list[Problem]
    files: int = 0
    entries: int = 0
    subject: str = ""
    key_fingerprint: str = ""
    signature: str = ""  # valid | invalid | unchecked | missing

    def as_dict(self) -> dict[str, Any]:
        return {
            "ok": self.ok,
            "subject": self.subject,
            "files": self.files,
            "entries": self.entries,
            "signature": self.signature,
            "key_fingerprint": self.key_fingerprint,
            "problems": [
                {"code": p.code, "message": p.message, "seq": p.seq, "path": p.path} for p in self.problems
            ],
        }


def key_fingerprint(public_pem: bytes) -> str:
    """SHA-256 of the PEM's key bytes (the DER inside), grouped by four: what checkpoints state."""
    lines = [ln.strip() for ln in public_pem.decode("ascii", "replace").splitlines()]
    body = "".join(ln for ln in lines if ln and not ln.startswith("-----"))
    import base64

    try:
        der = base64.b64decode(body, validate=True)
    except ValueError:
        der = public_pem
    digest = sha256_hex(der)
    return ":".join(digest[i : i + 4] for i in range(0, 32, 4))


def _check_signature(manifest: bytes, signature: bytes | None, public_pem: bytes | None) -> str:
    if signature is None or public_pem is None:
        return "missing"
    try:
        from cryptography.exceptions import InvalidSignature
        from cryptography.hazmat.primitives.serialization import load_pem_public_key
    except ImportError:
        return "unchecked"
    try:
        key = load_pem_public_key(public_pem)
        key.verify(signature, manifest)  # type: ignore[call-arg]
    except (InvalidSignature, ValueError, TypeError):
        return "invalid"
    return "valid"


class _Source:
    """A bundle as a ZIP file or as the folder it was extracted to."""

    def __init__(self, path: Path):
        self.path = path
        self.zip = None if path.is_dir() else zipfile.ZipFile(path)
        if self.zip is not None:
            self.names = [n for n in self.zip.namelist() if not n.endswith("/")]
        else:
            self.names = sorted(p.relative_to(path).as_posix() for p in path.rglob("*") if p.is_file())

    def read(self, name: str) -> bytes | None:
        if name not in self.names:
            return None
        if self.zip is not None:
            return self.zip.read(name)
        return (self.path / name).read_bytes()


def verify_bundle(path: str | Path) -> BundleReport:
    """Check a bundle: every file against the manifest, nothing added or missing, the manifest's
    signature, and the ledger entries' hashes and links (the employee's chain from its start)."""
    path = Path(path)
    problems: list[Problem] = []
    try:
        src = _Source(path)
    except (zipfile.BadZipFile, OSError) as exc:
        return BundleReport(False, [Problem("format", f"无法打开证据包：{exc}")])
    raw = src.read(MANIFEST)
    if raw is None:
        return BundleReport(
            False, [Problem("manifest", "证据包中没有 manifest.json（清单），无法校验", path=MANIFEST)]
        )
    try:
        manifest = json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        return BundleReport(
            False, [Problem("manifest", f"manifest.json 不是有效的 JSON：{exc}", path=MANIFEST)]
        )
    if not isinstance(manifest, dict) or manifest.get("format") != FORMAT:
        return BundleReport(False, [Problem("manifest", f"manifest.json 的格式不是 {FORMAT}", path=MANIFEST)])
    public_pem = src.read(PUBLIC_KEY)
    signature = _check_signature(raw, src.read(SIGNATURE), public_pem)
    if signature == "invalid":
        problems.append(
            Problem(
                "signature",
                "manifest.json 的签名无效：清单在导出后被改动（或签名、公钥被替换）",
                path=MANIFEST,
            )
        )
    elif signature == "missing":
        problems.append(
            Problem("signature", "缺少 manifest.sig 或 public_key.pem，无法确认清单未被改动", path=SIGNATURE)
        )

    listed: dict[str, dict[str, Any]] = {}
    for item in manifest.get("files") or []:
        if isinstance(item, dict) and isinstance(item.get("path"), str):
            listed[item["path"]] = item
    for name in src.names:
        if name in UNSIGNED:
            continue
        item = listed.get(name)
        if item is None:
            problems.append(
                Problem("file_added", f"多出的文件：{name}（清单中没有，是导出后加入的）", path=name)
            )
            continue
        data = src.read(name) or b""
        if sha256_hex(data) != item.get("sha256"):
            problems.append(
                Problem(
                    "file_changed",
                    f"文件被改动：{name}（SHA-256 与清单不符：清单 {str(item.get('sha256'))[:16]}…，"
                    f"实际 {sha256_hex(data)[:16]}…）",
                    path=name,
                )
            )
        elif "size" in item and item["size"] != len(data):
            problems.append(Problem("file_changed", f"文件被改动：{name}（大小与清单不符）", path=name))
    for name in listed:
        if name not in src.names:
            problems.append(
                Problem("file_missing", f"缺少文件：{name}（清单中列出，证据包中没有）", path=name)
            )

    entries: list[dict[str, Any]] = []
    ledger_raw = src.read(LEDGER)
    if ledger_raw is None:
        problems.append(Problem("format", "证据包中没有 ledger.jsonl（证据链记录）", path=LEDGER))
    else:
        for number, line in enumerate(ledger_raw.decode("utf-8", "replace").splitlines(), start=1):
            if not line.strip():
                continue
            try:
                entry = json.loads(line)
            except json.JSONDecodeError:
                problems.append(Problem("format", f"ledger.jsonl 第 {number} 行不是有效的 JSON", path=LEDGER))
                continue
            if isinstance(entry, dict):
                entries.append(entry)
    listed_entries = manifest.get("entries") or []
    if entries and len(listed_entries) != len(entries):
        problems.append(
            Problem(
                "manifest",
                f"清单列出 {len(listed_entries)} 条证据链记录，ledger.jsonl 中有 {len(entries)} 条",
                path=LEDGER,
            )
        )
    for entry, listed_entry in zip(entries, listed_entries):  # noqa: B905 (Python 3.8+)
        if isinstance(listed_entry, dict) and (
            listed_entry.get("seq") != entry.get("seq") or listed_entry.get("hash") != entry.get("hash")
        ):
            problems.append(
                Problem(
                    "manifest",
                    f"ledger.jsonl 中第 {entry.get('seq')} 条与清单所列（第 {listed_entry.get('seq')} 条）不一致",
                    seq=entry.get("seq") if isinstance(entry.get("seq"), int) else None,
                )
            )
    seqs = [e.get("seq") for e in entries]
    if any(not isinstance(s, int) for s in seqs) or seqs != sorted(seqs) or len(set(seqs)) != len(seqs):
        problems.append(
            Problem("sequence", "ledger.jsonl 中记录的顺序被调换或有重复（序号应递增）", path=LEDGER)
        )
    # Each employee's chain is complete in a bundle (entries of other cases shown without their
    # content), so it must link from 64 zeros through every entry to the end.
    state = ChainState(full=False)
    for entry in sorted(entries, key=lambda e: e.get("seq") if isinstance(e.get("seq"), int) else 0):
        problems.extend(state.feed(entry, payload_text=entry.get("payload")))
    heads = manifest.get("stream_heads") or {}
    for stream, head in heads.items():
        if state.streams.get(stream, GENESIS) != head:
            problems.append(
                Problem(
                    "stream",
                    f"员工记录链 {stream} 的最后一条与清单记录的链头不符（末尾的记录被删除或改动）",
                    path=LEDGER,
                )
            )
    # Files the entries vouch for: a letter's or an upload's SHA-256 in the ledger must be the file's.
    by_seq = {e.get("seq"): e for e in entries}
    for item in listed.values():
        vouched = item.get("entry_sha256")
        if vouched and vouched != item.get("sha256"):
            problems.append(
                Problem(
                    "file_changed",
                    f"文件 {item['path']} 的 SHA-256 与证据链记录（第 {item.get('entry')} 条）中的不符",
                    path=item["path"],
                )
            )
        elif "entry" in item and entries and not _states(by_seq.get(item["entry"]), item.get("sha256")):
            # The ledger itself (not only the manifest) must name the file's hash.
            problems.append(
                Problem(
                    "file_changed",
                    f"文件 {item['path']}：证据链第 {item['entry']} 条记录中没有写明这个 SHA-256",
                    seq=item["entry"] if isinstance(item["entry"], int) else None,
                    path=item["path"],
                )
            )
    return BundleReport(
        ok=not problems,
        problems=problems,
        files=len(listed),
        entries=len(entries),
        subject=str(manifest.get("subject", "")),
        key_fingerprint=key_fingerprint(public_pem) if public_pem else "",
        signature=signature,
    )


def _states(entry: dict[str, Any] | None, sha: Any) -> bool:
    """Whether the entry's payload (or its digest) names ``sha``."""
    if entry is None or not isinstance(sha, str):
        return False
    if entry.get("payload_sha256") == sha:
        return True
    text = entry.get("payload")
    if not isinstance(text, str):
        return False
    try:
        stack = [json.loads(text)]
    except json.JSONDecodeError:
        return False
    while stack:
        value = stack.pop()
        if value == sha:
            return True
        if isinstance(value, dict):
            stack.extend(value.values())
        elif isinstance(value, list):
            stack.extend(value)
    return False


def _print(report: BundleReport, out: io.TextIOBase) -> None:
    print(f"证据包：{report.subject}", file=out)
    print(f"文件 {report.files} 个，证据链记录 {report.entries} 条", file=out)
    if report.key_fingerprint:
        print(
            f"签名公钥指纹：{report.key_fingerprint}（请与系统「证据链」页面或每日校验点消息中的指纹核对）",
            file=out,
        )
    labels = {
        "valid": "有效",
        "invalid": "无效",
        "unchecked": "未检查（未安装 cryptography，见 VERIFY.txt 用 openssl 检查）",
        "missing": "缺失",
    }
    print(f"清单签名：{labels.get(report.signature, report.signature)}", file=out)
    if report.ok:
        print("结论：校验通过，证据包自导出后未被改动，证据链完整。", file=out)
    else:
        print(f"结论：校验失败，发现 {len(report.problems)} 处问题：", file=out)
        for problem in report.problems:
            print(f"  - {problem.message}", file=out)


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if len(args) != 1 or args[0] in ("-h", "--help"):
        print("用法：python3 verify.py 证据包.zip（或解压后的文件夹）", file=sys.stderr)
        return 2
    report = verify_bundle(args[0])
    _print(report, sys.stdout)  # type: ignore[arg-type]
    return 0 if report.ok else 1


if __name__ == "__main__":
    sys.exit(main())
