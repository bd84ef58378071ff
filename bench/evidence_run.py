"""Evidence benchmark (part of `make bench`): verifying a ledger of 1,000,000 entries.

    .venv/bin/python bench/evidence_run.py [--entries 1000000] [--employees 50000] [--keep]
    .venv/bin/python bench/evidence_run.py --reuse /tmp/shebao-evidence-bench-XXXX   # a --keep'd folder

* setup (a fresh SQLite instance): 1,000,000 ledger entries as three years of a company's
  evidence would look — case timeline events (``case.*``, payloads of a few hundred bytes),
  status checks (``status.checked``, a few KB: 36 months of coverage and the source rows),
  delivery attempts with the provider's receipt, source files applied and daily checkpoints —
  about 50,000 employees' streams; chained with the application's own hashing rules
  (``shebao.evidence.verifier``: ``canonical``, ``payload_digest``, ``entry_hash``) and written
  with ``core.bulk.insert_rows`` (appending them one by one would take hours);
* append: 2,000 entries through ``services.entry_append`` (one transaction each, as events write
  them) on that ledger: the cost an event pays for its evidence;
* verify: ``shebao evidence verify --json`` walks the whole chain (every payload hash, header hash,
  ledger link and employee link, the head, the checkpoints) — the target;
* tamper: one payload in the middle edited with raw SQL (as someone with the database file
  could), then verification again: it must report that entry's sequence number.

Each step runs in its own process; wall time and peak RSS (wait4 rusage) are reported.

Target (issue 9): verification of 1,000,000 entries < 30 s. Writes
bench/results/evidence-latest.json; exits 1 when a target is missed or the tampering goes unseen.

``--reuse DIR`` re-measures only the verification (and the tampering check) on a folder an earlier
``--keep`` run left; the edited payload is put back afterwards, so the folder can be reused again.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import shutil
import sqlite3
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent
RESULTS = ROOT / "bench" / "results"
CLI = ROOT / "src" / "shebao" / "evidence" / "management" / "commands" / "evidence.py"
TARGET_SECONDS = 30.0

# Builds the chain exactly as entry_append would (same header fields, same hashing functions),
# without the ORM and one transaction per entry.
SETUP = r"""
import datetime as dt, json, random, sys, time, django
django.setup()
from django.db import transaction
from shebao.core.bulk import insert_rows
from shebao.evidence.models import Entry, Head
from shebao.evidence.verifier import GENESIS, canonical, entry_hash, payload_digest

total, employees, seed = int(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3])
rng = random.Random(seed)
start = dt.datetime(2023, 12, 1, 1, 0, tzinfo=dt.timezone.utc)
step_us = int(3 * 365 * 86400 * 1e6 / total)  # three years of evidence
INS = ("pension", "medical", "unemployment", "work_injury", "maternity", "housing_fund")
HR = ("北京HR专员", "上海HR专员", "演示管理员", "成都HR专员")
CASE_EVENTS = (
    ("opened", "立案", 6), ("step_started", "步骤开始", 16), ("step_done", "步骤完成", 16),
    ("letter_issued", "生成函件", 7), ("letter_sent", "发送函件", 7), ("letter_opened", "员工打开函件", 6),
    ("identity", "身份确认", 6), ("acknowledged", "员工确认", 5), ("attachment", "上传附件", 5),
    ("data", "记录数据", 3), ("note", "备注", 4), ("closed", "结案", 4),
)
STEPS = (("notice", "发出医保中断告知函"), ("await_ack", "等待员工确认"), ("backpay", "记录补缴结果"),
         ("verify", "核查参保状态"), ("register", "办理社会保险登记"), ("stop", "办理减员停保"))
SURNAMES = "王李张刘陈杨黄赵吴周徐孙马朱胡郭何高林罗"
GIVEN = "伟芳娜秀英敏静丽强磊军洋勇艳杰娟涛明超秀兰霞平刚桂英"
case_kinds = [k for k, _l, w in CASE_EVENTS for _ in range(w)]
case_labels = {k: lab for k, lab, _w in CASE_EVENTS}

def hexid():
    return "%064x" % rng.getrandbits(256)

