from __future__ import annotations

from django.db import models
from django.utils.translation import gettext_lazy as _

from shebao.policy.models import City


class Organisation(models.Model):
    """The company group this deployment serves (exactly one row)."""

    name = models.CharField(_("名称"), max_length=100)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        verbose_name = _("组织")
        verbose_name_plural = _("组织")

    def __str__(self) -> str:
        return self.name


class Entity(models.Model):
    """An employer entity (参保主体/用人单位) registered for social insurance in one city."""

    organisation = models.ForeignKey(Organisation, on_delete=models.PROTECT, related_name="entities")
    code = models.CharField(_("编码"), max_length=32, unique=True)
    name = models.CharField(_("名称"), max_length=100, unique=True)
    uscc = models.CharField(_("统一社会信用代码"), max_length=18, unique=True)
    city = models.ForeignKey(
        City, on_delete=models.PROTECT, related_name="entities", verbose_name=_("参保城市")
    )
    si_unit_no = models.CharField(_("社保单位编号"), max_length=40, blank=True)
    hf_unit_no = models.CharField(_("公积金单位账号"), max_length=40, blank=True)
    is_active = models.BooleanField(_("启用"), default=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["code"]
        verbose_name = _("参保主体")
        verbose_name_plural = _("参保主体")

    def __str__(self) -> str:
        return self.name


class Department(models.Model):
    """A node of the department tree (department, store or branch) under one entity.

    ``path`` is a materialised path of ids ("/3/17/42/") so a manager's subtree is one
    indexed prefix query.
    """

    class Kind(models.TextChoices):
        DEPARTMENT = "department", _("部门")
        STORE = "store", _("门店")
        BRANCH = "branch", _("分支机构")

    entity = models.ForeignKey(
        Entity, on_delete=models.PROTECT, related_name="departments", verbose_name=_("参保主体")
    )
    parent = models.ForeignKey(
        "self",
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="children",
        verbose_name=_("上级"),
    )
    name = models.CharField(_("名称"), max_length=100)
    code = models.CharField(_("编码"), max_length=32, blank=True)
    kind = models.CharField(_("类型"), max_length=16, choices=Kind.choices, default=Kind.DEPARTMENT)
    path = models.CharField(max_length=255, db_index=True, editable=False, default="")
    depth = models.PositiveSmallIntegerField(default=0, editable=False)

    class Meta:
        ordering = ["path"]
        verbose_name = _("部门")
        verbose_name_plural = _("部门")
        constraints = [
            models.UniqueConstraint(
                fields=["entity", "parent", "name"], name="department_unique_name_per_parent"
            ),
        ]

    def __str__(self) -> str:
        return self.name
