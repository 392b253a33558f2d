"""Keyword search over a case's subject and description: a stored tsvector column with a GIN
index on PostgreSQL, an FTS5 table kept in step by triggers on SQLite (core.search)."""

from django.db import migrations

from rapport.core.search import fulltext_index_operations


class Migration(migrations.Migration):
    dependencies = [("cases", "0003_message_handling_time")]

    operations = fulltext_index_operations("cases_case", ("subject", "description"))
