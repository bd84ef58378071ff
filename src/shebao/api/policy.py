"""/api/v1/policy — the city policy library: every figure with its source and confidence.

Missing figures are ``null`` (未收录), never zero. Read scope is enough.
"""

from __future__ import annotations

from typing import Any

from django.http import HttpRequest
from ninja import Router

from shebao.api.schemas import ErrorOut
from shebao.core.exceptions import ApplicationError
from shebao.policy.selectors import city_library_summary, city_resolve, policy_city_json

router = Router(tags=["政策库"])
ERRORS = {401: ErrorOut, 403: ErrorOut, 404: ErrorOut}


@router.get("/policy/cities", response={200: list[dict], **ERRORS}, summary="已收录政策数据的城市")
def cities(request: HttpRequest):
    """每个城市的期间数、有值/未收录的数字个数，以及按可信度的分布。"""
    return [
        {
            "city": s.city.name,
            "city_code": s.city.code,
            "periods": s.periods,
            "latest_period": s.latest_period,
            "figures": s.figures,
            "missing": s.missing,
            "by_confidence": s.by_confidence,
            "unverified_candidates": s.candidates,
            "rules": s.rules,
            "verified": s.verified,
        }
        for s in city_library_summary()
    ]


@router.get("/policy/cities/{city}", response={200: dict, **ERRORS}, summary="城市政策详情")
def city_detail(request: HttpRequest, city: str) -> dict[str, Any]:
    """城市名称（北京）或行政区划代码（110000）。各期间的全部数字、来源、可信度与核验记录。"""
    try:
        city_obj = city_resolve(city)
    except ApplicationError as exc:
        from ninja.errors import HttpError

        raise HttpError(404, exc.message) from exc
    return policy_city_json(city_obj)
