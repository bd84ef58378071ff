"""Evidence bundles: what a closed case's bundle holds, that it checks out — with the bundle's own
verify.py, with openssl, sha256sum and jq — and that every way of tampering with it is found
and pointed at (which file, which entry)."""

from __future__ import annotations

import hashlib
import io
import json
import os
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from shebao.core import blobs
from shebao.evidence import verifier
from shebao.evidence.bundle import bundle_build, safe_name
from shebao.evidence.models import Entry
from shebao.evidence.verifier import canonical, entry_hash, sha256_hex

CI = os.environ.get("CI", "").lower() in {"1", "true", "yes"}
_BUILT: dict[str, bytes] = {}


def members(data: bytes) -> dict[str, bytes]:
    with zipfile.ZipFile(io.BytesIO(data)) as zf:
        return {name: zf.read(name) for name in zf.namelist()}


def rezip(files: dict[str, bytes]) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zf:
        for name, data in files.items():
            zf.writestr(name, data)
    return buf.getvalue()


def ledger(files: dict[str, bytes]) -> list[dict]:
    return [json.loads(line) for line in files["ledger.jsonl"].decode().splitlines()]


def write_ledger(files: dict[str, bytes], entries: list[dict]) -> None:
    files["ledger.jsonl"] = b"".join(canonical(e) + b"\n" for e in entries)


def check(tmp_path: Path, files: dict[str, bytes]) -> verifier.BundleReport:
    path = tmp_path / "tampered.zip"
    path.write_bytes(rezip(files))
    return verifier.verify_bundle(path)


def located(report: verifier.BundleReport) -> set[tuple]:
    return {(p.code, p.path, p.seq) for p in report.problems}


def extract(data: bytes, folder: Path) -> Path:
    folder.mkdir()
    with zipfile.ZipFile(io.BytesIO(data)) as zf:
        zf.extractall(folder)
    return folder


@pytest.fixture
def pristine(request, db) -> dict[str, bytes]:
    """The closed case's bundle, unpacked. Built once, by the first test that asks, for the
    tampering tests (checking the bytes needs no database; building them does)."""
    if "zip" not in _BUILT:
        _BUILT["zip"] = request.getfixturevalue("bundle").data
    return members(_BUILT["zip"])


# --- what is in it ---------------------------------------------------------------------------------


