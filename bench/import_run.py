"""Roster-import benchmark (part of `make bench`): a 100,000-row workbook imported end to end, against a baseline.

    .venv/bin/python bench/import_run.py [--rows 100000] [--keep]

* builds the workbook with XlsxWriter (constant-memory mode): 10 roster columns, valid synthetic IDs;
* baseline (fresh instance): read the same file with python-calamine and ``bulk_create`` the
  employees with no validation — only what the table needs (AES-GCM ciphertext and blind index
  for the ID, since a plaintext ID may never be stored);
* import (fresh instance): ``shebao import-roster FILE --entity BJ01 --json`` — read, normalise,
  validate, stage, commit; then the same file again (everything unchanged);
* each step runs in its own process; wall time and peak RSS (wait4 rusage) are reported.

Targets (issue 4): import ≤ 2 × baseline; peak RSS < 500 MB; re-import faster than the first import.
Writes bench/results/import-latest.json; exits 1 when a target is missed.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import random
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent
RESULTS = ROOT / "bench" / "results"

BASELINE = r"""
import os, sys, django
django.setup()
from python_calamine import CalamineWorkbook
from shebao.core import crypto
from shebao.core.identity import parse_identity
from shebao.org.models import Entity
from shebao.roster.models import ID_PURPOSE, Employee, EmploymentSpell
rows = CalamineWorkbook.from_path(sys.argv[1]).get_sheet_by_index(0).to_python()
header, data = rows[0], rows[1:]
entity = Entity.objects.get(code="BJ01")
ring = crypto.keyring()
batch = []
for r in data:
    number = str(r[1])
    batch.append(Employee(name=r[0], id_kind="resident_id", id_number_enc=ring.encrypt(number, purpose=ID_PURPOSE),
                          id_number_bidx=ring.blind_index(number, purpose=ID_PURPOSE), employee_no=str(r[2]),
                          entity=entity, employment_type="full_time", hire_date=r[3], status="active"))