def name(eid):
    return SURNAMES[eid % len(SURNAMES)] + GIVEN[(eid * 7) % len(GIVEN)] + GIVEN[(eid * 13) % len(GIVEN)]

def case_no(eid):
    return f"AJ2024{eid % 12 + 1:02d}-{eid % 10000:04d}"

def case_payload(kind, at, eid):
    step_code, step_name = STEPS[eid % len(STEPS)]
    payload = {"event": kind, "label": case_labels[kind], "at": at, "text": "", "data": {}}
    if kind in ("step_started", "step_done"):
        payload["step"] = {"code": step_code, "name": step_name, "choice": "done" if kind == "step_done" else "",
                           "choice_label": "已办理" if kind == "step_done" else ""}
        payload["data"] = {"step": step_code, "choice": "done", "label": "已办理", "auto": None}
        payload["text"] = "已在截止日前办理，业务流水号 " + str(rng.randrange(10**11, 10**12))
    elif kind.startswith("letter") or kind in ("identity", "acknowledged"):
        payload["letter"] = {"number": f"HJ2024{eid % 12 + 1:02d}-{eid % 10000:04d}", "title": "医保中断告知函",
                             "sha256": hexid(), "size": 48000 + eid % 9000, "template": "medical_notice",
                             "template_version": 1}
        payload["data"] = {"ip": "10.0.%d.%d" % (eid % 250, eid % 200), "method": "sms_otp", "request": eid,
                           "user_agent": "Mozilla/5.0 (iPhone; CPU iPhone OS 17_4 like Mac OS X)"}
        payload["text"] = f"员工确认收到函件 HJ2024{eid % 12 + 1:02d}-{eid % 10000:04d}"
    elif kind == "attachment":
        payload["attachment"] = {"id": eid, "filename": "缴费凭证.pdf", "sha256": hexid(), "size": 120000 + eid % 50000,
                                 "content_type": "application/pdf", "by_employee": eid % 2 == 0}
        payload["data"] = {"sha256": payload["attachment"]["sha256"], "size": payload["attachment"]["size"]}
        payload["text"] = "缴费凭证.pdf"
    elif kind == "data":
        payload["data"] = {"backpay": {"months": 2, "employer": "1843.20", "employee": "460.80", "late_fee": "12.40",
                                       "input": {"start": "2024-03", "end": "2024-04", "base": "9600"}}}
    else:
        payload["text"] = "医保中断处理：" + name(eid) + "（2024-03 起未缴纳医疗保险）"
        payload["data"] = {"template": "medical_interruption", "version": 1, "finding": "medical_interrupted:%d" % eid}
    return payload

def status_payload(at, eid):
    months = [{"period": f"{2022 + (m + 10) // 12}-{(m + 10) % 12 + 1:02d}",
               **{i: ("paid" if (m + eid) % 17 else "missing") for i in INS}} for m in range(36)]
    rows = [{"row": 2 + r, "cells": [name(eid), "1101**********%04d" % (eid % 10000), f"2024-{r % 12 + 1:02d}",
             "9600.00", "1536.00", "768.00", "9600.00", "960.00", "192.00"]} for r in range(12)]
    return {"employee": {"employee_no": "E%07d" % eid, "name": name(eid), "id_number": "1101**********%04d" % (eid % 10000),
                         "entity": "示例集团北京科技有限公司"},
            "coverage": {"months": months, "as_of": at[:10]},
            "sources": [{"run": 1 + eid % 40, "source": "connector", "source_label": "数据连接器", "file_name": "",
                         "file_sha256": hexid(), "profile": "generic_wide", "finished_at": at, "columns": [],
                         "rows": rows}],
            "finding": {"key": "medical_interrupted:%d" % eid, "kind": "medical_interrupted", "rule": "医保中断",
                        "title": "医保自 2024-03 起中断", "severity": "high", "details": {"months": ["2024-03", "2024-04"]},
                        "citations": ["SIL-23"], "next_step": "发出告知函", "deadline": "2024-05-15", "amount": None,
                        "first_seen_at": at}}

