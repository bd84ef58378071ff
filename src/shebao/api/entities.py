"""/api/v1/entities — the employer entities (参保主体) in the caller's scope."""

from __future__ import annotations

from django.http import HttpRequest
from ninja import Router

from shebao.accounts.permissions import entity_scope_ids
from shebao.api.auth import read_auth
from shebao.api.schemas import EntityOut, ErrorOut, entity_data
from shebao.org.selectors import entity_list

router = Router(tags=["参保主体"])


@router.get(
    "/entities",
    response={200: list[EntityOut], 401: ErrorOut, 403: ErrorOut},
    auth=read_auth,
    summary="参保主体列表",
)
def list_entities(request: HttpRequest):
    """调用者权限范围内的参保主体：HR专员负责的、部门经理所在的，或全部。"""
    return [entity_data(e) for e in entity_list(ids=entity_scope_ids(request.auth.user)).order_by("code")]
