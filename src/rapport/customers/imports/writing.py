"""Writing validated rows in bulk: COPY on PostgreSQL (ids reserved from the sequence first),
``bulk_create`` elsewhere; the per-row foreign-key checks skipped and done as a set
(``skip_row_checks``, ``lock_parents``, ``restore_row_checks``); ``BackgroundWriter``, which
writes in a second thread on the same connection. Shared with the order import."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable, Iterator
from operator import itemgetter
from typing import Any

from django.db import DatabaseError, connection, transaction
from django.utils import timezone

from rapport.core.errors import Conflict
from rapport.customers.imports.cleaning import _Cleaner
from rapport.customers.imports.rows import R_EMAILS, R_EXTERNAL, R_MANAGER, R_NAME, R_NOTES, R_PHONES, R_TAGS, Row
from rapport.customers.models import ContactPoint, ContactPointKind, Customer, NameKey


def skip_row_checks() -> bool:
    """Inside the write transaction on PostgreSQL: stop the per-row foreign-key triggers for the
    rows this transaction inserts; the caller checks the parents as a set (``lock_parents``).

    A foreign key costs PostgreSQL one trigger per inserted row at commit: an index probe and a
    key-share lock on the parent row, about half of a customer import's database time. The
    imports write rows whose parents they have just inserted themselves (invisible to everyone
    else) or looked up; locking those with one ``FOR KEY SHARE`` query, and finding every one
    of them, is what the triggers would have done row by row, so the rows are exactly as
    checked. It needs ``session_replication_role`` (a superuser, or ``GRANT SET ON PARAMETER
    session_replication_role`` on PostgreSQL 15+); without it the triggers stay on and this
    answers False. Call ``restore_row_checks`` after the bulk statements.
    """
    if connection.vendor != "postgresql":
        return False
    try:
        with transaction.atomic(), connection.cursor() as cursor:  # a savepoint: a refusal is harmless
            cursor.execute("SET LOCAL session_replication_role = replica")
    except DatabaseError:
        return False
    return True


def lock_parents(parents: dict[type[Any], Iterable[int]]) -> bool:
    """Lock the parent rows (model -> ids) the bulk rows point to, as the triggers would;
    ``Conflict`` when one has gone since it was looked up. Always True (for ``and``)."""
    with connection.cursor() as cursor:
        for model, ids in parents.items():
            wanted = sorted(set(ids))
            if not wanted:
                continue
            table = model._meta.db_table
            sql = f"SELECT count(*) FROM (SELECT 1 FROM {table} WHERE id = ANY(%s) FOR KEY SHARE) AS locked"  # noqa: S608 - our table name
            cursor.execute(sql, [wanted])
            if cursor.fetchone()[0] != len(wanted):
                raise Conflict(
                    f"A {model._meta.verbose_name} this import refers to was removed meanwhile; nothing was imported."
                )
    return True


def restore_row_checks() -> None:
    with connection.cursor() as cursor:
        cursor.execute("SET LOCAL session_replication_role = origin")


def _copy(table: str, columns: Iterable[str], lines: Iterable[str]) -> None:
    copy_text(connection.cursor(), table, columns, lines)


COPY_CHUNK = 5000  # lines per write
_COPY_ESCAPES = str.maketrans({"\\": "\\\\", "\t": "\\t", "\n": "\\n", "\r": "\\r"})


def copy_text(cursor: Any, table: str, columns: Iterable[str], lines: Iterable[str]) -> None:
    """COPY in PostgreSQL's text format, lines made by the caller (``_text`` escapes what must be):
    psycopg's per-value adaptation (``write_row``) costs more than making the line. Closes ``cursor``."""
    with cursor, cursor.copy(f"COPY {table} ({', '.join(columns)}) FROM STDIN") as copy:
        chunk: list[str] = []
        for line in lines:
            chunk.append(line)
            if len(chunk) == COPY_CHUNK:
                copy.write("".join(chunk).encode())
                chunk = []
        if chunk:
            copy.write("".join(chunk).encode())


def _text(value: str) -> str:
    return value.translate(_COPY_ESCAPES) if "\\" in value or not value.isprintable() else value


def _reserve_ids(count: int) -> list[int]:
    """Ids from the customer sequence; other writers may interleave, so not always one run."""
    table = Customer._meta.db_table
    with connection.cursor() as cursor:
        cursor.execute("SELECT nextval(pg_get_serial_sequence(%s, 'id')) FROM generate_series(1, %s)", [table, count])
        return [r[0] for r in cursor.fetchall()]


CUSTOMER_COLUMNS = (
    "id",
    "name",
    "kind",
    "status",
    "account_manager_id",
    "external_id",
    "preferred_channel",
    "language",
    "timezone",
    "consent_email",
    "consent_phone",
    "consent_post",
    "consent_marketing",
    "notes",
    "created_at",
    "updated_at",
    "version",
)


def _customer_values(row: Row, customer_id: int | None, managers: dict[str, int], now: Any) -> tuple[Any, ...]:
    return (
        customer_id,
        row[1],
        row[2],
        row[3],
        managers.get(row[R_MANAGER]) if row[R_MANAGER] else None,
        *row[5:14],
        now,
        now,
        1,
    )


def _contact_rows(ids: list[int], rows: list[Row], now: Any) -> Iterator[tuple[Any, ...]]:
    for customer_id, row in zip(ids, rows, strict=True):
        for index, email in enumerate(row[R_EMAILS]):
            yield (customer_id, ContactPointKind.EMAIL.value, email, "", index == 0, False, now)
        for index, phone in enumerate(row[R_PHONES]):
            yield (customer_id, ContactPointKind.PHONE.value, phone, "", index == 0, False, now)


