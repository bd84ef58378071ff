"""The platform simulator: data generated from the roster, deterministic, labelled, signed, paged."""

from __future__ import annotations

import datetime as dt
import json
import urllib.request
from collections import Counter
from decimal import Decimal

import pytest

from shebao.core.identity import make_resident_id
from shebao.ledger.connectors.base import signed_headers
from shebao.ledger.simulator import Simulator, build_dataset

pytestmark = pytest.mark.django_db

TODAY = dt.date(2026, 6, 15)


@pytest.fixture
def roster(org, make_employee):
    """40 people in 北京 with wages, hires inside the window, some leavers and part-timers."""
    people = []
    for n in range(40):
        hire = dt.date(2024, 1, 1) + dt.timedelta(days=23 * n)
        kw = {
            "name": f"模拟{n:02d}",
            "id_number": make_resident_id("110108", dt.date(1985, 1, 1) + dt.timedelta(days=97 * n), n),
            "hire_date": hire,
            "declared_wage": Decimal(8000 + 250 * n),
        }
        if n % 7 == 3:
            kw["leave_date"] = hire + dt.timedelta(days=200)
        if n % 11 == 5:
            kw["employment_type"] = "part_time"
        people.append(make_employee(**kw))
    return people


def _c(dataset):
    return [r for r in dataset.records("c")]


def test_dataset_is_deterministic_for_a_seed(roster):
    a = build_dataset(months=24, seed=11, today=TODAY)
    b = build_dataset(months=24, seed=11, today=TODAY)
    c = build_dataset(months=24, seed=12, today=TODAY)

    def dump(d):
        return [(r.record_id, r.seq, r.version, json.dumps(r.to_json(), sort_keys=True)) for r in d.records()]  # noqa: E731

    assert dump(a) == dump(b)
    assert dump(a) != dump(c)


def test_dataset_has_the_seeded_anomalies(org, roster):
    dataset = build_dataset(months=24, seed=11, today=TODAY)
    unit = org["bj"].si_unit_no or org["bj"].code
    assert set(dataset.units) == {unit, org["sz"].si_unit_no or org["sz"].code}
    contributions = _c(dataset)
    periods = {r.period for r in contributions}
    assert min(periods) >= "2024-07" and max(periods) == "2026-06"
    statuses = Counter(r.status for r in contributions)
    # the current month is declared only; older months paid; late payments both ways
    assert all(
        r.status == "declared" and r.employer_paid is None for r in contributions if r.period == "2026-06"
    )
    assert statuses["paid"] > 0 and statuses["arrears"] > 0 and statuses["backpaid"] > 0
    for r in contributions:
        if r.status == "backpaid":
            assert r.posting_period > r.period and r.version == 2 and r.payment_type == "backpay"
    # previous employers still paying after the hire
    others = [r for r in contributions if r.unit_no not in dataset.units]
    assert others and all(
        r.unit_no.startswith("SIM") and r.insurance in ("pension", "medical") for r in others
    )
    # people paid for who are not on the roster
    roster_ids = {e.id_number_masked for e in roster}
    from shebao.core.identity import mask_identity

    strangers = {
        r.person["id_number"]
        for r in contributions
        if mask_identity(r.person["id_number"], "resident_id") not in roster_ids
    }
    assert 1 <= len(strangers) <= 6
    # medical interruptions: someone has pension in a month without medical
    by_person = {}
    for r in contributions:
        if r.unit_no == unit:
            by_person.setdefault((r.person["id_number"], r.period), set()).add(r.insurance)
    assert any("pension" in s and "medical" not in s for s in by_person.values())
    # leavers not stopped: records after the leave month for some leaver
    leavers = [e for e in roster if e.leave_date]
    from shebao.core import crypto
    from shebao.roster.models import ID_PURPOSE

    late_stop = 0
    for e in leavers:
        number = crypto.decrypt(e.id_number_enc, purpose=ID_PURPOSE)
        leave_month = f"{e.leave_date:%Y-%m}"
        late_stop += any(r.person["id_number"] == number and r.period > leave_month for r in contributions)
    assert late_stop >= 1
    # part-timers: work injury only
    part = [e for e in roster if e.employment_type == "part_time"]
    numbers = {crypto.decrypt(e.id_number_enc, purpose=ID_PURPOSE) for e in part}
    assert {r.insurance for r in contributions if r.person["id_number"] in numbers and r.unit_no == unit} == {
        "work_injury"
    }
    # enrolments: every state the API knows appears
    states = Counter(r.state for r in dataset.records("e"))
    assert states["active"] and states["terminated"] and states["not_enrolled"]


