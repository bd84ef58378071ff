from __future__ import annotations

from shebao.core.exceptions import ApplicationError
from shebao.policy.models import City


def city_resolve(value: str) -> City:
    """Find a city by GB/T 2260 code, full name (北京市) or short name (北京)."""
    text = (value or "").strip()
    if not text:
        raise ApplicationError("请指定参保城市", field_errors={"city": "必填"})
    city = (
        City.objects.filter(code=text).first()
        or City.objects.filter(name=text).first()
        or City.objects.filter(short_name=text).first()
    )
    if city is None:
        raise ApplicationError(
            f"未知城市“{text}”：请使用城市名称（如 北京、深圳市）或6位行政区划代码（如 440300）",
            field_errors={"city": "未知城市"},
        )
    return city
