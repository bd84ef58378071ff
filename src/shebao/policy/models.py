from __future__ import annotations

from django.db import models
from django.utils.translation import gettext_lazy as _


class City(models.Model):
    """A social-insurance pooling area, keyed by its GB/T 2260 administrative division code."""

    code = models.CharField(_("行政区划代码"), max_length=6, unique=True)
    name = models.CharField(_("名称"), max_length=40)  # 深圳市
    short_name = models.CharField(_("简称"), max_length=40, db_index=True)  # 深圳
    province = models.CharField(_("省级"), max_length=40)

    class Meta:
        ordering = ["code"]
        verbose_name = _("城市")
        verbose_name_plural = _("城市")

    def __str__(self) -> str:
        return self.name
