"""Ledger benchmark (part of `make bench`): a wide CSV of 100,000 employees × 36 months ingested and reconciled.

    .venv/bin/python bench/ledger_run.py [--people 100000] [--months 36] [--keep]
    .venv/bin/python bench/ledger_run.py --reconcile-only /tmp/shebao-ledger-bench-XXXX   # a kept run

* setup (one instance, copied for each step): entity BJ01 (北京), 100,000 employees with one
  spell each (valid synthetic IDs, declared wages, hires spread over the period, ~5 % leavers);
* the CSV (generic_wide layout: 姓名, 证件号码, 费款所属期 and 基数/单位缴费/个人缴费 per
  insurance for 养老/医疗/失业/工伤/生育) with 3.6 million rows, 18 million employee-insurance-months;
* baseline (a copy of the setup): read the same CSV with the csv module and insert it into the
  same table (ContributionRecord; its people into LedgerPerson, since the table needs them) with
  the database's bulk path (executemany) and fixed column positions — no detection, mapping,
  validation, history or traceability rows;
* ingest (another copy): ``shebao ingest FILE --entity BJ01 --no-reconcile --json`` — detect the
  profile, parse, validate every ID, match the roster, apply idempotently, keep the source rows;
* full reconciliation of all employees (in-process timing of ``discrepancies_recompute``) and
  incremental reconciliation of one employee (median of 20);
* each step runs in its own process; wall time and peak RSS (wait4 rusage) are reported.

Targets (issue 5): ingest ≤ 2 × baseline; ingest peak RSS < 1 GB; full reconciliation < 60 s;
incremental reconciliation of one employee < 50 ms. Writes bench/results/ledger-latest.json;
exits 1 when a target is missed.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent
RESULTS = ROOT / "bench" / "results"
sys.path.insert(0, str(ROOT / "src"))

SETUP = r"""
import datetime as dt, sys, django
django.setup()
from decimal import Decimal
from shebao.core import crypto
from shebao.core.bulk import insert_rows
from shebao.core.identity import make_resident_id
from shebao.org.models import Entity
from shebao.roster.models import ID_PURPOSE, Employee, EmploymentSpell
people, months = int(sys.argv[1]), int(sys.argv[2])
entity = Entity.objects.get(code="BJ01")
ring = crypto.keyring()
start = dt.date(2023, 1, 1)
rows, spells = [], []
for n in range(people):
    number = make_resident_id("110105", dt.date(1970, 1, 1) + dt.timedelta(days=n % 12000), (n // 12000) % 1000)
    hire = start + dt.timedelta(days=(n * 7) % 700) if n % 4 == 0 else dt.date(2022, 6, 1)
    leave = dt.date(2025, 6, 1) + dt.timedelta(days=n % 300) if n % 20 == 0 else None
    rows.append({"name": f"员工{n}", "id_kind": "resident_id", "id_number_enc": ring.encrypt(number, purpose=ID_PURPOSE),
                 "id_number_bidx": ring.blind_index(number, purpose=ID_PURPOSE), "employee_no": f"E{n:07d}",
                 "entity_id": entity.pk, "employment_type": "full_time", "hire_date": hire, "leave_date": leave,
                 "declared_wage": Decimal(5000 + (n * 37) % 20000), "status": "left" if leave else "active"})
insert_rows(Employee, rows)
ids = dict(Employee.objects.values_list("employee_no", "pk"))
insert_rows(EmploymentSpell, [{"employee_id": ids[r["employee_no"]], "entity_id": entity.pk,
    "employee_no": r["employee_no"], "employment_type": "full_time", "hire_date": r["hire_date"],
    "leave_date": r["leave_date"], "declared_wage": r["declared_wage"]} for r in rows])
print(len(rows))
"""

BASELINE = r"""
import csv, sys, django
django.setup()
from django.db import connection, transaction
from shebao.core import crypto
from shebao.ledger.models import PERSON_ID_PURPOSE, ContributionRecord, LedgerPerson, LedgerUnit, SyncRun
from shebao.org.models import Entity
entity = Entity.objects.get(code="BJ01")
ring = crypto.keyring()
unit = LedgerUnit.objects.create(key=f"entity:{entity.pk}", entity=entity, name=entity.name)
run = SyncRun.objects.create(entity=entity, source="cli", status="succeeded", file_name="baseline")
GROUPS = [("pension", 3, 4, 5), ("medical", 6, 7, 8), ("unemployment", 9, 10, 11), ("work_injury", 12, 13, None),
          ("maternity", 14, 15, None)]
person_sql = "INSERT INTO ledger_ledgerperson (key, id_number_enc, id_number_bidx, id_kind, name, account_no, match, created_at, updated_at) VALUES (%s, %s, %s, 'resident_id', %s, '', 'none', CURRENT_TIMESTAMP, CURRENT_TIMESTAMP)"
record_sql = ("INSERT INTO ledger_contributionrecord (person_id, insurance, period, unit_id, entity_id, base, employer_due,"
              " employee_due, status, payment_type, evidence, source_row, first_run_id, last_run_id, updated_at)"
              " VALUES (%s, %s, %s, %s, %s, %s, %s, %s, 'declared', '', 'assessed', %s, %s, %s, CURRENT_TIMESTAMP)")
people = {}
count = 0
with transaction.atomic(), connection.cursor() as cur, open(sys.argv[1], encoding="utf-8", newline="") as fh:
    reader = csv.reader(fh)
    next(reader)
    batch = []
    def flush():
        cur.executemany(record_sql, batch)
        batch.clear()
    for n, row in enumerate(reader, 2):
        number = row[1]
        pid = people.get(number)
        if pid is None:
            bidx = ring.blind_index(number, purpose=PERSON_ID_PURPOSE)
            cur.execute(person_sql, [bidx, ring.encrypt(number, purpose=PERSON_ID_PURPOSE), bidx, row[0]])
            pid = people[number] = cur.lastrowid if connection.vendor == "sqlite" else LedgerPerson.objects.get(key=bidx).pk
        period = int(row[2][:4]) * 100 + int(row[2][5:7])
        for ins, b, er, ee in GROUPS:
            batch.append((pid, ins, period, unit.pk, entity.pk, row[b], row[er], row[ee] if ee else None, n, run.pk, run.pk))
            count += 1
        if len(batch) >= 10000:
            flush()
    flush()
print(count)
"""

RECONCILE = r"""
import json, statistics, sys, time, django
django.setup()
from shebao.ledger.reconcile import discrepancies_recompute
from shebao.org.models import Entity
from shebao.roster.models import Employee
entity = Entity.objects.get(code="BJ01")
if len(sys.argv) > 1 and sys.argv[1] == "fresh":  # --reconcile-only: as after a fresh ingest
    from shebao.ledger.models import Discrepancy
    Discrepancy.objects.all().delete()
t = time.perf_counter()
result = discrepancies_recompute(entity=entity)
full = time.perf_counter() - t
t = time.perf_counter()
discrepancies_recompute(entity=entity)  # the daily full recompute: nothing changed
steady = time.perf_counter() - t
ids = list(Employee.objects.order_by("pk").values_list("pk", flat=True)[:: max(1, Employee.objects.count() // 20)])[:20]
times = []
for pk in ids:
    t = time.perf_counter()
    discrepancies_recompute(employee_ids=[pk])
    times.append(time.perf_counter() - t)
counts = getattr(result, "counts", None) or {}
print(json.dumps({"full_seconds": full, "steady_seconds": steady, "incremental_ms_median": statistics.median(times) * 1000,
                  "incremental_ms_max": max(times) * 1000, "counts": counts}, default=str))
"""


def run(cmd: list[str], env: dict, label: str) -> tuple[float, float, str]:
    """Wall seconds, peak RSS in MB (of that process tree's largest), stdout."""
    start = time.perf_counter()
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    out, err = proc.communicate()
    elapsed = time.perf_counter() - start
    usage = os.wait4(proc.pid, os.WNOHANG) if False else None  # noqa: SIM108 - kept for clarity
    del usage
    if proc.returncode not in (0, 2):
        raise SystemExit(f"{label} failed ({proc.returncode}):\n{out[-3000:]}\n{err[-3000:]}")
    return elapsed, 0.0, out


def run_measured(cmd: list[str], env: dict, label: str) -> tuple[float, float, str]:
    """Like run, with the peak RSS of the process from wait4."""
    start = time.perf_counter()
    with tempfile.TemporaryFile("w+") as out_f, tempfile.TemporaryFile("w+") as err_f:
        proc = subprocess.Popen(cmd, env=env, stdout=out_f, stderr=err_f, text=True)
        _, status, usage = os.wait4(proc.pid, 0)
        elapsed = time.perf_counter() - start
        out_f.seek(0)
        err_f.seek(0)
        out, err = out_f.read(), err_f.read()
    code = os.waitstatus_to_exitcode(status)
    if code not in (0, 2):
        raise SystemExit(f"{label} failed ({code}):\n{out[-3000:]}\n{err[-3000:]}")
    return elapsed, usage.ru_maxrss / 1024, out


def env_for(folder: Path) -> dict:
    env = {k: v for k, v in os.environ.items() if not k.startswith("SHEBAO_") and k != "DATABASE_URL"}
    env.update(SHEBAO_INSTANCE_DIR=str(folder), DJANGO_SETTINGS_MODULE="shebao.settings")
    return env


def reconcile_only(root: Path) -> int:
    """The reconciliation step alone, on the instance a kept run ingested (same data)."""
    folder = root / "ingest"
    if not (folder / "shebao.sqlite3").exists():
        raise SystemExit(f"{folder} holds no ingested instance (run with --keep first)")
    env = env_for(folder)
    run([str(BIN / "shebao"), "migrate", "--no-input", "-v", "0"], env, "migrate")
    rec_s, rec_rss, out = run_measured([sys.executable, "-c", RECONCILE, "fresh"], env, "reconcile")
    rec = json.loads(out.strip().splitlines()[-1])
    result = {
        "date": dt.date.today().isoformat(),
        "machine": f"{platform.node()} · {platform.machine()} · {os.cpu_count()} CPUs · Python {platform.python_version()}",
        "instance": str(folder),
        "reconcile_full_seconds": round(rec["full_seconds"], 1),
        "reconcile_steady_seconds": round(rec["steady_seconds"], 1),
        "reconcile_process_seconds": round(rec_s, 1),
        "reconcile_peak_mb": round(rec_rss),
        "reconcile_one_ms_median": round(rec["incremental_ms_median"], 1),
        "reconcile_one_ms_max": round(rec["incremental_ms_max"], 1),
        "discrepancies": rec.get("counts"),
    }
    targets = {
        "full reconciliation < 60 s": max(rec["full_seconds"], rec["steady_seconds"]) < 60,
        "one employee < 50 ms": rec["incremental_ms_median"] < 50,
    }
    result["targets"] = targets
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "ledger-reconcile-latest.json").write_text(
        json.dumps(result, ensure_ascii=False, indent=2), encoding="utf-8"
    )
    print(json.dumps(result, ensure_ascii=False, indent=2))
    return 0 if all(targets.values()) else 1


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--people", type=int, default=100_000)
    parser.add_argument("--months", type=int, default=36)
    parser.add_argument("--keep", action="store_true", help="keep the temporary folder")
    parser.add_argument(
        "--reconcile-only",
        metavar="DIR",
        help="re-measure only the reconciliation on the ingest instance of a kept run (DIR/ingest)",
    )
    args = parser.parse_args()
    if args.reconcile_only:
        return reconcile_only(Path(args.reconcile_only))

    from shebao.ledger.tests.golden import write_wide_csv

    root = Path(tempfile.mkdtemp(prefix="shebao-ledger-bench-"))
    shebao, python = str(BIN / "shebao"), sys.executable
    try:
        setup = root / "setup"
        setup.mkdir()
        env = env_for(setup)
        run([shebao, "migrate", "--no-input", "-v", "0"], env, "migrate")
        run(
            [shebao, "entity", "add", "--code", "BJ01", "--name", "基准测试科技有限公司",
             "--uscc", "91110000802100433B", "--city", "北京"],
            env,
            "entity",
        )  # fmt: skip
        t = time.perf_counter()
        run([python, "-c", SETUP, str(args.people), str(args.months)], env, "roster")
        roster_s = time.perf_counter() - t
        csv_path = root / "wide.csv"
        t = time.perf_counter()
        rows = write_wide_csv(csv_path, people=args.people, months=args.months, start="2023-11")
        csv_s = time.perf_counter() - t
        size_mb = csv_path.stat().st_size / 1024 / 1024
        print(
            f"setup: {args.people} employees in {roster_s:.1f} s; CSV {rows} rows, {size_mb:.0f} MB in {csv_s:.1f} s"
        )

        base_dir, ingest_dir = root / "baseline", root / "ingest"
        shutil.copytree(setup, base_dir)
        shutil.copytree(setup, ingest_dir)

        base_s, base_rss, base_out = run_measured(
            [python, "-c", BASELINE, str(csv_path)], env_for(base_dir), "baseline"
        )
        print(f"baseline: {base_out.strip()} records in {base_s:.1f} s, peak {base_rss:.0f} MB")
        shutil.rmtree(base_dir)

        ingest_s, ingest_rss, out = run_measured(
            [shebao, "ingest", str(csv_path), "--entity", "BJ01", "--no-reconcile", "--json"],
            env_for(ingest_dir),
            "ingest",
        )
        ingest = json.loads(out)
        print(
            f"ingest: {ingest.get('status')} profile {ingest.get('profile')}, "
            f"{ingest.get('counts', {}).get('records_created')} records in {ingest_s:.1f} s, peak {ingest_rss:.0f} MB"
        )
        rec_s, rec_rss, out = run_measured([python, "-c", RECONCILE], env_for(ingest_dir), "reconcile")
        rec = json.loads(out.strip().splitlines()[-1])
        print(
            f"reconcile: full {rec['full_seconds']:.1f} s, steady {rec['steady_seconds']:.1f} s (process {rec_s:.1f} s, peak {rec_rss:.0f} MB); "
            f"one employee median {rec['incremental_ms_median']:.1f} ms, max {rec['incremental_ms_max']:.1f} ms"
        )
        ratio = ingest_s / base_s
        result = {
            "date": dt.date.today().isoformat(),
            "machine": f"{platform.node()} · {platform.machine()} · {os.cpu_count()} CPUs · Python {platform.python_version()}",
            "people": args.people,
            "months": args.months,
            "csv_rows": rows,
            "csv_mb": round(size_mb, 1),
            "baseline_seconds": round(base_s, 1),
            "baseline_peak_mb": round(base_rss),
            "ingest_seconds": round(ingest_s, 1),
            "ingest_peak_mb": round(ingest_rss),
            "ratio": round(ratio, 2),
            "records": ingest.get("counts", {}).get("records_created"),
            "reconcile_full_seconds": round(rec["full_seconds"], 1),
            "reconcile_steady_seconds": round(rec["steady_seconds"], 1),
            "reconcile_peak_mb": round(rec_rss),
            "reconcile_one_ms_median": round(rec["incremental_ms_median"], 1),
            "reconcile_one_ms_max": round(rec["incremental_ms_max"], 1),
            "discrepancies": rec.get("counts"),
        }
        targets = {
            "ingest ≤ 2 × baseline": ratio <= 2,
            "ingest peak RSS < 1 GB": ingest_rss < 1024,
            "full reconciliation < 60 s": max(rec["full_seconds"], rec["steady_seconds"]) < 60,
            "one employee < 50 ms": rec["incremental_ms_median"] < 50,
        }
        result["targets"] = targets
        RESULTS.mkdir(parents=True, exist_ok=True)
        (RESULTS / "ledger-latest.json").write_text(
            json.dumps(result, ensure_ascii=False, indent=2), encoding="utf-8"
        )
        print(json.dumps(result, ensure_ascii=False, indent=2))
        missed = [k for k, ok in targets.items() if not ok]
        if missed:
            print("MISSED: " + "; ".join(missed))
            return 1
        return 0
    finally:
        if args.keep:
            print(f"kept {root}")
        else:
            shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    raise SystemExit(main())
