from decimal import Decimal

from django.db import migrations

DEFAULTS = {"agent": "50.00", "lead": "250.00", "manager": "1000.00", "admin": "5000.00"}


def seed(apps, schema_editor):
    RoleAuthority = apps.get_model("people", "RoleAuthority")
    for role, amount in DEFAULTS.items():
        RoleAuthority.objects.get_or_create(
            role=role, defaults={"max_compensation_amount": Decimal(amount), "max_compensation_currency": "GBP"}
        )


class Migration(migrations.Migration):
    dependencies = [("people", "0001_initial")]

    operations = [migrations.RunPython(seed, migrations.RunPython.noop)]
