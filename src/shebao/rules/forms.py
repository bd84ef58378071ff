"""Forms of the rules room: they collect and type-convert input; the rules services validate.

The rule form's parameter fields are generated from the kind's pydantic JSON schema (integers,
numbers, booleans, lists of choices), labelled with the fields' descriptions; their values go to
the service as typed, so the service's Chinese messages land on the fields.
"""

from __future__ import annotations

from decimal import Decimal, InvalidOperation
from typing import Any

from django import forms
from django.db.models import Q
from django.forms.utils import flatatt
from django.utils.html import format_html, format_html_join
from django.utils.safestring import mark_safe
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _

from shebao.accounts.models import User
from shebao.accounts.permissions import STAFF_ROLES, WRITE_ROLES
from shebao.notify.models import Channel
from shebao.notify.routing import DEFAULT_MODES, routing_of
from shebao.notify.routing import RECIPIENTS as ROUTING_RECIPIENTS
from shebao.notify.transports import TRANSPORTS
from shebao.org.models import Department, Entity
from shebao.policy.terms import INSURANCE_LABELS, Insurance
from shebao.roster.forms import DepartmentChoiceField, scoped_departments, scoped_entities
from shebao.roster.models import EmploymentType
from shebao.rules.kinds import KINDS, RuleKind
from shebao.rules.models import AlertRule, Finding, Severity
from shebao.web.helpers import ServiceErrorsMixin

RECIPIENT_LABELS = {
    "entity_hr": _("本主体人事"),
    "department_manager": _("部门负责人"),
    "employee": _("员工本人"),
    "users": _("指定用户"),
    "group_robot": _("群机器人"),
    "case_assignee": _("案件负责人"),
}
MODE_LABELS = {"immediate": _("立即"), "digest": _("每日摘要"), "off": _("不发送")}
STATUS_FILTERS = [
    ("active", _("未解除")),
    *Finding.Status.choices,
    ("all", _("全部状态")),
]
SORTS = [("deadline", _("按期限")), ("severity", _("按严重程度")), ("newest", _("最新发现"))]
# Labels of parameters whose schema has no description.
PARAM_LABELS = {"insurances": _("险种")}


def kind_choices() -> list[tuple[str, str]]:
    return [(code, gettext(k.label)) for code, k in KINDS.items()]


def hr_users():
    return User.objects.filter(is_active=True, role__in=WRITE_ROLES).order_by("username")


class UserChoiceField(forms.ModelChoiceField):
    def label_from_instance(self, obj: User) -> str:
        return obj.display_name


# --- the inbox ------------------------------------------------------------------------------------


