"""The workflow definition format, its validation, and step deadlines at their boundaries."""

from __future__ import annotations

import copy
import datetime as dt

import pytest

from shebao.cases import workflow as wf
from shebao.cases.models import Case, CaseEvent, CaseStep, WorkflowTemplate
from shebao.cases.services import (
    case_advance,
    case_open,
    cutoff_after,
    definition_clean,
    shipped_workflows,
    step_due,
    workflow_update,
)
from shebao.core.context import Actor
from shebao.core.exceptions import ApplicationError, PermissionDenied


def _minimal():
    return {
        "start": "a",
        "steps": [
            {
                "code": "a",
                "name": "第一步",
                "action": "check",
                "choices": [{"code": "go", "label": "继续", "to": "z"}],
            },
            {"code": "z", "name": "结案", "action": "close"},
        ],
    }


def test_shipped_definitions_are_valid():
    items = shipped_workflows()
    assert {i["code"] for i in items} == {"onboarding", "medical_interruption", "offboarding", "backpay"}
    for item in items:
        d = wf.definition_parse({"start": item["start"], "steps": item["steps"]})
        assert any(s.is_final for s in d.steps)


@pytest.mark.parametrize(
    ("mutate", "message"),
    [
        (lambda d: d["steps"][0]["choices"][0].update(to="nowhere"), "指向不存在的步骤“nowhere”"),
        (lambda d: d.update(start="x"), "起始步骤“x”不存在"),
        (lambda d: d["steps"].append(dict(d["steps"][0])), "步骤代码重复：a"),
        (lambda d: d["steps"][0].update(choices=[]), "步骤“第一步”没有任何后续选择"),
        (lambda d: d["steps"][1].update(action="check"), "没有任何后续选择"),
        (lambda d: d["steps"][0].update(action="letter"), "需指定函件模板"),
        (lambda d: d["steps"][0].update(role="boss"), "取值无效"),
        (lambda d: d["steps"][0].update(code="A b"), "代码只能用小写字母"),
        (lambda d: d["steps"][0].update(deadline={"from": "hire", "days": -1}), "超出范围"),
        (lambda d: d["steps"][0].update(colour="red"), "不是可用的字段"),
        (
            lambda d: d["steps"].insert(
                1,
                {
                    "code": "b",
                    "name": "孤立",
                    "action": "check",
                    "choices": [{"code": "x", "label": "x", "to": "z"}],
                },
            ),
            "从起始步骤无法到达：孤立",
        ),
        (
            lambda d: (
                d["steps"].insert(
                    1,
                    {
                        "code": "b",
                        "name": "死循环",
                        "action": "check",
                        "choices": [{"code": "x", "label": "x", "to": "b"}],
                    },
                )
                or d["steps"][0]["choices"].append({"code": "loop", "label": "进入循环", "to": "b"})
            ),
            "这些步骤无法走到结案：死循环",
        ),
    ],
)
def test_invalid_definitions_say_where(mutate, message):
    d = copy.deepcopy(_minimal())
    mutate(d)
    with pytest.raises(ApplicationError) as exc:
        wf.definition_parse(d)
    assert message in exc.value.message
    assert exc.value.message.startswith("流程定义无效：")


def test_error_names_the_step():
    d = _minimal()
    d["steps"][0]["deadline"] = {"from": "tomorrow", "days": 3}
    with pytest.raises(ApplicationError) as exc:
        wf.definition_parse(d)
    assert "第1项（第一步）" in exc.value.message and "期限" in exc.value.message


@pytest.mark.django_db
def test_unknown_citation_and_letter_are_refused(org):
    d = _minimal()
    d["steps"][0]["citations"] = ["SIL-58", "SIL-999"]
    with pytest.raises(ApplicationError, match="SIL-999"):
        definition_clean(d)
    d = _minimal()
    d["steps"][0].update(action="letter", letter="no_such_letter")
    with pytest.raises(ApplicationError, match="no_such_letter"):
        definition_clean(d)


