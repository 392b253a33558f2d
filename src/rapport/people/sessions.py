"""Sessions in the database, as Django's ``db`` session engine keeps them, read by a
hand-written statement: every signed-in page reads its session first, and building the ORM
query cost more than the database's answer (bench/README.md, session 5). Saving, deleting and
expiring are Django's."""

from __future__ import annotations

from django.contrib.sessions.backends.db import SessionStore as DatabaseSessionStore
from django.contrib.sessions.models import Session
from django.db import connection
from django.utils import timezone


class SessionStore(DatabaseSessionStore):
    def _get_session_from_db(self) -> Session | None:
        """The unexpired session of this key (only its data is used), or None, forgetting the key."""
        key = self.session_key
        if key is None:
            return None
        table = connection.ops.quote_name(Session._meta.db_table)
        now = connection.ops.adapt_datetimefield_value(timezone.now())
        with connection.cursor() as cursor:
            cursor.execute(
                f'SELECT "session_data" FROM {table} WHERE "session_key" = %s AND "expire_date" > %s',  # noqa: S608 - our table
                [key, now],
            )
            row = cursor.fetchone()
        if row is None:
            self._session_key = None
            return None
        return Session(session_key=key, session_data=row[0])
