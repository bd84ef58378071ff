"""`shebao evidence verify | checkpoint | bundle | verify-bundle | entries`: output, --json and exit
codes; verify-bundle with no database at all."""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
import zipfile

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from shebao.evidence.models import Entry
from shebao.evidence.testing import raw


def run(*args: str) -> str:
    out = io.StringIO()
    call_command("evidence", *args, stdout=out, stderr=io.StringIO())
    return out.getvalue()


def run_json(*args: str):
    lines = [line for line in run(*args, "--json").splitlines() if line.strip()]
    assert len(lines) == 1, lines  # exactly one object
    return json.loads(lines[0])


def fails(*args: str) -> tuple[CommandError, str]:
    out = io.StringIO()
    with pytest.raises(CommandError) as exc:
        call_command("evidence", *args, stdout=out, stderr=io.StringIO())
    return exc.value, out.getvalue()


def tamper_letter(path, target) -> str:
    """A copy of the bundle with one byte of its letter changed; returns the letter's path."""
    with zipfile.ZipFile(path) as src, zipfile.ZipFile(target, "w") as dst:
        for name in src.namelist():
            data = src.read(name)
            if name.startswith("letters/"):
                letter, data = name, data[:-1] + bytes([data[-1] ^ 0xFF])
            dst.writestr(name, data)
    return letter


# --- verify and checkpoint -----------------------------------------------------------------------


def test_verify_ok_then_a_tampered_entry_is_named(closed_case):
    total = Entry.objects.count()
    out = run("verify")
    assert out.startswith(f"证据链完整：共 {total} 条记录，链头第 {total} 条")
    data = run_json("verify")
    assert data["ok"] is True and data["entries"] == total and data["problems"] == []

    victim = Entry.objects.get(kind="case.acknowledged")
    raw(
        "UPDATE evidence_entry SET payload = REPLACE(payload, '10.0.0.8', '10.9.9.9') WHERE seq = %s",
        [victim.seq],
    )
    error, out = fails("verify")
    assert error.returncode == 1 and "证据链发现" in str(error)
    assert f"首个问题在第 {victim.seq} 条" in out
    assert f"第 {victim.seq} 条（case.acknowledged）的内容被改动" in out
    out = io.StringIO()
    with pytest.raises(CommandError):
        call_command("evidence", "verify", "--json", stdout=out, stderr=io.StringIO())
    data = json.loads(out.getvalue())
    assert data["ok"] is False and data["first_bad_seq"] == victim.seq
    assert data["problems"][0] == {
        "code": "payload",
        "message": data["problems"][0]["message"],
        "seq": victim.seq,
    }


def test_checkpoint(closed_case):
    from shebao.evidence import keys
    from shebao.evidence.models import Checkpoint

    out = run("checkpoint")
    cp = Checkpoint.objects.get()
    assert out.splitlines()[0] == f"已记录校验点：第 {cp.seq} 条，链头哈希 {cp.head_hash}"
    assert f"签名公钥指纹：{keys.fingerprint()}" in out
    data = run_json("checkpoint")
    assert data["seq"] == cp.seq + 1 and data["key_fingerprint"] == keys.fingerprint()
    assert Entry.objects.order_by("-seq").first().kind == "chain.checkpoint"


# --- bundle and verify-bundle ----------------------------------------------------------------------


def test_bundle_by_number_id_and_employee(closed_case, tmp_path):
    from shebao.audit.models import AuditEvent

    target = tmp_path / "case.zip"
    out = run("bundle", "--case", closed_case.number, "-o", str(target))
    assert (
        out.splitlines()[0]
        == f"已导出证据包 {target}：案件 {closed_case.number}（王小明，工号 {closed_case.employee.employee_no}）"
    )
    assert "shebao evidence verify-bundle" in out
    assert run("verify-bundle", str(target)).splitlines()[-1].startswith("结论：校验通过")
    exported = Entry.objects.get(kind="bundle.exported")
    assert exported.actor == "系统（cli）" and exported.subject == f"case:{closed_case.number}"
    assert AuditEvent.objects.get(action="evidence.bundle_export").via == "cli"

    data = run_json("bundle", "--case", str(closed_case.pk), "-o", str(tmp_path / "by-id.zip"))
    assert data["ref"] == f"case:{closed_case.number}" and data["files"] > 8 and data["entries"] > 15
    data = run_json("bundle", "--employee", closed_case.employee.employee_no, "-o", str(tmp_path / "emp.zip"))
    assert data["ref"] == f"employee:{closed_case.employee.employee_no}"
    assert run_json("verify-bundle", str(tmp_path / "emp.zip"))["ok"] is True


