from __future__ import annotations

from django.contrib import admin, messages
from django.contrib.auth.admin import UserAdmin as DjangoUserAdmin
from django.utils.translation import gettext_lazy as _

from shebao.accounts.models import ApiToken, User
from shebao.accounts.services import api_token_revoke
from shebao.audit.admin import AuditedAdminMixin, ReadOnlyAdminMixin
from shebao.core.context import Actor
from shebao.core.exceptions import ApplicationError


@admin.register(User)
class UserAdmin(AuditedAdminMixin, DjangoUserAdmin):
    fieldsets = (
        (None, {"fields": ("username", "password")}),
        (_("个人信息"), {"fields": ("first_name", "last_name", "email")}),
        (
            _("角色与数据范围"),
            {
                "fields": ("role", "entities", "department", "employee"),
                "description": _(
                    "HR专员看到所负责参保主体的员工；部门经理看到所管理部门及下级部门的员工；"
                    "员工角色只能查看自己关联的员工档案。"
                ),
            },
        ),
        (_("权限"), {"fields": ("is_active", "is_staff", "is_superuser", "groups", "user_permissions")}),
        (_("重要日期"), {"fields": ("last_login", "date_joined")}),
    )
    add_fieldsets = (
        (
            None,
            {
                "classes": ("wide",),
                "fields": ("username", "first_name", "role", "usable_password", "password1", "password2"),
            },
        ),
    )
    list_display = ["username", "display_name", "role", "department", "is_active", "is_staff", "last_login"]
    list_filter = ["role", "is_active", "is_staff", "entities"]
    search_fields = ["username", "first_name", "last_name", "email"]
    list_select_related = ["department"]
    filter_horizontal = ["entities", "groups", "user_permissions"]
    raw_id_fields = ["employee"]
    autocomplete_fields = ["department"]
    audit_object = "user"
    audit_fields = (
        "username",
        "role",
        "entities",
        "department",
        "employee",
        "is_active",
        "is_staff",
        "is_superuser",
    )

    @admin.display(description=_("姓名"))
    def display_name(self, obj):
        return obj.get_full_name()


@admin.register(ApiToken)
class ApiTokenAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    list_display = ["name", "user", "prefix_display", "scope", "created_at", "last_used_at", "revoked_at"]
    list_filter = ["scope", ("revoked_at", admin.EmptyFieldListFilter)]
    search_fields = ["name", "prefix", "user__username"]
    list_select_related = ["user"]
    fields = ["name", "user", "prefix_display", "scope", "created_at", "last_used_at", "revoked_at"]
    readonly_fields = fields
    actions = ["revoke"]

    @admin.display(description=_("前缀"), ordering="prefix")
    def prefix_display(self, obj):
        return f"{obj.prefix}…"

    @admin.action(description=_("吊销所选令牌"))
    def revoke(self, request, queryset):
        actor = Actor.from_request(request)
        done = 0
        for token in queryset.filter(revoked_at=None):
            try:
                api_token_revoke(actor=actor, token=token)
                done += 1
            except ApplicationError as exc:
                self.message_user(request, f"{token}：{exc.message}", messages.ERROR)
        if done:
            self.message_user(request, _("已吊销 %(n)d 个令牌") % {"n": done}, messages.SUCCESS)
