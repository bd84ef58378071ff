"""The shipped library: loaded by migrate, confidences kept, nulls stay missing, candidates unused."""

from __future__ import annotations

import datetime as dt
import hashlib
from decimal import Decimal
from pathlib import Path

import pytest

from shebao.core.context import Actor
from shebao.policy.loader import SHIPPED, LibraryError, parse_library, yaml_load
from shebao.policy.models import (
    CityRule,
    NationalRule,
    PolicyFigure,
    PolicyPeriod,
    PolicySource,
    UnverifiedCandidate,
    source_parts,
)
from shebao.policy.selectors import policy_period_for
from shebao.policy.services import policy_figure_correct, policy_figure_verify, policy_library_load
from shebao.policy.terms import Insurance

pytestmark = pytest.mark.django_db

SHIPPED_SHA256 = "7da6753297b93b7c29d0103d888efd38a2a743aac6f606d059f61be1f1649a14"
REFERENCE = Path(__file__).resolve().parents[4].parent / "shared" / "reference" / "city_policies.yaml"


def fig(city: str, label: str, insurance: str, field: str) -> PolicyFigure:
    return PolicyFigure.objects.select_related("source").get(
        period__city__short_name=city, period__label=label, insurance=insurance, field=field
    )


def test_shipped_file_is_the_reference_copy():
    data = SHIPPED.read_bytes()
    assert hashlib.sha256(data).hexdigest() == SHIPPED_SHA256
    if REFERENCE.exists():  # beside the repository on developer machines and in CI
        assert REFERENCE.read_bytes() == data


def test_counts_per_city():
    periods = {
        c: PolicyPeriod.objects.filter(city__short_name=c).count()
        for c in [
            "北京",
            "上海",
            "深圳",
            "广州",
            "成都",
            "武汉",
            "杭州",
            "南京",
            "苏州",
            "天津",
            "重庆",
            "西安",
        ]
    }
    assert periods == {
        "北京": 2, "上海": 2, "深圳": 3, "广州": 2, "成都": 1, "武汉": 1,
        "杭州": 0, "南京": 0, "苏州": 0, "天津": 0, "重庆": 0, "西安": 0,
    }  # fmt: skip
    candidates = {
        c: UnverifiedCandidate.objects.filter(city__short_name=c).count()
        for c in ["北京", "上海", "深圳", "广州", "杭州", "南京", "苏州", "天津", "重庆", "西安"]
    }
    assert candidates == {
        "北京": 4, "上海": 1, "深圳": 1, "广州": 2, "杭州": 2, "南京": 1, "苏州": 1, "天津": 1, "重庆": 1, "西安": 2,
    }  # fmt: skip
    assert CityRule.objects.filter(city__short_name="上海").count() == 2
    assert PolicyPeriod.objects.count() == 11
    assert NationalRule.objects.count() == 10


def test_beijing_2024_pension_keeps_the_file_confidences():
    base_min = fig("北京", "2024年度", "pension", "base_min")
    assert base_min.value == Decimal("6821")
    assert base_min.confidence == "secondary_with_official_url"
    assert base_min.source.url == "https://rsj.beijing.gov.cn/xxgk/2024zcwj/202407/t20240731_3763677.html"
    assert not base_min.assumed and base_min.verified_at is None
    assert fig("北京", "2024年度", "pension", "base_max").value == Decimal("35283")
    for field, value in (("employer_rate", "0.16"), ("employee_rate", "0.08")):
        rate = fig("北京", "2024年度", "pension", field)
        assert rate.value == Decimal(value)
        assert rate.confidence == "secondary_no_official_url"
        assert "linianhui/blog" in rate.source.text
    assert fig("北京", "2024年度", "", "average_wage").value == Decimal("11761")
    period = PolicyPeriod.objects.get(city__short_name="北京", label="2024年度")
    assert (period.effective_from, period.effective_to) == (dt.date(2024, 7, 1), dt.date(2025, 6, 30))


