"""Insert many plain rows fast, on SQLite and PostgreSQL alike.

``QuerySet.bulk_create`` builds a model instance per row and compiles every value through the
field machinery (``pre_save`` → ``get_db_prep_save`` → ``field_as_sql``): for a 100,000-row roster
import that is most of the time spent, and on SQLite Django also caps a statement at 999
parameters (about 30 rows of a wide table). :func:`insert_rows` takes dictionaries of
``attname → Python value``, converts only the field types whose database form differs from the
Python one (converters looked up once per field, not per value) and sends one parameterised
``INSERT`` through the driver's ``executemany``.

It is for services that write in bulk and own their validation: no model instances, no signals,
no ``save()``, and the primary keys are not returned (look rows up by a unique key afterwards).

:func:`collector_paused` keeps Python's cyclic garbage collector out of such bulk work.
"""

from __future__ import annotations

import gc
import threading
from collections.abc import Callable, Iterable, Iterator, Mapping
from contextlib import contextmanager
from itertools import islice
from typing import Any

from django.db import connections, models, router
from django.utils import timezone

# Field classes whose Python values the database drivers take as they are.
_AS_IS = (
    models.CharField,  # EmailField, SlugField, URLField … are CharFields
    models.TextField,
    models.IntegerField,  # and its Small/Big/Positive variants
    models.BooleanField,
    models.FloatField,
)


def _converter(field: models.Field, connection) -> Callable[[Any], Any] | None:
    ops = connection.ops
    if isinstance(field, models.ForeignKey):
        return _converter(field.target_field, connection)
    if isinstance(field, models.DateTimeField):
        return ops.adapt_datetimefield_value
    if isinstance(field, models.DateField):
        return ops.adapt_datefield_value
    if isinstance(field, models.DecimalField):
        digits, places = field.max_digits, field.decimal_places
        return lambda v: ops.adapt_decimalfield_value(v, digits, places)
    if isinstance(field, models.JSONField):
        encoder = field.encoder
        return lambda v: ops.adapt_json_value(v, encoder)
    if isinstance(field, models.IntegerField):
        # Integers (and the auto primary keys foreign keys point at) go to the drivers as they
        # are: the callers pass ints, and the field's own path (range and auto-pk checks on
        # every value) cost more than the INSERT itself for wide bulk loads.
        return None
    if isinstance(field, _AS_IS) and type(field).get_db_prep_value is models.Field.get_db_prep_value:
        return None
    # Anything else (JSON, UUID, custom fields): the field's own conversion, value by value.
    return lambda v: field.get_db_prep_save(v, connection=connection)


def insert_rows(
    model: type[models.Model],
    rows: Iterable[Mapping[str, Any]],
    *,
    batch_size: int = 2000,
    using: str | None = None,
) -> int:
    """INSERT ``rows`` (``attname → value``; ``entity_id`` for a foreign key) into ``model``'s table.

    A field missing from a row takes its default (evaluated per row when callable; ``None`` when
    nullable, ``""`` for text) and ``auto_now`` / ``auto_now_add`` fields take one timestamp for
    the whole call; a missing field with none of these, or an unknown key, raises ``KeyError``. Returns the number of rows inserted. Runs inside the caller's transaction.
    """
    using = using or router.db_for_write(model)
    connection = connections[using]
    now = timezone.now()
    fields = [f for f in model._meta.concrete_fields if not (f.primary_key and f.auto_created)]
    fields = [f for f in fields if not isinstance(f, models.AutoField)]
    names = {f.attname for f in fields}
    # attname, default (already converted, or a callable, or _REQUIRED), converter
    plan: list[tuple[str, Any, Callable[[Any], Any] | None]] = []
    for f in fields:
        if getattr(f, "auto_now", False) or getattr(f, "auto_now_add", False):
            default: Any = now
        elif f.has_default():
            default = f.default if callable(f.default) else f.get_default()
        elif f.null or f.empty_strings_allowed:
            default = f.get_default()  # None, or "" for a text column (as Django does)
        else:
            default = _REQUIRED
        convert = _converter(f, connection)
        if convert is not None and default is not None and default is not _REQUIRED and not callable(default):
            default = convert(default)  # once, not per row
        plan.append((f.attname, default, convert))

    qn = connection.ops.quote_name
    table = qn(model._meta.db_table)
    columns = ", ".join(qn(f.column) for f in fields)
    placeholders = ", ".join(["%s"] * len(fields))
    sql = f"INSERT INTO {table} ({columns}) VALUES ({placeholders})"

    def params(row: Mapping[str, Any]) -> tuple:
        out = []
        found = 0
        for attname, default, convert in plan:
            if attname in row:
                found += 1
                value = row[attname]
                if convert is not None and value is not None:
                    value = convert(value)
            elif default is _REQUIRED:
                raise KeyError(f"{model.__name__}.{attname} is required")
            elif callable(default):
                value = default()
                if convert is not None and value is not None:
                    value = convert(value)
            else:
                value = default
            out.append(value)
        if found != len(row):
            raise KeyError(f"{model.__name__} has no column(s) {sorted(row.keys() - names)}")
        return tuple(out)

    return _executemany(connection, sql, rows, params, batch_size)


