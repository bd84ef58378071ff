"""Roster benchmark: 100,000 employees on SQLite, the real server (waitress), 127.0.0.1 only.

    .venv/bin/python bench/run.py [--employees 100000] [--requests 200] [--target-ms 150]

1. Creates a fresh temporary instance folder (SQLite), migrates and seeds it with
   ``shebao seed`` (the seeding time is reported).
2. Creates an HR admin and a read-only API token, and, in-process, records the SQL each page
   runs (count, time, EXPLAIN QUERY PLAN of the slowest statements) to explain the numbers.
3. Starts ``shebao serve`` on a free port, logs in through the /login/ form (CSRF token and
   session cookie, like a browser) and times a bounded number of sequential requests per case
   after a warm-up: the employee list (first page; filtered by entity + status), a search by a
   full ID number, and GET /api/v1/employees with a Bearer token.
4. Prints a table, writes bench/results/latest.json and exits non-zero when a p95 misses the
   target (1), or when a web case could not be measured (2). A missing API is reported and
   does not fail the run (the API may not exist yet).
"""

from __future__ import annotations

import argparse
import contextlib
import http.client
import json
import math
import os
import platform
import re
import shutil
import socket
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.parse
from dataclasses import asdict, dataclass, field
from http.cookies import SimpleCookie
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent
RESULTS = ROOT / "bench" / "results"
HOST = "127.0.0.1"  # never anything else
PASSWORD = "Bench-pass-2026"
USERNAME = "bench_admin"


@dataclass
class Case:
    name: str
    label: str
    path: str
    api: bool = False
    must_contain: str = ""
    shown_path: str = ""  # the path as reported: no plaintext ID number in logs or results
    status: str = "pending"  # ok / miss / unavailable
    detail: str = ""
    samples_ms: list[float] = field(default_factory=list)
    p50_ms: float | None = None
    p95_ms: float | None = None
    max_ms: float | None = None
    mean_ms: float | None = None
    ratio: float | None = None
    response_bytes: int = 0


def log(msg: str) -> None:
    print(msg, flush=True)


def percentile(values: list[float], q: float) -> float:
    """Nearest-rank percentile (q in 0..100)."""
    ordered = sorted(values)
    return ordered[max(0, math.ceil(q / 100 * len(ordered)) - 1)]


def machine_info() -> dict:
    cpu = ""
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    free = ""
    with contextlib.suppress(OSError, subprocess.SubprocessError):
        free = subprocess.run(["free", "-h"], capture_output=True, text=True, timeout=10).stdout.strip()
    import django

    return {
        "nproc": os.cpu_count(),
        "cpu_model": cpu,
        "free_h": free,
        "python": platform.python_version(),
        "sqlite": sqlite3.sqlite_version,
        "django": django.get_version(),
        "platform": platform.platform(),
        "loadavg_start": os.getloadavg(),
    }


def run(cmd: list[str], env: dict, what: str, timeout: int = 900) -> float:
    started = time.perf_counter()
    proc = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=timeout)
    elapsed = time.perf_counter() - started
    if proc.returncode != 0:
        log(proc.stdout[-3000:])
        log(proc.stderr[-3000:])
        raise SystemExit(f"{what} failed (exit {proc.returncode})")
    if proc.stdout.strip():
        log("  " + proc.stdout.strip().splitlines()[-1])
    return elapsed


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((HOST, 0))
        return s.getsockname()[1]


# --- in-process preparation and SQL diagnostics ---------------------------------------------------