def test_due_date_counts_from_the_day_after():
    deadline = wf.Deadline.model_validate({"from": "hire", "days": 30})
    assert wf.due_date(deadline, {"hire": dt.date(2025, 3, 1)}) == dt.date(2025, 3, 31)
    assert wf.due_date(deadline, {"hire": None}) is None
    assert wf.due_date(None, {"hire": dt.date(2025, 3, 1)}) is None


# --- with the database ---------------------------------------------------------------------------


@pytest.fixture
def hr(admin):
    return Actor(user=admin)


@pytest.mark.django_db
def test_onboarding_deadline_is_hire_plus_30_and_warns_7_days_before(org, hr, make_employee):
    emp = make_employee(hire_date=dt.date(2026, 11, 2))
    case = case_open(actor=hr, employee=emp, template="onboarding")
    step = case.steps.get()
    assert (step.code, step.due_date, step.warn_from) == (
        "verify",
        dt.date(2026, 12, 2),
        dt.date(2026, 11, 25),
    )
    assert "入职日期 + 30 天" in step.due_basis and "SIL-58" in step.due_basis
    assert case.step_due == dt.date(2026, 12, 2)


@pytest.mark.django_db
def test_step_relative_deadline_starts_when_the_step_starts(org, hr, make_employee):
    emp = make_employee(hire_date=dt.date(2026, 11, 2))
    case = case_open(actor=hr, employee=emp, template="onboarding", now=_at(2026, 11, 10))
    case = case_advance(actor=hr, case=case, choice="blocked", note="仍在原单位参保", now=_at(2026, 11, 12))
    step = case.steps.get(status=CaseStep.Status.ACTIVE)
    assert step.code == "notify" and step.due_date == dt.date(2026, 11, 15)


@pytest.mark.django_db
def test_offboarding_stop_deadline_is_the_first_cutoff_on_or_after_leaving(org, hr, system, make_employee):
    from shebao.policy.services import entity_policy_setting_update

    emp = make_employee(hire_date=dt.date(2024, 1, 1))
    emp.leave_date = dt.date(2026, 11, 25)
    emp.save(update_fields=["leave_date"])
    # No cut-off day known: no deadline, and the step says why.
    assert cutoff_after(org["bj"], emp.leave_date) == (None, "增减员截止日未设置（参保主体设置或城市政策）")
    case = case_open(actor=hr, employee=emp, template="offboarding")
    step = case.steps.get()
    assert step.due_date is None and "增减员截止日未设置" in step.due_basis
    entity_policy_setting_update(actor=system, entity=org["bj"], cutoff_day=25)
    assert cutoff_after(org["bj"], dt.date(2026, 11, 25))[0] == dt.date(2026, 11, 25)  # the day itself counts
    assert cutoff_after(org["bj"], dt.date(2026, 11, 26))[0] == dt.date(2026, 12, 25)
    assert cutoff_after(org["bj"], dt.date(2026, 12, 26))[0] == dt.date(2027, 1, 25)
    entity_policy_setting_update(actor=system, entity=org["bj"], cutoff_day=31)
    assert cutoff_after(org["bj"], dt.date(2027, 2, 10))[0] == dt.date(2027, 2, 28)  # clamped to the month
    definition = wf.Definition.model_validate(case.version.definition)
    due, basis = step_due(case, definition.step("stop"), _at(2026, 11, 26))
    assert due == dt.date(2026, 11, 30) and "每月31日" in basis


@pytest.mark.django_db
def test_unknown_base_date_gives_no_deadline_and_says_why(org, hr, make_employee):
    emp = make_employee()  # still employed: no leave date
    case = case_open(actor=hr, employee=emp, template="offboarding")
    definition = wf.Definition.model_validate(case.version.definition)
    due, basis = step_due(case, definition.step("transfer"), _at(2026, 11, 26))
    assert due is None and basis == "离职日期未知，无法计算期限"


