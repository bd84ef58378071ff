"""Forms of the notifications room: they collect and type-convert input; the notify services
validate (their Chinese field errors land on the fields).

A channel's settings form is generated from its transport's pydantic ``Config``
(``model_json_schema``): strings are text inputs (secret fields password inputs that are never
filled back in), lists are textareas with one item per line, booleans checkboxes, literals
selects, the webhook's headers a textarea of ``名称: 值`` lines.
"""

from __future__ import annotations

from typing import Any

from django import forms
from django.conf import settings
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _

from shebao.notify.models import Channel, MessageTemplate, Notification
from shebao.notify.transports import TRANSPORTS, WORK_KINDS, Transport
from shebao.web.helpers import ServiceErrorsMixin

# What each kind is for, shown when choosing the kind of a new channel.
KIND_SUMMARIES = {
    "email": _("通过企业邮箱的 SMTP 账号发邮件：给选择了邮件接收的同事，或固定的群组邮箱。"),
    "sms_aliyun": _("阿里云短信服务：用已审核的签名和模板给选择了短信接收的同事发短信。"),
    "sms_tencent": _("腾讯云短信：用已审核的签名和模板给选择了短信接收的同事发短信。"),
    "dingtalk_work": _("钉钉企业内部应用的工作通知：按手机号找到员工，把函件链接单独发给本人。"),
    "wecom_app": _("企业微信自建应用的应用消息：按手机号找到员工，把函件链接以卡片单独发给本人。"),
    "dingtalk": _("钉钉群的自定义机器人：预警以 Markdown 消息发到群里。"),
    "wecom": _("企业微信群机器人：预警以 Markdown 消息发到群里。"),
    "feishu": _("飞书群的自定义机器人：预警以消息卡片或文本发到群里。"),
    "webhook": _("向你的系统 POST 一条带签名的 JSON（OA、工单系统等）。"),
}

# Labels and hints of configuration fields ("kind.field" first, then "field").
FIELD_LABELS = {
    "url": _("Webhook 地址"),
    "secret": _("签名密钥"),
    "dingtalk.secret": _("加签密钥"),
    "feishu.secret": _("签名校验密钥"),
    "headers": _("自定义请求头"),
    "at_mobiles": _("@ 的成员手机号"),
    "at_all": _("@所有人"),
    "msg_type": _("消息类型"),
    "host": _("SMTP 服务器"),
    "port": _("端口"),
    "username": _("用户名"),
    "password": _("密码"),
    "security": _("加密方式"),
    "from": _("发件人"),
    "to": _("固定收件人"),
    "timeout": _("超时（秒）"),
    "access_key_id": _("AccessKey ID"),
    "access_key_secret": _("AccessKey Secret"),
    "secret_id": _("SecretId"),
    "secret_key": _("SecretKey"),
    "sdk_app_id": _("短信应用 SdkAppId"),
    "sign_name": _("短信签名"),
    "template_code": _("模板 CODE"),
    "template_id": _("模板 ID"),
    "params": _("模板参数名"),
    "templates": _("按消息类型另用的模板"),
    "endpoint": _("接入地址"),
    "region": _("地域"),
    "app_key": _("AppKey（Client ID）"),
    "app_secret": _("AppSecret（Client Secret）"),
    "agent_id": _("AgentId"),
    "corp_id": _("企业 ID（CorpID）"),
    "wecom_app.secret": _("应用 Secret"),
}
FIELD_HELP = {
    "webhook.url": _("接收通知的地址，如 https://oa.example.com/hooks/shebao"),
    "webhook.secret": _("选填：设置后每个请求带 X-Shebao-Signature（HMAC-SHA256）签名"),
    "headers": _("选填，每行一个，如 Authorization: Bearer xxx"),
    "dingtalk.url": _("机器人设置中的 Webhook，含 access_token"),
    "dingtalk.secret": _("机器人安全设置选“加签”时填写，以 SEC 开头"),
    "at_mobiles": _("选填，每行一个手机号"),
    "wecom.url": _("群机器人的 Webhook 地址，含 key 参数"),
    "feishu.url": _("形如 https://open.feishu.cn/open-apis/bot/v2/hook/…"),
    "feishu.secret": _("机器人安全设置开启“签名校验”时填写"),
    "host": _("如 smtp.exmail.qq.com（不含端口）"),
    "port": _("留空则按加密方式使用常用端口（465 / 587 / 25）"),
    "from": _("如 社保合规助手 <hr@example.com>"),
    "to": _("选填：每行一个地址，通知发到这些固定邮箱（群组邮箱）"),
    "params": _("每行一个，按已审核短信模板中参数的顺序，如 name、title、deadline"),
    "templates": _(
        "选填，每行“消息类型: 模板编号 参数1,参数2”。验证码须用验证码模板，如 otp: SMS_123456 code；"
        "函件送达需带链接，如 case_letter: SMS_234567 name,title,deadline,link。未列出的类型用上面的模板"
    ),
    "endpoint": _("一般无需修改"),
    "region": _("一般无需修改"),
    "dingtalk_work.app_key": _("钉钉开发者后台 › 企业内部应用 › 凭证与基础信息"),
    "dingtalk_work.agent_id": _("应用详情页的 AgentId（数字）"),
    "dingtalk_work.endpoint": _("留空即 https://oapi.dingtalk.com"),
    "corp_id": _("企业微信管理后台 › 我的企业 › 企业信息"),
    "wecom_app.agent_id": _("应用管理 › 自建应用详情页的 AgentId（数字）"),
    "wecom_app.secret": _("自建应用详情页的 Secret"),
    "wecom_app.endpoint": _("留空即 https://qyapi.weixin.qq.com"),
}
CHOICE_LABELS = {
    "security": {"ssl": _("SSL/TLS（465）"), "starttls": _("STARTTLS（587）"), "none": _("不加密（25）")},
    "msg_type": {"interactive": _("消息卡片"), "text": _("纯文本")},
}
DICT_PLACEHOLDERS = {"headers": "Authorization: Bearer …", "templates": "otp: SMS_123456 code"}
SECRET_SET = _("已设置（留空则不修改）")