def test_bundle_refusals(db, tmp_path):
    error, _ = fails("bundle", "--case", "AJ209901-9999", "-o", str(tmp_path / "x.zip"))
    assert "案件“AJ209901-9999”不存在" in str(error)
    error, _ = fails("bundle", "--employee", "NOBODY", "-o", str(tmp_path / "x.zip"))
    assert "工号为“NOBODY”的员工不存在" in str(error)
    with pytest.raises(CommandError):  # one of --case / --employee is required
        run("bundle", "-o", str(tmp_path / "x.zip"))
    error, _ = fails("verify-bundle", str(tmp_path / "missing.zip"))
    assert "不存在" in str(error)
    assert not (tmp_path / "x.zip").exists()


def test_verify_bundle_reports_the_changed_file(bundle_path, tmp_path, django_db_blocker):
    bad = tmp_path / "bad.zip"
    letter = tamper_letter(bundle_path, bad)
    with django_db_blocker.block():  # the bundle only: any database query would fail here
        assert "结论：校验通过" in run("verify-bundle", str(bundle_path))
        error, out = fails("verify-bundle", str(bad))
        assert error.returncode == 1
        assert f"文件被改动：{letter}" in out and "结论：校验失败，发现 1 处问题" in out
        out = io.StringIO()
        with pytest.raises(CommandError):
            call_command("evidence", "verify-bundle", str(bad), "--json", stdout=out, stderr=io.StringIO())
    data = json.loads(out.getvalue())
    assert data["ok"] is False and [(p["code"], p["path"]) for p in data["problems"]] == [
        ("file_changed", letter)
    ]


def test_verify_bundle_without_any_database(bundle_path, tmp_path):
    """A separate process whose database does not exist (a PostgreSQL port nobody listens on)."""
    bad = tmp_path / "bad.zip"
    letter = tamper_letter(bundle_path, bad)
    env = {
        **os.environ,
        "DATABASE_URL": "postgres://nobody:nothing@127.0.0.1:1/nowhere",
        "SHEBAO_INSTANCE_DIR": str(tmp_path / "elsewhere"),
        "DJANGO_SETTINGS_MODULE": "shebao.settings",
    }
    command = [sys.executable, "-m", "shebao.cli", "evidence", "verify-bundle"]
    ok = subprocess.run([*command, str(bundle_path)], env=env, capture_output=True, text=True, timeout=120)
    assert ok.returncode == 0, ok.stdout + ok.stderr
    assert "结论：校验通过" in ok.stdout
    broken = subprocess.run(
        [*command, str(bad), "--json"], env=env, capture_output=True, text=True, timeout=120
    )
    assert broken.returncode == 1, broken.stdout + broken.stderr
    report = json.loads(broken.stdout)
    assert [(p["code"], p["path"]) for p in report["problems"]] == [("file_changed", letter)]


# --- entries ---------------------------------------------------------------------------------------


def test_entries(closed_case, make_employee, hr):
    from shebao.cases.services import case_open

    other = case_open(actor=hr, employee=make_employee(), template="onboarding")
    case_entries = list(Entry.objects.filter(case_id=closed_case.pk))
    out = run("entries", "--case", closed_case.number, "--limit", "500")
    lines = out.splitlines()
    assert len(lines) == len(case_entries) and lines[0].startswith(f"#{case_entries[0].seq}  ")
    assert "立案" in lines[0] and f"[{closed_case.number}]" in lines[0]
    assert any("员工确认收到" in line for line in lines) and other.number not in out

    data = run_json("entries", "--employee", other.employee.employee_no)
    assert {e["case"] for e in data["entries"]} == {other.number} and data["next_after"] is None

    first = run_json("entries", "--limit", "3")
    assert [e["seq"] for e in first["entries"]] == [1, 2, 3] and first["next_after"] == 3
    assert first["entries"][0]["kind_label"] == "立案" and first["entries"][0]["payload"].startswith("{")
    nxt = run_json("entries", "--after", "3", "--limit", "2")
    assert [e["seq"] for e in nxt["entries"]] == [4, 5]
    assert run("entries", "--limit", "2").splitlines()[-1] == "……还有更多，继续：--after 2"
    assert run("entries", "--after", "100000") == "没有证据链记录\n"
    error, _ = fails("entries", "--limit", "0")
    assert "--limit" in str(error)