def prepare(instance: Path) -> dict:
    """Create the admin + token, pick search targets, and record each page's SQL."""
    os.environ["SHEBAO_INSTANCE_DIR"] = str(instance)
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "shebao.settings")
    import django

    django.setup()
    from django.db.models import Count

    from shebao.accounts.services import api_token_create, user_create
    from shebao.core import crypto
    from shebao.core.context import Actor
    from shebao.org.models import Entity
    from shebao.roster.models import ID_PURPOSE, Employee

    actor = Actor.system(via="cli")
    admin = user_create(
        actor=actor, username=USERNAME, password=PASSWORD, role="hr_admin", full_name="基准测试"
    )
    api: dict = {}
    try:
        _token, secret = api_token_create(actor=actor, user=admin, name="bench", scope="read")
        api["token"] = secret
    except Exception as exc:  # noqa: BLE001 - report whatever is missing and keep going
        api["error"] = f"{type(exc).__name__}: {exc}"
    biggest = (
        Entity.objects.annotate(n=Count("employees"))
        .order_by("-n", "code")
        .values_list("id", "code", "name")[0]
    )
    count = Employee.objects.count()
    target = Employee.objects.order_by("id")[count // 2]
    id_number = crypto.decrypt(target.id_number_enc, purpose=ID_PURPOSE)
    return {
        "admin_id": admin.pk,
        "api": api,
        "entity": {"id": biggest[0], "code": biggest[1], "name": biggest[2]},
        "search": {"id_number": id_number, "employee_no": target.employee_no, "name": target.name},
    }


def sql_profile(paths: dict[str, str], admin_id: int) -> dict:
    """Each page rendered in-process: its queries, their time, and plans of the slowest."""
    from django.db import connection
    from django.test import Client
    from django.test.utils import CaptureQueriesContext

    from shebao.accounts.models import User

    client = Client(HTTP_HOST=HOST)
    client.force_login(User.objects.get(pk=admin_id))
    out = {}
    for name, path in paths.items():
        client.get(path)  # warm caches
        with CaptureQueriesContext(connection) as ctx:
            started = time.perf_counter()
            response = client.get(path)
            elapsed = (time.perf_counter() - started) * 1000
        queries = []
        for q in ctx.captured_queries:
            sql = q["sql"]
            if not sql.lstrip().upper().startswith("SELECT"):
                queries.append({"ms": float(q["time"]) * 1000, "sql": sql[:400], "plan": []})
                continue
            # Re-time each SELECT alone (the captured times are coarse) and ask SQLite for its plan.
            with connection.cursor() as cur:
                t0 = time.perf_counter()
                cur.execute(sql)
                cur.fetchall()
                ms = (time.perf_counter() - t0) * 1000
                plan = []
                if connection.vendor == "sqlite":
                    cur.execute("EXPLAIN QUERY PLAN " + sql)
                    plan = [row[-1] for row in cur.fetchall()]
            queries.append({"ms": round(ms, 2), "sql": sql[:600], "plan": plan})
        queries.sort(key=lambda q: -q["ms"])
        out[name] = {
            "status": response.status_code,
            "in_process_ms": round(elapsed, 1),
            "queries": len(ctx.captured_queries),
            "sql_ms_total": round(sum(q["ms"] for q in queries), 1),
            "slowest": queries[:4],
            "bytes": len(response.content),
        }
    return out


# --- HTTP ---------------------------------------------------------------------------------------


class Browser:
    """A keep-alive HTTP/1.1 client for 127.0.0.1 with a cookie jar."""

    def __init__(self, port: int) -> None:
        self.port = port
        self.cookies: dict[str, str] = {}
        self.conn: http.client.HTTPConnection | None = None

    def _connection(self) -> http.client.HTTPConnection:
        if self.conn is None:
            self.conn = http.client.HTTPConnection(HOST, self.port, timeout=60)
        return self.conn

    def request(self, method: str, path: str, body: str | None = None, headers: dict | None = None):
        hdrs = {"Host": f"{HOST}:{self.port}", "Connection": "keep-alive", **(headers or {})}
        if self.cookies and "Authorization" not in hdrs:
            hdrs["Cookie"] = "; ".join(f"{k}={v}" for k, v in self.cookies.items())
        for attempt in (1, 2):
            conn = self._connection()
            try:
                conn.request(method, path, body=body, headers=hdrs)
                resp = conn.getresponse()
                data = resp.read()
                break
            except (http.client.HTTPException, ConnectionError, OSError):
                conn.close()
                self.conn = None
                if attempt == 2:
                    raise
        for raw in resp.headers.get_all("Set-Cookie") or []:
            cookie = SimpleCookie()
            cookie.load(raw)
            for key, morsel in cookie.items():
                self.cookies[key] = morsel.value
        if resp.getheader("Connection", "").lower() == "close":
            self.conn.close()
            self.conn = None
        return resp.status, resp.headers, data

    def close(self) -> None:
        if self.conn is not None:
            self.conn.close()


def login(browser: Browser) -> str | None:
    """Log in through the form; None when it worked, otherwise what went wrong."""
    status, _h, page = browser.request("GET", "/login/")
    if status != 200:
        return f"GET /login/ → HTTP {status}"
    m = re.search(rb'name="csrfmiddlewaretoken" value="([^"]+)"', page)
    if not m or "csrftoken" not in browser.cookies:
        return "login page has no CSRF token"
    form = urllib.parse.urlencode(
        {"csrfmiddlewaretoken": m.group(1).decode(), "username": USERNAME, "password": PASSWORD, "next": "/"}
    )
    status, headers, _ = browser.request(
        "POST",
        "/login/",
        body=form,
        headers={
            "Content-Type": "application/x-www-form-urlencoded",
            "Referer": f"http://{HOST}:{browser.port}/login/",
        },
    )
    if status != 302 or "sessionid" not in browser.cookies:
        return f"POST /login/ → HTTP {status} (no session)"
    return None


def measure(
    browser: Browser, case: Case, *, warmup: int, requests: int, budget_s: float, headers=None
) -> None:
    status, _h, body = browser.request("GET", case.path, headers=headers)
    if status != 200:
        case.status = "unavailable"
        snippet = body[:200].decode("utf-8", "replace").replace("\n", " ")
        case.detail = f"HTTP {status}: {snippet}"
        return
    if case.must_contain and case.must_contain.encode() not in body:
        case.status = "unavailable"
        case.detail = f"response lacks {case.must_contain!r}"
        return
    case.response_bytes = len(body)
    for _ in range(warmup):
        browser.request("GET", case.path, headers=headers)
    deadline = time.monotonic() + budget_s
    for _ in range(requests):
        t0 = time.perf_counter()
        status, _h, body = browser.request("GET", case.path, headers=headers)
        case.samples_ms.append((time.perf_counter() - t0) * 1000)
        if status != 200:
            case.status = "unavailable"
            case.detail = f"HTTP {status} during the run"
            return
        if time.monotonic() > deadline:
            case.detail = f"stopped after {len(case.samples_ms)} requests (time budget {budget_s:.0f}s)"
            break


def wait_for_server(port: int, proc: subprocess.Popen, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise SystemExit(f"server exited early (exit {proc.returncode})")
        try:
            with socket.create_connection((HOST, port), timeout=1):
                return
        except OSError:
            time.sleep(0.2)
    raise SystemExit("server did not start listening in time")


# --- main ---------------------------------------------------------------------------------------


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--employees", type=int, default=100_000)
    ap.add_argument("--seed", type=int, default=2026)
    ap.add_argument("--requests", type=int, default=200, help="timed requests per case (after warm-up)")
    ap.add_argument("--warmup", type=int, default=20)
    ap.add_argument("--target-ms", type=float, default=150.0, help="p95 target per case")
    ap.add_argument("--case-budget-s", type=float, default=120.0, help="stop a case after this long")
    ap.add_argument("--output", type=Path, default=RESULTS / "latest.json")
    ap.add_argument("--keep", action="store_true", help="keep the temporary instance folder")
    args = ap.parse_args()

    info = machine_info()
    instance = Path(tempfile.mkdtemp(prefix="shebao-bench-"))
    env = {
        k: v
        for k, v in os.environ.items()
        if k not in {"DATABASE_URL", "SHEBAO_DATA_KEYS", "SHEBAO_INDEX_KEY"}
    }
    env |= {
        "SHEBAO_INSTANCE_DIR": str(instance),
        "DJANGO_SETTINGS_MODULE": "shebao.settings",
        "SHEBAO_DEBUG": "",
    }
    for key in ("DATABASE_URL", "SHEBAO_DATA_KEYS", "SHEBAO_INDEX_KEY"):
        os.environ.pop(key, None)
    shebao = str(BIN / "shebao")
    server: subprocess.Popen | None = None
    browser: Browser | None = None
    result: dict = {"date": time.strftime("%Y-%m-%d"), "machine": info, "target_p95_ms": args.target_ms}
    try:
        log(f"instance: {instance}")
        log("migrate …")
        result["migrate_s"] = round(run([shebao, "migrate", "--no-input", "-v", "0"], env, "migrate"), 1)
        log(f"seed {args.employees} employees …")
        seed_cmd = [shebao, "seed", "--employees", str(args.employees), "--seed", str(args.seed), "-v", "0"]
        result["seed_s"] = round(run(seed_cmd, env, "seed"), 1)
        result["employees"] = args.employees
        log(f"  seeding took {result['seed_s']} s")

        (instance / "static").mkdir(exist_ok=True)  # WhiteNoise warns about a missing STATIC_ROOT
        prep = prepare(instance)
        from shebao.core.identity import mask_identity

        entity_id = prep["entity"]["id"]
        search = prep["search"]
        cases = [
            Case("list_first", "员工列表 首页", "/employees/", must_contain="<table"),
            Case(
                "list_filtered",
                f"员工列表 {prep['entity']['code']}+在职",
                f"/employees/?entity={entity_id}&status=active",
                must_contain="<table",
            ),
            Case(
                "search_id",
                "按完整证件号搜索",
                "/employees/?" + urllib.parse.urlencode({"q": search["id_number"]}),
                must_contain=search["employee_no"],
                shown_path="/employees/?q=" + mask_identity(search["id_number"], "resident_id"),
            ),
            Case("list_deep", "员工列表 第1500页", "/employees/?page=1500", must_contain="<table"),
            Case("api_list", "API GET /api/v1/employees", "/api/v1/employees", api=True),
        ]
        log("SQL profile (in-process) …")
        result["sql_profile"] = sql_profile({c.name: c.path for c in cases if not c.api}, prep["admin_id"])
        for name, p in result["sql_profile"].items():
            top = p["slowest"][0] if p["slowest"] else {"ms": 0, "plan": []}
            log(
                f"  {name}: HTTP {p['status']}, {p['queries']} queries, SQL {p['sql_ms_total']} ms, "
                f"slowest {top['ms']} ms {top['plan'][:3]}"
            )

        port = free_port()
        server_log = open(instance / "server.log", "w")  # noqa: SIM115 - closed in finally via the process
        server = subprocess.Popen(
            [shebao, "serve", "--host", HOST, "--port", str(port)],
            env=env,
            stdout=server_log,
            stderr=subprocess.STDOUT,
        )
        wait_for_server(port, server)
        log(f"server on http://{HOST}:{port}/ (pid {server.pid})")
        browser = Browser(port)
        problem = login(browser)
        for case in cases:
            if case.api:
                if "token" not in prep["api"]:
                    case.status, case.detail = "unavailable", "no API token: " + prep["api"].get("error", "")
                    continue
                api_browser = Browser(port)
                measure(
                    api_browser,
                    case,
                    warmup=args.warmup,
                    requests=args.requests,
                    budget_s=args.case_budget_s,
                    headers={"Authorization": f"Bearer {prep['api']['token']}", "Accept": "application/json"},
                )
                api_browser.close()
            elif problem:
                case.status, case.detail = "unavailable", f"login failed: {problem}"
            else:
                measure(
                    browser, case, warmup=args.warmup, requests=args.requests, budget_s=args.case_budget_s
                )
            if case.samples_ms and case.status == "pending":
                s = case.samples_ms
                case.p50_ms = round(statistics.median(s), 1)
                case.p95_ms = round(percentile(s, 95), 1)
                case.max_ms = round(max(s), 1)
                case.mean_ms = round(statistics.fmean(s), 1)
                case.ratio = round(case.p95_ms / args.target_ms, 2)
                case.status = "ok" if case.p95_ms < args.target_ms else "miss"
            log(f"  {case.name}: {case.status} {case.p95_ms or ''} {case.detail}")
    finally:
        if browser:
            browser.close()
        if server is not None:
            server.terminate()
            try:
                server.wait(timeout=15)
            except subprocess.TimeoutExpired:
                server.kill()
                server.wait()
        if not args.keep:
            shutil.rmtree(instance, ignore_errors=True)
        else:
            log(f"kept {instance}")

    info["loadavg_end"] = os.getloadavg()
    result["requests_per_case"] = args.requests
    result["warmup"] = args.warmup
    result["cases"] = [
        {k: v for k, v in asdict(c).items() if k not in {"samples_ms", "shown_path"}}
        | {"path": c.shown_path or c.path, "n": len(c.samples_ms)}
        for c in cases
    ]

    log("")
    log(f"seed {args.employees} employees: {result['seed_s']} s   target p95 < {args.target_ms:.0f} ms")
    header = f"{'case':<16}{'n':>5}{'p50 ms':>9}{'p95 ms':>9}{'max ms':>9}{'p95/target':>12}  status"
    log(header)
    log("-" * len(header))
    for c in cases:

        def fmt(v):
            return f"{v:>9.1f}" if v is not None else f"{'—':>9}"

        ratio = f"{c.ratio:>12.2f}" if c.ratio is not None else f"{'—':>12}"
        log(
            f"{c.name:<16}{len(c.samples_ms):>5}{fmt(c.p50_ms)}{fmt(c.p95_ms)}{fmt(c.max_ms)}{ratio}  {c.status}"
        )
        if c.detail:
            log(f"{'':<16}  {c.detail}")
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(json.dumps(result, ensure_ascii=False, indent=2) + "\n", encoding="utf-8")
    log(f"\nwrote {args.output}")

    if any(c.status == "miss" for c in cases):
        return 1
    if any(c.status == "unavailable" and not c.api for c in cases):
        return 2
    if any(c.status == "unavailable" for c in cases):
        log("WARNING: the API case could not be measured (see above); not counted as a failure.")
    return 0


if __name__ == "__main__":
    sys.exit(main())