EVENT_LABELS = {
    "finding": _("预警（通用）"),
    "employee": _("给员工本人"),
    "digest": _("摘要"),
    "test": _("测试消息"),
    "channel_failing": _("通道故障"),
    "case_letter": _("函件送达（给员工）"),
    "otp": _("验证码（给员工）"),
    "evidence_checkpoint": _("证据链校验点（给审计员）"),
    "evidence_broken": _("证据链校验失败（给审计员和人事管理员）"),
}


def _label(kind: str, name: str, spec: dict[str, Any]) -> str:
    return FIELD_LABELS.get(f"{kind}.{name}") or FIELD_LABELS.get(name) or spec.get("title") or name


def _help(kind: str, name: str) -> str:
    return FIELD_HELP.get(f"{kind}.{name}") or FIELD_HELP.get(name) or ""


def _lines(value: Any) -> list[str]:
    return [line.strip() for line in str(value or "").splitlines() if line.strip()]


class ChannelForm(ServiceErrorsMixin, forms.Form):
    """A channel's common settings and its kind's configuration (fields ``cfg_<name>``)."""

    PREFIX = "cfg_"

    name = forms.CharField(label=_("名称"), max_length=80, required=False)
    enabled = forms.BooleanField(label=_("启用"), required=False, initial=True)
    for_people = forms.BooleanField(
        label=_("用于个人通知"),
        required=False,
        help_text=_("勾选后，同事在“我的通知设置”中选择的邮件或短信经此通道发送（每类取第一个启用的通道）"),
    )
    language = forms.ChoiceField(label=_("消息语言"), choices=settings.LANGUAGES, initial="zh-hans")
    rate_limit = forms.IntegerField(
        label=_("每分钟最多条数"),
        required=False,
        help_text=_("留空表示不限；超过时同一接收方的多条预警合并为一条摘要"),
        widget=forms.NumberInput(attrs={"class": "num"}),
    )

    def __init__(
        self,
        *args: Any,
        kind: str,
        transport: type[Transport],
        secrets_set: dict[str, bool] | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(*args, **kwargs)
        self.kind = kind
        self.transport = transport
        self.secrets_set = secrets_set or {}
        self.required_fields = {"name"}
        if not transport.personal:
            del self.fields["for_people"]
        elif kind in WORK_KINDS:
            self.fields["for_people"].help_text = _(
                "勾选后，给员工的函件通知经此通道以工作通知发给本人（取第一个启用的钉钉/企业微信通道）"
            )
        schema = transport.Config.model_json_schema(by_alias=True)
        required = set(schema.get("required", []))
        self.config_names: list[str] = []
        self.config_types: dict[str, str] = {}
        for name, spec in schema.get("properties", {}).items():
            field, shape = self._config_field(name, spec)
            self.fields[self.PREFIX + name] = field
            self.config_names.append(name)
            self.config_types[name] = shape
            if name in required and not self.secrets_set.get(name):
                self.required_fields.add(self.PREFIX + name)

    def _config_field(self, name: str, spec: dict[str, Any]) -> tuple[forms.Field, str]:
        label, help_text = _label(self.kind, name, spec), _help(self.kind, name)
        default = spec.get("default")
        if name in self.transport.secret_fields:
            placeholder = "••••••••" if self.secrets_set.get(name) else ""
            if self.secrets_set.get(name):
                help_text = SECRET_SET
            widget = forms.PasswordInput(attrs={"autocomplete": "new-password", "placeholder": placeholder})
            return forms.CharField(label=label, required=False, help_text=help_text, widget=widget), "secret"
        kind = spec.get("type")
        if kind is None and spec.get("anyOf"):  # int | None
            kind = next((s.get("type") for s in spec["anyOf"] if s.get("type") != "null"), "string")
        if spec.get("enum"):
            labels = CHOICE_LABELS.get(name, {})
            choices = [(v, labels.get(v, v)) for v in spec["enum"]]
            return forms.ChoiceField(
                label=label, choices=choices, initial=default, required=False, help_text=help_text
            ), "choice"
        if kind == "boolean":
            return forms.BooleanField(
                label=label, required=False, initial=bool(default), help_text=help_text
            ), ("boolean")
        if kind == "array":
            widget = forms.Textarea(attrs={"rows": 3})
            initial = "\n".join(str(v) for v in default or [])
            return forms.CharField(
                label=label, required=False, initial=initial, help_text=help_text, widget=widget
            ), "list"
        if kind == "object":
            placeholder = DICT_PLACEHOLDERS.get(name, "")
            widget = forms.Textarea(attrs={"rows": 3, "placeholder": placeholder})
            return forms.CharField(label=label, required=False, help_text=help_text, widget=widget), "dict"
        if kind == "integer":
            widget = forms.NumberInput(attrs={"class": "num"})
            return forms.CharField(
                label=label, required=False, initial=default, help_text=help_text, widget=widget
            ), "integer"
        return forms.CharField(
            label=label, required=False, initial=default, help_text=help_text, max_length=2000
        ), "string"

    @classmethod
    def initial_for(cls, channel: Channel | None, kind: str) -> dict[str, Any]:
        from shebao.notify.services import DEFAULT_RATE

        if channel is None:
            return {"enabled": True, "language": "zh-hans", "rate_limit": DEFAULT_RATE.get(kind)}
        data: dict[str, Any] = {
            "name": channel.name,
            "enabled": channel.enabled,
            "for_people": channel.for_people,
            "language": channel.language,
            "rate_limit": channel.rate_limit,
        }
        for name, value in (channel.config or {}).items():
            if isinstance(value, list):
                value = "\n".join(str(v) for v in value)
            elif isinstance(value, dict):
                value = "\n".join(f"{k}: {v}" for k, v in value.items())
            data[cls.PREFIX + name] = value
        return data

    @property
    def config_fields(self):
        return [self[self.PREFIX + n] for n in self.config_names]

    def clean(self) -> dict[str, Any]:
        data = super().clean()
        for name in self.config_names:
            if self.config_types[name] != "dict":
                continue
            key = self.PREFIX + name
            headers: dict[str, str] = {}
            for line in _lines(data.get(key)):
                head, sep, value = line.partition(":")
                if not sep or not head.strip():
                    self.add_error(key, gettext("“%(line)s”应写成“名称: 值”") % {"line": line})
                    break
                headers[head.strip()] = value.strip()
            data[key] = headers
        return data

    def config(self) -> dict[str, Any]:
        """The configuration for the service: blank optional values are left out (their defaults
        apply), a blank secret means "keep the stored one"."""
        out: dict[str, Any] = {}
        for name in self.config_names:
            value = self.cleaned_data.get(self.PREFIX + name)
            shape = self.config_types[name]
            if shape == "boolean":
                out[name] = bool(value)
            elif shape == "list":
                out[name] = _lines(value)
            elif shape == "dict":
                out[name] = value or {}
            elif value not in (None, ""):
                out[name] = value
        return out

    def service_data(self) -> dict[str, Any]:
        d = self.cleaned_data
        return {
            "name": d["name"],
            "config": self.config(),
            "enabled": d["enabled"],
            "for_people": d.get("for_people", False),
            "language": d["language"],
            "rate_limit": d["rate_limit"],
        }

    def add_service_errors(self, field_errors: dict[str, str], message: str) -> None:
        on_fields = bool(field_errors)
        for key, error in field_errors.items():
            head = key.split(".", 1)[0]
            target = self.PREFIX + head if self.PREFIX + head in self.fields else head
            if target in self.fields:
                self.add_error(target, error)
            else:
                on_fields = False
        # the service's message names the fields by their codes: the fields already say it in words
        if on_fields:
            if len(field_errors) > 1 or message not in field_errors.values():
                self.add_error(None, gettext("设置有误，请按标出的提示修改"))
        else:
            self.add_error(None, message)


class ChannelTestForm(forms.Form):
    to = forms.CharField(
        label=_("测试接收地址"),
        required=False,
        max_length=200,
        widget=forms.TextInput(attrs={"placeholder": _("邮箱地址或手机号")}),
    )


# --- templates ------------------------------------------------------------------------------------


class TemplateForm(ServiceErrorsMixin, forms.Form):
    subject = forms.CharField(
        label=_("标题"), required=False, max_length=300, widget=forms.TextInput(attrs={"class": "wide mono"})
    )
    body = forms.CharField(
        label=_("正文"),
        required=False,
        widget=forms.Textarea(attrs={"rows": 14, "class": "mono", "spellcheck": "false"}),
    )
    html = forms.CharField(
        label=_("HTML 正文"),
        required=False,
        widget=forms.Textarea(attrs={"rows": 14, "class": "mono", "spellcheck": "false"}),
    )

    def __init__(self, *args: Any, format: str, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.format = format
        self.required_fields = {"body"}
        if format != MessageTemplate.Format.EMAIL:
            del self.fields["html"]
        if format == MessageTemplate.Format.SMS:
            del self.fields["subject"]
            self.fields["body"].label = _("短信参数")
            self.fields["body"].help_text = _("每行“参数名: 取值”，参数名与短信通道配置的模板参数名一致")


# --- the log --------------------------------------------------------------------------------------


class LogFilterForm(forms.Form):
    q = forms.CharField(
        required=False,
        label=_("搜索"),
        widget=forms.SearchInput(attrs={"placeholder": _("标题或收件地址"), "class": "search"}),
    )
    status = forms.ChoiceField(
        label=_("状态"), required=False, choices=[("", _("全部状态")), *Notification.Status.choices]
    )
    channel = forms.ModelChoiceField(
        label=_("通道"), queryset=Channel.objects.none(), required=False, empty_label=_("全部通道")
    )
    event = forms.ChoiceField(
        label=_("事件"), required=False, choices=[("", _("全部事件")), *Notification.Event.choices]
    )

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["channel"].queryset = Channel.objects.exclude(kind="inapp").order_by("id")


# --- preferences ----------------------------------------------------------------------------------


class PreferenceForm(ServiceErrorsMixin, forms.Form):
    inapp = forms.BooleanField(
        label=_("站内信"),
        required=False,
        initial=True,
        disabled=True,
        help_text=_("始终开启：预警会出现在通知中心"),
    )
    email = forms.BooleanField(label=_("邮件"), required=False)
    sms = forms.BooleanField(label=_("短信"), required=False)
    phone = forms.CharField(
        label=_("手机号"),
        required=False,
        max_length=20,
        widget=forms.TextInput(attrs={"inputmode": "tel", "autocomplete": "tel"}),
    )
    clear_phone = forms.BooleanField(label=_("删除已保存的手机号"), required=False)

    def __init__(self, *args: Any, phone_masked: str = "", **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.phone_masked = phone_masked
        if phone_masked:
            self.fields["phone"].help_text = gettext("已保存：%(phone)s（留空则不修改）") % {
                "phone": phone_masked
            }
            self.fields["phone"].widget.attrs["placeholder"] = phone_masked
        else:
            del self.fields["clear_phone"]
            self.fields["phone"].help_text = _("选择短信接收时必填，11 位手机号")

    def channels(self) -> list[str]:
        d = self.cleaned_data
        return ["inapp"] + [c for c in ("email", "sms") if d.get(c)]

    def phone_value(self) -> str | None:
        d = self.cleaned_data
        if d.get("clear_phone"):
            return ""
        return d.get("phone") or None  # blank: keep the stored number

    def add_service_errors(self, field_errors: dict[str, str], message: str) -> None:
        # the service's messages say what to do ("选择短信接收，请填写手机号"): shown on the field
        targets = [{"channels": "email"}.get(k, k) for k in field_errors]
        targets = [t for t in targets if t in self.fields]
        self.add_error(targets[0] if targets else None, message)


def kind_choices() -> list[tuple[str, str, str]]:
    return [
        (k, label, str(KIND_SUMMARIES.get(k, ""))) for k, (label, _p) in TRANSPORTS.items() if k != "inapp"
    ]
