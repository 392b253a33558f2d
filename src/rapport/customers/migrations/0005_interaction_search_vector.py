"""PostgreSQL: move the timeline's full-text index from an expression to a stored vector
column (re-running the same helper, which now builds the column). SQLite is unchanged."""

from django.db import migrations

from rapport.core.search import fulltext_index_operations


class Migration(migrations.Migration):
    dependencies = [("customers", "0004_import_job")]

    operations = fulltext_index_operations("customers_interaction", ("summary", "body"), vendors=("postgresql",))
