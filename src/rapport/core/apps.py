from django.apps import AppConfig
from psycopg import _queries as psycopg_queries

# psycopg remembers how it turned a statement's %s placeholders into $n ones only for statements
# of at most 50 parameters, and otherwise parses the text again on every run (a third of a
# millisecond for the statement that writes a new case's clocks, history, timeline and audit
# entries: 52 parameters). The cache is psycopg's LRU of 128 statements either way.
CACHED_STATEMENT_PARAMS = 200


class CoreConfig(AppConfig):
    name = "rapport.core"
    label = "core"
    verbose_name = "Rapport core"

    def ready(self) -> None:
        if not hasattr(psycopg_queries, "MAX_CACHED_STATEMENT_PARAMS"):
            raise RuntimeError("psycopg no longer has MAX_CACHED_STATEMENT_PARAMS: review core/apps.py")
        psycopg_queries.MAX_CACHED_STATEMENT_PARAMS = CACHED_STATEMENT_PARAMS