Employee.objects.bulk_create(batch, batch_size=2000)
print(len(batch))
"""


def make_workbook(path: Path, rows: int) -> None:
    import xlsxwriter

    sys.path.insert(0, str(ROOT / "src"))
    from shebao.core.identity import make_resident_id

    rnd = random.Random(2026)
    surnames = "王李张刘陈杨黄赵吴周徐孙马朱胡郭何高林罗"
    given = "伟芳娜敏静丽强磊军洋勇艳杰娟涛明超秀霞平刚桂英"
    wb = xlsxwriter.Workbook(str(path), {"constant_memory": True})
    ws = wb.add_worksheet("花名册")
    date_fmt = wb.add_format({"num_format": "yyyy-mm-dd"})
    headers = [
        "姓名",
        "身份证号",
        "工号",
        "入职日期",
        "参保主体",
        "部门",
        "手机",
        "用工类型",
        "户籍类型",
        "申报工资",
    ]
    ws.write_row(0, 0, headers)
    areas = ["110105", "310104", "440305", "510104", "420106", "330106"]
    for i in range(rows):
        # (area, birth date, sequence) is unique per row: 6 areas × 1,000 sequences per birth date
        j = i // len(areas)
        ident = make_resident_id(
            areas[i % len(areas)], dt.date(1965, 1, 1) + dt.timedelta(days=(j // 1000) * 577), j % 1000
        )
        name = rnd.choice(surnames) + "".join(rnd.choice(given) for _ in range(rnd.choice((1, 2))))
        ws.write_string(i + 1, 0, name)
        ws.write_string(i + 1, 1, ident)
        ws.write_string(i + 1, 2, f"E{i + 1:07d}")
        ws.write_datetime(
            i + 1, 3, dt.datetime(2020, 1, 1) + dt.timedelta(days=rnd.randrange(0, 2000)), date_fmt
        )
        ws.write_string(i + 1, 4, "BJ01")
        ws.write_string(i + 1, 5, f"部门{i % 40:02d}")
        ws.write_string(i + 1, 6, f"13{rnd.randrange(10**9):09d}")
        ws.write_string(i + 1, 7, "全日制")
        ws.write_string(i + 1, 8, rnd.choice(["本地城镇", "外地农村", "外地城镇"]))
        ws.write_number(i + 1, 9, rnd.randrange(5000, 40000))
    wb.close()


def run(cmd: list[str], env: dict, label: str) -> tuple[float, float, str]:
    """Wall seconds, peak RSS in MB (of that process), stdout."""
    start = time.perf_counter()
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    out_chunks = []
    _, status, usage = os.wait4(proc.pid, 0)
    elapsed = time.perf_counter() - start
    out, err = proc.stdout.read(), proc.stderr.read()
    out_chunks.append(out)
    code = os.waitstatus_to_exitcode(status)
    if code not in (0,):
        raise SystemExit(f"{label} failed ({code}):\n{out[-2000:]}\n{err[-2000:]}")
    return elapsed, usage.ru_maxrss / 1024, out


def instance(root: Path, name: str) -> dict:
    folder = root / name
    folder.mkdir()
    env = {k: v for k, v in os.environ.items() if not k.startswith("SHEBAO_") and k != "DATABASE_URL"}
    env.update(SHEBAO_INSTANCE_DIR=str(folder), DJANGO_SETTINGS_MODULE="shebao.settings")
    shebao = str(BIN / "shebao")
    run([shebao, "migrate", "--no-input", "-v", "0"], env, "migrate")
    run(
        [
            shebao,
            "entity",
            "add",
            "--code",
            "BJ01",
            "--name",
            "基准测试科技有限公司",
            "--uscc",
            "91110000802100433B",
            "--city",
            "北京",
        ],
        env,
        "entity",
    )
    return env


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument("--keep", action="store_true")
    args = parser.parse_args()
    root = Path(tempfile.mkdtemp(prefix="shebao-import-bench-"))
    try:
        book = root / "roster.xlsx"
        t0 = time.perf_counter()
        make_workbook(book, args.rows)
        print(
            f"workbook: {args.rows} rows, {book.stat().st_size / 1e6:.1f} MB, {time.perf_counter() - t0:.1f} s"
        )
        env = instance(root, "baseline")
        base_s, base_mb, _ = run([str(BIN / "python"), "-c", BASELINE, str(book)], env, "baseline")
        print(f"baseline (calamine + bulk_create): {base_s:.1f} s, peak {base_mb:.0f} MB")
        env = instance(root, "import")
        cmd = [str(BIN / "shebao"), "import-roster", str(book), "--entity", "BJ01", "--json"]
        first_s, first_mb, out = run(cmd, env, "import")
        first = json.loads(out)
        print(
            f"import: {first_s:.1f} s, peak {first_mb:.0f} MB, status {first['status']}, created {first['created']}"
        )
        again_s, again_mb, out = run(cmd, env, "re-import")
        again = json.loads(out)
        print(f"re-import: {again_s:.1f} s, peak {again_mb:.0f} MB, unchanged {again['unchanged']}")
        ratio = first_s / base_s
        result = {
            "date": dt.date.today().isoformat(),
            "rows": args.rows,
            "baseline_s": round(base_s, 1),
            "baseline_peak_mb": round(base_mb),
            "import_s": round(first_s, 1),
            "import_peak_mb": round(first_mb),
            "reimport_s": round(again_s, 1),
            "reimport_peak_mb": round(again_mb),
            "ratio": round(ratio, 2),
            "created": first["created"],
            "unchanged_on_reimport": again["unchanged"],
            "nproc": os.cpu_count(),
        }
        RESULTS.mkdir(parents=True, exist_ok=True)
        (RESULTS / "import-latest.json").write_text(json.dumps(result, indent=2))
        ok = (
            ratio <= 2
            and max(first_mb, again_mb) < 500
            and again_s < first_s
            and first["created"] == args.rows
            and again["unchanged"] == args.rows
        )
        print(
            f"ratio import/baseline {ratio:.2f} (target ≤ 2); peak {max(first_mb, again_mb):.0f} MB (target < 500); "
            f"re-import {'faster' if again_s < first_s else 'SLOWER'} than import → {'ok' if ok else 'MISS'}"
        )
        return 0 if ok else 1
    finally:
        if not args.keep:
            shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