def test_a_closed_case_bundle_holds_everything_and_checks_out(closed_case, bundle, bundle_path, hr):
    from shebao.audit.models import AuditEvent

    files = members(bundle.data)
    letter = closed_case.letters.get()
    employee_upload, hr_upload = closed_case.attachments.order_by("id")
    assert list(files) == [
        "timeline.pdf",
        f"letters/{letter.number}.pdf",
        "acknowledgements.json",
        f"attachments/{employee_upload.pk}-银行_回单.png",
        f"attachments/{hr_upload.pk}-缴费回单.pdf",
        *[n for n in files if n.startswith("source/")],
        "ledger.jsonl",
        "public_key.pem",
        "verify.py",
        "VERIFY.txt",
        "SHA256SUMS",
        "manifest.json",
        "manifest.sig",
    ]
    # the letter exactly as stored when issued and sent; the uploads as uploaded
    assert files[f"letters/{letter.number}.pdf"] == blobs.blob_read(letter.sha256)
    assert files[f"attachments/{employee_upload.pk}-银行_回单.png"] == blobs.blob_read(employee_upload.sha256)
    assert files[f"attachments/{hr_upload.pk}-缴费回单.pdf"] == blobs.blob_read(hr_upload.sha256)
    assert files["verify.py"] == Path(verifier.__file__).read_bytes()

    manifest = json.loads(files["manifest.json"])
    assert manifest["format"] == verifier.FORMAT and manifest["ref"] == f"case:{closed_case.number}"
    assert manifest["employee"]["id_number"] == closed_case.employee.id_number_masked
    listed = {f["path"]: f for f in manifest["files"]}
    assert set(listed) == set(files) - {"manifest.json", "manifest.sig"}
    for path, item in listed.items():
        assert item["sha256"] == sha256_hex(files[path]) and item["size"] == len(files[path])

    # the entries that vouch for the letter, the uploads and the status check's source data
    entries = {e["seq"]: e for e in ledger(files)}
    issued = Entry.objects.get(kind="case.letter_issued", case_id=closed_case.pk)
    assert listed[f"letters/{letter.number}.pdf"]["entry"] == issued.seq
    assert listed[f"letters/{letter.number}.pdf"]["entry_sha256"] == letter.sha256
    for att in (employee_upload, hr_upload):
        item = listed[f"attachments/{att.pk}-{safe_name(att.filename)}"]
        assert json.loads(entries[item["entry"]]["payload"])["attachment"]["sha256"] == att.sha256
    check_entry = Entry.objects.get(kind="status.checked", case_id=closed_case.pk)
    source = files[f"source/status-check-{check_entry.seq}.json"]
    assert (
        sha256_hex(source)
        == check_entry.payload_sha256
        == listed[f"source/status-check-{check_entry.seq}.json"]["entry_sha256"]
    )

    # acknowledgement records
    (ack,) = json.loads(files["acknowledgements.json"])["acknowledgements"]
    assert ack["letter"] == letter.number and ack["decision"] == "acknowledged"
    assert (ack["ip"], ack["user_agent"], ack["identity_method"]) == (
        "10.0.0.8",
        "Mozilla/5.0 (iPhone)",
        "id_last4",
    )
    assert ack["document_sha256"] == letter.sha256 and ack["attachments"] == [employee_upload.pk]
    assert entries[ack["entry"]]["kind"] == "case.acknowledged"

    # the ledger: every entry of the case, in order, hashes as stored; the stream head
    case_seqs = list(
        Entry.objects.filter(case_id=closed_case.pk)
        .exclude(kind="bundle.exported")
        .values_list("seq", flat=True)
    )
    assert [s for s, e in entries.items() if e["case"] == closed_case.number] == case_seqs
    kinds = [e["kind"] for e in entries.values()]
    for kind in (
        "case.letter_sent",
        "delivery.attempt",
        "case.acknowledged",
        "case.attachment",
        "case.closed",
    ):
        assert kind in kinds, kind
    for seq, e in entries.items():
        stored = Entry.objects.get(seq=seq)
        assert e["hash"] == stored.hash == entry_hash(e) and e["payload"] == stored.payload
    stream = f"e{closed_case.employee_id}"
    assert manifest["stream_heads"] == {
        stream: [e for e in entries.values() if e["stream"] == stream][-1]["hash"]
    }
    assert [(e["seq"], e["hash"]) for e in manifest["entries"]] == [
        (s, e["hash"]) for s, e in entries.items()
    ]

    # fixed order and one timestamp for every member
    with zipfile.ZipFile(bundle_path) as zf:
        assert len({info.date_time for info in zf.infolist()}) == 1

    report = verifier.verify_bundle(bundle_path)
    assert report.ok, report.problems
    assert report.signature == "valid" and report.entries == len(entries) and report.files == len(listed)

    # the export is recorded (after the bundle: it is not in it) with an audit row
    exported = Entry.objects.filter(kind="bundle.exported").get()
    assert exported.seq not in entries and exported.case_id == closed_case.pk
    assert (
        json.loads(exported.payload)["manifest_sha256"]
        == bundle.manifest_sha256
        == sha256_hex(files["manifest.json"])
    )
    assert (
        AuditEvent.objects.filter(action="evidence.bundle_export", object_id=str(closed_case.pk)).count() == 1
    )


def test_the_timeline_pdf_reads_in_chinese(closed_case, bundle, tmp_path):
    if not shutil.which("pdftotext"):
        if CI:
            pytest.fail("pdftotext 未安装（poppler-utils）：CI 中不能跳过")
        pytest.skip("未安装 pdftotext（apt-get install poppler-utils）")
    pdf = tmp_path / "timeline.pdf"
    pdf.write_bytes(members(bundle.data)["timeline.pdf"])
    text = subprocess.run(
        ["pdftotext", "-layout", str(pdf), "-"], capture_output=True, text=True, check=True
    ).stdout
    employee = closed_case.employee
    for expected in (
        "证据包 · 时间线",
        closed_case.number,
        employee.name,
        employee.id_number_masked,
        "北京示例科技有限公司",
        "签名公钥指纹",
        "员工确认收到",
        "结案",
        "如何校验",
        "python3 verify.py",
    ):
        assert expected in text, expected
    assert employee.id_number_masked != "" and "110105" in text


