"""Who may see and do what. Every view and API endpoint asks these functions, nothing else."""

from __future__ import annotations

from typing import TYPE_CHECKING

from django.db.models import Q

from shebao.accounts.models import Role

if TYPE_CHECKING:
    from shebao.accounts.models import User
    from shebao.roster.models import Employee

STAFF_ROLES = {Role.HR_ADMIN, Role.HR_SPECIALIST, Role.DEPT_MANAGER, Role.AUDITOR}
WRITE_ROLES = {Role.HR_ADMIN, Role.HR_SPECIALIST}


def _active(user: User | None) -> bool:
    return bool(user and user.is_authenticated and user.is_active)


def can_view_roster(user: User | None) -> bool:
    return _active(user) and user.role in STAFF_ROLES


def can_edit_roster(user: User | None) -> bool:
    return _active(user) and user.role in WRITE_ROLES


def can_view_audit(user: User | None) -> bool:
    return _active(user) and user.role in {Role.HR_ADMIN, Role.AUDITOR}


def can_manage_tokens(user: User | None) -> bool:
    return _active(user) and user.role in STAFF_ROLES


def can_admin(user: User | None) -> bool:
    return _active(user) and user.role == Role.HR_ADMIN


def employee_scope(user: User) -> Q:
    """The employees a user may see, as a filter on Employee."""
    if not can_view_roster(user):
        return Q(pk__in=[])
    if user.role in {Role.HR_ADMIN, Role.AUDITOR}:
        return Q()
    if user.role == Role.HR_SPECIALIST:
        return Q(entity_id__in=user.entities.values("id"))
    if user.role == Role.DEPT_MANAGER and user.department_id:
        # A subquery on the (small) department table, not a join over every employee row.
        from shebao.org.models import Department

        subtree = Department.objects.filter(path__startswith=user.department.path).values("id")
        return Q(department_id__in=subtree)
    return Q(pk__in=[])


def entity_scope_ids(user: User) -> list[int] | None:
    """Entity ids a user is limited to, or None for all."""
    if user.role == Role.HR_SPECIALIST:
        return list(user.entities.values_list("id", flat=True))
    if user.role == Role.DEPT_MANAGER:
        return [user.department.entity_id] if user.department_id else []
    return None


def can_see_employee(user: User, employee: Employee) -> bool:
    from shebao.roster.models import Employee

    return can_view_roster(user) and Employee.objects.filter(employee_scope(user), pk=employee.pk).exists()


def can_edit_employee(user: User, employee: Employee) -> bool:
    return can_edit_roster(user) and can_see_employee(user, employee)


def can_reveal(user: User, employee: Employee) -> bool:
    # Full identity numbers are for the HR staff who handle the person's insurance, not for
    # managers or auditors (they see the audit trail of reveals instead).
    return can_edit_employee(user, employee)
