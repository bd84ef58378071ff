from __future__ import annotations

from django import forms
from django.utils.translation import gettext_lazy as _

from shebao.accounts.models import ApiToken
from shebao.core.exceptions import ApplicationError


class ApiTokenCreateForm(forms.Form):
    name = forms.CharField(
        label=_("名称"),
        max_length=80,
        error_messages={"required": _("请填写令牌名称"), "max_length": _("名称不能超过80个字符")},
        widget=forms.TextInput(attrs={"placeholder": _("例如：工资系统同步"), "autocomplete": "off"}),
    )
    scope = forms.ChoiceField(
        label=_("权限范围"),
        choices=ApiToken.Scope.choices,
        initial=ApiToken.Scope.READ,
        error_messages={"required": _("请选择权限范围"), "invalid_choice": _("权限范围只能是只读或读写")},
    )

    def add_application_error(self, exc: ApplicationError) -> None:
        """Show a service's refusal: the message on top, field hints next to their fields."""
        self.add_error(None, exc.message)
        for field, message in exc.field_errors.items():
            if field in self.fields and message != exc.message:
                self.add_error(field, message)