def test_who_may_export(closed_case, manager, staff_employee, auditor, clerk, org, make_employee, tmp_path):
    from shebao.core.context import Actor
    from shebao.core.exceptions import PermissionDenied

    for user in (manager, staff_employee):
        with pytest.raises(PermissionDenied, match="只有负责该员工的 HR 和审计员可以导出证据包"):
            bundle_build(actor=Actor(user=user), case=closed_case)
    assert not Entry.objects.filter(kind="bundle.exported").exists()
    files = members(bundle_build(actor=Actor(user=auditor), case=closed_case).data)
    assert check(tmp_path, files).ok
    assert bundle_build(actor=Actor(user=clerk), case=closed_case).entry_count  # HR of 北京
    shenzhen = make_employee(entity=org["sz"], department=org["store"])
    with pytest.raises(PermissionDenied):
        bundle_build(actor=Actor(user=clerk), employee=shenzhen)  # not the clerk's entity
    assert Entry.objects.filter(kind="bundle.exported").count() == 2


def test_an_employee_with_two_cases(hr, employee, mailbox, django_capture_on_commit_callbacks, tmp_path):
    from shebao.cases.services import case_note, case_open

    from .conftest import close_backpay_case

    other = case_open(actor=hr, employee=employee, template="onboarding")  # entries before …
    case = close_backpay_case(hr, employee, django_capture_on_commit_callbacks)
    case_note(actor=hr, case=other, text="员工已提供原单位停保证明")  # … and after the closed case's

    files = members(bundle_build(actor=hr, case=case).data)
    entries = ledger(files)
    stream = f"e{employee.pk}"
    assert [e["seq"] for e in entries if e["stream"] == stream] == list(
        Entry.objects.filter(stream=stream).exclude(kind="bundle.exported").values_list("seq", flat=True)
    )
    hidden = [e for e in entries if e["case"] == other.number]
    assert hidden and all(e["payload"] is None for e in hidden)  # linked, not disclosed
    assert hidden[0]["seq"] < entries[-1]["seq"] and "停保证明" not in files["ledger.jsonl"].decode()
    assert all(e["payload"] is not None for e in entries if e["case"] == case.number)
    assert not any(n.startswith("letters/") and other.number in n for n in files)
    report = check(tmp_path, files)
    assert report.ok, report.problems

    # the employee's bundle: both cases in full
    whole = bundle_build(actor=hr, employee=employee)
    files = members(whole.data)
    entries = ledger(files)
    assert {e["case"] for e in entries} >= {case.number, other.number}
    assert all(e["payload"] is not None for e in entries)
    assert json.loads(files["manifest.json"])["cases"] == [other.number, case.number]
    assert any(e["kind"] == "bundle.exported" for e in entries)  # the case bundle's export
    assert "停保证明" in files["ledger.jsonl"].decode()
    assert check(tmp_path, files).ok


def test_a_case_from_a_finding_carries_the_finding_and_the_source_data(org, hr, make_employee, tmp_path):
    from shebao.cases.services import case_open
    from shebao.cases.testing.factories import medical_finding

    finding = medical_finding(org, make_employee)
    case = case_open(actor=hr, finding=finding)
    files = members(bundle_build(actor=hr, case=case).data)
    entries = {e["seq"]: e for e in ledger(files)}
    # the finding as the rules opened it (before the case): in full, the employee's others without content
    opened = [e for e in entries.values() if e["kind"] == "finding.opened"]
    mine = [e for e in opened if e["payload"] and json.loads(e["payload"])["finding"] == finding.pk]
    assert (
        len(mine) == 1
        and mine[0]["case"] == ""
        and mine[0]["seq"] < min(s for s, e in entries.items() if e["case"] == case.number)
    )
    (check_entry,) = [e for e in entries.values() if e["kind"] == "status.checked"]
    source = json.loads(files[f"source/status-check-{check_entry['seq']}.json"])
    assert source["finding"]["title"] == finding.title and source["sources"]
    assert source["employee"]["id_number"] == finding.employee.id_number_masked
    assert check(tmp_path, files).ok


# --- tampering ---------------------------------------------------------------------------------------