def test_beijing_2025_source_document_number_extracted():
    period = PolicyPeriod.objects.get(city__short_name="北京", label="2025年度")
    assert period.published == dt.date(2025, 9, 18)
    source = fig("北京", "2025年度", "medical", "base_min").source
    assert source.doc_no == "京人社发〔2025〕11号"
    assert source.title == "关于2025年度各项社会保险缴费工资基数上下限的通告"
    assert source.url == "https://rsj.beijing.gov.cn/xxgk/2024zcwj/202509/t20250918_4204880.html"


def test_shanghai_maternity_is_merged_into_medical():
    merged = fig("上海", "2024年度", "maternity", "merged_into")
    assert merged.text_value == "medical"
    assert merged.confidence == "secondary_with_official_url"  # the employer_rates confidence
    assert not PolicyFigure.objects.filter(
        period__city__short_name="上海", insurance="maternity", field="employer_rate"
    ).exists()
    period = policy_period_for(city="上海", month_first_day=dt.date(2024, 9, 1))
    assert period.items[Insurance.MATERNITY].merged_into == Insurance.MEDICAL
    assert "生育并入" in period.items[Insurance.MEDICAL].note


def test_shanghai_2025_bases_disputed_and_separate_rate_confidences():
    base = fig("上海", "2025年度", "pension", "base_min")
    assert base.confidence == "disputed"
    assert "争议说明" in base.note
    assert fig("上海", "2025年度", "medical", "employer_rate").confidence == "secondary_with_official_url"
    assert fig("上海", "2024年度", "medical", "employer_rate").confidence == "secondary_with_official_url"
    assert fig("上海", "2024年度", "medical", "employee_rate").confidence == "secondary_no_official_url"


def test_missing_stays_missing():
    for label in ("2024年度", "2025年度"):
        for field in ("employer_rate", "employee_rate", "base_min", "base_max"):
            f = fig("深圳", label, "medical", field)
            assert f.value is None
            assert f.confidence == "unverified"  # a missing value has no confidence of its own
    assert fig("深圳", "2024年度", "pension", "employer_rate").value is None
    assert fig("广州", "2024年度", "pension", "base_min").value is None
    assert fig("武汉", "湖北2025年度", "pension", "base_min").value is None
    # Period-level figures that the file does not have.
    for field in ("payment_due_day", "cutoff_day"):
        assert fig("北京", "2024年度", "", field).value is None
    # Guangdong's provincial average wage is kept as such, not as Shenzhen's.
    assert fig("深圳", "2024年度", "", "average_wage").value is None
    assert fig("深圳", "2024年度", "", "average_wage_province").value == Decimal("9167")


def test_national_rules_are_not_copied_into_cities():
    assert NationalRule.objects.get(insurance="pension", key="employee_rate").value == Decimal("0.08")
    assert NationalRule.objects.get(insurance="housing_fund", key="min_rate_each_side").value == Decimal(
        "0.05"
    )
    assert NationalRule.objects.get(insurance="housing_fund", key="max_rate_each_side").value is None
    # The national "typical" 16 % does not fill Guangzhou's missing employer rate.
    assert fig("广州", "2025年度", "pension", "employer_rate").value is None
    # The city entry's own 8 % is kept, with a note that it is the national rule.
    assert "全国统一规定" in fig("广州", "2025年度", "pension", "employee_rate").note
    assert not PolicyFigure.objects.filter(period__city__short_name="杭州").exists()


