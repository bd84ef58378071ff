"""Test helpers: tampering with the ledger the way an attacker with database access would."""

from __future__ import annotations

from contextlib import contextmanager

from django.db import connection


@contextmanager
def triggers_off():
    """On PostgreSQL the append-only triggers refuse any UPDATE/DELETE; a superuser can switch
    them off (inside the test's transaction, so it is undone with it). SQLite has none."""
    if connection.vendor != "postgresql":
        yield
        return
    with connection.cursor() as cur:
        cur.execute("ALTER TABLE evidence_entry DISABLE TRIGGER USER")
    try:
        yield
    finally:
        with connection.cursor() as cur:
            cur.execute("ALTER TABLE evidence_entry ENABLE TRIGGER USER")


def raw(sql: str, params: list | tuple = ()) -> None:
    """Run ``sql`` against the ledger table behind the application's back."""
    with triggers_off(), connection.cursor() as cur:
        cur.execute(sql, params)