def test_a_changed_byte_in_a_letter(pristine, tmp_path):
    letter = next(n for n in pristine if n.startswith("letters/"))
    data = bytearray(pristine[letter])
    data[len(data) // 2] ^= 0x01
    pristine[letter] = bytes(data)
    report = check(tmp_path, pristine)
    assert not report.ok and report.signature == "valid"
    assert [(p.code, p.path) for p in report.problems] == [("file_changed", letter)]
    assert letter in report.problems[0].message


def test_an_added_file(pristine, tmp_path):
    pristine["attachments/99-补充证明.pdf"] = b"%PDF-1.4\n"
    report = check(tmp_path, pristine)
    assert [(p.code, p.path) for p in report.problems] == [("file_added", "attachments/99-补充证明.pdf")]


def test_a_removed_file(pristine, tmp_path):
    upload = [n for n in pristine if n.startswith("attachments/")][-1]
    del pristine[upload]
    report = check(tmp_path, pristine)
    assert [(p.code, p.path) for p in report.problems] == [("file_missing", upload)]
    assert upload in report.problems[0].message


def test_a_changed_manifest(pristine, tmp_path):
    manifest = json.loads(pristine["manifest.json"])
    manifest["subject"] += "（已核实）"
    pristine["manifest.json"] = json.dumps(manifest, ensure_ascii=False, indent=2).encode() + b"\n"
    report = check(tmp_path, pristine)
    assert report.signature == "invalid"
    assert [(p.code, p.path) for p in report.problems] == [("signature", "manifest.json")]


def test_a_replaced_letter_with_the_manifest_rewritten_to_match(pristine, tmp_path):
    """Without the key the signature breaks; and the ledger still names the old letter."""
    letter = next(n for n in pristine if n.startswith("letters/"))
    pristine[letter] = b"%PDF-1.4\n% a different letter\n"
    manifest = json.loads(pristine["manifest.json"])
    item = next(f for f in manifest["files"] if f["path"] == letter)
    item["sha256"] = item["entry_sha256"] = sha256_hex(pristine[letter])
    item["size"] = len(pristine[letter])
    pristine["manifest.json"] = json.dumps(manifest, ensure_ascii=False, indent=2).encode()
    report = check(tmp_path, pristine)
    assert ("signature", "manifest.json", None) in located(report)
    assert ("file_changed", letter, item["entry"]) in located(report)


def test_an_edited_payload(pristine, tmp_path):
    entries = ledger(pristine)
    ack = next(e for e in entries if e["kind"] == "case.acknowledged")
    ack["payload"] = ack["payload"].replace("10.0.0.8", "10.0.0.9")
    write_ledger(pristine, entries)
    report = check(tmp_path, pristine)
    assert ("payload", None, ack["seq"]) in located(report)
    assert ("file_changed", "ledger.jsonl", None) in located(report)
    assert {p.seq for p in report.problems if p.seq} == {ack["seq"]}  # nothing else is blamed
    assert f"第 {ack['seq']} 条（case.acknowledged）的内容被改动" in "\n".join(map(str, report.problems))


def test_an_edited_payload_with_its_digest_and_hash_recomputed(pristine, tmp_path):
    """The forger recomputes the entry's digest and hash: the next entry no longer links."""
    entries = ledger(pristine)
    i, closed = next((i, e) for i, e in enumerate(entries) if e["kind"] == "case.step_done")
    payload = json.loads(closed["payload"])
    payload["text"] = "员工拒绝补缴"
    closed["payload"] = canonical(payload).decode()
    closed["payload_sha256"] = verifier.payload_digest(closed["payload"])
    closed["hash"] = entry_hash(closed)
    write_ledger(pristine, entries)
    report = check(tmp_path, pristine)
    following = next(e for e in entries[i + 1 :] if e["stream"] == closed["stream"])
    assert ("stream", None, following["seq"]) in located(report)
    assert ("manifest", None, closed["seq"]) in located(report)  # the signed list has the old hash


def test_a_deleted_entry(pristine, tmp_path):
    entries = ledger(pristine)
    gone = entries.pop(len(entries) // 2)
    write_ledger(pristine, entries)
    report = check(tmp_path, pristine)
    nxt = next(e for e in entries if e["seq"] > gone["seq"] and e["stream"] == gone["stream"])
    assert ("stream", None, nxt["seq"]) in located(report)
    assert ("file_changed", "ledger.jsonl", None) in located(report)
    assert any(p.code == "manifest" and "清单列出" in p.message for p in report.problems)


def test_the_last_entry_deleted(pristine, tmp_path):
    entries = ledger(pristine)
    stream = next(e["stream"] for e in entries if e["stream"])
    last = [e for e in entries if e["stream"] == stream][-1]
    entries.remove(last)
    write_ledger(pristine, entries)
    report = check(tmp_path, pristine)
    assert ("stream", "ledger.jsonl", None) in located(report)  # the stream head no longer matches


def test_two_entries_swapped(pristine, tmp_path):
    entries = ledger(pristine)
    entries[3], entries[4] = entries[4], entries[3]
    write_ledger(pristine, entries)
    report = check(tmp_path, pristine)
    assert ("sequence", "ledger.jsonl", None) in located(report)
    assert {("manifest", None, entries[3]["seq"]), ("manifest", None, entries[4]["seq"])} <= located(report)


def test_a_changed_stream_head(pristine, tmp_path):
    manifest = json.loads(pristine["manifest.json"])
    (stream,) = manifest["stream_heads"]
    manifest["stream_heads"][stream] = "f" * 64
    pristine["manifest.json"] = json.dumps(manifest, ensure_ascii=False, indent=2).encode()
    report = check(tmp_path, pristine)
    assert ("signature", "manifest.json", None) in located(report)
    assert ("stream", "ledger.jsonl", None) in located(report)
    assert stream in next(p.message for p in report.problems if p.code == "stream")


# --- with nothing but the bundle and standard tools -------------------------------------------------


def _python() -> str:
    return "/usr/bin/python3" if Path("/usr/bin/python3").exists() else sys.executable


def test_the_bundled_verify_py_alone(pristine, tmp_path):
    folder = extract(_BUILT["zip"], tmp_path / "bundle")
    (tmp_path / "bundle.zip").write_bytes(_BUILT["zip"])
    env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "LANG": "C.UTF-8"}
    run = subprocess.run(
        [_python(), "-I", "verify.py", str(tmp_path / "bundle.zip")],
        cwd=folder,
        env=env,
        capture_output=True,
        text=True,
    )
    assert run.returncode == 0, run.stdout + run.stderr
    assert "结论：校验通过" in run.stdout
    assert verifier.verify_bundle(tmp_path / "bundle.zip").ok
    # without site-packages (no cryptography): the same verdict, the signature left to openssl
    run = subprocess.run(
        [_python(), "-I", "-S", "verify.py", "."], cwd=folder, env=env, capture_output=True, text=True
    )
    assert run.returncode == 0 and "未检查" in run.stdout, run.stdout + run.stderr

    letter = next(folder.glob("letters/*.pdf"))
    letter.write_bytes(letter.read_bytes() + b"\n")
    run = subprocess.run(
        [_python(), "-I", "verify.py", "."], cwd=folder, env=env, capture_output=True, text=True
    )
    assert run.returncode == 1 and f"文件被改动：letters/{letter.name}" in run.stdout
    assert [(p.code, p.path) for p in verifier.verify_bundle(folder).problems] == [
        ("file_changed", f"letters/{letter.name}")
    ]


def test_openssl_checks_the_signature(pristine, tmp_path):
    folder = extract(_BUILT["zip"], tmp_path / "bundle")
    command = (
        "openssl pkeyutl -verify -pubin -inkey public_key.pem -rawin -in manifest.json -sigfile manifest.sig"
    )
    assert command in pristine["VERIFY.txt"].decode()
    run = subprocess.run(command.split(), cwd=folder, capture_output=True, text=True)
    assert run.returncode == 0 and "Signature Verified Successfully" in run.stdout, run.stdout + run.stderr
    # the fingerprint recipe gives the fingerprint the bundle states
    der = subprocess.run(
        ["openssl", "pkey", "-pubin", "-in", "public_key.pem", "-outform", "DER"],
        cwd=folder,
        capture_output=True,
    ).stdout
    digest = hashlib.sha256(der).hexdigest()
    fingerprint = json.loads(pristine["manifest.json"])["key_fingerprint"]
    assert fingerprint == ":".join(digest[i : i + 4] for i in range(0, 32, 4))
    assert fingerprint in pristine["VERIFY.txt"].decode()

    manifest = folder / "manifest.json"
    manifest.write_bytes(manifest.read_bytes().replace(b'"subject": "', b'"subject": "X', 1))
    run = subprocess.run(command.split(), cwd=folder, capture_output=True, text=True)
    assert run.returncode != 0 and "Signature Verification Failure" in run.stdout + run.stderr


def test_sha256sum_checks_the_files(pristine, tmp_path):
    folder = extract(_BUILT["zip"], tmp_path / "bundle")
    assert "sha256sum -c SHA256SUMS" in pristine["VERIFY.txt"].decode()
    env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "LC_ALL": "C"}
    run = subprocess.run(
        ["sha256sum", "-c", "SHA256SUMS"], cwd=folder, env=env, capture_output=True, text=True
    )
    assert run.returncode == 0, run.stdout + run.stderr
    listed = set(pristine) - {"manifest.json", "manifest.sig", "SHA256SUMS"}
    assert {line.rsplit(": ", 1)[0] for line in run.stdout.splitlines()} == listed
    assert all(line.endswith(": OK") for line in run.stdout.splitlines())

    upload = next(folder.glob("attachments/*"))
    upload.write_bytes(b"changed")
    run = subprocess.run(
        ["sha256sum", "-c", "SHA256SUMS"], cwd=folder, env=env, capture_output=True, text=True
    )
    assert run.returncode == 1 and f"attachments/{upload.name}: FAILED" in run.stdout