class FindingFilterForm(forms.Form):
    q = forms.CharField(
        required=False,
        label=_("搜索"),
        widget=forms.SearchInput(attrs={"placeholder": _("姓名、工号或问题"), "class": "search"}),
    )
    status = forms.ChoiceField(label=_("状态"), required=False, choices=STATUS_FILTERS)
    severity = forms.ChoiceField(
        label=_("严重程度"), required=False, choices=[("", _("全部严重程度")), *Severity.choices]
    )
    kind = forms.ChoiceField(label=_("规则类型"), required=False)
    rule = forms.ModelChoiceField(
        label=_("规则"), queryset=AlertRule.objects.none(), required=False, empty_label=_("全部规则")
    )
    entity = forms.ModelChoiceField(
        label=_("参保主体"), queryset=Entity.objects.none(), required=False, empty_label=_("全部参保主体")
    )
    department = DepartmentChoiceField(
        label=_("部门"), queryset=Department.objects.none(), required=False, empty_label=_("全部部门")
    )
    assignee = forms.ChoiceField(label=_("负责人"), required=False)
    sort = forms.ChoiceField(label=_("排序"), required=False, choices=SORTS)

    def __init__(self, *args: Any, user: User, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["kind"].choices = [("", _("全部规则类型")), *kind_choices()]
        self.fields["rule"].queryset = AlertRule.objects.order_by("id")
        self.fields["entity"].queryset = scoped_entities(user)
        self.fields["department"].queryset = scoped_departments(user)
        self.fields["assignee"].choices = [
            ("", _("全部负责人")),
            ("-1", _("未分派")),
            *((str(u.pk), u.display_name) for u in hr_users()),
        ]


# --- batch actions --------------------------------------------------------------------------------


class IdListField(forms.Field):
    widget = forms.MultipleHiddenInput

    def to_python(self, value) -> list[int]:
        if not value:
            return []
        if isinstance(value, str):
            value = [value]
        try:
            return sorted({int(v) for v in value})
        except (TypeError, ValueError):
            raise forms.ValidationError(_("所选预警无效")) from None


class FindingActionForm(ServiceErrorsMixin, forms.Form):
    ACTIONS = {
        "acknowledge": Finding.Status.ACKNOWLEDGED,
        "snooze": Finding.Status.SNOOZED,
        "reopen": Finding.Status.OPEN,
        "assign": None,
    }

    action = forms.ChoiceField(choices=[(a, a) for a in ACTIONS])
    ids = IdListField(required=False)
    reason = forms.CharField(
        label=_("原因"),
        required=False,
        max_length=300,
        widget=forms.TextInput(attrs={"placeholder": _("原因（选填）")}),
    )
    snoozed_until = forms.DateField(
        label=_("暂缓至"), required=False, widget=forms.DateInput(attrs={"type": "date"})
    )
    assignee = UserChoiceField(
        label=_("负责人"), queryset=User.objects.none(), required=False, empty_label=_("（取消分派）")
    )

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["assignee"].queryset = hr_users()


# --- rules ----------------------------------------------------------------------------------------


class FastSelectMultiple(forms.SelectMultiple):
    """A multi-select rendered in one pass (a big organisation has over a thousand departments),
    one <optgroup> per entity when ``groups`` are given."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.groups: list[tuple[str | None, list[tuple[Any, str]]]] = []

    def render(self, name, value, attrs=None, renderer=None):
        selected = {str(v) for v in (value or [])}
        attrs = self.build_attrs(self.attrs, attrs or {})
        attrs.update({"name": name, "multiple": True})

        def options(items):
            return format_html_join(
                "",
                '<option value="{}"{}>{}</option>',
                ((v, mark_safe(" selected") if str(v) in selected else "", label) for v, label in items),
            )

        parts = [
            options(items)
            if group is None
            else format_html('<optgroup label="{}">{}</optgroup>', group, options(items))
            for group, items in self.groups
        ]
        return format_html("<select{}>{}</select>", flatatt(attrs), mark_safe("".join(parts)))


def _param_field(name: str, spec: dict[str, Any], required: set[str]) -> forms.Field | None:
    label = gettext(spec["description"]) if spec.get("description") else PARAM_LABELS.get(name, name)
    default = spec.get("default")
    kind = spec.get("type")
    bounds = spec
    if kind is None and spec.get("anyOf"):  # Decimal: number or numeric string
        numeric = next((s for s in spec["anyOf"] if s.get("type") in ("number", "integer")), None)
        if numeric is not None:
            kind, bounds = "number", numeric
    if kind in ("integer", "number"):
        attrs = {"step": "1" if kind == "integer" else "any", "class": "num"}
        for key, attr in (("minimum", "min"), ("maximum", "max")):
            if key in bounds:
                value = bounds[key]
                attrs[attr] = int(value) if float(value).is_integer() else value
        hint = ""
        if "min" in attrs and "max" in attrs:
            hint = gettext("%(min)s 至 %(max)s") % {"min": attrs["min"], "max": attrs["max"]}
        return forms.CharField(
            label=label,
            required=True,
            initial=default,
            help_text=hint,
            widget=forms.NumberInput(attrs=attrs),
            error_messages={"required": _("请填写")},
        )
    if kind == "boolean":
        return forms.BooleanField(label=label, required=False, initial=bool(default))
    if kind == "array" and spec.get("items", {}).get("enum"):
        values = spec["items"]["enum"]
        return forms.MultipleChoiceField(
            label=label,
            required=False,
            choices=[(v, _choice_label(v)) for v in values],
            initial=default,
            widget=forms.CheckboxSelectMultiple,
        )
    if spec.get("enum"):
        return forms.ChoiceField(
            label=label, required=name in required, choices=[(v, _choice_label(v)) for v in spec["enum"]]
        )
    return None


def _choice_label(value: str) -> str:
    try:
        return gettext(INSURANCE_LABELS[Insurance(value)])
    except ValueError:
        return value


class UserMultipleChoiceField(forms.ModelMultipleChoiceField):
    def label_from_instance(self, obj: User) -> str:
        return f"{obj.display_name}（{obj.get_role_display()}）"


class ChannelChoiceField(forms.ModelMultipleChoiceField):
    def label_from_instance(self, obj: Channel) -> str:
        label = f"{obj.name}（{TRANSPORTS.get(obj.kind, (obj.kind,))[0]}）"
        return label if obj.enabled else label + gettext("（已停用）")


class RuleForm(ServiceErrorsMixin, forms.Form):
    name = forms.CharField(label=_("名称"), max_length=100, error_messages={"required": _("请填写规则名称")})
    severity = forms.ChoiceField(label=_("严重程度"), choices=Severity.choices)
    enabled = forms.BooleanField(label=_("启用"), required=False, initial=True)
    entities = forms.ModelMultipleChoiceField(
        label=_("参保主体"),
        queryset=Entity.objects.none(),
        required=False,
        widget=forms.CheckboxSelectMultiple,
        help_text=_("不选表示全部参保主体"),
    )
    departments = forms.ModelMultipleChoiceField(
        label=_("部门（含下级）"),
        queryset=Department.objects.none(),
        required=False,
        widget=FastSelectMultiple(attrs={"size": 8}),
        help_text=_("不选表示全部部门；按住 Ctrl（Mac 上为 ⌘）多选"),
    )
    employment_types = forms.MultipleChoiceField(
        label=_("用工类型"),
        choices=EmploymentType.choices,
        required=False,
        widget=forms.CheckboxSelectMultiple,
        help_text=_("不选表示全部用工类型"),
    )
    recipients = forms.MultipleChoiceField(
        label=_("通知对象"),
        choices=[(r, RECIPIENT_LABELS[r]) for r in ROUTING_RECIPIENTS],
        required=False,
        widget=forms.CheckboxSelectMultiple,
    )
    users = UserMultipleChoiceField(
        label=_("指定用户"),
        queryset=User.objects.none(),
        required=False,
        widget=forms.SelectMultiple(attrs={"size": 6}),
        help_text=_("选择了“指定用户”时通知这些人；按住 Ctrl（Mac 上为 ⌘）多选"),
    )
    channels = ChannelChoiceField(
        label=_("群机器人 / 固定地址"),
        queryset=Channel.objects.none(),
        required=False,
        widget=forms.CheckboxSelectMultiple,
        help_text=_("选择了“群机器人”时发到这些通道"),
    )
    mode_critical = forms.ChoiceField(
        label=Severity.CRITICAL.label, choices=list(MODE_LABELS.items()), required=False
    )
    mode_warning = forms.ChoiceField(
        label=Severity.WARNING.label, choices=list(MODE_LABELS.items()), required=False
    )
    mode_info = forms.ChoiceField(
        label=Severity.INFO.label, choices=list(MODE_LABELS.items()), required=False
    )
    quiet_start = forms.CharField(
        label=_("免打扰时段"),
        required=False,
        max_length=8,
        widget=forms.TimeInput(attrs={"type": "time", "class": "num"}),
    )
    quiet_end = forms.CharField(
        label=_("免打扰结束"),
        required=False,
        max_length=8,
        widget=forms.TimeInput(attrs={"type": "time", "class": "num"}),
    )
    digest_at = forms.CharField(
        label=_("每日摘要时间"),
        required=False,
        max_length=8,
        initial="09:00",
        widget=forms.TimeInput(attrs={"type": "time", "class": "num"}),
        help_text=_("选择“每日摘要”的预警在这个时间汇总成一条发送"),
    )
    notify_resolved = forms.BooleanField(label=_("解除时也通知"), required=False)
    auto_case = forms.ChoiceField(
        label=_("自动立案"),
        required=False,
        help_text=_("预警新出现时自动按所选流程立案（负责人为空，由 HR 在案件列表中认领）"),
    )

    PREFIX = "param_"
    # the service's routing errors ("routing.users" …) and the fields that show them
    ROUTING_FIELDS = {
        "routing": "recipients",
        "routing.recipients": "recipients",
        "routing.users": "users",
        "routing.channels": "channels",
        "routing.modes": "mode_critical",
        "routing.quiet_hours": "quiet_start",
        "routing.digest_at": "digest_at",
    }

    def __init__(self, *args: Any, kind: RuleKind, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.kind = kind
        self.fields["entities"].queryset = Entity.objects.order_by("code")
        departments = Department.objects.select_related("entity").order_by("entity__code", "path")
        self.fields["departments"].queryset = departments
        self._group_departments(departments)
        self.fields["users"].queryset = User.objects.filter(is_active=True, role__in=STAFF_ROLES).order_by(
            "username"
        )
        # enabled group channels, and any the rule already names (a stopped one is kept, marked)
        routed = [str(c) for c in self.initial.get("channels") or []]
        if self.is_bound and hasattr(self.data, "getlist"):
            routed += self.data.getlist("channels")
        routed = [int(c) for c in routed if c.isdigit()]
        self.fields["channels"].queryset = (
            Channel.objects.exclude(kind="inapp").filter(Q(enabled=True) | Q(pk__in=routed)).order_by("id")
        )
        from shebao.cases.models import WorkflowTemplate

        templates = list(WorkflowTemplate.objects.filter(enabled=True).order_by("id"))
        offered = next((t for t in templates if kind.code in (t.finding_kinds or [])), None)
        auto_label = (
            gettext("按预警类型选择（%(name)s）") % {"name": offered.name}
            if offered
            else gettext("按预警类型选择（此类型没有对应流程）")
        )
        self.fields["auto_case"].choices = [("", gettext("不自动立案")), ("auto", auto_label)] + [
            (t.code, t.name) for t in templates
        ]
        schema = kind.params.model_json_schema()
        required = set(schema.get("required", []))
        self.param_names: list[str] = []
        for name, spec in schema.get("properties", {}).items():
            field = _param_field(name, spec, required)
            if field is not None:
                self.fields[self.PREFIX + name] = field
                self.param_names.append(name)

    def _group_departments(self, departments) -> None:
        rows = list(departments.values_list("pk", "name", "depth", "entity__name"))
        groups: dict[str, list[tuple[Any, str]]] = {}
        for pk, name, depth, entity in rows:
            groups.setdefault(entity, []).append((pk, "\u3000" * depth + name))
        widget = self.fields["departments"].widget
        widget.groups = [(None, next(iter(groups.values())))] if len(groups) == 1 else list(groups.items())

    @classmethod
    def initial_for(cls, rule: AlertRule | None, kind: RuleKind) -> dict[str, Any]:
        if rule is None:
            params = kind.default_params()
            data = {
                "name": gettext(kind.default_name),
                "severity": kind.severity,
                "enabled": True,
                "recipients": ["entity_hr"],
                **cls.routing_initial(None),
            }
        else:
            params = {**kind.default_params(), **(rule.params or {})}
            data = {
                "name": rule.name,
                "severity": rule.severity,
                "enabled": rule.enabled,
                "entities": list(rule.entities.all()),
                "departments": list(rule.departments.all()),
                "employment_types": rule.employment_types,
                "auto_case": rule.auto_case,
                **cls.routing_initial(rule.routing),
            }
        data.update({cls.PREFIX + k: v for k, v in params.items()})
        return data

    @staticmethod
    def routing_initial(stored: dict[str, Any] | None) -> dict[str, Any]:
        r = routing_of(stored)
        return {
            "recipients": list(r.recipients),
            "users": list(r.users),
            "channels": list(r.channels),
            **{f"mode_{sev}": r.mode(sev) for sev in DEFAULT_MODES},
            "quiet_start": r.quiet[0].strftime("%H:%M") if r.quiet else "",
            "quiet_end": r.quiet[1].strftime("%H:%M") if r.quiet else "",
            "digest_at": r.digest_at.strftime("%H:%M"),
            "notify_resolved": r.notify_resolved,
        }

    @property
    def routing_fields(self):
        return {
            name: self[name] for name in ("recipients", "users", "channels", "digest_at", "notify_resolved")
        }

    @property
    def mode_fields(self):
        return [self[f"mode_{sev}"] for sev in ("critical", "warning", "info")]

    @property
    def param_fields(self):
        return [self[self.PREFIX + n] for n in self.param_names]

    @property
    def scope_fields(self):
        return [self["entities"], self["departments"], self["employment_types"]]

    def params(self) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for name in self.param_names:
            value = self.cleaned_data.get(self.PREFIX + name)
            field = self.fields[self.PREFIX + name]
            if isinstance(field, forms.CharField):
                value = _number(value)
            out[name] = value
        return out

    def service_data(self) -> dict[str, Any]:
        d = self.cleaned_data
        return {
            "name": d["name"],
            "severity": d["severity"],
            "params": self.params(),
            "entities": list(d["entities"]),
            "departments": list(d["departments"]),
            "employment_types": list(d["employment_types"]),
            "auto_case": d.get("auto_case") or "",
        }

    def routing(self, current: dict[str, Any] | None = None) -> dict[str, Any]:
        """The routing as ``shebao.notify.routing.routing_clean`` takes it (the service checks it)."""
        d = self.cleaned_data
        start, end = (d.get("quiet_start") or "").strip(), (d.get("quiet_end") or "").strip()
        return {
            "recipients": list(d["recipients"]),
            "users": [u.pk for u in d.get("users") or []],
            "channels": [c.pk for c in d.get("channels") or []],
            "modes": {sev: d.get(f"mode_{sev}") or default for sev, default in DEFAULT_MODES.items()},
            "quiet_hours": {"start": start, "end": end} if start or end else {},
            "digest_at": (d.get("digest_at") or "").strip() or "09:00",
            "notify_resolved": bool(d.get("notify_resolved")),
        }

    def add_service_errors(self, field_errors: dict[str, str], message: str) -> None:
        on_params = bool(field_errors)
        for key, error in field_errors.items():
            head = key.split(".", 1)[0]
            target = self.ROUTING_FIELDS.get(key) or self.ROUTING_FIELDS.get(head) or head
            if self.PREFIX + head in self.fields:
                target = self.PREFIX + head
            else:
                on_params = False
            self.add_error(target if target in self.fields else None, error)
        # the parameters' message names them by their codes: the fields already say it in words
        if on_params:
            self.add_error(None, gettext("参数有误，请按标出的提示修改"))
        elif message not in field_errors.values():
            self.add_error(None, message)


def _number(value: Any) -> Any:
    """'30' → 30, '1.5' → Decimal('1.5'); anything else goes to the service as typed (it says why)."""
    text = str(value).strip()
    try:
        number = Decimal(text)
    except InvalidOperation:
        return text
    if number == number.to_integral_value() and "." not in text and "e" not in text.lower():
        return int(number)
    return number