@pytest.mark.django_db
def test_workflow_edit_makes_a_new_version_and_running_cases_keep_theirs(org, hr, make_employee):
    template = WorkflowTemplate.objects.get(code="onboarding")
    v1 = template.current
    case = case_open(actor=hr, employee=make_employee(hire_date=dt.date(2026, 11, 2)), template=template)
    definition = copy.deepcopy(v1.definition)
    definition["steps"][0]["deadline"]["days"] = 20
    definition["steps"][0]["name"] = "核查参保状态（新）"
    workflow_update(actor=hr, template=template, definition=definition, note="缩短核查期限")
    template.refresh_from_db()
    assert template.current.number == 2 and template.current.note == "缩短核查期限"
    case.refresh_from_db()
    assert case.version == v1
    assert case.steps.get().due_date == dt.date(2026, 12, 2)
    new = case_open(actor=hr, employee=make_employee(hire_date=dt.date(2026, 11, 2)), template=template)
    assert new.version.number == 2
    assert new.steps.get().due_date == dt.date(2026, 11, 22)
    # Saving the same definition again makes no version.
    workflow_update(actor=hr, template=template, definition=template.current.definition)
    template.refresh_from_db()
    assert template.current.number == 2


@pytest.mark.django_db
def test_only_hr_admins_edit_workflows(org, clerk):
    template = WorkflowTemplate.objects.get(code="onboarding")
    with pytest.raises(PermissionDenied):
        workflow_update(actor=Actor(user=clerk), template=template, definition=template.current.definition)


@pytest.mark.django_db
def test_choice_requirements_are_checked(org, hr, make_employee):
    case = case_open(actor=hr, employee=make_employee(hire_date=dt.date(2026, 11, 2)), template="onboarding")
    with pytest.raises(ApplicationError, match="请填写说明"):
        case_advance(actor=hr, case=case, choice="blocked")
    with pytest.raises(ApplicationError, match="没有选择“nope”"):
        case_advance(actor=hr, case=case, choice="nope")
    case = case_advance(actor=hr, case=case, choice="ok")
    assert case.current_step == "register"
    with pytest.raises(ApplicationError, match="请填写说明"):
        case_advance(actor=hr, case=case, choice="done")
    case = case_advance(actor=hr, case=case, choice="done", note="2026-11-20 已增员，流水号 123")
    assert case.status == Case.Status.CLOSED and case.outcome == "已办理登记"
    assert list(case.events.values_list("kind", flat=True)) == [
        CaseEvent.Kind.OPENED,
        CaseEvent.Kind.STEP_STARTED,
        CaseEvent.Kind.STEP_DONE,
        CaseEvent.Kind.STEP_STARTED,
        CaseEvent.Kind.STEP_DONE,
        CaseEvent.Kind.CLOSED,
    ]
    with pytest.raises(ApplicationError, match="案件已结案，不能再处理"):
        case_advance(actor=hr, case=case, choice="done", note="x")


@pytest.mark.django_db
def test_admin_only_steps(org, hr, clerk, make_employee):
    case = case_open(actor=hr, employee=make_employee(hire_date=dt.date(2026, 11, 2)), template="backpay")
    case.current_step = "approve"
    case.save()
    with pytest.raises(PermissionDenied, match="需由 HR 管理员处理"):
        case_advance(actor=Actor(user=clerk), case=case, choice="approved")


def _at(y, m, d, hour=10):
    from django.utils import timezone

    return timezone.make_aware(dt.datetime(y, m, d, hour))


@pytest.mark.django_db
def test_a_number_taken_by_a_racing_writer_is_skipped(org, hr, make_employee, monkeypatch):
    from shebao.cases.services import cases as case_services
    from shebao.cases.services import letters as letter_services

    first = case_open(actor=hr, employee=make_employee(), template="medical_interruption")
    numbers = iter([first.number, "AJ209901-0007"])  # the first was taken meanwhile
    monkeypatch.setattr(case_services, "_number", lambda now: next(numbers))
    second = case_open(actor=hr, employee=make_employee(), template="medical_interruption")
    assert second.number == "AJ209901-0007"

    taken = letter_services.letter_issue(actor=hr, case=first)
    numbers = iter([taken.number, "HJ209901-0009"])
    monkeypatch.setattr(letter_services, "_letter_number", lambda now: next(numbers))
    letter = letter_services.letter_issue(actor=hr, case=second)
    assert letter.number == "HJ209901-0009" and "HJ209901-0009" in letter.html
    assert letter_services.letter_pdf(letter)  # the PDF of the number that was kept
