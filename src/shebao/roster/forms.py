"""Roster forms: they collect and type-convert input; the roster services do the validating."""

from __future__ import annotations

from itertools import groupby
from typing import Any

from django import forms
from django.forms.utils import flatatt
from django.utils.html import format_html, format_html_join
from django.utils.safestring import mark_safe
from django.utils.translation import gettext_lazy as _

from shebao.accounts.models import Role, User
from shebao.accounts.permissions import entity_scope_ids
from shebao.org.models import Department, Entity
from shebao.org.selectors import department_label, department_list, entity_list
from shebao.roster.models import ID_KIND_CHOICES, EmployeeStatus, EmploymentType, HukouType
from shebao.web.helpers import ServiceErrorsMixin


def scoped_entities(user: User):
    return entity_list(ids=entity_scope_ids(user)).order_by("code")


def scoped_departments(user: User):
    # Department managers see their own subtree only, not every department of their entity.
    under = user.department.path if user.role == Role.DEPT_MANAGER and user.department_id else None
    return department_list(entity_ids=entity_scope_ids(user), under_path=under).order_by(
        "entity__code", "path"
    )


class TreeSelect(forms.Select):
    """A <select> rendered in one pass: a big organisation has well over a thousand stores, and
    Django's one-template-per-option rendering dominated the roster page's response time."""

    def render(self, name, value, attrs=None, renderer=None):
        selected = "" if value is None else str(value)
        attrs = self.build_attrs(self.attrs, attrs or {})
        attrs.update({"name": name})

        def options(items):
            return format_html_join(
                "",
                '<option value="{}"{}>{}</option>',
                (
                    (v, mark_safe(" selected") if str(v) == selected and v != "" else "", label)
                    for v, label in items
                ),
            )

        parts = []
        for group, items in self.field_choices():
            parts.append(
                options(items)
                if group is None
                else format_html('<optgroup label="{}">{}</optgroup>', group, options(items))
            )
        return format_html("<select{}>{}</select>", flatatt(attrs), mark_safe("".join(parts)))


class DepartmentChoiceField(forms.ModelChoiceField):
    """Departments as an indented tree, one <optgroup> per entity when there are several entities."""

    widget = TreeSelect

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.widget.field_choices = self.grouped_choices

    def label_from_instance(self, obj: Department) -> str:
        return department_label(obj)

    def grouped_choices(self) -> list[tuple[str | None, list[tuple[Any, str]]]]:
        rows = list(self.queryset.values_list("pk", "name", "depth", "entity__name"))
        head = [("", self.empty_label)] if self.empty_label is not None else []
        groups = [
            (entity, [(pk, "\u3000" * depth + name) for pk, name, depth, _e in items])
            for entity, items in groupby(rows, key=lambda r: r[3])
        ]
        if len(groups) <= 1:
            return [(None, head + (groups[0][1] if groups else []))]
        return [(None, head), *groups]

    def __deepcopy__(self, memo):
        result = super().__deepcopy__(memo)
        result.widget.field_choices = result.grouped_choices
        return result


