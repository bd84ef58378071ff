"""Rules that open a case for each new finding by themselves (AlertRule.auto_case)."""

from __future__ import annotations

import pytest

from shebao.cases.models import Case
from shebao.cases.services import cases_auto_open
from shebao.cases.testing.factories import medical_finding
from shebao.core.exceptions import ApplicationError
from shebao.rules.models import AlertRule, FindingTransition


def _auto(kind: str, value: str) -> AlertRule:
    from shebao.rules.services import rule_update
    from shebao.rules.tests.factories import system

    rule = AlertRule.objects.get(kind=kind, is_default=True)
    return rule_update(actor=system(), rule=rule, auto_case=value)


@pytest.mark.django_db
def test_auto_case_opens_one_case_per_new_finding(org, make_employee):
    rule = _auto("medical_interrupted", "auto")
    finding = medical_finding(org, make_employee)
    assert finding.rule == rule
    (case,) = cases_auto_open()
    assert (case.finding, case.template.code, case.assignee, case.opened_by) == (
        finding,
        "medical_interruption",
        None,
        None,
    )
    assert case.events.first().actor_label == "系统"
    assert cases_auto_open() == []  # the opening was claimed: never twice
    assert not FindingTransition.objects.filter(finding=finding, processed_at__isnull=True).exists()


@pytest.mark.django_db
def test_auto_case_with_a_named_template_and_rules_without_it(org, make_employee):
    _auto("medical_interrupted", "backpay")
    medical_finding(org, make_employee)
    (case,) = cases_auto_open()
    assert case.template.code == "backpay"
    _auto("medical_interrupted", "")
    assert cases_auto_open() == []


@pytest.mark.django_db
def test_auto_case_must_name_an_existing_template(org):
    with pytest.raises(ApplicationError) as exc:
        _auto("medical_interrupted", "nope")
    assert exc.value.field_errors == {"auto_case": "流程模板“nope”不存在"}


@pytest.mark.django_db(transaction=True)
def test_evaluation_queues_the_opening_when_it_commits(org, make_employee):
    _auto("medical_interrupted", "auto")
    finding = medical_finding(org, make_employee)  # the evaluation commits → the task runs (immediate)
    assert Case.objects.get(finding=finding).template.code == "medical_interruption"


@pytest.mark.django_db
def test_rule_form_offers_and_saves_auto_case(org, admin, login):
    rule = AlertRule.objects.get(kind="medical_interrupted", is_default=True)
    client = login(admin)
    html = client.get(f"/rules/{rule.pk}/edit/").content.decode()
    assert 'name="auto_case"' in html and "按预警类型选择（医保中断处理）" in html
    rule.auto_case = "nope"  # what the service refuses, the form does not offer
    assert "nope" not in html
