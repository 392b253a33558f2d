"""Wake-up flags: one queued task per burst of work instead of one per item.

A door or a writer calls ``wake(name)`` after its commit; only when the flag was clear does it
queue the task. The task calls ``woken(name)`` before it looks for work, so an item committed
after that look finds the flag clear and queues the next run; nothing is ever left waiting."""

from __future__ import annotations

from django.db import connection

from rapport.channels.models import WorkerWakeup


def wake(name: str) -> bool:
    """Set the flag; True when it was clear or missing (the caller queues the task). One
    statement (PostgreSQL and SQLite both have ON CONFLICT ... RETURNING): every door request
    runs it, so it is one round trip, not an update followed by a lookup."""
    table = connection.ops.quote_name(WorkerWakeup._meta.db_table)
    with connection.cursor() as cursor:
        cursor.execute(
            f"INSERT INTO {table} (name, scheduled) VALUES (%s, %s) "  # noqa: S608 - the table name is ours
            f"ON CONFLICT (name) DO UPDATE SET scheduled = %s WHERE {table}.scheduled = %s RETURNING name",
            [name, True, True, False],
        )
        return cursor.fetchone() is not None


def woken(name: str) -> None:
    """The task has started: later work must queue a new one."""
    WorkerWakeup.objects.filter(name=name).update(scheduled=False)
