"""Forms of the ledger pages: they collect input, the ledger services validate."""

from __future__ import annotations

from django import forms
from django.utils.translation import gettext_lazy as _

from shebao.ledger.models import Discrepancy
from shebao.ledger.selectors import entities_for
from shebao.ledger.services import UPLOAD_EXTENSIONS as EXTENSIONS
from shebao.web.helpers import ServiceErrorsMixin


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


class ConnectorForm(ServiceErrorsMixin, forms.Form):
    entity = forms.ModelChoiceField(label=_("参保主体"), queryset=None, empty_label=None)
    name = forms.CharField(label=_("名称"), max_length=100)
    folder = forms.CharField(
        label=_("投递文件夹"),
        required=False,
        max_length=500,
        help_text=_(
            "本机上的完整路径。机器人或人员把导出文件放到这里，系统定时读取，处理后移到 processed/ 或 failed/"
        ),
    )
    base_url = forms.CharField(
        label=_("接口地址"),
        required=False,
        max_length=200,
        help_text=_(
            "按《数据连接器接口》（docs/connector-api.md）提供数据的服务地址，如 https://gateway.example.com"
        ),
    )
    client_id = forms.CharField(label=_("客户端标识"), required=False, max_length=100)
    secret = forms.CharField(
        label=_("签名密钥"),
        required=False,
        max_length=200,
        widget=forms.PasswordInput(render_value=False, attrs={"autocomplete": "new-password"}),
        help_text=_("HMAC-SHA256 请求签名密钥，加密保存；修改时留空表示不变"),
    )
    interval_minutes = forms.IntegerField(
        label=_("同步间隔（分钟）"), min_value=5, max_value=7 * 24 * 60, initial=60
    )
    enabled = forms.BooleanField(label=_("启用定时同步"), required=False, initial=True)

    def __init__(self, *args, user, kind: str, editing: bool = False, **kwargs):
        super().__init__(*args, **kwargs)
        self.kind = kind
        self.fields["entity"].queryset = entities_for(user)
        if editing:
            self.fields["entity"].disabled = True
        if kind == "drop_folder":
            for name in ("base_url", "client_id", "secret"):
                del self.fields[name]
        else:
            del self.fields["folder"]


class RetryForm(ServiceErrorsMixin, forms.Form):
    """Preview an uploaded file again, saying what it does not (month, 征收品目) or choosing the format."""

    profile = forms.ChoiceField(label=_("文件格式"), initial="auto")
    period = forms.CharField(
        label=_("费款所属期"),
        required=False,
        max_length=10,
        widget=forms.TextInput(attrs={"placeholder": "2026-02"}),
    )
    item = forms.CharField(
        label=_("征收品目"),
        required=False,
        max_length=60,
        widget=forms.TextInput(attrs={"placeholder": "职工基本养老保险(单位缴纳)"}),
    )

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["profile"].choices = profile_choices()


class MappingForm(ServiceErrorsMixin, forms.Form):
    """One select per column of an unrecognised file, plus the new profile's code and title."""

    shape = forms.ChoiceField(
        label=_("文件形状"),
        choices=[
            ("long", _("每行一人一个险种（长表）")),
            ("wide", _("每行一人一个月，每个险种一组列（宽表）")),
            ("status_list", _("参保人员名单（参保状态）")),
        ],
        initial="long",
    )
    code = forms.SlugField(
        label=_("模板编码"),
        max_length=60,
        help_text=_("英文字母、数字、- 和 _，如 my-city-export"),
        error_messages={
            "required": _("请填写模板编码，如 my-city-export"),
            "invalid": _("模板编码只能包含英文字母、数字、- 和 _，如 my-city-export"),
        },
    )
    title = forms.CharField(
        label=_("模板名称"),
        max_length=120,
        error_messages={"required": _("请填写模板名称，如 某市社保缴费明细")},
    )

    def __init__(self, *args, columns: list[dict], shape: str = "long", **kwargs):
        super().__init__(*args, **kwargs)
        from shebao.ledger import parsing

        self.columns = columns
        choices = [("", _("不导入"))] + [
            (k, str(v)) for k, v in parsing.field_choices("wide" if shape == "wide" else None)
        ]
        for col in columns:
            self.fields[f"col_{col['index']}"] = forms.ChoiceField(
                label=col["header"], choices=choices, required=False
            )

    def mapping(self) -> dict[str, str]:
        return {c["header"]: self.cleaned_data.get(f"col_{c['index']}") or "" for c in self.columns}

    def column_fields(self):
        return [(c, self[f"col_{c['index']}"]) for c in self.columns]