def _name_key_rows(ids: list[int], rows: list[Row], cleaner: _Cleaner) -> Iterator[tuple[int, str]]:
    for customer_id, row in zip(ids, rows, strict=True):
        for key in cleaner.keys(row[R_NAME]):
            yield (customer_id, key)


def _tag_rows(ids: list[int], rows: list[Row], tag_ids: dict[str, int]) -> Iterator[tuple[int, int]]:
    for customer_id, row in zip(ids, rows, strict=True):
        for tag in row[R_TAGS]:
            yield (customer_id, tag_ids[tag])


CONTACT_COLUMNS = ("customer_id", "kind", "value", "label", "is_primary", "bouncing", "created_at")


def _write_postgresql(
    rows: list[Row], managers: dict[str, int], cleaner: _Cleaner, tag_ids: dict[str, int]
) -> list[int]:
    ids = _reserve_ids(len(rows))
    _copy_rows(_copy, ids, rows, managers, cleaner, tag_ids, timezone.now())
    return ids


def _copy_rows(
    copy: Callable[[str, Iterable[str], Iterable[str]], None],
    ids: list[int],
    rows: list[Row],
    managers: dict[str, int],
    cleaner: _Cleaner,
    tag_ids: dict[str, int],
    now: Any,
) -> None:
    stamp = now.isoformat()
    copy(Customer._meta.db_table, CUSTOMER_COLUMNS, _customer_lines(ids, rows, managers, stamp))
    # Contact points and name keys go in sorted by value: three of the contact point indexes
    # and two of the name key indexes lead with it, and B-tree inserts in key order touch a
    # few hot pages instead of a random page per row once the index outgrows the cache.
    contacts = sorted(_contact_rows(ids, rows, now), key=itemgetter(2))
    copy(
        ContactPoint._meta.db_table,
        CONTACT_COLUMNS,
        (
            f"{c}\t{kind}\t{_text(value)}\t\t{'t' if first else 'f'}\tf\t{stamp}\n"
            for c, kind, value, _, first, _, _ in contacts
        ),
    )
    del contacts
    keys = sorted(_name_key_rows(ids, rows, cleaner), key=itemgetter(1))
    copy(NameKey._meta.db_table, ("customer_id", "key"), (f"{c}\t{_text(key)}\n" for c, key in keys))
    del keys
    copy(
        Customer.tags.through._meta.db_table,
        ("customer_id", "tag_id"),
        (f"{c}\t{t}\n" for c, t in _tag_rows(ids, rows, tag_ids)),
    )


_NULL = "\\N"


def _customer_lines(ids: list[int], rows: list[Row], managers: dict[str, int], stamp: str) -> Iterator[str]:
    for cid, r in zip(ids, rows, strict=True):
        manager = managers[r[R_MANAGER]] if r[R_MANAGER] else _NULL
        external = _NULL if r[R_EXTERNAL] is None else _text(r[R_EXTERNAL])
        consents = "\t".join("t" if c else "f" for c in r[9:13])
        yield (
            f"{cid}\t{_text(r[R_NAME])}\t{r[2]}\t{r[3]}\t{manager}\t{external}\t{r[6]}\t{r[7]}\t{r[8]}\t"
            f"{consents}\t{_text(r[R_NOTES])}\t{stamp}\t{stamp}\t1\n"
        )


def _write_orm(rows: list[Row], managers: dict[str, int], cleaner: _Cleaner, tag_ids: dict[str, int]) -> list[int]:
    """SQLite (and any other engine): bulk_create in batches, ids come back from RETURNING."""
    now = timezone.now()
    names = CUSTOMER_COLUMNS[1:-3]
    ids: list[int] = []
    batch = 2000
    for start in range(0, len(rows), batch):
        part = rows[start : start + batch]
        made = Customer.objects.bulk_create(
            Customer(**dict(zip(names, _customer_values(r, None, managers, now)[1:-3], strict=True))) for r in part
        )
        ids += [c.id for c in made]
    ContactPoint.objects.bulk_create(
        (ContactPoint(**dict(zip(CONTACT_COLUMNS, values, strict=True))) for values in _contact_rows(ids, rows, now)),
        batch_size=batch,
    )
    NameKey.objects.bulk_create(
        (NameKey(customer_id=c, key=k) for c, k in _name_key_rows(ids, rows, cleaner)), batch_size=batch
    )
    through = Customer.tags.through
    through.objects.bulk_create(
        (through(customer_id=c, tag_id=t) for c, t in _tag_rows(ids, rows, tag_ids)), batch_size=batch
    )
    return ids


class BackgroundWriter:
    """One write at a time in a second thread, on this thread's connection and inside its open
    transaction, so Python can prepare the next rows while PostgreSQL takes these. The thread
    uses the raw connection; ``wait`` must come before anything else uses the connection
    (psycopg would serialise it, but a query would then block until the write is done)."""

    def __init__(self) -> None:
        connection.ensure_connection()
        self.raw = connection.connection
        self.thread: threading.Thread | None = None
        self.failure: BaseException | None = None

    def start(self, fn: Callable[..., None], *args: Any) -> None:
        self.wait()
        self.thread = threading.Thread(target=self._run, args=(fn, *args), name="import-writer")
        self.thread.start()

    def _run(self, fn: Callable[..., None], *args: Any) -> None:
        try:
            fn(*args)
        except BaseException as exc:  # handed to the caller's thread by wait()
            self.failure = exc

    def copy(self, table: str, columns: Iterable[str], lines: Iterable[str]) -> None:
        copy_text(self.raw.cursor(), table, columns, lines)

    def wait(self) -> None:
        self.stop()
        if self.failure is not None:
            failure, self.failure = self.failure, None
            raise failure

    def stop(self) -> None:
        if self.thread is not None:
            self.thread.join()
            self.thread = None
