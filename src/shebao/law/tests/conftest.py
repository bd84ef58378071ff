from __future__ import annotations

import pytest


@pytest.fixture
def library(db):
    """The law library as migration 0002 loads it (reloaded in case a transactional test flushed it)."""
    from shebao.law.services import law_library_load

    law_library_load()


@pytest.fixture
def api_as(client, system):
    """``api_as(user)`` → an ApiClient with a fresh read token of that user."""
    from shebao.accounts.services import api_token_create
    from shebao.api.tests.helpers import ApiClient

    def make(user, scope: str = "read") -> ApiClient:
        _, secret = api_token_create(actor=system, user=user, name=f"{user.username}-{scope}", scope=scope)
        return ApiClient(client, secret)

    return make
