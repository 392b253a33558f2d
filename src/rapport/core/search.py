"""Search behind one small interface: word-prefix lookups and full-text over timelines.

SQLite (embedded) and PostgreSQL differ in how an index serves a prefix or a text query,
so the two vendor paths live here and nowhere else:

* prefix: PostgreSQL uses ``LIKE 'abc%'`` on a ``varchar_pattern_ops`` index (Django makes
  one for every indexed CharField); SQLite uses the range ``'abc' <= key < 'abd'`` on its
  binary-collated B-tree.
* full text: PostgreSQL matches a GIN index on ``to_tsvector('simple', ...)``; SQLite an
  FTS5 table kept in step by triggers. Both are created by ``fulltext_index_operations``.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterator
from contextlib import contextmanager

from django.db import connection, migrations, transaction
from django.db.backends.utils import CursorWrapper
from django.db.models import Q

_WORD_RE = re.compile(r"\w+", re.UNICODE)
_IDENTIFIER_RE = re.compile(r"[a-z_][a-z0-9_]*")


def normalise_words(text: str) -> list[str]:
    """Lower-case, accent-free words: what search keys are made of and queries are cut into."""
    folded = unicodedata.normalize("NFKD", text.casefold())
    plain = "".join(ch for ch in folded if not unicodedata.combining(ch))
    return _WORD_RE.findall(plain)


def prefix_q(field: str, prefix: str) -> Q:
    """A filter for ``field`` starting with ``prefix`` that an index can answer."""
    if connection.vendor == "postgresql":
        return Q(**{f"{field}__startswith": prefix})
    upper = prefix[:-1] + chr(ord(prefix[-1]) + 1)
    return Q(**{f"{field}__gte": prefix, f"{field}__lt": upper})


def _identifiers(table: str, columns: tuple[str, ...]) -> None:
    # Table and column names are spliced into SQL: they come from code, and this makes sure.
    for name in (table, *columns):
        if not _IDENTIFIER_RE.fullmatch(name):
            raise ValueError(f"not an SQL identifier: {name!r}")


def fulltext_ids(table: str, columns: tuple[str, ...], text: str, *, limit: int) -> list[int]:
    """Ids of rows in ``table`` whose indexed text holds every word of ``text`` (the last as a
    prefix), newest id first. ``table`` must have been given ``fulltext_index_operations``."""
    _identifiers(table, columns)
    words = normalise_words(text)[:8]
    if not words:
        return []
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            return _pg_fulltext_ids(cursor, table, words, limit)
        query = " ".join([*(f'"{w}"' for w in words[:-1]), f'"{words[-1]}"*'])
        cursor.execute(
            f"SELECT t.id FROM {table}_fts f JOIN {table} t ON t.id = f.rowid "
            f"WHERE {table}_fts MATCH %s ORDER BY t.id DESC LIMIT %s",
            [query, limit],
        )
        return [row[0] for row in cursor.fetchall()]


# Rare words: the GIN index lists every match, and the newest are picked from them. Common
# words (more than _FEW matches): the newest rows are walked backwards until enough match.
_FEW = 500


def _pg_fulltext_ids(cursor: CursorWrapper, table: str, words: list[str], limit: int) -> list[int]:
    query = " & ".join([*words[:-1], f"{words[-1]}:*"])
    with transaction.atomic():
        # PostgreSQL has no statistics for prefix matches and guesses 2 % of rows; make it use
        # the GIN index for the first question.
        cursor.execute("SET LOCAL enable_seqscan = off")
        cursor.execute("SET LOCAL enable_indexscan = off")
        cursor.execute(
            f"SELECT id FROM {table} WHERE search_vector @@ to_tsquery('simple', %s) LIMIT %s", [query, _FEW + 1]
        )
        few = [row[0] for row in cursor.fetchall()]
        if len(few) <= _FEW:
            return sorted(few, reverse=True)[:limit]
        cursor.execute("SET LOCAL enable_indexscan = on")
        cursor.execute(
            f"SELECT id FROM {table} WHERE search_vector @@ to_tsquery('simple', %s) ORDER BY id DESC LIMIT %s",
            [query, limit],
        )
        return [row[0] for row in cursor.fetchall()]


def _pg_vector(columns: tuple[str, ...]) -> str:
    joined = " || ' ' || ".join(f"coalesce({c}, '')" for c in columns)
    return f"to_tsvector('simple'::regconfig, {joined})"


def fulltext_index_operations(
    table: str, columns: tuple[str, ...], vendors: tuple[str, ...] = ("postgresql", "sqlite")
) -> list[migrations.operations.base.Operation]:
    """Migration operations that build the full-text index for ``table`` on the given vendors."""

    def forwards(apps: object, schema_editor: object) -> None:
        vendor = schema_editor.connection.vendor  # type: ignore[attr-defined]
        if vendor not in vendors:
            return
        with schema_editor.connection.cursor() as cursor:  # type: ignore[attr-defined]
            for statement in _create_sql(vendor, table, columns):
                cursor.execute(statement)

    def backwards(apps: object, schema_editor: object) -> None:
        vendor = schema_editor.connection.vendor  # type: ignore[attr-defined]
        if vendor not in vendors:
            return
        with schema_editor.connection.cursor() as cursor:  # type: ignore[attr-defined]
            for statement in _drop_sql(vendor, table):
                cursor.execute(statement)

    return [migrations.RunPython(forwards, backwards)]


def _create_sql(vendor: str, table: str, columns: tuple[str, ...]) -> list[str]:
    _identifiers(table, columns)
    if vendor == "postgresql":
        # A stored vector: index rechecks and matches read it instead of re-parsing the text.
        return [
            f"DROP INDEX IF EXISTS {table}_fulltext",
            f"ALTER TABLE {table} ADD COLUMN IF NOT EXISTS search_vector tsvector "
            f"GENERATED ALWAYS AS ({_pg_vector(columns)}) STORED",
            f"CREATE INDEX IF NOT EXISTS {table}_search_vector ON {table} USING gin (search_vector)",
        ]
    cols = ", ".join(columns)
    new = ", ".join(f"new.{c}" for c in columns)
    old = ", ".join(f"old.{c}" for c in columns)
    fts = f"{table}_fts"
    return [
        f"CREATE VIRTUAL TABLE IF NOT EXISTS {fts} USING fts5({cols}, content='{table}', content_rowid='id', "
        "tokenize='unicode61 remove_diacritics 2')",
        f"CREATE TRIGGER IF NOT EXISTS {fts}_ai AFTER INSERT ON {table} BEGIN "
        f"INSERT INTO {fts}(rowid, {cols}) VALUES (new.id, {new}); END",
        f"CREATE TRIGGER IF NOT EXISTS {fts}_ad AFTER DELETE ON {table} BEGIN "
        f"INSERT INTO {fts}({fts}, rowid, {cols}) VALUES ('delete', old.id, {old}); END",
        f"CREATE TRIGGER IF NOT EXISTS {fts}_au AFTER UPDATE ON {table} BEGIN "
        f"INSERT INTO {fts}({fts}, rowid, {cols}) VALUES ('delete', old.id, {old}); "
        f"INSERT INTO {fts}(rowid, {cols}) VALUES (new.id, {new}); END",
        f"INSERT INTO {fts}({fts}) VALUES ('rebuild')",
    ]


def _drop_sql(vendor: str, table: str) -> list[str]:
    if vendor == "postgresql":
        return [
            f"DROP INDEX IF EXISTS {table}_search_vector",
            f"ALTER TABLE {table} DROP COLUMN IF EXISTS search_vector",
        ]
    fts = f"{table}_fts"
    return [f"DROP TRIGGER IF EXISTS {fts}_{s}" for s in ("ai", "ad", "au")] + [f"DROP TABLE IF EXISTS {fts}"]


@contextmanager
def bulk_load_fulltext(table: str, columns: tuple[str, ...]) -> Iterator[None]:
    """Around a bulk insert into ``table``: on SQLite, drop the FTS triggers and rebuild the
    index once at the end (several times faster than a trigger per row). PostgreSQL's GIN
    index needs nothing. Use inside ``transaction.atomic``: SQLite's DDL is transactional,
    so a failed load rolls the triggers back too and no other writer sees them missing."""
    if connection.vendor != "sqlite":
        yield
        return
    if not connection.in_atomic_block:
        raise RuntimeError("bulk_load_fulltext must run inside a transaction")
    with connection.cursor() as cursor:
        for statement in _drop_sql("sqlite", table)[:3]:  # the triggers, not the index
            cursor.execute(statement)
    yield
    with connection.cursor() as cursor:
        for statement in _create_sql("sqlite", table, columns):
            cursor.execute(statement)
