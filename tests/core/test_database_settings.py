"""The PostgreSQL connection binds parameters on the server, prepares what it runs often, and
checks a kept connection without a round trip."""

from __future__ import annotations

import select
import time

import pytest
from django.conf import settings
from django.db import DEFAULT_DB_ALIAS, connection, connections
from django.db.backends.postgresql.base import DatabaseWrapper as PostgresDatabaseWrapper
from psycopg import _queries as psycopg_queries

pytestmark = [
    pytest.mark.django_db,
    pytest.mark.skipif("connection.vendor != 'postgresql'", reason="prepared statements are PostgreSQL's"),
]


def _runs_of_prepared(text: str) -> list[int]:
    """How many times each prepared copy of ``text`` has run on this connection."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT generic_plans + custom_plans FROM pg_prepared_statements WHERE statement = %s", [text])
        return [runs for (runs,) in cursor.fetchall()]


def _count_staff(times: int) -> None:
    with connection.cursor() as cursor:
        for _ in range(times):
            cursor.execute("SELECT count(*) FROM people_staff WHERE id > %s", [0])


def test_a_statement_run_often_is_prepared_once_and_then_reused() -> None:
    threshold = settings.DATABASES["default"]["OPTIONS"]["prepare_threshold"]
    text = "SELECT count(*) FROM people_staff WHERE id > $1"
    _count_staff(threshold + 1)
    assert _runs_of_prepared(text) == [1]
    _count_staff(2)
    assert _runs_of_prepared(text) == [3]


def test_a_statement_run_once_is_not_prepared() -> None:
    with connection.cursor() as cursor:
        cursor.execute("SELECT count(*) FROM people_team WHERE id > %s", [0])
    assert _runs_of_prepared("SELECT count(*) FROM people_team WHERE id > $1") == []


def test_a_statement_of_many_parameters_is_parsed_once() -> None:
    """psycopg keeps its %s -> $n conversion of a statement with more than its default 50
    parameters (core/apps.py): the statement that writes a new case's child rows has 52."""
    values = ", ".join(["(%s)"] * 60)
    statement = f"SELECT count(*) FROM (VALUES {values}) AS v(n)"  # noqa: S608 - no input
    with connection.cursor() as cursor:
        cursor.execute(statement, list(range(60)))
        hits = psycopg_queries._query2pg.cache_info().hits
        cursor.execute(statement, list(range(60)))
    assert psycopg_queries._query2pg.cache_info().hits == hits + 1


def _fail_if_asked(self: PostgresDatabaseWrapper) -> bool:
    raise AssertionError("the health check went to the server")


def test_a_kept_connection_is_checked_without_a_round_trip(monkeypatch: pytest.MonkeyPatch) -> None:
    kept = connections.create_connection(DEFAULT_DB_ALIAS)
    try:
        kept.ensure_connection()
        monkeypatch.setattr(PostgresDatabaseWrapper, "is_usable", _fail_if_asked)
        assert kept.is_usable()
    finally:
        kept.close()


def test_a_connection_the_server_closed_is_not_usable() -> None:
    """A restart or pg_terminate_backend: the next request gets a new connection, not an error."""
    kept = connections.create_connection(DEFAULT_DB_ALIAS)
    try:
        kept.ensure_connection()
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_terminate_backend(%s)", [kept.connection.info.backend_pid])
        deadline = time.monotonic() + 5
        while kept.is_usable() and time.monotonic() < deadline:  # the server's goodbye is on its way
            time.sleep(0.01)
        assert not kept.is_usable()
        kept.health_check_done = False  # type: ignore[attr-defined]  # as at the start of a request
        kept.close_if_health_check_failed()
        assert kept.connection is None
    finally:
        kept.close()


def test_a_socket_select_cannot_watch_is_checked_by_the_server(monkeypatch: pytest.MonkeyPatch) -> None:
    """A descriptor above select()'s limit (a process with very many files open): ask the server."""
    kept = connections.create_connection(DEFAULT_DB_ALIAS)
    asked = []
    real = PostgresDatabaseWrapper.is_usable

    def counted(self: PostgresDatabaseWrapper) -> bool:
        asked.append(True)
        return bool(real(self))

    def out_of_range(*_: object) -> None:
        raise ValueError("filedescriptor out of range in select()")

    try:
        kept.ensure_connection()
        monkeypatch.setattr(select, "select", out_of_range)
        monkeypatch.setattr(PostgresDatabaseWrapper, "is_usable", counted)
        assert kept.is_usable() and asked == [True]
    finally:
        kept.close()
