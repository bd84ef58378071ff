"""Shared fixtures: one organisation with two entities and a user for every role.

Like healthchecks' alice/bob/charlie, every view and endpoint test can check who may and
who may not: ``admin`` (HR admin), ``clerk`` (HR specialist for Beijing only), ``manager``
(department manager of 北京 › 研发部), ``auditor``, ``staff_employee`` (employee role).
"""

from __future__ import annotations

import datetime as dt
import itertools
import os
import shutil
from pathlib import Path

import pytest

from shebao.core.context import Actor
from shebao.core.identity import make_resident_id

PASSWORD = "Shebao-test-2026"
_seq = itertools.count(1)


@pytest.fixture(autouse=True)
def _reference_tables(request):
    """Transactional tests (live_server) flush every table, including what the data migrations
    loaded; put the reference data (cities, policy library, law library) back."""
    marker = request.node.get_closest_marker("django_db")
    transactional = marker is not None and (
        marker.kwargs.get("transaction") or (marker.args and marker.args[0])
    )
    if transactional or {"transactional_db", "live_server"} & set(request.fixturenames):
        request.getfixturevalue("transactional_db")
        from shebao.law.services import law_library_load
        from shebao.policy.services import city_table_load, policy_library_load

        city_table_load()
        policy_library_load()
        law_library_load()


@pytest.fixture(autouse=True)
def _product_language():
    """Every test starts in the product's language: a request made with Accept-Language: en
    leaves English active in the thread (LocaleMiddleware does not reset it)."""
    from django.conf import settings
    from django.utils import translation

    translation.activate(settings.LANGUAGE_CODE)
    yield
    translation.deactivate()


@pytest.fixture
def system() -> Actor:
    return Actor.system(via="test")


@pytest.fixture
def org(db, system):
    from shebao.org.services import department_create, entity_create

    bj = entity_create(
        actor=system, code="BJ01", name="北京示例科技有限公司", uscc="91110000802100433B", city="北京"
    )
    sz = entity_create(
        actor=system, code="SZ01", name="深圳示例零售有限公司", uscc="91440300MA5F12340J", city="深圳"
    )
    rd = department_create(actor=system, entity=bj, name="研发部")
    rd_web = department_create(actor=system, entity=bj, name="前端组", parent=rd)
    sales = department_create(actor=system, entity=bj, name="销售部")
    store = department_create(actor=system, entity=sz, name="福田门店", kind="store")
    return {"bj": bj, "sz": sz, "rd": rd, "rd_web": rd_web, "sales": sales, "store": store}


def _user(system, username, role, **kw):
    from shebao.accounts.services import user_create

    return user_create(
        actor=system, username=username, password=PASSWORD, role=role, full_name=username, **kw
    )


@pytest.fixture
def admin(org, system):
    return _user(system, "admin", "hr_admin")


@pytest.fixture
def clerk(org, system):
    return _user(system, "clerk", "hr_specialist", entities=[org["bj"]])


@pytest.fixture
def manager(org, system):
    return _user(system, "manager", "dept_manager", department=org["rd"])


@pytest.fixture
def auditor(org, system):
    return _user(system, "auditor", "auditor")


@pytest.fixture
def staff_employee(org, system):
    return _user(system, "worker", "employee")


@pytest.fixture
def make_employee(org, system):
    """Create an employee with a valid synthetic ID; keyword arguments override defaults."""
    from shebao.roster.services import employee_create

    def make(**kw):
        n = next(_seq)
        data = {
            "name": f"测试员工{n}",
            "id_number": make_resident_id("110105", dt.date(1990, 1, 1) + dt.timedelta(days=n), n % 1000),
            "employee_no": f"T{n:05d}",
            "entity": org["bj"],
            "department": org["rd"],
            "hire_date": dt.date(2024, 3, 1),
            "employment_type": "full_time",
            "phone": f"139{n:08d}",
        }
        data.update(kw)
        return employee_create(actor=system, **data)

    return make


@pytest.fixture
def login():
    """login(user) → a test client with that user signed in."""
    from django.test import Client

    def make(user) -> Client:
        client = Client()
        client.force_login(user, backend="django.contrib.auth.backends.ModelBackend")
        return client

    return make


# --- browser ---------------------------------------------------------------------------------

CHROMIUM = os.environ.get("SHEBAO_CHROMIUM", "/usr/bin/chromium")
OUTPUT = Path(os.environ.get("SHEBAO_TEST_OUTPUT", Path(__file__).resolve().parents[2] / "test-output"))


@pytest.fixture(scope="session")
def browser():
    if not (shutil.which(CHROMIUM) or Path(CHROMIUM).exists()):
        pytest.skip(f"未找到 Chromium（{CHROMIUM}）：以 root 运行 make test 会安装 Debian 的 chromium")
    from playwright.sync_api import sync_playwright

    os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = "true"  # ORM calls while Playwright's loop runs
    with sync_playwright() as p:
        b = p.chromium.launch(
            executable_path=CHROMIUM,
            headless=True,
            args=[
                "--headless",
                "--no-sandbox",
                "--disable-gpu",
                "--disable-quic",
                "--no-first-run",
                "--disable-background-networking",
                "--disable-component-update",
                "--disable-sync",
            ],
        )
        yield b
        b.close()


@pytest.fixture
def page(browser):
    context = browser.new_context(locale="zh-CN", viewport={"width": 1360, "height": 900})
    pg = context.new_page()
    yield pg
    context.close()


@pytest.fixture
def screenshot_dir() -> Path:
    path = OUTPUT / "screenshots"
    path.mkdir(parents=True, exist_ok=True)
    return path