def test_amounts_come_from_the_policy_calculator(org, make_employee):
    from shebao.core import crypto
    from shebao.core.yearmonth import YearMonth
    from shebao.policy.calculators.contribution import contribution
    from shebao.policy.selectors import policy_period_for_entity
    from shebao.roster.models import ID_PURPOSE

    paid = make_employee(hire_date=dt.date(2025, 1, 1), declared_wage=Decimal("12000"))
    unpaid = make_employee(hire_date=dt.date(2025, 1, 1), declared_wage=None)
    number, other = (crypto.decrypt(e.id_number_enc, purpose=ID_PURPOSE) for e in (paid, unpaid))
    dataset = build_dataset(entity_codes=["BJ01"], months=3, seed=1, today=TODAY)
    month = YearMonth(2026, 5)
    period = policy_period_for_entity(org["bj"], month.first_day)
    result = contribution(period, month=month, base=Decimal("12000"))
    rows = [r for r in _c(dataset) if r.period == "2026-05" and r.unit_no == "BJ01"]
    with_wage = {r.insurance: r for r in rows if r.person["id_number"] == number}
    assert with_wage and all(r.base is not None for r in with_wage.values())
    for line in result.lines:
        if line.insurance.value in with_wage:
            rec = with_wage[line.insurance.value]
            expected = None if line.employer_amount is None else f"{line.employer_amount:.2f}"
            assert rec.employer_due == expected
    # no wage on record: no amounts invented
    without = [r for r in rows if r.person["id_number"] == other]
    assert without and all(
        r.base is None and r.employer_due is None and r.employee_due is None for r in without
    )


def _get(url, headers=None):
    req = urllib.request.Request(url, headers=headers or {})
    try:
        with urllib.request.urlopen(req, timeout=5) as resp:
            return resp.status, dict(resp.headers), resp.read()
    except urllib.error.HTTPError as exc:
        return exc.code, dict(exc.headers), exc.read()


def test_server_is_labelled_pages_and_requires_signature(org, make_employee):
    for n in range(3):
        make_employee(hire_date=dt.date(2025, 10, 1), declared_wage=Decimal(9000 + n))
    dataset = build_dataset(entity_codes=["BJ01"], months=4, seed=3, today=TODAY)
    with Simulator(dataset, secret="s3cret", client_id="demo") as sim:
        base = sim.serve_in_thread()
        status, headers, body = _get(base + "/")
        assert status == 200 and "模拟平台" in body.decode() and "SIMULATOR" in body.decode()
        status, _, body = _get(base + "/v1/units")
        assert status == 401 and json.loads(body) == {
            "simulator": True,
            "error": {"code": "unauthenticated", "message": json.loads(body)["error"]["message"]},
        }

        def signed(path, query=""):
            h = signed_headers(client_id="demo", secret="s3cret", method="GET", path=path, query=query)
            return h, _get(base + path + ("?" + query if query else ""), h)

        _, (status, _, body) = signed("/v1/units")
        assert status == 200 and json.loads(body)["simulator"] is True
        assert json.loads(body)["data"] == [{"unit_no": "BJ01", "unit_name": org["bj"].name}]
        # a replayed request is refused
        h, (status, _, _) = signed("/v1/units/BJ01/contributions", "limit=5")
        assert status == 200
        status, _, body = _get(base + "/v1/units/BJ01/contributions?limit=5", h)
        assert status == 401 and json.loads(body)["error"]["code"] == "nonce_replayed"
        # paging walks every record once, in change order
        seen, cursor, token = [], None, None
        while True:
            query = "limit=7" + (f"&cursor={cursor}" if cursor else "")
            _, (status, _, body) = signed("/v1/units/BJ01/contributions", query)
            page = json.loads(body)
            assert status == 200 and page["simulator"] is True
            token = token or page["sync_token"]
            assert page["sync_token"] == token
            seen += [r["record_id"] for r in page["data"]]
            cursor = page["next_cursor"]
            if cursor is None:
                break
        assert len(seen) == len(set(seen)) == len(dataset.records("c", "BJ01"))
        # since: only what changed after the token
        rec = dataset.records("c", "BJ01")[0]
        version = rec.version
        dataset.update(rec.record_id, status="refunded", payment_type="refund")
        _, (status, _, body) = signed("/v1/units/BJ01/contributions", f"limit=50&since={token}")
        page = json.loads(body)
        assert [r["record_id"] for r in page["data"]] == [rec.record_id]
        assert page["data"][0]["version"] == rec.version == version + 1
        _, (status, _, body) = signed("/v1/units/NOPE/contributions")
        assert status == 404 and json.loads(body)["error"]["code"] == "unit_not_found"
        _, (status, _, body) = signed("/v1/units/BJ01/contributions", "cursor=garbage")
        assert status == 400 and json.loads(body)["error"]["code"] == "invalid_cursor"


