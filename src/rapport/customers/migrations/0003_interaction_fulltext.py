from django.db import migrations

from rapport.core.search import fulltext_index_operations


class Migration(migrations.Migration):
    dependencies = [("customers", "0002_initial")]

    operations = fulltext_index_operations("customers_interaction", ("summary", "body"))
