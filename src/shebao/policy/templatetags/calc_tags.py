from __future__ import annotations

from decimal import Decimal, InvalidOperation

from django import template

register = template.Library()


@register.filter
def percent(value) -> str:
    """A rate given as a fraction ("0.098") shown as a percentage ("9.8%")."""
    if value in (None, ""):
        return ""
    try:
        pct = (Decimal(str(value)) * 100).normalize()
    except InvalidOperation:
        return str(value)
    return f"{pct:f}%"
