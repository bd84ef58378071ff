"""Import wizard forms: they collect input; the import services do the validating."""

from __future__ import annotations

import posixpath

from django import forms
from django.utils.translation import gettext_lazy as _

from shebao.imports.models import ImportBatch
from shebao.roster.forms import scoped_entities

EXTENSIONS = (".xlsx", ".xls", ".csv")


class UploadForm(forms.Form):
    file = forms.FileField(
        label=_("花名册文件"),
        help_text=_("支持 .xlsx、.xls、.csv，单个文件不超过 20 MB"),
        widget=forms.ClearableFileInput(attrs={"accept": ",".join(EXTENSIONS)}),
        error_messages={
            "required": _("请选择要上传的文件"),
            "empty": _("文件是空的：请确认选择了正确的文件"),
        },
    )
    default_entity = forms.ModelChoiceField(
        label=_("默认参保主体"),
        queryset=None,
        required=False,
        empty_label=_("不指定（按文件中的“参保主体”列）"),
        help_text=_("文件中没有“参保主体”列、或该列留空的行，导入到这里选择的主体"),
    )
    mode = forms.ChoiceField(
        label=_("导入方式"),
        choices=ImportBatch.Mode.choices,
        initial=ImportBatch.Mode.ALL_OR_NOTHING,
        widget=forms.RadioSelect,
    )

    def __init__(self, *args, user, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["default_entity"].queryset = scoped_entities(user)

    def clean_file(self):
        upload = self.cleaned_data["file"]
        ext = posixpath.splitext(upload.name or "")[1].lower()
        if ext not in EXTENSIONS:
            raise forms.ValidationError(
                _("不支持的文件类型“%(ext)s”：请上传 .xlsx、.xls 或 .csv 文件")
                % {"ext": ext or _("无扩展名")}
            )
        return upload

    def add_service_errors(self, field_errors: dict[str, str], message: str) -> None:
        for field, error in field_errors.items():
            if field in self.fields and field != "file":
                self.add_error(field, error)
        self.add_error("file" if "file" in field_errors else None, message)


class MappingForm(forms.Form):
    """One select per named column of the file (col_0, col_1, … in file order) and "remember"."""

    remember = forms.BooleanField(label=_("记住此映射"), required=False, initial=True)

    def __init__(self, *args, headers: list[str], mapping: dict, targets: list[dict], **kwargs):
        super().__init__(*args, **kwargs)
        choices = [("", _("请选择…"))] + [
            (t["field"], t["label"] + ("*" if t["required"] else "")) for t in targets
        ]
        self.headers = headers
        for i, header in enumerate(headers):
            self.fields[f"col_{i}"] = forms.ChoiceField(
                label=header, choices=choices, required=False, initial=mapping.get(header) or ""
            )

    def columns(self):
        """(header, bound field) in file order."""
        return [(h, self[f"col_{i}"]) for i, h in enumerate(self.headers)]

    def mapping(self) -> dict[str, str]:
        data = self.cleaned_data
        return {h: data[f"col_{i}"] for i, h in enumerate(self.headers) if data.get(f"col_{i}")}

    def add_service_errors(self, field_errors: dict[str, str], message: str) -> None:
        for header, error in field_errors.items():
            if header in self.headers:
                self.add_error(f"col_{self.headers.index(header)}", error)
        self.add_error(None, message)


class ModeForm(forms.Form):
    mode = forms.ChoiceField(choices=UploadForm.base_fields["mode"].choices, widget=forms.RadioSelect)
