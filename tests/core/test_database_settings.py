"""The PostgreSQL connection binds parameters on the server and prepares what it runs often."""

from __future__ import annotations

import pytest
from django.conf import settings
from django.db import connection
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
