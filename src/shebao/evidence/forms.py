"""Forms of the evidence pages: the entry filter and the settings (the service validates)."""

from __future__ import annotations

from django import forms
from django.utils.translation import gettext_lazy as _

from shebao.evidence.selectors import kind_choices
from shebao.notify.models import Channel
from shebao.web.helpers import ServiceErrorsMixin


class EntryFilterForm(forms.Form):
    kind = forms.ChoiceField(label=_("类型"), required=False)
    seq_from = forms.IntegerField(
        label=_("起始序号"),
        required=False,
        min_value=1,
        widget=forms.NumberInput(attrs={"placeholder": _("从第几条"), "class": "seq"}),
    )
    seq_to = forms.IntegerField(
        label=_("截止序号"),
        required=False,
        min_value=1,
        widget=forms.NumberInput(attrs={"placeholder": _("到第几条"), "class": "seq"}),
    )

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["kind"].choices = [("", _("全部类型")), *kind_choices()]

    def clean(self):
        data = super().clean()
        low, high = data.get("seq_from"), data.get("seq_to")
        if low is not None and high is not None and low > high:
            self.add_error("seq_to", _("截止序号不能小于起始序号"))
        return data


class ChannelChoiceField(forms.ModelChoiceField):
    def label_from_instance(self, obj: Channel) -> str:
        return f"{obj.name}（{obj.get_kind_display()}）"


class SettingsForm(ServiceErrorsMixin, forms.Form):
    channel = ChannelChoiceField(
        label=_("校验点发送到"),
        queryset=Channel.objects.none(),
        required=False,
        empty_label=_("（不发送，只在本系统记录）"),
        help_text=_("每日校验点（链头哈希）发到审计人员的通知通道，保存在本系统之外。"),
    )
    tsa_url = forms.CharField(
        label=_("RFC 3161 时间戳服务"),
        required=False,
        max_length=300,
        widget=forms.URLInput(attrs={"placeholder": "https://freetsa.org/tsr"}),
        help_text=_("可选：为每个校验点申请可信时间戳（TSA）。留空则不申请。"),
    )

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["channel"].queryset = Channel.objects.filter(enabled=True).order_by("name")
