"""Policy forms: they collect input and turn percentages into fractions; the services validate."""

from __future__ import annotations

from decimal import Decimal, InvalidOperation
from typing import Any

from django import forms
from django.utils.translation import gettext_lazy as _

from shebao.policy.models import (
    CONFIDENCE_CHOICES,
    DAY_FIELDS,
    INSURANCE_CHOICES,
    RATE_FIELDS,
    ROUNDING_CHOICES,
    FigureField,
    PolicyFigure,
)
from shebao.web.helpers import ServiceErrorsMixin

INDUSTRY_CLASSES = ["一类", "二类", "三类", "四类", "五类", "六类", "七类", "八类"]


def _percent(value: Any, label: str) -> Decimal | None:
    """ "12" or "12%" → 0.12; blank → None."""
    text = str(value or "").strip().removesuffix("%").strip()
    if not text:
        return None
    try:
        number = Decimal(text)
    except InvalidOperation as exc:
        raise forms.ValidationError(_("%(label)s应为数字，如 12 表示 12%%") % {"label": label}) from exc
    if not (0 <= number <= 100):
        raise forms.ValidationError(_("%(label)s应在0%%到100%%之间") % {"label": label})
    return number / 100


class VerifyForm(ServiceErrorsMixin, forms.Form):
    verified_against = forms.CharField(
        label=_("核验依据"),
        max_length=500,
        help_text=_("官方通知的文号或网址，如 京人社发〔2025〕11号"),
    )
    note = forms.CharField(label=_("说明"), required=False, widget=forms.Textarea(attrs={"rows": 2}))
    official_text_checked = forms.BooleanField(
        label=_("我已打开并核对官方原文（可信度将改为“官方原文”）"), required=False
    )


class CorrectForm(ServiceErrorsMixin, forms.Form):
    value = forms.CharField(label=_("数值"), required=False, max_length=40)
    confidence = forms.ChoiceField(label=_("可信度"), choices=CONFIDENCE_CHOICES)
    source_text = forms.CharField(
        label=_("来源"),
        required=False,
        widget=forms.Textarea(attrs={"rows": 2}),
        help_text=_("文号、发布机关和网址，如 京人社发〔2025〕11号 北京市人力资源和社会保障局 https://…"),
    )
    reason = forms.CharField(label=_("更正原因"), widget=forms.Textarea(attrs={"rows": 2}))

    def __init__(self, *args: Any, figure: PolicyFigure, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.figure = figure
        name = figure.field
        if name in RATE_FIELDS:
            self.fields["value"].label = _("数值（%）")
            self.fields["value"].help_text = _("填百分数，如 16 表示 16%；留空表示未收录")
        elif name in DAY_FIELDS:
            self.fields["value"].label = _("数值（每月几日）")
            self.fields["value"].help_text = _("1–31；留空表示未收录")
        elif name == FigureField.ROUNDING:
            self.fields["value"] = forms.ChoiceField(label=_("舍入规则"), choices=ROUNDING_CHOICES)
        elif name == FigureField.MERGED_INTO:
            self.fields["value"] = forms.ChoiceField(
                label=_("并入险种"), required=False, choices=[("", _("（不并入）")), *INSURANCE_CHOICES]
            )
        else:
            self.fields["value"].label = _("数值（元）")
            self.fields["value"].help_text = _("留空表示未收录")
        self.fields["value"].widget.attrs.setdefault("autocomplete", "off")
        if not self.is_bound:
            self.initial.update(self.initial_for(figure))

    @staticmethod
    def initial_for(figure: PolicyFigure) -> dict[str, Any]:
        if figure.field in RATE_FIELDS and figure.value is not None:
            value: Any = format((figure.value * 100).normalize(), "f")
        elif figure.field in (FigureField.ROUNDING, FigureField.MERGED_INTO):
            value = figure.text_value
        else:
            value = figure.display
            if figure.field in DAY_FIELDS and figure.value is not None:
                value = int(figure.value)
        return {
            "value": value,
            "confidence": figure.confidence,
            "source_text": figure.source.text if figure.source else "",
        }

    def clean_value(self):
        value = self.cleaned_data.get("value")
        if self.figure.field in RATE_FIELDS:
            return _percent(value, _("费率"))
        return value

    def service_data(self) -> dict[str, Any]:
        data = self.cleaned_data
        return {
            "value": data.get("value"),
            "confidence": data.get("confidence"),
            "source_text": data.get("source_text", ""),
            "reason": data.get("reason", ""),
        }


class EntitySettingForm(ServiceErrorsMixin, forms.Form):
    industry_class = forms.CharField(
        label=_("行业类别"),
        required=False,
        max_length=40,
        help_text=_("工伤保险行业风险类别，如 一类…八类（以经办机构核定为准）"),
        widget=forms.TextInput(attrs={"list": "industry-classes"}),
    )
    work_injury_rate = forms.CharField(
        label=_("工伤保险单位费率（%）"),
        required=False,
        help_text=_("按工伤保险费率核定通知填写，如 0.4"),
    )
    housing_fund_employer_rate = forms.CharField(
        label=_("公积金单位缴存比例（%）"), required=False, help_text=_("5–12，如 12")
    )
    housing_fund_employee_rate = forms.CharField(
        label=_("公积金个人缴存比例（%）"), required=False, help_text=_("5–12，如 12")
    )
    cutoff_day = forms.IntegerField(
        label=_("增减员截止日（每月几号）"),
        required=False,
        min_value=1,
        max_value=31,
        help_text=_(
            "当地经办机构规定的每月增减员截止日：在此日（含）之前办理的增员/减员当月生效，之后的次月生效。"
            "没有全国统一规定，政策库也未收录，请按当地通知填写并在“依据”中注明；不填时核对把入职、离职当月视为可缴可不缴"
        ),
    )
    effective_from = forms.DateField(
        label=_("生效日期"),
        required=False,
        widget=forms.DateInput(attrs={"type": "date"}, format="%Y-%m-%d"),
    )
    basis = forms.CharField(
        label=_("依据"),
        required=False,
        widget=forms.Textarea(attrs={"rows": 2}),
        help_text=_("如 工伤保险费率核定通知书、公积金缴存登记回执（文号/日期）"),
    )
    confirm_above_cap = forms.BooleanField(
        label=_("确认高于12%（已向当地住房公积金管理中心确认允许）"), required=False
    )

    PERCENT_FIELDS = ("work_injury_rate", "housing_fund_employer_rate", "housing_fund_employee_rate")

    def clean(self):
        data = super().clean()
        for name in self.PERCENT_FIELDS:
            if name in data:
                try:
                    data[name] = _percent(data[name], self.fields[name].label)
                except forms.ValidationError as exc:
                    self.add_error(name, exc)
        return data

    @staticmethod
    def initial_for(setting) -> dict[str, Any]:
        if setting is None:
            return {}

        def pct(value):
            return "" if value is None else format((value * 100).normalize(), "f")

        return {
            "industry_class": setting.industry_class,
            "work_injury_rate": pct(setting.work_injury_rate),
            "housing_fund_employer_rate": pct(setting.housing_fund_employer_rate),
            "housing_fund_employee_rate": pct(setting.housing_fund_employee_rate),
            "cutoff_day": setting.cutoff_day,
            "effective_from": setting.effective_from,
            "basis": setting.basis,
        }
