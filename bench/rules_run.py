"""Rules benchmark (part of `make bench`): the default rule set over 100,000 employees × 36 months.

    .venv/bin/python bench/rules_run.py [--people 100000] [--months 36] [--keep]
    .venv/bin/python bench/rules_run.py --reuse /tmp/shebao-rules-bench-XXXX   # a --keep'd folder

* setup (a fresh SQLite instance): entity BJ01 (北京), 100,000 employees with one spell each
  (hires spread over the years, ~5 % leavers, recent hires, interns, a few 15-digit IDs), their
  ledger people, and 36 months × 6 insurances of contributions (≈ 21 million rows) written with
  set-based INSERT … SELECT statements, with problems planted at realistic rates: recent hires
  not registered, medical and pension gaps, leavers still paid, another employer still paying,
  arrears, bases below the minimum / above the maximum / off the declared wage, people nobody
  employs; then a full reconciliation (the rules read its discrepancies);
* floor (the baseline): one hand-written SQL query per default rule that only COUNTS its matches;
* full evaluation of the default rule set, twice: the first creates every finding, the second is
  the steady state of the daily evaluation (nothing changed: everything compared, nothing written);
* incremental evaluation after a sync touching one employee (median of 20) and 1,000 employees.

Targets (issue 6): full evaluation < 10 s on SQLite and ≤ 3 × the floor; one employee < 50 ms.
Writes bench/results/rules-latest.json; exits 1 when a target is missed.

``--reuse DIR`` re-measures on a folder an earlier ``--keep`` run left: no setup and no
reconciliation (the data is as that run built it; ``--people``/``--months`` are ignored); the
findings of earlier evaluations are deleted first, so the first evaluation creates them again. The
folder is kept.
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
AS_OF = "2026-11-20"  # the data covers 2023-11 … 2026-10

SETUP = r"""
import datetime as dt, sys, time, django
django.setup()
from decimal import Decimal
from django.db import connection, transaction
from shebao.core import crypto
from shebao.core.bulk import insert_rows
from shebao.core.identity import make_resident_id
from shebao.ledger.models import LedgerUnit, SyncRun
from shebao.org.models import Entity
from shebao.roster.models import ID_PURPOSE, Employee, EmploymentSpell

