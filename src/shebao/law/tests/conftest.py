from __future__ import annotations

import pytest

from shebao.api.tests.helpers import api_as, token_for  # noqa: F401 (the API client fixtures)


@pytest.fixture
def library(db):
    """The law library as migration 0002 loads it (reloaded in case a transactional test flushed it)."""
    from shebao.law.services import law_library_load

    law_library_load()
