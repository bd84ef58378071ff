"""Helpers shared by the API tests."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import pytest
from django.test import Client


class ApiClient:
    """``get/post/patch`` against /api/v1/ with a bearer token (or none)."""

    def __init__(self, client: Client, secret: str | None = None, **extra: str):
        self.client = client
        self.headers = {"HTTP_AUTHORIZATION": f"Bearer {secret}"} if secret else {}
        self.headers.update(extra)

    def get(self, path: str, params: dict[str, Any] | None = None):
        return self.client.get("/api/v1" + path, params or {}, **self.headers)

    def post(self, path: str, body: Any = None, *, raw: str | None = None):
        data = raw if raw is not None else json.dumps(body if body is not None else {})
        return self.client.post("/api/v1" + path, data=data, content_type="application/json", **self.headers)

    def patch(self, path: str, body: Any = None):
        return self.client.patch(
            "/api/v1" + path, data=json.dumps(body or {}), content_type="application/json", **self.headers
        )


def field_errors(response) -> dict[str, str]:
    return {e["field"]: e["message"] for e in response.json()["errors"]}


# --- fixtures (imported by the conftest of every test package that calls the API) -----------------


@pytest.fixture
def token_for(system) -> Callable[..., str]:
    """Create a token for ``user`` and return its secret."""
    from shebao.accounts.services import api_token_create

    def make(user, scope: str = "read") -> str:
        _, secret = api_token_create(actor=system, user=user, name=f"{user.username}-{scope}", scope=scope)
        return secret

    return make


@pytest.fixture
def api_as(client, token_for) -> Callable[..., ApiClient]:
    """``api_as(admin, "write")`` → an ApiClient holding a fresh token of that user and scope."""

    def make(user, scope: str = "read") -> ApiClient:
        return ApiClient(client, token_for(user, scope))

    return make