people, months = int(sys.argv[1]), int(sys.argv[2])
as_of = dt.date.fromisoformat(sys.argv[3])
entity = Entity.objects.get(code="BJ01")
ring = crypto.keyring()
rows = []
for n in range(people):
    number = make_resident_id("110105", dt.date(1970, 1, 1) + dt.timedelta(days=n % 12000), (n // 12000) % 1000)
    if n % 100 == 1:  # recent hires: 1–60 days ago
        hire = as_of - dt.timedelta(days=1 + n % 60)
    elif n % 4 == 0:
        hire = dt.date(2023, 1, 1) + dt.timedelta(days=(n * 7) % 1300)
    else:
        hire = dt.date(2020, 6, 1)
    leave = dt.date(2025, 6, 1) + dt.timedelta(days=n % 300) if n % 20 == 0 and hire < dt.date(2025, 5, 1) else None
    kind = "intern" if n % 100 == 2 else "full_time"
    rows.append({"name": f"员工{n}", "id_kind": "resident_id", "id_number_enc": ring.encrypt(number, purpose=ID_PURPOSE),
                 "id_number_bidx": ring.blind_index(number, purpose=ID_PURPOSE), "employee_no": f"E{n:07d}",
                 "entity_id": entity.pk, "employment_type": kind, "hire_date": hire, "leave_date": leave,
                 "declared_wage": Decimal(8000 + (n * 37) % 20000), "status": "left" if leave else "active",
                 "id_upgraded_from_15": n % 1000 == 5})
insert_rows(Employee, rows)
ids = dict(Employee.objects.values_list("employee_no", "pk"))
insert_rows(EmploymentSpell, [{"employee_id": ids[r["employee_no"]], "entity_id": entity.pk,
    "employee_no": r["employee_no"], "employment_type": r["employment_type"], "hire_date": r["hire_date"],
    "leave_date": r["leave_date"], "declared_wage": r["declared_wage"]} for r in rows])
ours = LedgerUnit.objects.create(key=f"entity:{entity.pk}", entity=entity, name=entity.name, unit_no="BJ01")
other = LedgerUnit.objects.create(key="name:前雇主", name="前雇主有限公司")
run = SyncRun.objects.create(entity=entity, source="cli", status="succeeded", file_name="bench")
first = dt.date(as_of.year, as_of.month, 1)
month_list = []
y, m = first.year, first.month
for _ in range(months):
    m -= 1
    if m == 0:
        y, m = y - 1, 12
    month_list.append(y * 100 + m)
last_month = max(month_list)
t = time.perf_counter()
with transaction.atomic(), connection.cursor() as cur:
    cur.execute("CREATE TEMP TABLE bench_month (period INTEGER PRIMARY KEY)")
    cur.executemany("INSERT INTO bench_month VALUES (%s)", [(p,) for p in month_list])
    cur.execute("CREATE TEMP TABLE bench_ins (insurance TEXT PRIMARY KEY)")
    cur.executemany("INSERT INTO bench_ins VALUES (%s)", [(i,) for i in
        ("pension", "medical", "unemployment", "work_injury", "maternity", "housing_fund")])
    # ledger people: every employee by ID, plus 0.1 % strangers nobody employs
    cur.execute(
        "INSERT INTO ledger_ledgerperson (key, id_number_enc, id_number_bidx, id_kind, name, account_no, match,"
        " employee_id, first_entity_id, created_at, updated_at)"
        " SELECT id_number_bidx, id_number_enc, id_number_bidx, 'resident_id', name, '', 'id_number', id, entity_id,"
        " CURRENT_TIMESTAMP, CURRENT_TIMESTAMP FROM roster_employee WHERE id_upgraded_from_15 = 0")
    cur.executemany(
        "INSERT INTO ledger_ledgerperson (key, id_number_enc, id_number_bidx, id_kind, name, account_no, match,"
        " employee_id, first_entity_id, created_at, updated_at) VALUES (%s, '', '', '', %s, '', 'none', NULL, %s,"
        " CURRENT_TIMESTAMP, CURRENT_TIMESTAMP)", [(f"acct:stranger{n}", f"陌生人{n}", entity.pk) for n in range(people // 1000)])
    # contributions by us: from the hire month (registered) to the leave month (+2 for half the leavers),
    # with the planted problems (n = employee id)
    cur.execute(f'''
        INSERT INTO ledger_contributionrecord (person_id, insurance, period, unit_id, entity_id, base, employer_due,
            employee_due, employer_paid, employee_paid, status, payment_type, evidence, source_row, first_run_id,
            last_run_id, updated_at)
        SELECT p.id, i.insurance, m.period, {ours.pk}, {entity.pk},
            CASE WHEN e.id % 97 = 3 THEN 3000 WHEN e.id % 97 = 4 THEN 99999
                 WHEN e.id % 97 = 5 THEN s.declared_wage + 800 ELSE s.declared_wage END,
            round(s.declared_wage * 0.16, 2), round(s.declared_wage * 0.08, 2),
            CASE WHEN e.id % 211 = 7 AND m.period = {last_month} THEN NULL ELSE round(s.declared_wage * 0.16, 2) END,
            CASE WHEN e.id % 211 = 7 AND m.period = {last_month} THEN NULL ELSE round(s.declared_wage * 0.08, 2) END,
            CASE WHEN e.id % 211 = 7 AND m.period = {last_month} THEN 'arrears' ELSE 'paid' END,
            'normal', 'paid', NULL, {run.pk}, {run.pk}, CURRENT_TIMESTAMP
        FROM roster_employmentspell s
        JOIN roster_employee e ON e.id = s.employee_id
        JOIN ledger_ledgerperson p ON p.employee_id = e.id
        CROSS JOIN bench_month m CROSS JOIN bench_ins i
        WHERE s.employment_type <> 'intern'
          AND m.period >= CAST(strftime('%Y%m', s.hire_date) AS INTEGER)
          AND (s.leave_date IS NULL OR m.period <= CAST(strftime('%Y%m', s.leave_date) AS INTEGER)
               + CASE WHEN e.id % 40 = 1 THEN 2 ELSE 0 END)
          AND NOT (e.id % 100 = 1 AND s.hire_date < '{as_of}' AND e.id % 3 = 0)
          AND NOT (e.id % 53 = 9 AND i.insurance = 'medical' AND m.period >= {month_list[4]})
          AND NOT (e.id % 59 = 9 AND i.insurance = 'pension' AND m.period >= {month_list[2]})
          AND NOT (e.id % 61 = 9 AND i.insurance = 'housing_fund')
        ''')
    # another employer still paying medical and pension in the hire month and the next, for 2 % of the
    # people (half of them recent hires: an overlap still running)
    cur.execute(f'''
        INSERT INTO ledger_contributionrecord (person_id, insurance, period, unit_id, entity_id, base, employer_due,
            employee_due, status, payment_type, evidence, first_run_id, last_run_id, updated_at)
        SELECT p.id, i.insurance, m.period, {other.pk}, {entity.pk}, 6000, 960, 480, 'paid', 'normal', 'paid',
            {run.pk}, {run.pk}, CURRENT_TIMESTAMP
        FROM roster_employmentspell s JOIN ledger_ledgerperson p ON p.employee_id = s.employee_id
        CROSS JOIN bench_month m CROSS JOIN bench_ins i
        WHERE s.employee_id % 100 IN (41, 2) AND i.insurance IN ('pension', 'medical')
          AND m.period >= CAST(strftime('%Y%m', s.hire_date) AS INTEGER)
          AND m.period <= CAST(strftime('%Y%m', date(s.hire_date, '+1 month')) AS INTEGER)
        ''')
    # strangers paid by us for the last 6 months
    cur.execute(f'''
        INSERT INTO ledger_contributionrecord (person_id, insurance, period, unit_id, entity_id, base, employer_due,
            employee_due, status, payment_type, evidence, first_run_id, last_run_id, updated_at)
        SELECT p.id, 'pension', m.period, {ours.pk}, {entity.pk}, 8000, 1280, 640, 'paid', 'normal', 'paid',
            {run.pk}, {run.pk}, CURRENT_TIMESTAMP
        FROM ledger_ledgerperson p CROSS JOIN bench_month m
        WHERE p.employee_id IS NULL AND m.period >= {month_list[5]}
        ''')
    cur.execute("SELECT count(*) FROM ledger_contributionrecord")
    records = cur.fetchone()[0]
print(f"{records} {time.perf_counter() - t:.1f}")
"""

# One hand-written count per default rule: the same conditions as the kinds, nothing else.
FLOOR = r"""
import datetime as dt, json, sys, time, django
django.setup()
from django.db import connection
as_of = dt.date.fromisoformat(sys.argv[1])
def ym(d): return d.year * 100 + d.month
def ym_minus(d, k):
    y, m = d.year, d.month - k
    while m <= 0: y, m = y - 1, m + 12
    return y * 100 + m
current = "(s.leave_date IS NULL OR s.leave_date >= %(as_of)s) AND s.hire_date <= %(as_of)s"
covering = "c.status NOT IN ('unpaid', 'arrears', 'refunded')"
def gap(ins, threshold):
    return f'''SELECT count(*) FROM roster_employmentspell s WHERE {current}
      AND s.employment_type NOT IN ('intern', 'retiree_rehire')
      AND NOT EXISTS (SELECT 1 FROM ledger_contributionrecord c JOIN ledger_ledgerperson p ON p.id = c.person_id
          WHERE p.employee_id = s.employee_id AND c.insurance = '{ins}' AND c.period >= {threshold} AND {covering})
      AND EXISTS (SELECT 1 FROM ledger_contributionrecord c JOIN ledger_ledgerperson p ON p.id = c.person_id
          WHERE p.employee_id = s.employee_id AND c.insurance = '{ins}' AND {covering})'''
def registration(insurances, days):
    ins = ", ".join(f"'{i}'" for i in insurances)
    return f'''SELECT count(*) FROM roster_employmentspell s WHERE {current}
      AND s.employment_type NOT IN ('intern', 'retiree_rehire') AND s.hire_date <= '{as_of - dt.timedelta(days=days - 7)}'
      AND NOT EXISTS (SELECT 1 FROM ledger_contributionrecord c JOIN ledger_ledgerperson p ON p.id = c.person_id
          JOIN ledger_ledgerunit u ON u.id = c.unit_id WHERE p.employee_id = s.employee_id AND u.entity_id = s.entity_id
          AND c.insurance IN ({ins}) AND c.period >= CAST(strftime('%%Y%%m', s.hire_date) AS INTEGER) AND c.status <> 'refunded')
      AND NOT EXISTS (SELECT 1 FROM ledger_enrollmentstatus es JOIN ledger_ledgerperson p ON p.id = es.person_id
          JOIN ledger_ledgerunit u ON u.id = es.unit_id WHERE p.employee_id = s.employee_id AND u.entity_id = s.entity_id
          AND es.insurance IN ({ins}) AND es.state <> 'not_enrolled' AND (es.state = 'active' OR es.since >= s.hire_date))'''
def grouped(kinds, extra=""):
    k = ", ".join(f"'{x}'" for x in kinds)
    return f'''SELECT count(*) FROM (SELECT DISTINCT entity_id, employee_id, person_id FROM ledger_discrepancy d
      WHERE d.status = 'open' AND d.kind IN ({k}) {extra})'''
threshold = ym(as_of - dt.timedelta(days=30))
# "still running": the overlap's last month is within the latest two months of the entity's data
with connection.cursor() as cur:
    cur.execute("SELECT insurance, MAX(period) FROM ledger_contributionrecord GROUP BY insurance")
    latest = dict(cur.fetchall())
def prev(p): return p - 89 if p % 100 == 1 else p - 1
still = "CASE d.insurance " + " ".join(f"WHEN '{i}' THEN {prev(p)}" for i, p in latest.items()) + " ELSE 0 END"
queries = {
    "registration_overdue": registration(["pension", "medical", "maternity", "unemployment", "work_injury"], 30),
    "medical_interrupted": gap("medical", threshold),
    "insurance_interrupted": " UNION ALL ".join(gap(i, threshold) for i in ("pension", "unemployment", "work_injury")),
    "enrolled_elsewhere": '''SELECT count(*) FROM (SELECT DISTINCT d.entity_id, d.employee_id, d.unit_id FROM ledger_discrepancy d
        WHERE d.status = 'open' AND d.kind = 'other_unit' AND (d.period_to IS NULL OR d.period_to >= ''' + still + ''')
        AND EXISTS (SELECT 1 FROM roster_employmentspell s
        WHERE s.employee_id = d.employee_id AND s.entity_id = d.entity_id AND ''' + current + "))",
    "leaver_not_stopped": grouped(["after_leaving"]),
    "housing_fund_unregistered": registration(["housing_fund"], 30),
    "base_out_of_range": grouped(["base_below_min", "base_above_max"]),
    "base_mismatch": grouped(["base_mismatch"]),
    "arrears": grouped(["unpaid"]),
    "unknown_enrollee": grouped(["unknown_person"]),
    "waiting_period_risk": gap("medical", ym_minus(as_of, 3)),
    "invalid_identity": '''SELECT (SELECT count(*) FROM roster_employmentspell s JOIN roster_employee e ON e.id = s.employee_id
        WHERE ''' + current + ''' AND e.id_upgraded_from_15 AND NOT EXISTS (SELECT 1 FROM ledger_ledgerperson p
        WHERE p.employee_id = e.id AND p.match = 'id_number'))
        + (SELECT count(*) FROM ledger_ledgerperson p WHERE p.match = 'account' AND p.employee_id IS NOT NULL)''',
}
out = {}
total = 0.0
with connection.cursor() as cur:
    for name, sql in queries.items():
        t = time.perf_counter()
        cur.execute(sql, {"as_of": as_of.isoformat()})
        n = sum(r[0] for r in cur.fetchall())
        dt_ = time.perf_counter() - t
        total += dt_
        out[name] = {"count": n, "seconds": round(dt_, 3)}
print(json.dumps({"total_seconds": total, "rules": out}))
"""

EVALUATE = r"""
import datetime as dt, json, statistics, sys, time, django
django.setup()
from shebao.core.context import Actor
from shebao.ledger.models import LedgerPerson
from shebao.roster.models import Employee
from shebao.rules.services import findings_evaluate
from shebao.rules.models import Finding
as_of = dt.date.fromisoformat(sys.argv[1])
actor = Actor.system(via="bench")
if len(sys.argv) > 2 and sys.argv[2] == "reset":  # --reuse: back to no findings
    Finding.objects.all().delete()
def full():
    t = time.perf_counter()
    r = findings_evaluate(actor=actor, as_of=as_of)
    return time.perf_counter() - t, r
first_s, first = full()
second_s, second = full()
ids = list(Employee.objects.order_by("pk").values_list("pk", flat=True))
step = max(1, len(ids) // 20)
one = []
for pk in ids[::step][:20]:
    t = time.perf_counter()
    findings_evaluate(actor=actor, as_of=as_of, employee_ids=[pk])
    one.append(time.perf_counter() - t)
t = time.perf_counter()
people = list(LedgerPerson.objects.filter(employee_id__in=ids[::max(1, len(ids) // 1000)][:1000]).values_list("pk", flat=True))
findings_evaluate(actor=actor, as_of=as_of, person_ids=people)
thousand = time.perf_counter() - t
counts = {}
for k in Finding.objects.filter(status__in=["open", "acknowledged", "snoozed"]).values_list("kind", flat=True):
    counts[k] = counts.get(k, 0) + 1
print(json.dumps({
    "first_seconds": first_s, "first_opened": first.opened,
    "steady_seconds": second_s, "steady_updated": second.updated, "steady_opened": second.opened,
    "per_rule_first": {o.kind: round(o.seconds, 3) for o in first.rules},
    "per_rule_steady": {o.kind: round(o.seconds, 3) for o in second.rules},
    "one_ms_median": statistics.median(one) * 1000, "one_ms_max": max(one) * 1000,
    "thousand_seconds": thousand, "findings": counts,
}))
"""

# --reuse: the size of the kept instance (employees, months of contributions, contribution rows)
SIZE = r"""
import django
django.setup()
from django.db import connection
with connection.cursor() as cur:
    cur.execute("SELECT (SELECT count(*) FROM roster_employee), (SELECT count(*) FROM (SELECT DISTINCT period"
                " FROM ledger_contributionrecord WHERE entity_id = (SELECT id FROM org_entity WHERE code = 'BJ01')"
                " AND insurance = 'pension')), (SELECT count(*) FROM ledger_contributionrecord)")
    print(*cur.fetchone())
"""

RECONCILE = r"""
import time, django
django.setup()
from shebao.ledger.reconcile import discrepancies_recompute
t = time.perf_counter()
discrepancies_recompute()
print(f"{time.perf_counter() - t:.1f}")
"""


def run(cmd: list[str], env: dict, label: str) -> tuple[float, str]:
    start = time.perf_counter()
    proc = subprocess.run(cmd, env=env, capture_output=True, text=True)
    if proc.returncode != 0:
        raise SystemExit(f"{label} failed ({proc.returncode}):\n{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}")
    return time.perf_counter() - start, proc.stdout


def env_for(folder: Path) -> dict:
    env = {k: v for k, v in os.environ.items() if not k.startswith("SHEBAO_") and k != "DATABASE_URL"}
    env.update(SHEBAO_INSTANCE_DIR=str(folder), DJANGO_SETTINGS_MODULE="shebao.settings")
    return env


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--people", type=int, default=100_000)
    parser.add_argument("--months", type=int, default=36)
    parser.add_argument("--keep", action="store_true", help="keep the temporary folder")
    parser.add_argument(
        "--reuse",
        metavar="DIR",
        type=Path,
        help="re-measure on a folder a --keep run left (no setup, no reconciliation; findings reset)",
    )
    args = parser.parse_args()

    if args.reuse is not None and not (args.reuse / "shebao.sqlite3").exists():
        parser.error(f"--reuse: {args.reuse} holds no shebao.sqlite3 (a folder a --keep run left)")
    root = args.reuse if args.reuse is not None else Path(tempfile.mkdtemp(prefix="shebao-rules-bench-"))
    shebao, python = str(BIN / "shebao"), sys.executable
    env = env_for(root)
    try:
        if args.reuse is None:
            run([shebao, "migrate", "--no-input", "-v", "0"], env, "migrate")
            run(
                [shebao, "entity", "add", "--code", "BJ01", "--name", "基准测试科技有限公司",
                 "--uscc", "91110000802100433B", "--city", "北京"],
                env,
                "entity",
            )  # fmt: skip
            setup_s, out = run([python, "-c", SETUP, str(args.people), str(args.months), AS_OF], env, "setup")
            records = int(out.split()[0])
            print(f"setup: {args.people} employees, {records} contribution rows in {setup_s:.1f} s")
            rec_s, out = run([python, "-c", RECONCILE], env, "reconcile")
            print(f"reconciliation: {out.strip()} s")
        else:
            _, out = run([python, "-c", SIZE], env, "size")
            args.people, args.months, records = (int(x) for x in out.split())
            print(f"reusing {root}: {args.people} employees, {records} contribution rows")
        _, out = run([python, "-c", FLOOR, AS_OF], env, "floor")
        floor = json.loads(out.strip().splitlines()[-1])
        print(f"floor (count queries): {floor['total_seconds']:.2f} s")
        reset = ["reset"] if args.reuse is not None else []
        _, out = run([python, "-c", EVALUATE, AS_OF, *reset], env, "evaluate")
        ev = json.loads(out.strip().splitlines()[-1])
        print(
            f"full evaluation: first {ev['first_seconds']:.2f} s ({ev['first_opened']} opened), "
            f"steady {ev['steady_seconds']:.2f} s; one employee median {ev['one_ms_median']:.1f} ms "
            f"(max {ev['one_ms_max']:.1f}); 1,000 employees {ev['thousand_seconds']:.2f} s"
        )
        floor_s = floor["total_seconds"]
        mismatched = {
            k: (v["count"], ev["findings"].get(k, 0))
            for k, v in floor["rules"].items()
            if v["count"] != ev["findings"].get(k, 0)
        }
        result = {
            "date": dt.date.today().isoformat(),
            "machine": f"{platform.node()} · {platform.machine()} · {os.cpu_count()} CPUs · Python {platform.python_version()}",
            "people": args.people,
            "months": args.months,
            "reused": str(args.reuse) if args.reuse is not None else None,
            "records": records,
            "as_of": AS_OF,
            "floor_seconds": round(floor_s, 2),
            "floor": floor["rules"],
            "first_seconds": round(ev["first_seconds"], 2),
            "first_ratio": round(ev["first_seconds"] / floor_s, 2),
            "steady_seconds": round(ev["steady_seconds"], 2),
            "steady_ratio": round(ev["steady_seconds"] / floor_s, 2),
            "per_rule_first": ev["per_rule_first"],
            "per_rule_steady": ev["per_rule_steady"],
            "one_ms_median": round(ev["one_ms_median"], 1),
            "one_ms_max": round(ev["one_ms_max"], 1),
            "thousand_seconds": round(ev["thousand_seconds"], 2),
            "findings": ev["findings"],
            "count_mismatch_floor_vs_findings": mismatched,
        }
        targets = {
            "full evaluation < 10 s (first and steady)": max(ev["first_seconds"], ev["steady_seconds"]) < 10,
            "full evaluation ≤ 3 × floor (steady)": ev["steady_seconds"] <= 3 * floor_s,
            "full evaluation ≤ 3 × floor (first)": ev["first_seconds"] <= 3 * floor_s,
            "one employee < 50 ms": ev["one_ms_median"] < 50,
        }
        result["targets"] = targets
        RESULTS.mkdir(parents=True, exist_ok=True)
        (RESULTS / "rules-latest.json").write_text(
            json.dumps(result, ensure_ascii=False, indent=2), encoding="utf-8"
        )
        print(json.dumps(result, ensure_ascii=False, indent=2))
        missed = [k for k, ok in targets.items() if not ok]
        if missed:
            print("MISSED: " + "; ".join(missed))
            return 1
        return 0
    finally:
        if args.keep or args.reuse is not None:
            print(f"kept {root}")
        else:
            shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    raise SystemExit(main())
