"""Verifications, corrections and employer settings: permissions, messages, revisions, audit rows."""

from __future__ import annotations

from decimal import Decimal

import pytest

from shebao.audit.models import AuditEvent
from shebao.core.context import Actor
from shebao.core.exceptions import ApplicationError, PermissionDenied
from shebao.policy.models import EntityPolicySetting, PolicyFigure, PolicyFigureRevision
from shebao.policy.services import (
    entity_policy_setting_update,
    policy_figure_correct,
    policy_figure_verify,
)

pytestmark = pytest.mark.django_db


def fig(insurance: str, field: str, label: str = "2024年度", city: str = "北京") -> PolicyFigure:
    return PolicyFigure.objects.get(
        period__city__short_name=city, period__label=label, insurance=insurance, field=field
    )


def correct(actor, figure, **kw):
    data = {
        "value": "0.15",
        "confidence": "official_text",
        "source_text": "京人社发〔2025〕99号 https://rsj.beijing.gov.cn/example.html",
        "reason": "核对官方通知",
    }
    data.update(kw)
    return policy_figure_correct(actor=actor, figure=figure, **data)


# --- verify -------------------------------------------------------------------------------------


@pytest.mark.parametrize("who", ["clerk", "manager", "auditor", "staff_employee"])
def test_only_hr_admins_verify(request, who):
    actor = Actor(user=request.getfixturevalue(who))
    with pytest.raises(PermissionDenied, match="只有HR管理员"):
        policy_figure_verify(actor=actor, figure=fig("pension", "base_min"), verified_against="x")


def test_verify_needs_a_person(system):
    with pytest.raises(PermissionDenied):
        policy_figure_verify(actor=system, figure=fig("pension", "base_min"), verified_against="x")


def test_verify_keeps_confidence_unless_official_text_checked(admin):
    actor = Actor(user=admin, ip="10.0.0.1")
    figure = policy_figure_verify(
        actor=actor,
        figure=fig("pension", "base_min"),
        verified_against="  https://rsj.beijing.gov.cn/a.html ",
    )
    assert figure.verified_by == admin and figure.verified_at is not None
    assert figure.verified_against == "https://rsj.beijing.gov.cn/a.html"
    assert figure.confidence == "secondary_with_official_url"
    figure = policy_figure_verify(
        actor=actor,
        figure=figure,
        verified_against="京人社发〔2024〕",
        note="逐字核对",
        official_text_checked=True,
    )
    assert figure.confidence == "official_text"
    assert figure.value == Decimal("6821")  # the value itself is untouched
    revisions = list(figure.revisions.order_by("id"))
    assert [r.kind for r in revisions] == ["verify", "verify"]
    assert (revisions[1].old_confidence, revisions[1].new_confidence) == (
        "secondary_with_official_url",
        "official_text",
    )
    assert revisions[1].old_value == revisions[1].new_value == "6821"
    assert "逐字核对" in revisions[1].reason
    event = AuditEvent.objects.filter(action="policy_figure.verify").first()
    assert event.actor == admin and event.object_id == str(figure.pk) and event.ip == "10.0.0.1"
    assert event.changes["confidence"] == ["secondary_with_official_url", "official_text"]
    assert event.changes["official_text_checked"] is True


def test_verify_validation(admin):
    actor = Actor(user=admin)
    with pytest.raises(ApplicationError, match="请填写核验依据") as exc:
        policy_figure_verify(actor=actor, figure=fig("pension", "base_min"), verified_against=" ")
    assert exc.value.field_errors == {"verified_against": "必填"}
    with pytest.raises(ApplicationError, match="未收录数值，无法核验"):
        policy_figure_verify(actor=actor, figure=fig("work_injury", "employer_rate"), verified_against="x")
    assert not AuditEvent.objects.filter(action__startswith="policy_figure").exists()


# --- correct ------------------------------------------------------------------------------------


@pytest.mark.parametrize("who", ["clerk", "manager", "auditor", "staff_employee"])
def test_only_hr_admins_correct(request, who):
    with pytest.raises(PermissionDenied):
        correct(Actor(user=request.getfixturevalue(who)), fig("pension", "employer_rate"))


