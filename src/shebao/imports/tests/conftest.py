"""Fixtures of the import engine tests."""

from __future__ import annotations

import pytest


@pytest.fixture
def run_import():
    """run_import(actor, data, filename=…, commit=False, **create_kwargs) → the parsed (and committed) batch."""
    from shebao.imports.services import import_batch_commit, import_batch_create, import_batch_parse

    def run(actor, data: bytes, filename: str = "花名册.xlsx", *, commit: bool = False, **kw):
        batch = import_batch_create(actor=actor, data=data, filename=filename, enqueue=False, **kw)
        import_batch_parse(batch=batch)
        if commit:
            import_batch_commit(actor=actor, batch=batch)
        batch.refresh_from_db()
        return batch

    return run


@pytest.fixture
def actor_of():
    """actor_of(user) → the Actor of that user acting in the web UI."""
    from shebao.core.context import Actor

    def make(user, via: str = "web") -> Actor:
        return Actor(user=user, ip="127.0.0.1", via=via)

    return make