def update_rows(
    model: type[models.Model],
    rows: Iterable[Mapping[str, Any]],
    fields: list[str],
    *,
    batch_size: int = 1000,
    using: str | None = None,
) -> int:
    """UPDATE ``fields`` (attnames) of each row, found by its ``id``, with one ``executemany``:
    the same conversions as :func:`insert_rows`. (The ORM's ``bulk_update`` writes a CASE per
    field and row: seconds per thousand rows.) Runs inside the caller's transaction."""
    using = using or router.db_for_write(model)
    connection = connections[using]
    by_attname = {f.attname: f for f in model._meta.concrete_fields}
    plan = [(name, _converter(by_attname[name], connection)) for name in fields]
    qn = connection.ops.quote_name
    sets = ", ".join(f"{qn(by_attname[name].column)} = %s" for name in fields)
    sql = f"UPDATE {qn(model._meta.db_table)} SET {sets} WHERE {qn(model._meta.pk.column)} = %s"

    def params(row: Mapping[str, Any]) -> tuple:
        out = []
        for name, convert in plan:
            value = row[name]
            out.append(convert(value) if convert is not None and value is not None else value)
        out.append(row["id"])
        return tuple(out)

    return _executemany(connection, sql, rows, params, batch_size)


def _executemany(
    connection, sql: str, rows: Iterable, params: Callable[[Any], tuple], batch_size: int
) -> int:
    """Run ``sql`` for every row, ``batch_size`` rows per executemany; returns the row count."""
    count = 0
    iterator = iter(rows)
    with connection.cursor() as cursor:
        while chunk := list(islice(iterator, batch_size)):
            cursor.executemany(sql, [params(r) for r in chunk])
            count += len(chunk)
    return count


class _Required:
    def __repr__(self) -> str:
        return "<required>"


_REQUIRED = _Required()


_pause_lock = threading.Lock()
_pauses = 0  # bulk jobs running in this process (threads) under collector_paused
_was_enabled = True


@contextmanager
def collector_paused() -> Iterator[None]:
    """Run a bulk job (an import of millions of rows, a full reconciliation) without the cyclic
    garbage collector's automatic passes.

    Such a job allocates millions of small container objects (rows, facts, tuples, dicts) and
    keeps large caches alive; the collector counts the survivors and, every so often, walks the
    whole heap — Django's objects, the caches and the job's rows — and frees nothing, since
    the work makes no reference cycles (reference counting frees its objects as usual). Those
    walks were ~20 % of an import's CPU time and ~10 % of a reconciliation's. The collector is
    switched back on (if it was on) when the last paused job of the process ends; nested and
    concurrent (threaded) uses share one pause."""
    global _pauses, _was_enabled
    with _pause_lock:
        if _pauses == 0:
            _was_enabled = gc.isenabled()
            gc.disable()
        _pauses += 1
    try:
        yield
    finally:
        with _pause_lock:
            _pauses -= 1
            if _pauses == 0 and _was_enabled:
                gc.enable()
