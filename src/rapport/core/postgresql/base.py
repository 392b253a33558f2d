"""Django's PostgreSQL backend, with a cheaper check that a kept connection still works.

With ``CONN_HEALTH_CHECKS`` Django sends ``SELECT 1`` before the first statement of every
request: a round trip, about a tenth of a worker's time when opening a case. A server that
restarts, or an administrator's ``pg_terminate_backend``, closes the connection from its end,
and the socket then has something to read (the error notice, the end of the stream) while the
connection sits idle between requests. So: nothing to read means the connection is as good as
``SELECT 1`` would say; anything to read, and we ask the server as Django does. A connection
that vanished without a word (a cable pulled) fails its next request, as it would without
health checks, and is replaced after it.
"""

from __future__ import annotations

import select

from django.db.backends.postgresql.base import DatabaseWrapper as PostgresDatabaseWrapper
from psycopg.pq import ConnStatus, TransactionStatus


class DatabaseWrapper(PostgresDatabaseWrapper):
    def is_usable(self) -> bool:
        connection = self.connection
        if connection is None or connection.closed:
            return False
        pgconn = connection.pgconn
        idle = pgconn.status == ConnStatus.OK and pgconn.transaction_status == TransactionStatus.IDLE
        if idle and not _has_something_to_read(pgconn.socket):
            return True
        return bool(super().is_usable())


def _has_something_to_read(socket: int) -> bool:
    try:
        return bool(select.select([socket], [], [], 0)[0])
    except (OSError, ValueError):  # e.g. a descriptor above select()'s limit: ask the server
        return True
