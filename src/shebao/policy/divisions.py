"""City list (GB/T 2260) read from the division table python-stdnum ships for ID birthplaces."""

from __future__ import annotations

import re
from importlib import resources

MUNICIPALITIES = {"11", "12", "31", "50"}  # 北京 天津 上海 重庆: the whole province is one pooling area
_NOT_CITY = {"市辖区", "县"}
_ENTRY = re.compile(r'^(\s*)(\d+) (?:province|county)="(?:\[(\d*)-(\d*)\])?([^"]+)"')


def current_cities() -> list[tuple[str, str, str]]:
    """(code, name, province) of every prefecture-level city in use today, plus municipalities."""
    text = resources.files("stdnum.cn").joinpath("loc.dat").read_text(encoding="utf-8")
    cities: list[tuple[str, str, str]] = []
    province_code = province = ""
    for line in text.splitlines():
        m = _ENTRY.match(line)
        if not m:
            continue
        indent, code, _start, end, name = m.groups()
        if end:  # abolished division
            continue
        if not indent:
            province_code, province = code, name
            if code in MUNICIPALITIES:
                cities.append((code + "0000", name, name))
            continue
        if province_code in MUNICIPALITIES or not code.endswith("00") or code == "0000":
            continue
        if name in _NOT_CITY or "直辖" in name:
            continue
        cities.append((province_code + code, name, province))
    return cities


def short_name(name: str) -> str:
    for suffix in ("特别行政区", "自治州", "地区", "市", "盟"):
        if name.endswith(suffix) and len(name) > len(suffix) + 1:
            return name[: -len(suffix)]
    return name
