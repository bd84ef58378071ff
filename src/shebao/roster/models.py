from __future__ import annotations

from django.db import models
from django.utils.translation import gettext_lazy as _

from shebao.core import crypto
from shebao.core.identity import IdKind, mask_identity, mask_phone
from shebao.org.models import Department, Entity

ID_PURPOSE = "employee.id_number"
PHONE_PURPOSE = "employee.phone"

# shebao.core.identity is Django-free; its labels are made translatable here.
ID_KIND_CHOICES = [
    (IdKind.RESIDENT.value, _("居民身份证")),
    (IdKind.HMT_RESIDENCE.value, _("港澳台居民居住证")),
    (IdKind.FOREIGN_PERMANENT.value, _("外国人永久居留身份证")),
    (IdKind.PASSPORT.value, _("护照")),
    (IdKind.HK_MACAU_PERMIT.value, _("港澳居民来往内地通行证")),
    (IdKind.TAIWAN_PERMIT.value, _("台湾居民来往大陆通行证")),
]


class EmploymentType(models.TextChoices):
    FULL_TIME = "full_time", _("全日制")
    PART_TIME = "part_time", _("非全日制")
    INTERN = "intern", _("实习")
    RETIREE_REHIRE = "retiree_rehire", _("退休返聘")
    FOREIGN = "foreign", _("外籍")
    DISPATCHED = "dispatched", _("劳务派遣")


class HukouType(models.TextChoices):
    LOCAL_URBAN = "local_urban", _("本地城镇")
    LOCAL_RURAL = "local_rural", _("本地农村")
    NONLOCAL_URBAN = "nonlocal_urban", _("外地城镇")
    NONLOCAL_RURAL = "nonlocal_rural", _("外地农村")


class EmployeeStatus(models.TextChoices):
    PENDING = "pending", _("待入职")
    ACTIVE = "active", _("在职")
    LEFT = "left", _("离职")


class Employee(models.Model):
    """One person, identified by their identity document; their employment lives in spells.

    The current spell's fields are copied onto the row (entity, department, dates, …) so the
    roster list filters on indexed columns. Identity and phone numbers are stored only as
    AES-GCM ciphertext plus a keyed blind index for exact search.
    """

    name = models.CharField(_("姓名"), max_length=60, db_index=True)
    id_kind = models.CharField(_("证件类型"), max_length=24, choices=ID_KIND_CHOICES)
    id_number_enc = models.TextField(editable=False)
    id_number_bidx = models.CharField(max_length=64, unique=True, editable=False)
    id_upgraded_from_15 = models.BooleanField(_("由15位旧号升位"), default=False)
    birth_date = models.DateField(_("出生日期"), null=True, blank=True)
    gender = models.CharField(_("性别"), max_length=1, blank=True, choices=[("M", _("男")), ("F", _("女"))])
    hukou_type = models.CharField(_("户籍类型"), max_length=20, choices=HukouType.choices, blank=True)
    phone_enc = models.TextField(blank=True, editable=False)
    phone_bidx = models.CharField(max_length=64, blank=True, db_index=True, editable=False)
    email = models.EmailField(_("邮箱"), blank=True)

    # Copied from the current spell.
    employee_no = models.CharField(_("工号"), max_length=32, unique=True)
    entity = models.ForeignKey(
        Entity, on_delete=models.PROTECT, related_name="employees", verbose_name=_("参保主体")
    )
    department = models.ForeignKey(
        Department,
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="employees",
        verbose_name=_("部门"),
    )
    employment_type = models.CharField(_("用工类型"), max_length=20, choices=EmploymentType.choices)
    hire_date = models.DateField(_("入职日期"))
    leave_date = models.DateField(_("离职日期"), null=True, blank=True)
    declared_wage = models.DecimalField(
        _("申报月工资"), max_digits=12, decimal_places=2, null=True, blank=True
    )
    status = models.CharField(_("状态"), max_length=10, choices=EmployeeStatus.choices, db_index=True)

    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["employee_no"]
        verbose_name = _("员工")
        verbose_name_plural = _("员工")
        indexes = [
            models.Index(fields=["entity", "status", "employee_no"], name="employee_entity_status"),
            models.Index(fields=["department", "employee_no"], name="employee_department"),
            models.Index(fields=["status", "employee_no"], name="employee_status"),
            models.Index(fields=["employment_type", "employee_no"], name="employee_type"),
        ]

    def __str__(self) -> str:
        return f"{self.name}（{self.employee_no}）"

    # Masks are computed from the ciphertext at display time: a stored mask next to the
    # stored birth date would give away all but nothing of the number.
    @property
    def id_number_masked(self) -> str:
        return mask_identity(crypto.decrypt(self.id_number_enc, purpose=ID_PURPOSE), self.id_kind)

    @property
    def phone_masked(self) -> str:
        return mask_phone(crypto.decrypt(self.phone_enc, purpose=PHONE_PURPOSE)) if self.phone_enc else ""


class EmploymentSpell(models.Model):
    """One period of employment: a re-hired person has several spells and one identity."""

    employee = models.ForeignKey(Employee, on_delete=models.CASCADE, related_name="spells")
    entity = models.ForeignKey(Entity, on_delete=models.PROTECT, related_name="+", verbose_name=_("参保主体"))
    department = models.ForeignKey(
        Department, null=True, blank=True, on_delete=models.PROTECT, related_name="+", verbose_name=_("部门")
    )
    employee_no = models.CharField(_("工号"), max_length=32)
    employment_type = models.CharField(_("用工类型"), max_length=20, choices=EmploymentType.choices)
    hire_date = models.DateField(_("入职日期"))
    leave_date = models.DateField(_("离职日期"), null=True, blank=True)
    leave_reason = models.CharField(_("离职原因"), max_length=200, blank=True)
    declared_wage = models.DecimalField(
        _("申报月工资"), max_digits=12, decimal_places=2, null=True, blank=True
    )

    class Meta:
        ordering = ["employee", "hire_date"]
        verbose_name = _("任职期间")
        verbose_name_plural = _("任职期间")
        constraints = [
            models.CheckConstraint(
                condition=models.Q(leave_date__isnull=True) | models.Q(leave_date__gte=models.F("hire_date")),
                name="spell_leave_after_hire",
            ),
        ]
        # An employee's spells at one entity (the rules' "current spell here?" probes). Without it
        # SQLite, lacking statistics, may probe by entity alone: every spell of a large entity.
        indexes = [models.Index(fields=["employee", "entity"], name="spell_employee_entity")]

    def __str__(self) -> str:
        end = self.leave_date.isoformat() if self.leave_date else "至今"
        return f"{self.employee_no} {self.hire_date.isoformat()}—{end}"
