from __future__ import annotations

from django.contrib.auth.backends import BaseBackend

from shebao.accounts.models import Role


class RolePermissionBackend(BaseBackend):
    """HR admins administer the organisation in the Django admin: grant them the model
    permissions there. ModelAdmins that are read-only or forbid deletion still say no."""

    def has_perm(self, user_obj, perm, obj=None) -> bool:
        return bool(user_obj.is_active and getattr(user_obj, "role", None) == Role.HR_ADMIN)

    def has_module_perms(self, user_obj, app_label) -> bool:
        return bool(user_obj.is_active and getattr(user_obj, "role", None) == Role.HR_ADMIN)