@pytest.mark.parametrize(
    ("insurance", "field", "value", "message"),
    [
        ("pension", "employer_rate", "1.6", "单位费率应为0到1之间的小数"),
        ("pension", "employee_rate", "-0.01", "个人费率应为0到1之间的小数"),
        ("pension", "employer_rate", "abc", "不是数字"),
        ("pension", "base_min", "0", "基数下限应大于0"),
        ("pension", "base_min", "40000", "基数下限（40000）不能高于同一期间同一险种的基数上限（35283）"),
        ("pension", "base_max", "6000", "基数下限（6821）不能高于同一期间同一险种的基数上限（6000）"),
        ("medical", "employee_fixed", "-3", "个人固定金额不能为负数"),
        ("", "payment_due_day", "32", "缴费截止日应为1到31之间的整数"),
        ("", "cutoff_day", "15.5", "增减员截止日应为1到31之间的整数"),
        ("pension", "rounding", "ceil", "未知舍入规则"),
    ],
)
def test_correct_validation_messages(admin, insurance, field, value, message):
    with pytest.raises(ApplicationError, match=message.replace("（", r"\（").replace("）", r"\）")) as exc:
        correct(Actor(user=admin), fig(insurance, field), value=value)
    assert "value" in exc.value.field_errors
    assert not PolicyFigureRevision.objects.exists()


def test_correct_requires_source_and_reason(admin):
    actor = Actor(user=admin)
    with pytest.raises(ApplicationError) as exc:
        correct(actor, fig("pension", "employer_rate"), source_text=" ", reason="")
    assert set(exc.value.field_errors) == {"source_text", "reason"}
    with pytest.raises(ApplicationError, match="没有变化"):
        figure = fig("pension", "employer_rate")
        correct(actor, figure, value="0.16", confidence=figure.confidence, source_text=figure.source.text)


def test_correct_writes_revision_and_audit(admin):
    actor = Actor(user=admin)
    figure = policy_figure_verify(actor=actor, figure=fig("pension", "employer_rate"), verified_against="x")
    old_source = figure.source
    figure = correct(actor, figure)
    assert figure.value == Decimal("0.15") and figure.confidence == "official_text"
    assert figure.source.doc_no == "京人社发〔2025〕99号"
    assert figure.source.url == "https://rsj.beijing.gov.cn/example.html"
    assert figure.corrected_at is not None
    assert figure.verified_at is None  # the verified value is gone, and its verification with it
    revision = figure.revisions.filter(kind="correct").get()
    assert (revision.old_value, revision.new_value) == ("0.16", "0.15")
    assert (revision.old_confidence, revision.new_confidence) == (
        "secondary_no_official_url",
        "official_text",
    )
    assert revision.old_source == old_source and revision.new_source == figure.source
    assert revision.changed_by == admin and revision.reason == "核对官方通知"
    event = AuditEvent.objects.get(action="policy_figure.correct")
    assert event.changes["value"] == ["0.16", "0.15"]
    assert event.changes["reason"] == "核对官方通知"


def test_correct_to_missing_and_text_figures(admin, system):
    actor = Actor(user=admin)
    figure = correct(actor, fig("pension", "employer_rate"), value="", source_text="")
    assert figure.value is None and figure.confidence == "unverified"
    rounding = correct(
        actor, fig("pension", "rounding"), value="见角进元", confidence="secondary_no_official_url"
    )
    assert rounding.text_value == "up_yuan" and not rounding.assumed
    merged = correct(
        system, fig("maternity", "merged_into", city="上海"), value="医疗保险"
    )  # the CLI's system actor
    assert merged.text_value == "medical"
    with pytest.raises(ApplicationError, match="不能并入自身"):
        correct(actor, fig("maternity", "merged_into", city="上海"), value="maternity")
    day = correct(actor, fig("", "payment_due_day"), value="15")
    assert day.value == 15
    assert PolicyFigureRevision.objects.get(figure=day).old_value == ""


# --- employer settings --------------------------------------------------------------------------