def delivery_payload(at, eid):
    ok = eid % 23 != 0
    return {"notification": eid, "event": "case_letter", "channel": "阿里云短信", "channel_kind": "sms_aliyun",
            "address": "139****%04d" % (eid % 10000), "attempt": 1, "ok": ok, "permanent": False,
            "status_code": 200 if ok else 503, "error_code": "" if ok else "isv.BUSINESS_LIMIT_CONTROL",
            "error": "" if ok else "触发分钟级流控", "provider_id": "%06d1717000000^0" % eid if ok else "",
            "response": '{"Code":"OK","Message":"OK"}' if ok else "", "subject": "",
            "body": name(eid) + "您好：示例集团向您发送了《医保中断告知函》，请于2024-05-15前打开链接阅读并确认。",
            "letter": f"HJ2024{eid % 12 + 1:02d}-{eid % 10000:04d}", "started_at": at}

heads = {}
prev = GENESIS
moment = start
rows = []
written = 0
t0 = time.perf_counter()
for seq in range(1, total + 1):
    moment += dt.timedelta(microseconds=rng.randrange(step_us // 2, step_us * 3 // 2))
    at = moment.strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    r = rng.random()
    eid = rng.randrange(1, employees + 1)
    case, subject, actor = case_no(eid), "", HR[eid % len(HR)]
    if r < 0.05:
        kind, payload, subject = "status.checked", status_payload(at, eid), "employee:E%07d" % eid
    elif r < 0.20:
        kind, payload, actor = "delivery.attempt", delivery_payload(at, eid), "系统（发送）"
        subject = "notification:%d" % eid
    elif r < 0.2015:
        eid, case = None, ""
        kind, actor, subject = "source.applied", "系统（同步）", "run:%d" % seq
        payload = {"run": seq, "source": "connector", "file_name": "", "file_sha256": hexid(), "profile": "simulator",
                   "entity": "BJ01", "counts": {"records_created": 1200, "records_updated": 30}, "changes": 1230,
                   "started_at": at, "finished_at": at}
    elif r < 0.2020:
        eid, case = None, ""
        kind, actor, subject = "chain.checkpoint", "系统（worker）", "seq:%d" % (seq - 1)
        payload = {"head_seq": seq - 1, "head_hash": prev, "key_fingerprint": "3f2a:91c0:77d1:08be:4c55:e019:a2b7:6d3c"}
    else:
        event = case_kinds[rng.randrange(len(case_kinds))]
        kind, payload = "case." + event, case_payload(event, at, eid)
        if event in ("letter_opened", "identity", "acknowledged"):
            actor = "员工（确认页面）"
        subject = "case:" + case
    text = canonical(payload).decode("utf-8")
    stream = "e%d" % eid if eid else ""
    header = {"seq": seq, "at": at, "kind": kind, "actor": actor, "stream": stream, "case": case,
              "subject": subject, "payload_sha256": payload_digest(text), "prev": prev,
              "stream_prev": heads.get(stream, GENESIS) if stream else ""}
    header["hash"] = prev = entry_hash(header)
    if stream:
        heads[stream] = prev
    rows.append({**header, "payload": text, "employee_id": eid, "case_id": eid, "entity_id": 1 if eid else None})
    if len(rows) == 20000 or seq == total:
        with transaction.atomic():
            written += insert_rows(Entry, rows, batch_size=5000)
        rows = []
Head.objects.update_or_create(pk=1, defaults={"seq": total, "hash": prev})
print(json.dumps({"entries": written, "streams": len(heads), "seconds": time.perf_counter() - t0}))
"""

# One event's cost: each entry_append in its own transaction, as the services call it.
APPEND = r"""
import json, random, statistics, sys, time, django
django.setup()
from shebao.core.context import Actor
from shebao.evidence.services import entry_append
count, employees = int(sys.argv[1]), int(sys.argv[2])
rng = random.Random(7)
actor = Actor.system(via="bench")
times = []
for n in range(count):
    eid = rng.randrange(1, employees + 1)
    payload = {"event": "step_done", "label": "步骤完成", "at": "2026-11-20T02:00:00.000000Z",
               "text": "已在截止日前办理减员，停保月份 2026-12",
               "data": {"step": "stop", "choice": "done", "label": "已办理减员", "auto": None},
               "step": {"code": "stop", "name": "办理减员停保", "choice": "done", "choice_label": "已办理减员"}}
    t = time.perf_counter()
    entry_append(kind="case.step_done", payload=payload, actor=actor, employee_id=eid, subject="bench:%d" % n)
    times.append(time.perf_counter() - t)
times.sort()
print(json.dumps({"count": count, "ms_mean": statistics.fmean(times) * 1000, "ms_median": statistics.median(times) * 1000,
                  "ms_p95": times[int(len(times) * 0.95)] * 1000, "seconds": sum(times)}))
"""

# Used only while `shebao evidence verify` does not exist: the same service, in-process.
VERIFY = r"""
import json, django
django.setup()
from shebao.evidence.services import chain_verify
run = chain_verify(via="bench")
print(json.dumps({"ok": run.result == "ok", "result": run.result, "entries": run.entries, "head_seq": run.head_seq,
                  "first_bad_seq": run.first_bad_seq, "duration_ms": run.duration_ms, "problems": run.problems[:5]},
                 ensure_ascii=False))
"""


def run(cmd: list[str], env: dict, label: str, *, ok_codes=(0,)) -> tuple[float, float, str]:
    """Wall seconds, peak RSS in MB (wait4), stdout."""
    start = time.perf_counter()
    with tempfile.TemporaryFile("w+") as out_f, tempfile.TemporaryFile("w+") as err_f:
        proc = subprocess.Popen(cmd, env=env, stdout=out_f, stderr=err_f, text=True)
        _, status, usage = os.wait4(proc.pid, 0)
        elapsed = time.perf_counter() - start
        out_f.seek(0)
        err_f.seek(0)
        out, err = out_f.read(), err_f.read()
    code = os.waitstatus_to_exitcode(status)
    if code not in ok_codes:
        raise SystemExit(f"{label} failed ({code}):\n{out[-3000:]}\n{err[-3000:]}")
    return elapsed, usage.ru_maxrss / 1024, out


def env_for(folder: Path) -> dict:
    env = {k: v for k, v in os.environ.items() if not k.startswith("SHEBAO_") and k != "DATABASE_URL"}
    env.update(SHEBAO_INSTANCE_DIR=str(folder), DJANGO_SETTINGS_MODULE="shebao.settings")
    return env


def last_json(out: str) -> dict:
    """The command's JSON answer (the last JSON document it printed)."""
    text = out.strip()
    try:
        return json.loads(text)
    except json.JSONDecodeError:
        return json.loads(text.splitlines()[-1])


def verify_cmd() -> tuple[list[str], str]:
    if CLI.exists():
        return [str(BIN / "shebao"), "evidence", "verify", "--json"], "shebao evidence verify --json"
    return [sys.executable, "-c", VERIFY], "services.chain_verify (in-process; the CLI is not there yet)"


def summary(answer: dict) -> dict:
    """The fields this benchmark reads, whatever shape the CLI's answer has around them."""
    run = answer["run"] if isinstance(answer.get("run"), dict) else answer
    problems = run.get("problems") or []
    result = run.get("result") or ("ok" if run.get("ok") else "broken")
    return {
        "result": result,
        "entries": run.get("entries"),
        "first_bad_seq": run.get("first_bad_seq"),
        "duration_ms": run.get("duration_ms"),
        "problems": problems[:5],
    }


def tamper(db: Path, seq: int) -> tuple[str, str]:
    """Edit one entry's payload behind the application's back; returns the entry's kind and its
    original payload (for ``untamper``)."""
    con = sqlite3.connect(db)
    try:
        kind, payload = con.execute(
            "SELECT kind, payload FROM evidence_entry WHERE seq = ?", (seq,)
        ).fetchone()
        changed = payload.replace('"text":"', '"text":"（改）', 1)
        if changed == payload:
            changed = payload[:-1] + ',"x":1}'
        con.execute("UPDATE evidence_entry SET payload = ? WHERE seq = ?", (changed, seq))
        con.commit()
    finally:
        con.close()
    return kind, payload


def untamper(db: Path, seq: int, payload: str) -> None:
    con = sqlite3.connect(db)
    try:
        con.execute("UPDATE evidence_entry SET payload = ? WHERE seq = ?", (payload, seq))
        con.commit()
    finally:
        con.close()


def ledger_size(db: Path) -> tuple[int, int]:
    """A kept instance's entries (the head) and employee streams."""
    con = sqlite3.connect(db)
    try:
        (head,) = con.execute("SELECT seq FROM evidence_head WHERE id = 1").fetchone()
        (streams,) = con.execute(
            "SELECT count(DISTINCT stream) FROM evidence_entry WHERE stream <> ''"
        ).fetchone()
    finally:
        con.close()
    return head, streams


def table(rows: list[tuple[str, str, str, str]]) -> str:
    head = ("step", "seconds", "peak MB", "")
    widths = [max(len(r[i]) for r in [head, *rows]) for i in range(3)]
    lines = [f"{head[0]:<{widths[0]}}  {head[1]:>{widths[1]}}  {head[2]:>{widths[2]}}  "]
    lines.append("-" * (sum(widths) + 6))
    for r in rows:
        lines.append(f"{r[0]:<{widths[0]}}  {r[1]:>{widths[1]}}  {r[2]:>{widths[2]}}  {r[3]}")
    return "\n".join(lines)


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--entries", type=int, default=1_000_000)
    parser.add_argument("--employees", type=int, default=50_000)
    parser.add_argument("--appends", type=int, default=2000)
    parser.add_argument("--seed", type=int, default=2026)
    parser.add_argument("--keep", action="store_true", help="keep the temporary folder")
    parser.add_argument(
        "--reuse",
        metavar="DIR",
        type=Path,
        help="re-measure the verification on a folder a --keep run left (no setup, no appends)",
    )
    args = parser.parse_args()
    if args.entries < 10:
        parser.error("--entries: at least 10")
    if args.reuse is not None and not (args.reuse / "shebao.sqlite3").exists():
        parser.error(f"--reuse: {args.reuse} holds no shebao.sqlite3 (a folder a --keep run left)")

    root = args.reuse if args.reuse is not None else Path(tempfile.mkdtemp(prefix="shebao-evidence-bench-"))
    env = env_for(root)
    shebao, python = str(BIN / "shebao"), sys.executable
    db = root / "shebao.sqlite3"
    try:
        if args.reuse is None:
            run([shebao, "migrate", "--no-input", "-v", "0"], env, "migrate")
            setup_s, setup_rss, out = run(
                [python, "-c", SETUP, str(args.entries), str(args.employees), str(args.seed)], env, "setup"
            )
            setup = json.loads(out.strip().splitlines()[-1])
            append_s, append_rss, out = run(
                [python, "-c", APPEND, str(args.appends), str(args.employees)], env, "append"
            )
            append = json.loads(out.strip().splitlines()[-1])
        else:
            head, streams = ledger_size(db)
            setup_s = setup_rss = append_s = append_rss = 0.0
            setup = {"entries": head - args.appends, "streams": streams}
            append = {"count": args.appends, "ms_mean": 0.0, "ms_median": 0.0, "ms_p95": 0.0}
            print(f"reusing {root} (the kept run's setup and {args.appends} appends)")
        db_mb = sum(p.stat().st_size for p in root.glob("shebao.sqlite3*")) / 1024 / 1024
        print(f"ledger: {setup['entries']} entries, {setup['streams']} employee streams, {db_mb:.0f} MB")
        if args.reuse is None:
            print(
                f"setup {setup_s:.1f} s; append: {append['count']} × entry_append, "
                f"median {append['ms_median']:.2f} ms, p95 {append['ms_p95']:.2f} ms"
            )

        cmd, how = verify_cmd()
        verify_s, verify_rss, out = run(cmd, env, "verify")
        verified = summary(last_json(out))
        print(f"verify ({how}): {verified['result']}, {verified['entries']} entries in {verify_s:.1f} s")

        bad_seq = setup["entries"] // 2
        bad_kind, original = tamper(db, bad_seq)
        try:
            tampered_s, tampered_rss, out = run(cmd, env, "verify (tampered)", ok_codes=(0, 1, 2))
        finally:
            untamper(db, bad_seq, original)
        found = summary(last_json(out))
        located = found["result"] != "ok" and found["first_bad_seq"] == bad_seq
        first = (found["problems"] or [{}])[0]
        print(
            f"tampered #{bad_seq} ({bad_kind}): {found['result']}, first bad seq {found['first_bad_seq']}: "
            f"{first.get('message', '')}"
        )

        total = setup["entries"] + append["count"]
        result = {
            "date": dt.date.today().isoformat(),
            "machine": f"{platform.node()} · {platform.machine()} · {os.cpu_count()} CPUs · Python {platform.python_version()}",
            "reused": str(args.reuse) if args.reuse is not None else None,
            "entries": total,
            "bulk_entries": setup["entries"],
            "employee_streams": setup["streams"],
            "database_mb": round(db_mb),
            "setup_seconds": round(setup_s, 1),
            "setup_peak_mb": round(setup_rss),
            "append_count": append["count"],
            "append_ms_median": round(append["ms_median"], 2),
            "append_ms_mean": round(append["ms_mean"], 2),
            "append_ms_p95": round(append["ms_p95"], 2),
            "verify_via": how,
            "verify_seconds": round(verify_s, 1),
            "verify_in_process_seconds": round((verified["duration_ms"] or 0) / 1000, 1),
            "verify_peak_mb": round(verify_rss),
            "verify_entries": verified["entries"],
            "verify_result": verified["result"],
            "verify_us_per_entry": round(verify_s * 1e6 / max(1, total), 1),
            "tampered_seq": bad_seq,
            "tampered_kind": bad_kind,
            "tampered_seconds": round(tampered_s, 1),
            "tampered_result": found["result"],
            "tampered_first_bad_seq": found["first_bad_seq"],
            "tampered_problems": found["problems"],
        }
        if args.reuse is not None:  # measured by the kept run, not this one
            for key in [k for k in result if k.startswith(("setup_", "append_ms_"))]:
                del result[key]
        targets = {
            f"verification of {total:,} entries < {TARGET_SECONDS:.0f} s": verify_s
            < TARGET_SECONDS * max(1.0, total / 1_000_000),
            "untampered chain verifies": verified["result"] == "ok" and verified["entries"] == total,
            f"edited payload found at #{bad_seq}": located,
        }
        result["targets"] = targets
        RESULTS.mkdir(parents=True, exist_ok=True)
        (RESULTS / "evidence-latest.json").write_text(
            json.dumps(result, ensure_ascii=False, indent=2), encoding="utf-8"
        )
        print()
        rows = []
        if args.reuse is None:
            rows += [
                (
                    f"setup ({setup['entries']:,} entries, bulk)",
                    f"{setup_s:.1f}",
                    f"{setup_rss:.0f}",
                    f"{db_mb:.0f} MB database",
                ),
                (
                    f"append ({append['count']:,} × entry_append)",
                    f"{append_s:.1f}",
                    f"{append_rss:.0f}",
                    f"median {append['ms_median']:.2f} ms, p95 {append['ms_p95']:.2f} ms per entry",
                ),
            ]
        rows += [
            (
                f"verify ({total:,} entries)",
                f"{verify_s:.1f}",
                f"{verify_rss:.0f}",
                f"{verified['result']}; {result['verify_us_per_entry']} µs per entry "
                f"({result['verify_in_process_seconds']} s in the service)",
            ),
            (
                f"verify, #{bad_seq} edited",
                f"{tampered_s:.1f}",
                f"{tampered_rss:.0f}",
                f"{found['result']}, first bad #{found['first_bad_seq']}",
            ),
        ]
        print(table(rows))
        print()
        for name, ok in targets.items():
            print(f"{'ok    ' if ok else 'MISSED'}  {name}")
        return 0 if all(targets.values()) else 1
    finally:
        if args.keep or args.reuse is not None:
            print(f"kept {root}")
        else:
            shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    raise SystemExit(main())
