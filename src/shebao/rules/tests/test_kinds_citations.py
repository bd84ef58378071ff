"""Every law-library id a finding can cite exists in the law library: the kinds' own, the
per-insurance ones (公积金), the city rules of the medical-gap assessment, and what the
reconciliation rows the reconciled kinds pass on may carry."""

from __future__ import annotations

import pytest

from shebao.law.selectors import citation_ids
from shebao.ledger.reconciliation.rows import ALL_CITATIONS
from shebao.policy.calculators.medical_gap import medical_gap
from shebao.rules.kinds import KINDS


@pytest.fixture
def library(db) -> set[str]:
    ids = set(citation_ids())
    assert len(ids) > 50  # the law library is loaded
    return ids


@pytest.mark.parametrize("code", sorted(KINDS))
def test_every_kinds_citations_exist_in_the_law_library(library, code):
    assert set(KINDS[code].citations) <= library


def test_citations_chosen_per_finding_exist(library):
    assert {"HFR-15", "HFR-20"} <= library  # insurance_interrupted for 公积金
    for city in ("310000", "500000", "110000", "440300"):  # cities with and without their own rule
        assert set(medical_gap(gap_months=4, city_code=city).citations) <= library
    assert set(ALL_CITATIONS) <= library


def test_every_kind_has_fallback_wording_and_valid_default_params(db):
    """Every wording table has a "default" (what a variant without its own template falls back
    to), and the default parameters (those of the installed default rules) validate."""
    for kind in KINDS.values():
        for table in (kind.titles, kind.explanations, kind.next_steps):
            assert "default" in table
        kind.parse_params(kind.default_params())