def test_fault_injection_is_seeded(org, make_employee):
    make_employee(hire_date=dt.date(2025, 10, 1), declared_wage=Decimal(9000))
    dataset = build_dataset(entity_codes=["BJ01"], months=4, seed=3, today=TODAY)

    def statuses(seed):
        sim = Simulator(dataset, faults=["500", "429", "malformed"], fault_rate=0.5, seed=seed)
        out = []
        for _ in range(30):
            r = sim.handle("GET", "/v1/units/BJ01/contributions?limit=3", {})
            out.append((r.status, r.fault, r.headers.get("Retry-After")))
        return out

    a = statuses(5)
    assert a == statuses(5)
    assert {s for s, _, _ in a} == {200, 429, 500}
    assert all(ra == "2" for s, _, ra in a if s == 429)
    sim = Simulator(dataset, faults=["malformed"], fault_rate=1.0, seed=1)
    page = json.loads(sim.handle("GET", "/v1/units/BJ01/contributions?limit=3", {}).body)
    bad = [r for r in page["data"] if r["record_id"].startswith("bad-")]
    assert 1 <= len(bad) <= 2 and {r["record_id"] for r in bad} <= sim.bad_records
    with pytest.raises(ValueError):
        Simulator(dataset, faults=["explode"])


def test_every_insurance_is_served_even_where_the_library_lacks_its_figures(system, make_employee):
    """广州 has pension figures only: its employees still have the other insurances every month,
    served with null amounts (never invented), not left out."""
    from shebao.org.services import entity_create

    gz = entity_create(
        actor=system, code="GZ01", name="广州示例有限公司", uscc="91440101MA5CX12346", city="广州"
    )
    make_employee(entity=gz, department=None, hire_date=dt.date(2025, 1, 1), declared_wage=Decimal("9000"))
    dataset = build_dataset(entity_codes=["GZ01"], months=3, seed=1, today=TODAY)
    served = {r.insurance for r in _c(dataset) if r.unit_no == "GZ01" and r.period == "2026-05"}
    assert {"pension", "medical", "unemployment", "work_injury"} <= served


def test_housing_fund_is_served_where_the_library_has_its_rates(org, roster):
    """北京 has 公积金 rates on record: its full-time staff get 公积金 records with the calculator's
    amounts (none invented); part-timers none."""
    from shebao.core import crypto
    from shebao.core.yearmonth import YearMonth
    from shebao.policy.calculators.contribution import contribution
    from shebao.policy.selectors import policy_period_for_entity
    from shebao.roster.models import ID_PURPOSE

    dataset = build_dataset(months=24, seed=11, today=TODAY)
    unit = org["bj"].si_unit_no or org["bj"].code
    hf = [r for r in _c(dataset) if r.insurance == "housing_fund"]
    assert hf and {r.unit_no for r in hf} == {(org["bj"].hf_unit_no or "").strip() or unit}
    part = {
        crypto.decrypt(e.id_number_enc, purpose=ID_PURPOSE)
        for e in roster
        if e.employment_type == "part_time"
    }
    assert not [r for r in hf if r.person["id_number"] in part]
    month = YearMonth(2026, 5)
    period = policy_period_for_entity(org["bj"], month.first_day)
    checked = 0
    for e in roster[:12]:
        number = crypto.decrypt(e.id_number_enc, purpose=ID_PURPOSE)
        rec = next((r for r in hf if r.person["id_number"] == number and r.period == "2026-05"), None)
        if rec is None or e.employment_type != "full_time":
            continue
        line = contribution(period, month=month, base=e.declared_wage, insurances=["housing_fund"]).lines[0]
        assert (rec.base, rec.employer_due, rec.employee_due) == (
            f"{line.base:.2f}",
            f"{line.employer_amount:.2f}",
            f"{line.employee_amount:.2f}",
        )
        checked += 1
    assert checked >= 3


def test_planned_anomalies_are_few_and_leave_most_people_alone(org, roster):
    """Every person has at most one planned anomaly; most have none. Past double payments by a
    previous employer are refunded to it, so only recent ones stay open."""
    dataset = build_dataset(months=24, seed=11, today=TODAY)
    planned = dataset.planned
    assert {"arrears", "not_stopped", "job_change", "medical_hist"} <= set(planned)
    assert sum(planned.values()) <= len(roster) // 4
    contributions = _c(dataset)
    arrears = {r.period for r in contributions if r.status == "arrears"}
    assert arrears and arrears <= {"2026-04", "2026-05"}  # the last month or two, never older
    others = [r for r in contributions if r.unit_no not in dataset.units]
    for r in others:
        if r.status == "refunded":
            assert r.posting_period > r.period and r.payment_type == "refund" and r.employer_paid is None
