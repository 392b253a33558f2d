import math
from decimal import Decimal

import django.db.models.deletion
from django.db import migrations, models
from django.db.models import Count, F, FloatField, Max, Min, Sum
from django.db.models.functions import Floor

BANDS = 20
AMOUNTS = {"revenue": "revenue_to_date", "margin": "margin_to_date", "cost_to_serve": "cost_to_serve", "clv": "clv"}


def summarise_existing_batches(apps, schema_editor):
    """The summary of every snapshot batch taken before this migration, grouped from its rows
    (self-contained: the app's code may change after this migration)."""
    CustomerValue = apps.get_model("value", "CustomerValue")
    ValueSummary = apps.get_model("value", "ValueSummary")
    # Oldest first, so the newest batch gets the highest summary ids (the latest batch is -as_of, -id).
    batches = CustomerValue.objects.values("as_of", "fit_id").annotate(last=Max("id")).order_by("as_of", "last")
    for batch_key in batches:
        batch = CustomerValue.objects.filter(as_of=batch_key["as_of"], fit_id=batch_key["fit_id"])
        bounds = batch.aggregate(low=Min("clv"), high=Max("clv"))
        low, high = float(bounds["low"] or 0), float(bounds["high"] or 0)
        width = (high - low) / BANDS or 1.0
        currency = batch.values_list("currency", flat=True).first() or ""
        rows = (
            batch.annotate(band=Floor((F("clv") - low) / width, output_field=FloatField()))
            .values("segment", "tier", "band")
            .annotate(n=Count("id"), **{name: Sum(column) for name, column in AMOUNTS.items()})
            .order_by()
        )
        groups = {}
        for row in rows:
            group = groups.setdefault(
                (row["segment"], row["tier"]),
                {"customers": 0, "bands": [0] * BANDS, **{name: Decimal(0) for name in AMOUNTS}},
            )
            group["customers"] += row["n"]
            for name in AMOUNTS:
                group[name] += Decimal(row[name] or 0)
            group["bands"][min(math.floor(row["band"]), BANDS - 1)] += row["n"]
        ValueSummary.objects.bulk_create(
            ValueSummary(
                fit_id=batch_key["fit_id"],
                as_of=batch_key["as_of"],
                segment=segment,
                tier=tier,
                currency=currency,
                customers=group["customers"],
                clv_low=low,
                clv_high=high,
                clv_bands=group["bands"],
                **{name: group[name].quantize(Decimal("0.01")) for name in AMOUNTS},
            )
            for (segment, tier), group in sorted(groups.items())
        )


class Migration(migrations.Migration):
    dependencies = [
        ("value", "0004_order_customer_index"),
    ]

    operations = [
        migrations.CreateModel(
            name="ValueSummary",
            fields=[
                ("id", models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name="ID")),
                ("as_of", models.DateField()),
                ("segment", models.CharField(blank=True, default="", max_length=32)),
                ("tier", models.CharField(blank=True, default="", max_length=32)),
                ("currency", models.CharField(max_length=3)),
                ("customers", models.PositiveIntegerField(default=0)),
                ("revenue", models.DecimalField(decimal_places=4, default=0, max_digits=24)),
                ("margin", models.DecimalField(decimal_places=4, default=0, max_digits=24)),
                ("cost_to_serve", models.DecimalField(decimal_places=4, default=0, max_digits=24)),
                ("clv", models.DecimalField(decimal_places=4, default=0, max_digits=24)),
                ("clv_low", models.FloatField(default=0)),
                ("clv_high", models.FloatField(default=0)),
                ("clv_bands", models.JSONField(default=list)),
                ("created_at", models.DateTimeField(auto_now_add=True)),
                (
                    "fit",
                    models.ForeignKey(
                        on_delete=django.db.models.deletion.PROTECT, related_name="+", to="value.valuefit"
                    ),
                ),
            ],
            options={
                "indexes": [models.Index(fields=["-as_of", "-id"], name="value_summary_latest")],
                "constraints": [
                    models.UniqueConstraint(
                        fields=("fit", "as_of", "segment", "tier"), name="value_summary_one_per_group"
                    )
                ],
            },
        ),
        migrations.RunPython(summarise_existing_batches, migrations.RunPython.noop),
    ]
