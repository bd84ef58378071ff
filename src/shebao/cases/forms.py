"""Forms of the cases room. They collect and type-convert input; the cases services validate
(their Chinese messages land on the fields through ``ServiceErrorsMixin``).

The workflow editor is not a Django formset: a definition is steps with nested choices, so
``WorkflowEditor`` reads the indexed fields (``s-0-name``, ``s-0-c-1-label`` …) into the
definition the service validates, and back into rows for the page. Adding, removing and
moving steps and choices re-renders the page from the posted rows without saving.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

import yaml
from django import forms
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _

from shebao.accounts.models import User
from shebao.cases import workflow as wf
from shebao.cases.models import Case, LetterTemplate, WorkflowTemplate
from shebao.policy.terms import INSURANCE_LABELS, Insurance
from shebao.roster.forms import scoped_entities
from shebao.rules.forms import hr_users, kind_choices
from shebao.web.helpers import ServiceErrorsMixin

STATUS_FILTERS = [*Case.Status.choices, ("all", _("全部状态"))]
ROLE_LABELS = {"hr_specialist": _("HR 专员"), "hr_admin": _("HR 管理员"), "employee": _("员工")}
EVENT_LABELS = {
    "letter_sent": _("函件发送后"),
    "acknowledged": _("员工确认收到后"),
    "disagreed": _("员工提出异议后"),
    "proof_uploaded": _("上传证明材料后"),
}


def action_label(code: str) -> str:
    return gettext(wf.ACTIONS[code]) if code in wf.ACTIONS else code


def requires_label(code: str) -> str:
    return gettext(wf.REQUIRES[code]) if code in wf.REQUIRES else code


def deadline_from_label(code: str) -> str:
    return gettext(wf.DEADLINE_FROM[code]) if code in wf.DEADLINE_FROM else code


class UserChoiceField(forms.ModelChoiceField):
    def label_from_instance(self, obj: User) -> str:
        return obj.display_name


# --- list ---------------------------------------------------------------------------------------


def step_choices(templates) -> list[tuple[str, Any]]:
    """The current steps of each template, grouped by template; values are ``template:step``."""
    groups = []
    for t in templates:
        if t.current is None:
            continue
        steps = t.current.definition.get("steps", [])
        options = [(f"{t.code}:{s['code']}", s["name"]) for s in steps if s.get("action") != "close"]
        if options:
            groups.append((t.name, options))
    return groups


class CaseFilterForm(forms.Form):
    q = forms.CharField(
        required=False,
        label=_("搜索"),
        widget=forms.SearchInput(attrs={"placeholder": _("案件编号、姓名或工号"), "class": "search"}),
    )
    status = forms.ChoiceField(label=_("状态"), required=False, choices=STATUS_FILTERS)
    template = forms.ChoiceField(label=_("流程"), required=False)
    step = forms.ChoiceField(label=_("当前步骤"), required=False)
    assignee = forms.ChoiceField(label=_("负责人"), required=False)
    entity = forms.ModelChoiceField(
        label=_("参保主体"), queryset=None, required=False, empty_label=_("全部参保主体")
    )
    overdue = forms.BooleanField(label=_("只看逾期"), required=False)

    def __init__(self, *args: Any, user: User, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        templates = list(WorkflowTemplate.objects.select_related("current").order_by("id"))
        self.fields["template"].choices = [("", _("全部流程")), *((t.code, t.name) for t in templates)]
        chosen = (self.data.get("template") or "") if self.is_bound else ""
        shown = [t for t in templates if t.code == chosen] or templates
        self.fields["step"].choices = [("", _("全部步骤")), *step_choices(shown)]
        self.fields["assignee"].choices = [
            ("", _("全部负责人")),
            ("me", _("我的")),
            ("none", _("未指派")),
            *((str(u.pk), u.display_name) for u in hr_users()),
        ]
        self.fields["entity"].queryset = scoped_entities(user)


# --- opening ------------------------------------------------------------------------------------


class OpenForm(ServiceErrorsMixin, forms.Form):
    template = forms.ModelChoiceField(
        label=_("流程"),
        queryset=WorkflowTemplate.objects.none(),
        to_field_name="code",
        empty_label=None,
    )
    note = forms.CharField(
        label=_("说明"), required=False, max_length=2000, widget=forms.Textarea(attrs={"rows": 2})
    )

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["template"].queryset = WorkflowTemplate.objects.filter(enabled=True).exclude(current=None)


# --- a case's page ------------------------------------------------------------------------------


class AdvanceForm(ServiceErrorsMixin, forms.Form):
    """One form for the current step: a note, what the choices need (payment, a proof file), and
    one submit button per choice (``choice``)."""

    choice = forms.CharField(max_length=40, error_messages={"required": _("请选择一个处理结果")})
    note = forms.CharField(
        label=_("说明"),
        required=False,
        max_length=4000,
        widget=forms.Textarea(
            attrs={"rows": 3, "placeholder": _("办理情况、日期、业务流水号、员工的说法……")}
        ),
    )
    amount = forms.CharField(
        label=_("缴纳金额（元）"),
        required=False,
        max_length=20,
        widget=forms.TextInput(attrs={"inputmode": "decimal"}),
    )
    date = forms.CharField(
        label=_("缴纳日期"), required=False, max_length=20, widget=forms.DateInput(attrs={"type": "date"})
    )
    reference = forms.CharField(label=_("缴费凭证号"), required=False, max_length=100)
    file = forms.FileField(label=_("证明材料"), required=False)

    def payment(self) -> dict[str, str] | None:
        d = self.cleaned_data
        if not (d.get("amount") or d.get("date")):
            return None
        return {
            "amount": d.get("amount") or "",
            "date": d.get("date") or "",
            "reference": d.get("reference") or "",
        }


class AssignForm(ServiceErrorsMixin, forms.Form):
    assignee = UserChoiceField(
        label=_("负责人"), queryset=User.objects.none(), required=False, empty_label=_("（未指派）")
    )

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["assignee"].queryset = hr_users()


class NoteForm(ServiceErrorsMixin, forms.Form):
    text = forms.CharField(
        label=_("备注"),
        max_length=4000,
        widget=forms.Textarea(attrs={"rows": 2, "placeholder": _("电话沟通情况、员工的说法、下一步安排……")}),
        error_messages={"required": _("备注不能为空")},
    )


class AttachForm(ServiceErrorsMixin, forms.Form):
    file = forms.FileField(
        label=_("文件"),
        error_messages={"required": _("请选择要上传的文件"), "empty": _("文件是空的")},
        widget=forms.ClearableFileInput(attrs={"accept": "image/*,application/pdf"}),
    )
    description = forms.CharField(
        label=_("说明"),
        required=False,
        max_length=300,
        widget=forms.TextInput(attrs={"placeholder": _("如：停保证明、转移凭证、缴费回执")}),
    )


class ReasonForm(ServiceErrorsMixin, forms.Form):
    reason = forms.CharField(
        label=_("原因"),
        max_length=2000,
        widget=forms.Textarea(attrs={"rows": 2}),
        error_messages={"required": _("请填写原因")},
    )


class BackpayForm(ServiceErrorsMixin, forms.Form):
    start = forms.CharField(
        label=_("起始月份"),
        max_length=7,
        widget=forms.TextInput(attrs={"type": "month", "placeholder": "2025-01"}),
    )
    end = forms.CharField(
        label=_("结束月份"),
        max_length=7,
        widget=forms.TextInput(attrs={"type": "month", "placeholder": "2025-06"}),
    )
    base = forms.CharField(
        label=_("缴费基数（元/月）"), max_length=20, widget=forms.TextInput(attrs={"inputmode": "decimal"})
    )
    paid = forms.CharField(
        label=_("预计缴纳日期"),
        required=False,
        max_length=10,
        widget=forms.DateInput(attrs={"type": "date"}),
        help_text=_("滞纳金算到这一天；留空为今天"),
    )
    due_day = forms.CharField(
        label=_("应缴日（每月几号）"),
        required=False,
        max_length=2,
        widget=forms.TextInput(attrs={"inputmode": "numeric"}),
        help_text=_("政策库已收录该城市的缴费截止日时可留空"),
    )
    insurances = forms.MultipleChoiceField(
        label=_("险种"),
        required=False,
        choices=[(i.value, INSURANCE_LABELS[i]) for i in Insurance],
        widget=forms.CheckboxSelectMultiple,
        help_text=_("不选为全部险种"),
    )

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["insurances"].choices = [(i.value, gettext(INSURANCE_LABELS[i])) for i in Insurance]
        for name in ("start", "end", "base"):
            self.fields[name].error_messages["required"] = gettext("请填写%(label)s") % {
                "label": self.fields[name].label
            }


# --- workflow templates -------------------------------------------------------------------------


class WorkflowForm(ServiceErrorsMixin, forms.Form):
    name = forms.CharField(label=_("名称"), max_length=100, error_messages={"required": _("请填写名称")})
    description = forms.CharField(label=_("说明"), required=False, widget=forms.Textarea(attrs={"rows": 3}))
    finding_kinds = forms.MultipleChoiceField(
        label=_("适用预警类型"),
        required=False,
        widget=forms.CheckboxSelectMultiple,
        help_text=_("从这些类型的预警一键立案时默认使用本流程（按模板顺序取第一个匹配的）"),
    )
    enabled = forms.BooleanField(label=_("启用"), required=False)
    note = forms.CharField(
        label=_("修改说明"),
        required=False,
        max_length=300,
        widget=forms.TextInput(attrs={"placeholder": _("例如：收取材料期限由 30 天改为 20 天")}),
        help_text=_("记入版本历史"),
    )

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["finding_kinds"].choices = kind_choices()


@dataclass
class ChoiceRow:
    code: str = ""
    label: str = ""
    to: str = ""
    requires: list[str] = field(default_factory=list)
    when: str = ""
    escalate: bool = False


@dataclass
class StepRow:
    code: str = ""
    name: str = ""
    role: str = "hr_specialist"
    action: str = "check"
    deadline_from: str = ""
    deadline_days: str = ""
    warn_days: str = "3"
    letter: str = ""
    citations: str = ""
    instructions: str = ""
    choices: list[ChoiceRow] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)


_SPLIT = re.compile(r"[\s,，、;；]+")
_OP = re.compile(r"^(add_step|del_step|up_step|down_step|add_choice|del_choice)(?:-(\d+))?(?:-(\d+))?$")


class WorkflowEditor:
    """The steps of a definition as editable rows, read from and written to the posted fields."""

    def __init__(self, steps: list[StepRow], start: str = "", yaml_text: str = "", mode: str = "form"):
        self.steps = steps
        self.start = start
        self.yaml_text = yaml_text
        self.mode = mode if mode in ("form", "yaml") else "form"
        self.errors: list[str] = []

    @property
    def codes(self) -> list[str]:
        return [s.code for s in self.steps if s.code]

    # the definition (JSON) ↔ rows

    @classmethod
    def from_definition(cls, definition: dict[str, Any]) -> WorkflowEditor:
        steps = []
        for s in definition.get("steps", []):
            deadline = s.get("deadline") or {}
            steps.append(
                StepRow(
                    code=s.get("code", ""),
                    name=s.get("name", ""),
                    role=s.get("role", "hr_specialist"),
                    action=s.get("action", "check"),
                    deadline_from=deadline.get("from", "") if deadline else "",
                    deadline_days=str(deadline.get("days", "")) if deadline else "",
                    warn_days=str(s.get("warn_days", 3)),
                    letter=s.get("letter") or "",
                    citations=", ".join(s.get("citations") or []),
                    instructions=s.get("instructions") or "",
                    choices=[
                        ChoiceRow(
                            code=c.get("code", ""),
                            label=c.get("label", ""),
                            to=c.get("to", ""),
                            requires=list(c.get("requires") or []),
                            when=c.get("when") or "",
                            escalate=bool(c.get("escalate")),
                        )
                        for c in s.get("choices") or []
                    ],
                )
            )
        return cls(steps, start=definition.get("start", ""), yaml_text=definition_yaml(definition))

    @classmethod
    def from_post(cls, data) -> WorkflowEditor:
        mode = data.get("mode", "form")
        steps = []
        for i in sorted({int(m.group(1)) for k in data for m in [re.match(r"^s-(\d+)-code$", k)] if m}):
            p = f"s-{i}-"
            row = StepRow(
                code=data.get(p + "code", "").strip(),
                name=data.get(p + "name", "").strip(),
                role=data.get(p + "role", "hr_specialist"),
                action=data.get(p + "action", "check"),
                deadline_from=data.get(p + "deadline_from", ""),
                deadline_days=data.get(p + "deadline_days", "").strip(),
                warn_days=data.get(p + "warn_days", "").strip(),
                letter=data.get(p + "letter", ""),
                citations=data.get(p + "citations", "").strip(),
                instructions=data.get(p + "instructions", "").strip(),
            )
            for j in sorted(
                {int(m.group(1)) for k in data for m in [re.match(rf"^{p}c-(\d+)-code$", k)] if m}
            ):
                q = f"{p}c-{j}-"
                row.choices.append(
                    ChoiceRow(
                        code=data.get(q + "code", "").strip(),
                        label=data.get(q + "label", "").strip(),
                        to=data.get(q + "to", ""),
                        requires=[r for r in data.getlist(q + "requires") if r],
                        when=data.get(q + "when", ""),
                        escalate=bool(data.get(q + "escalate")),
                    )
                )
            steps.append(row)
        return cls(steps, start=data.get("start", ""), yaml_text=data.get("yaml", ""), mode=mode)

    def definition(self) -> dict[str, Any] | None:
        """The definition the rows describe, for the service to validate; None (with
        ``errors``) when a number cannot be read or the YAML does not parse."""
        if self.mode == "yaml":
            return self._from_yaml()
        self.errors = []
        steps = []
        for n, row in enumerate(self.steps, start=1):
            row.errors = []
            where = gettext("第%(n)d步“%(name)s”") % {"n": n, "name": row.name or row.code or "?"}
            step: dict[str, Any] = {
                "code": row.code,
                "name": row.name,
                "role": row.role,
                "action": row.action,
            }
            if row.deadline_from:
                days = _int(row.deadline_days)
                if days is None:
                    row.errors.append(gettext("期限天数应为整数"))
                else:
                    step["deadline"] = {"from": row.deadline_from, "days": days}
            elif row.deadline_days:
                row.errors.append(gettext("请选择期限的起算日期"))
            if row.warn_days:
                warn = _int(row.warn_days)
                if warn is None:
                    row.errors.append(gettext("提前提醒天数应为整数"))
                else:
                    step["warn_days"] = warn
            if row.letter:
                step["letter"] = row.letter
            citations = [c for c in _SPLIT.split(row.citations) if c]
            if citations:
                step["citations"] = [c.upper() for c in citations]
            if row.instructions:
                step["instructions"] = row.instructions
            step["choices"] = []
            for c in row.choices:
                choice: dict[str, Any] = {"code": c.code, "label": c.label, "to": c.to}
                if c.requires:
                    choice["requires"] = list(c.requires)
                if c.when:
                    choice["when"] = c.when
                if c.escalate:
                    choice["escalate"] = True
                step["choices"].append(choice)
            self.errors += [f"{where}：{e}" for e in row.errors]
            steps.append(step)
        if self.errors:
            return None
        start = (
            self.start if self.start in {s["code"] for s in steps} else (steps[0]["code"] if steps else "")
        )
        return {"start": start, "steps": steps}

    def _from_yaml(self) -> dict[str, Any] | None:
        self.errors = []
        try:
            raw = yaml.safe_load(self.yaml_text or "")
        except yaml.YAMLError as exc:
            mark = getattr(exc, "problem_mark", None)
            where = gettext("第 %(line)d 行") % {"line": mark.line + 1} if mark is not None else ""
            self.errors.append(
                gettext("YAML 格式错误%(where)s：%(problem)s")
                % {
                    "where": f"（{where}）" if where else "",
                    "problem": getattr(exc, "problem", None) or str(exc),
                }
            )
            return None
        if not isinstance(raw, dict) or "steps" not in raw:
            self.errors.append(gettext("YAML 应包含 start（起始步骤代码）和 steps（步骤列表）"))
            return None
        return raw

    # operations that only change the rows

    def apply(self, op: str) -> bool:
        """Add, remove or move a step or choice; False when ``op`` is not one of those."""
        if op == "to_yaml":
            definition = self.definition() if self.mode == "form" else None
            if definition is not None:
                self.yaml_text = definition_yaml(definition)
                self.mode = "yaml"
            return True
        if op == "to_form":
            definition = self._from_yaml()
            if definition is not None:
                other = WorkflowEditor.from_definition(definition)
                self.steps, self.start, self.mode = other.steps, other.start, "form"
            return True
        m = _OP.match(op or "")
        if not m:
            return False
        what, i, j = m.group(1), _int(m.group(2)), _int(m.group(3))
        if what == "add_step":
            self.steps.append(StepRow(choices=[ChoiceRow()]))
            return True
        if i is None or not 0 <= i < len(self.steps):
            return True
        if what == "del_step":
            self.steps.pop(i)
        elif what == "up_step" and i > 0:
            self.steps[i - 1], self.steps[i] = self.steps[i], self.steps[i - 1]
        elif what == "down_step" and i < len(self.steps) - 1:
            self.steps[i + 1], self.steps[i] = self.steps[i], self.steps[i + 1]
        elif what == "add_choice":
            self.steps[i].choices.append(ChoiceRow())
        elif what == "del_choice" and j is not None and 0 <= j < len(self.steps[i].choices):
            self.steps[i].choices.pop(j)
        return True

    # what the page's selects offer

    @staticmethod
    def options() -> dict[str, Any]:
        return {
            "roles": [(k, v) for k, v in ROLE_LABELS.items()],
            "actions": [(k, action_label(k)) for k in wf.ACTIONS],
            "deadline_from": [(k, deadline_from_label(k)) for k in wf.DEADLINE_FROM],
            "requires": [(k, requires_label(k)) for k in wf.REQUIRES],
            "events": list(EVENT_LABELS.items()),
            "letters": list(LetterTemplate.objects.order_by("id").values_list("code", "name")),
        }


def _int(value) -> int | None:
    try:
        return int(str(value).strip())
    except (TypeError, ValueError):
        return None


def definition_yaml(definition: dict[str, Any]) -> str:
    """A definition as YAML for the advanced editor (keys in the order people read them)."""
    order = [
        "code",
        "name",
        "role",
        "action",
        "deadline",
        "warn_days",
        "letter",
        "citations",
        "instructions",
        "choices",
    ]
    steps = []
    for s in definition.get("steps", []):
        step = {k: s[k] for k in order if k in s and s[k] not in (None, [], "")}
        if "choices" in step:
            step["choices"] = [
                {
                    k: c[k]
                    for k in ("code", "label", "to", "requires", "when", "escalate")
                    if c.get(k) not in (None, [], "", False)
                }
                for c in step["choices"]
            ]
        steps.append(step)
    return yaml.safe_dump(
        {"start": definition.get("start", ""), "steps": steps}, allow_unicode=True, sort_keys=False, width=120
    )


def keep_requires_order(new: dict[str, Any], old: dict[str, Any] | None) -> dict[str, Any]:
    """The editor lists ``requires`` in a fixed order; where a choice needs the same things as
    before, keep the order it had so that an unchanged step does not count as an edit."""
    if not old:
        return new
    before = {
        (s.get("code"), c.get("code")): list(c.get("requires") or [])
        for s in old.get("steps", [])
        for c in s.get("choices") or []
    }
    for s in new.get("steps", []) if isinstance(new.get("steps"), list) else []:
        if not isinstance(s, dict):
            continue
        for c in s.get("choices") or []:
            if not isinstance(c, dict):
                continue
            prior = before.get((s.get("code"), c.get("code")))
            if prior is not None and isinstance(c.get("requires"), list) and set(c["requires"]) == set(prior):
                c["requires"] = prior
    return new
