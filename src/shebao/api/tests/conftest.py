"""API test helpers: bearer headers for the shared role fixtures and a small JSON client."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from shebao.accounts.services import api_token_create
from shebao.api.tests.helpers import ApiClient


@pytest.fixture
def token_for(system) -> Callable[..., str]:
    """Create a token for ``user`` and return its secret."""

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
