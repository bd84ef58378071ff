"""Forms of the ledger pages: they collect input, the ledger services validate."""

from __future__ import annotations

import posixpath

from django import forms
from django.utils.translation import gettext_lazy as _

from shebao.ledger.models import Discrepancy
from shebao.ledger.selectors import entities_for
from shebao.web.helpers import ServiceErrorsMixin

EXTENSIONS = (".xlsx", ".xls", ".csv")


def profile_choices() -> list[tuple[str, str]]:
    from shebao.ledger import parsing

    return [("auto", _("自动识别"))] + [(p.code, f"{p.title}（{p.code}）") for p in parsing.profile_list()]


class UploadForm(ServiceErrorsMixin, forms.Form):
    entity = forms.ModelChoiceField(
        label=_("参保主体"),
        queryset=None,
        empty_label=None,
        help_text=_("文件属于哪个参保主体（文件中没有单位编号时，记录归入此主体）"),
    )
    file = forms.FileField(
        label=_("缴费明细/参保数据文件"),
        help_text=_("税务、人社、医保、公积金导出的 .xlsx、.xls、.csv，或代理机构账单；单个文件不超过 50 MB"),
        widget=forms.ClearableFileInput(attrs={"accept": ",".join(EXTENSIONS)}),
        error_messages={
            "required": _("请选择要上传的文件"),
            "empty": _("文件是空的：请确认选择了正确的文件"),
        },
    )
    profile = forms.ChoiceField(label=_("文件格式"), initial="auto")
    period = forms.CharField(
        label=_("费款所属期"),
        required=False,
        max_length=10,
        help_text=_("文件名和表头都没有写明月份时填写，如 2026-02"),
        widget=forms.TextInput(attrs={"placeholder": "2026-02"}),
    )
    item = forms.CharField(
        label=_("征收品目"),
        required=False,
        max_length=60,
        help_text=_(
            "“一个征收品目一个文件”的税务明细，文件名中没有品目时填写，如 职工基本养老保险(单位缴纳)"
        ),
    )

    def __init__(self, *args, user, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["entity"].queryset = entities_for(user)
        self.fields["profile"].choices = profile_choices()

    def clean_file(self):
        upload = self.cleaned_data["file"]
        ext = posixpath.splitext(upload.name or "")[1].lower()
        if ext not in EXTENSIONS:
            raise forms.ValidationError(
                _("不支持的文件类型“%(ext)s”：请上传 .xlsx、.xls 或 .csv 文件")
                % {"ext": ext or _("无扩展名")}
            )
        return upload


class DiscrepancyFilterForm(forms.Form):
    entity = forms.ModelChoiceField(
        label=_("参保主体"), queryset=None, required=False, empty_label=_("全部主体")
    )
    kind = forms.ChoiceField(label=_("类型"), required=False)
    status = forms.ChoiceField(
        label=_("状态"),
        required=False,
        choices=[("open", _("未解决")), ("resolved", _("已消除")), ("all", _("全部"))],
    )

    def __init__(self, *args, user, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["entity"].queryset = entities_for(user)
        self.fields["kind"].choices = [("", _("全部类型")), *Discrepancy.Kind.choices]


class ReconcileForm(forms.Form):
    entity = forms.ModelChoiceField(label=_("参保主体"), queryset=None, required=False)

    def __init__(self, *args, user, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["entity"].queryset = entities_for(user)
