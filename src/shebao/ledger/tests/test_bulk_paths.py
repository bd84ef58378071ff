"""Fast paths of the bulk work (ingest, reconciliation) against the general paths they replace."""

from __future__ import annotations

import datetime as dt
import gc
import json
import threading
from decimal import Decimal

from hypothesis import given
from hypothesis import strategies as st

from shebao.core.bulk import collector_paused
from shebao.ledger.reconciliation.rows import _ym, json_plain

_leaves = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(10**12), max_value=10**12),
    st.floats(allow_nan=False),
    st.text(max_size=12),
    st.decimals(allow_nan=False, allow_infinity=False, places=2, min_value=-(10**9), max_value=10**9),
    st.dates(min_value=dt.date(1990, 1, 1), max_value=dt.date(2100, 12, 31)),
)
_keys = st.one_of(st.text(max_size=8), st.integers(min_value=-5, max_value=5), st.booleans(), st.none())
_details = st.recursive(
    _leaves,
    lambda inner: st.one_of(
        st.lists(inner, max_size=5),
        st.lists(inner, max_size=3).map(tuple),
        st.dictionaries(st.text(max_size=8), inner, max_size=5),
        st.dictionaries(_keys, inner, max_size=4),
    ),
    max_leaves=25,
)


@given(_details)
def test_json_plain_is_the_json_round_trip(detail):
    expected = json.loads(json.dumps(detail, default=str))
    got = json_plain(detail)
    assert got == expected
    # the same JSON text too (types and key order), as the digest and the stored row see it
    assert json.dumps(got, ensure_ascii=False) == json.dumps(expected, ensure_ascii=False)


def test_json_plain_copies_what_it_keeps():
    detail = {"months": ["2024-01"], "spell": {"declared_wage": Decimal("5000.00")}}
    out = json_plain(detail)
    assert out == {"months": ["2024-01"], "spell": {"declared_wage": "5000.00"}}
    out["months"].append("x")
    assert detail["months"] == ["2024-01"]


@given(st.integers(min_value=190001, max_value=210012))
def test_ym_memo_is_the_format(yyyymm):
    assert _ym(yyyymm) == f"{yyyymm // 100:04d}-{yyyymm % 100:02d}"
    assert _ym(yyyymm) == f"{yyyymm // 100:04d}-{yyyymm % 100:02d}"  # from the memo


def test_collector_paused_restores_the_collector_once_the_last_job_ends():
    assert gc.isenabled()
    with collector_paused():
        assert not gc.isenabled()
        with collector_paused():  # nested (e.g. an ingest that reconciles)
            assert not gc.isenabled()
        assert not gc.isenabled()
    assert gc.isenabled()

    started, release = threading.Event(), threading.Event()

    def job():
        with collector_paused():
            started.set()
            release.wait(5)

    worker = threading.Thread(target=job)
    worker.start()
    started.wait(5)
    with collector_paused():
        assert not gc.isenabled()
    assert not gc.isenabled()  # the other thread's job still runs
    release.set()
    worker.join(5)
    assert gc.isenabled()


def test_collector_paused_leaves_a_disabled_collector_disabled():
    gc.disable()
    try:
        with collector_paused():
            pass
        assert not gc.isenabled()
    finally:
        gc.enable()


def test_collector_paused_restores_after_an_error():
    try:
        with collector_paused():
            raise ValueError("boom")
    except ValueError:
        pass
    assert gc.isenabled()