def test_housing_fund_below_five_percent_cites_the_regulation(org, admin):
    with pytest.raises(ApplicationError, match="住房公积金管理条例第十八条") as exc:
        entity_policy_setting_update(
            actor=Actor(user=admin), entity=org["bj"], housing_fund_employer_rate="0.04"
        )
    assert set(exc.value.field_errors) == {"housing_fund_employer_rate"}
    assert not EntityPolicySetting.objects.exists()


def test_housing_fund_above_twelve_percent_needs_confirmation(org, admin):
    actor = Actor(user=admin)
    with pytest.raises(ApplicationError, match="12%是常见的上限口径.*原文未核实"):
        entity_policy_setting_update(actor=actor, entity=org["bj"], housing_fund_employee_rate="0.13")
    setting = entity_policy_setting_update(
        actor=actor, entity=org["bj"], housing_fund_employee_rate="0.13", confirm_above_cap=True
    )
    assert setting.housing_fund_employee_rate == Decimal("0.13")
    event = AuditEvent.objects.get(action="entity_policy_setting.update")
    assert event.changes["above_12_percent_confirmed"] is True


def test_entity_setting_update_and_audit(org, admin):
    actor = Actor(user=admin)
    setting = entity_policy_setting_update(
        actor=actor,
        entity=org["bj"],
        industry_class="二类",
        work_injury_rate=Decimal("0.004"),
        housing_fund_employer_rate="0.12",
        housing_fund_employee_rate="0.12",
        basis="京工伤费率通知",
    )
    assert (setting.industry_class, setting.work_injury_rate) == ("二类", Decimal("0.004"))
    assert setting.updated_by == admin
    setting = entity_policy_setting_update(
        actor=actor, entity=org["bj"], industry_class="二类", work_injury_rate="0.005",
        housing_fund_employer_rate="0.12", housing_fund_employee_rate="0.12", basis="京工伤费率通知",
    )  # fmt: skip
    events = AuditEvent.objects.filter(action="entity_policy_setting.update").order_by("id")
    assert events.count() == 2
    assert events[1].changes == {"work_injury_rate": ["0.004", "0.005"]}
    assert EntityPolicySetting.objects.count() == 1


@pytest.mark.parametrize(
    ("kwargs", "field", "message"),
    [
        ({"work_injury_rate": "1.5"}, "work_injury_rate", "应为0到1之间的小数"),
        ({"work_injury_rate": "0"}, "work_injury_rate", "应大于0"),
        ({"work_injury_rate": "x"}, "work_injury_rate", "格式错误"),
        ({"housing_fund_employee_rate": "12"}, "housing_fund_employee_rate", "应为0到1之间的小数"),
        ({"industry_class": "类" * 41}, "industry_class", "最多40个字"),
    ],
)
def test_entity_setting_validation(org, admin, kwargs, field, message):
    with pytest.raises(ApplicationError, match=message) as exc:
        entity_policy_setting_update(actor=Actor(user=admin), entity=org["bj"], **kwargs)
    assert field in exc.value.field_errors


def test_entity_setting_permissions(org, clerk):
    with pytest.raises(PermissionDenied):
        entity_policy_setting_update(actor=Actor(user=clerk), entity=org["bj"], work_injury_rate="0.004")


def test_entity_cutoff_day_is_set_checked_and_audited(org, system):
    from shebao.audit.models import AuditEvent

    setting = entity_policy_setting_update(
        actor=system, entity=org["bj"], cutoff_day="15", basis="京人社通知（示例）"
    )
    assert setting.cutoff_day == 15
    event = AuditEvent.objects.filter(action="entity_policy_setting.update").latest("id")
    assert event.changes["cutoff_day"] == [None, 15]
    with pytest.raises(ApplicationError) as info:
        entity_policy_setting_update(actor=system, entity=org["bj"], cutoff_day="32")
    assert info.value.field_errors["cutoff_day"] == "增减员截止日应为每月 1 到 31 号之间的一天"
    assert entity_policy_setting_update(actor=system, entity=org["bj"], cutoff_day="").cutoff_day is None