class EmployeeFilterForm(forms.Form):
    q = forms.CharField(required=False, label=_("搜索"), widget=forms.SearchInput)
    entity = forms.ModelChoiceField(
        queryset=Entity.objects.none(), required=False, empty_label=_("全部参保主体"), label=_("参保主体")
    )
    department = DepartmentChoiceField(
        queryset=Department.objects.none(), required=False, empty_label=_("全部部门"), label=_("部门")
    )
    status = forms.ChoiceField(
        choices=[("", _("全部状态")), *EmployeeStatus.choices], required=False, label=_("状态")
    )
    employment_type = forms.ChoiceField(
        choices=[("", _("全部用工类型")), *EmploymentType.choices], required=False, label=_("用工类型")
    )

    def __init__(self, *args: Any, user: User, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["entity"].queryset = scoped_entities(user)
        departments = scoped_departments(user)
        entity_id = self.data.get("entity") if self.is_bound else None
        if entity_id and str(entity_id).isdigit():
            departments = departments.filter(entity_id=entity_id)
        elif user.role != Role.DEPT_MANAGER:
            # Stores are listed once an entity is chosen: hundreds of them would swamp the list.
            departments = departments.exclude(kind=Department.Kind.STORE)
        self.fields["department"].queryset = departments
        for field in self.fields.values():
            field.widget.attrs.update({"aria-label": field.label, "class": "roster-filter"})
        self.fields["q"].widget.attrs.update(
            {
                "placeholder": _("姓名、工号、完整证件号码或手机号"),
                "autocomplete": "off",
                "class": "search",
            }
        )


def _date_widget() -> forms.DateInput:
    return forms.DateInput(attrs={"type": "date"}, format="%Y-%m-%d")


class SpellForm(ServiceErrorsMixin, forms.Form):
    """The fields of one employment spell, with scoped entity/department choices. Everything is
    optional here so that the service reports missing values with its own messages, all at once."""

    REQUIRED: tuple[str, ...] = ("entity", "employee_no", "hire_date")  # marked with * in the template

    entity = forms.ModelChoiceField(
        label=_("参保主体"), queryset=Entity.objects.none(), required=False, empty_label=_("请选择")
    )
    department = DepartmentChoiceField(
        label=_("部门"), queryset=Department.objects.none(), required=False, empty_label=_("（无）")
    )
    employee_no = forms.CharField(label=_("工号"), required=False, max_length=32)
    hire_date = forms.DateField(label=_("入职日期"), required=False, widget=_date_widget())
    employment_type = forms.ChoiceField(
        label=_("用工类型"), required=False, choices=EmploymentType.choices, initial=EmploymentType.FULL_TIME
    )
    declared_wage = forms.CharField(label=_("申报月工资"), required=False, max_length=20)

    def __init__(self, *args: Any, user: User, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.required_fields = list(self.REQUIRED)
        self.fields["entity"].queryset = scoped_entities(user)
        self.fields["department"].queryset = scoped_departments(user)
        self.fields["declared_wage"].widget.attrs.update({"inputmode": "decimal", "placeholder": "0.00"})


class EmployeeForm(SpellForm):
    """Fields of employee_create / employee_update."""

    REQUIRED = ("name", "id_number", "entity", "employee_no", "hire_date")

    name = forms.CharField(label=_("姓名"), required=False, max_length=60)
    id_kind = forms.ChoiceField(
        label=_("证件类型"), required=False, choices=[("", _("自动识别")), *ID_KIND_CHOICES]
    )
    id_number = forms.CharField(label=_("证件号码"), required=False, max_length=40)
    leave_date = forms.DateField(label=_("离职日期"), required=False, widget=_date_widget())
    hukou_type = forms.ChoiceField(
        label=_("户籍类型"), required=False, choices=[("", _("未填写")), *HukouType.choices]
    )
    phone = forms.CharField(label=_("手机"), required=False, max_length=40)
    email = forms.EmailField(label=_("邮箱"), required=False)

    # Blank on edit means "keep": the stored numbers are never rendered back into the form.
    SECRET_FIELDS = ("id_number", "phone")

    def __init__(self, *args: Any, user: User, editing: bool = False, **kwargs: Any) -> None:
        super().__init__(*args, user=user, **kwargs)
        self.editing = editing
        # On edit the stored number stays when the field is left blank, so it is not required there.
        self.required_fields = [n for n in self.REQUIRED if not (editing and n in self.SECRET_FIELDS)]
        if not editing and "entity" not in self.initial:
            entities = list(self.fields["entity"].queryset[:2])
            if len(entities) == 1:  # a clerk with one entity need not pick it
                self.initial["entity"] = entities[0].pk
        for name in self.SECRET_FIELDS:
            self.fields[name].widget.attrs["autocomplete"] = "off"
            if editing:
                self.fields[name].help_text = _("留空表示不修改")
        self.fields["id_number"].widget.attrs["class"] = "mono"
        self.fields["phone"].widget.attrs["inputmode"] = "tel"
        for name in self.required_fields:
            self.fields[name].widget.attrs["aria-required"] = "true"

    @staticmethod
    def initial_for(employee) -> dict[str, Any]:
        return {
            "name": employee.name,
            "entity": employee.entity_id,
            "department": employee.department_id,
            "employee_no": employee.employee_no,
            "hire_date": employee.hire_date,
            "leave_date": employee.leave_date,
            "employment_type": employee.employment_type,
            "hukou_type": employee.hukou_type,
            "email": employee.email,
            "declared_wage": "" if employee.declared_wage is None else f"{employee.declared_wage:.2f}",
        }

    def service_data(self) -> dict[str, Any]:
        """The keyword arguments for the service; on edit, blank secret fields are left out."""
        data = dict(self.cleaned_data)
        if self.editing:
            for name in self.SECRET_FIELDS:
                if not str(data.get(name) or "").strip():
                    data.pop(name)
            if "id_number" not in data:
                data.pop("id_kind")
        return data


class RehireForm(SpellForm):
    """A new employment spell for a person who has left (same identity, new spell)."""
