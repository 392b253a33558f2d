"""Rows on a plain cursor for the hottest paths (authenticating an API call, opening a case).

``insert``: the statement ``bulk_create`` would send, its text built once per (model, row
count); ``insert_all``: several such inserts as one statement on PostgreSQL. ``select_list``
and ``load``: a model's columns for a hand-written SELECT, and the instance from its values
with the same conversions the ORM applies (SQLite hands back naive datetimes and JSON as text).

``bulk_create`` spends about 0.6 ms of Python per call compiling its statement, more than the
database takes to insert a case with its indexes (bench/README.md, "Opening a case"), and each
statement is a round trip: a case opening writes five tables in two. Values go through the same
``pre_save`` and ``get_db_prep_save`` as the ORM's, so the rows are the ones ``bulk_create``
writes. Like it, this sends no signals. Objects get their ids, and their state says they are saved.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from functools import cache
from typing import Any

from django.db import DEFAULT_DB_ALIAS, connection, connections
from django.db.backends.base.base import BaseDatabaseWrapper
from django.db.models import Field, Model


def select_list(model: type[Model], alias: str) -> str:
    """``alias."col1", alias."col2", ...``: every concrete column, in ``load``'s order."""
    return ", ".join(f'{alias}."{f.column}"' for f in model._meta.concrete_fields)


def _db_converters(model: type[Model], field: Any) -> tuple[list[Any], Any]:
    """The functions the ORM applies to this field's values as read, and the column they take."""
    column = field.get_col(model._meta.db_table)
    return connection.ops.get_db_converters(column) + field.get_db_converters(connection), column


@cache
def _loading(model: type[Model]) -> tuple[list[str], list[tuple[int, list[Any], Any]]]:
    fields = model._meta.concrete_fields
    converters = []
    for i, field in enumerate(fields):
        found, column = _db_converters(model, field)
        if found:
            converters.append((i, found, column))
    return [f.attname for f in fields], converters


@cache
def converter(model: type[Model], field_name: str) -> Callable[[Any], Any] | None:
    """What the ORM does to a value of this field read from the database, as one function;
    None when it does nothing (PostgreSQL's datetimes), so hot loops can skip the call."""
    functions, column = _db_converters(model, model._meta.get_field(field_name))
    if not functions:
        return None

    def convert(value: Any) -> Any:
        for function in functions:
            value = function(value, column, connection)
        return value

    return convert


def load[M: Model](model: type[M], values: Sequence[Any]) -> M:
    """The instance from the values of ``select_list``'s columns."""
    names, converters = _loading(model)
    values = list(values)
    for i, functions, column in converters:
        for convert in functions:
            values[i] = convert(values[i], column, connection)
    return model.from_db(connection.alias, names, values)


@cache
def _columns(model: type[Model]) -> tuple[Field, ...]:
    """The concrete fields an insert writes: all but the auto-assigned primary key."""
    return tuple(f for f in model._meta.concrete_fields if not (f.primary_key and f.db_returning))


def _values_clause(model: type[Model], rows: int) -> str:
    quote = connection.ops.quote_name
    columns = ", ".join(quote(str(f.column)) for f in _columns(model))
    one_row = "(" + ", ".join(["%s"] * len(_columns(model))) + ")"
    pk = quote(str(model._meta.pk.column))
    table = quote(model._meta.db_table)
    return f"INSERT INTO {table} ({columns}) VALUES {', '.join([one_row] * rows)} RETURNING {pk}"  # noqa: S608 - names from the model


@cache
def _statement(model: type[Model], rows: int, vendor: str) -> str:
    return _values_clause(model, rows)


@cache
def _statement_together(shape: tuple[tuple[type[Model], int], ...]) -> str:
    """One PostgreSQL statement for several inserts: each a data-modifying CTE, their ids
    returned one group after the other, each in its rows' order (as bulk_create relies on)."""
    ctes = ", ".join(f"g{i} AS ({_values_clause(model, rows)})" for i, (model, rows) in enumerate(shape))
    pks = [connection.ops.quote_name(str(model._meta.pk.column)) for model, _ in shape]
    selects = " UNION ALL ".join(f"SELECT {pk} FROM g{i}" for i, pk in enumerate(pks))  # noqa: S608 - model names
    return f"WITH {ctes} {selects}"


MAX_PARAMETERS = 30_000  # under SQLite's 32,766 variables and PostgreSQL's 65,535 parameters


def insert[M: Model](objs: Sequence[M]) -> Sequence[M]:
    """Insert unsaved ``objs`` (all of one model), one statement per 30,000 values; they get their ids."""
    if not objs:
        return objs
    model = type(objs[0])
    per_statement = max(1, MAX_PARAMETERS // max(1, len(_columns(model))))
    database = connections[DEFAULT_DB_ALIAS]
    for start in range(0, len(objs), per_statement):
        chunk = objs[start : start + per_statement]
        _execute(database, _statement(model, len(chunk), database.vendor), _params(database, chunk), chunk)
    return objs


def insert_all(*groups: Sequence[Model]) -> None:
    """Insert several groups of unsaved rows, each of one model, none needing another's ids (a
    new case's clocks, history, timeline and audit entries). On PostgreSQL in one statement, so
    one round trip instead of one per group; elsewhere, or when too big for one, group by group."""
    groups = tuple(group for group in groups if group)
    database = connections[DEFAULT_DB_ALIAS]
    values = sum(len(group) * len(_columns(type(group[0]))) for group in groups)
    if database.vendor != "postgresql" or len(groups) < 2 or values > MAX_PARAMETERS:
        for group in groups:
            insert(group)
        return
    statement = _statement_together(tuple((type(group[0]), len(group)) for group in groups))
    params = [value for group in groups for value in _params(database, group)]
    _execute(database, statement, params, [obj for group in groups for obj in group])


def _params(database: BaseDatabaseWrapper, objs: Sequence[Model]) -> list[Any]:
    fields = _columns(type(objs[0]))
    params: list[Any] = []
    for obj in objs:
        obj._prepare_related_fields_for_save(operation_name="insert")  # type: ignore[attr-defined]
        params.extend(f.get_db_prep_save(f.pre_save(obj, True), database) for f in fields)
    return params


def _execute(database: BaseDatabaseWrapper, statement: str, params: list[Any], objs: Sequence[Model]) -> None:
    """Run an insert that returns the rows' ids, and mark ``objs`` saved with them, in order."""
    with database.cursor() as cursor:
        cursor.execute(statement, params)
        ids = cursor.fetchall()
    for obj, (pk,) in zip(objs, ids, strict=True):
        obj.pk = pk
        obj._state.adding = False
        obj._state.db = database.alias