def test_jq_recipes(pristine, tmp_path):
    if not shutil.which("jq"):
        pytest.skip("未安装 jq：VERIFY.txt 中的 jq 命令未测试")
    folder = extract(_BUILT["zip"], tmp_path / "bundle")
    guide = pristine["VERIFY.txt"].decode()

    def sh(command: str) -> str:
        run = subprocess.run(["sh", "-c", command], cwd=folder, capture_output=True, text=True)
        assert run.returncode == 0, command + run.stderr
        return run.stdout

    for entry in ledger(pristine):
        seq = entry["seq"]
        recipe = (
            f"jq -cjS 'select(.seq == {seq}) | {{seq, at, kind, actor, stream, case, subject, payload_sha256, prev, "
            f"stream_prev}}' ledger.jsonl | sha256sum"
        )
        assert sh(recipe).split()[0] == entry["hash"], seq
        assert (
            sh(f"jq -j 'select(.seq == {seq}) | .payload' ledger.jsonl | sha256sum").split()[0]
            == entry["payload_sha256"]
        )
    example = guide.split("以第 ", 1)[1].split(" 条", 1)[0]
    assert f"jq -j 'select(.seq == {example}) | .payload' ledger.jsonl | sha256sum" in guide
    assert f"jq -cjS 'select(.seq == {example}) | {{seq, at, kind, actor, stream, case, subject" in guide
    files = "jq -r '.files[] | \"\\(.sha256)  \\(.path)\"' manifest.json | sha256sum -c"
    assert files in guide
    assert sh(files).count(": OK") == len(pristine) - 2


def test_what_is_not_a_bundle_is_named_not_crashed_on(tmp_path):
    """A file that is not a ZIP, a ZIP without a manifest, a manifest that is not JSON or not ours:
    each a clear verdict, never a traceback (no database either)."""
    import zipfile

    from shebao.evidence.verifier import verify_bundle

    junk = tmp_path / "junk.zip"
    junk.write_bytes(b"not a zip at all")
    report = verify_bundle(junk)
    assert not report.ok and report.problems[0].message.startswith("无法打开证据包")

    def zip_with(name: str, **members: bytes):
        path = tmp_path / name
        with zipfile.ZipFile(path, "w") as z:
            for member, data in members.items():
                z.writestr(member.replace("_", "."), data)
        return verify_bundle(path)

    report = zip_with("empty.zip", readme_txt=b"hello")
    assert not report.ok and "没有 manifest.json" in report.problems[0].message
    report = zip_with("badjson.zip", manifest_json=b"{not json")
    assert not report.ok and "不是有效的 JSON" in report.problems[0].message
    report = zip_with("other.zip", manifest_json=b'{"format": "something-else"}')
    assert not report.ok and report.problems[0].path == "manifest.json"
