"""``{% load import_tags %}`` then ``{% upload_retention_days as days %}``: how many days an
unfinished import batch keeps its uploaded file (``SHEBAO_IMPORT_UPLOAD_RETENTION_DAYS``)."""

from __future__ import annotations

from django import template
from django.conf import settings

register = template.Library()


@register.simple_tag
def upload_retention_days() -> int:
    return settings.SHEBAO_IMPORT_UPLOAD_RETENTION_DAYS