def test_candidates_are_never_values():
    assert fig("北京", "2024年度", "work_injury", "employer_rate").value is None  # example 0.004
    assert fig("北京", "2024年度", "medical", "employee_fixed").value is None  # unverified 3 yuan
    assert fig("北京", "2024年度", "housing_fund", "base_min").value is None  # candidate 2420
    assert fig("上海", "2024年度", "housing_fund", "employer_rate").value is None  # candidate 7 %
    values = list(
        UnverifiedCandidate.objects.filter(city__short_name="北京").values_list("values", flat=True)
    )
    assert any("0.4%" in v for v in values)
    assert any("个人固定金额" in v and "3" in v for v in values)
    assert any("2420" in v for v in values)
    hangzhou = UnverifiedCandidate.objects.filter(city__short_name="杭州")
    assert hangzhou.count() == 2 and all(c.period is None for c in hangzhou)
    with pytest.raises(LookupError, match="暂无收录的政策数据"):
        policy_period_for(city="杭州", month_first_day=dt.date(2025, 1, 1))


def test_rounding_defaults_to_fen_and_says_so():
    rounding = fig("北京", "2024年度", "pension", "rounding")
    assert rounding.text_value == "fen"
    assert rounding.assumed
    assert rounding.confidence == "unverified"
    assert rounding.source is None
    assert "舍入规则未收录" in rounding.note


def test_load_is_idempotent():
    before = (
        PolicyFigure.objects.count(),
        PolicySource.objects.count(),
        UnverifiedCandidate.objects.count(),
        CityRule.objects.count(),
    )
    counts = policy_library_load()
    assert counts["figures_created"] == counts["figures_updated"] == counts["periods_created"] == 0
    after = (
        PolicyFigure.objects.count(),
        PolicySource.objects.count(),
        UnverifiedCandidate.objects.count(),
        CityRule.objects.count(),
    )
    assert after == before


def test_reload_restores_plain_figures_but_keeps_verified_and_corrected(admin):
    actor = Actor(user=admin)
    drifted = fig("北京", "2024年度", "unemployment", "base_min")
    PolicyFigure.objects.filter(pk=drifted.pk).update(value=1, confidence="official_text")
    verified = policy_figure_verify(
        actor=actor,
        figure=fig("北京", "2024年度", "pension", "base_min"),
        verified_against="京人社发",
        official_text_checked=True,
    )
    corrected = policy_figure_correct(
        actor=actor,
        figure=fig("北京", "2025年度", "pension", "employer_rate"),
        value="0.15",
        confidence="official_text",
        source_text="某官方通知 https://rsj.beijing.gov.cn/x.html",
        reason="核对官方通知后更正",
    )
    counts = policy_library_load()
    assert counts["figures_kept"] == 2
    assert counts["figures_updated"] == 1
    drifted.refresh_from_db()
    assert drifted.value == Decimal("6821") and drifted.confidence == "secondary_with_official_url"
    verified.refresh_from_db()
    assert verified.confidence == "official_text" and verified.verified_at is not None
    corrected.refresh_from_db()
    assert corrected.value == Decimal("0.15") and corrected.confidence == "official_text"


def test_source_parts():
    parts = source_parts(
        "北京市人力资源和社会保障局 京人社发〔2025〕11号 《关于2025年度各项社会保险缴费工资基数上下限的通告》 "
        "https://rsj.beijing.gov.cn/a/b.html (published)"
    )
    assert parts == {
        "url": "https://rsj.beijing.gov.cn/a/b.html",
        "doc_no": "京人社发〔2025〕11号",
        "title": "关于2025年度各项社会保险缴费工资基数上下限的通告",
        "publisher": "北京市人力资源和社会保障局",
    }
    assert source_parts("no source at all") == {"url": "", "doc_no": "", "title": "", "publisher": ""}


def test_bad_files_name_the_line():
    with pytest.raises(LibraryError, match=r"第\d+行：YAML 格式错误"):
        yaml_load("cities:\n  - city: [unclosed\n")
    data = yaml_load(
        "cities:\n  - city: 北京\n    periods:\n      - label: x\n        effective_from: 2024-13-01\n"
    )
    with pytest.raises(LibraryError) as exc:
        parse_library(data)
    assert exc.value.errors[0].startswith("第4行")
