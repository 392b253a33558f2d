"""Orders, value-model fits and per-customer value snapshots."""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models import Q

from rapport.customers.models import Customer

# Money columns: max_digits=18, decimal_places=4 fits every ISO 4217 precision (0-4 places).


class Order(models.Model):
    """What a customer bought. A negative revenue is a refund (kept, flagged, not a purchase occasion)."""

    reference = models.CharField(max_length=100, unique=True)
    # No index of its own: order_customer_time (customer, ordered_at) serves it, and the import
    # pays for every index per row (this one, in random customer order, cost ~20% of a COPY).
    customer = models.ForeignKey(Customer, on_delete=models.PROTECT, related_name="orders", db_index=False)
    ordered_at = models.DateTimeField()
    revenue = models.DecimalField(max_digits=18, decimal_places=4)
    cost = models.DecimalField(default=0, max_digits=18, decimal_places=4)
    currency = models.CharField(max_length=3)
    promised_delivery_at = models.DateTimeField(null=True, blank=True)
    delivered_at = models.DateTimeField(null=True, blank=True)
    is_refund = models.BooleanField(default=False)  # revenue < 0; written with the row
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        indexes = [
            models.Index(fields=["customer", "ordered_at"], name="order_customer_time"),
            models.Index(fields=["ordered_at", "id"], name="order_time_id"),
        ]

    def __str__(self) -> str:
        return self.reference


class OrderLine(models.Model):
    order = models.ForeignKey(Order, on_delete=models.CASCADE, related_name="lines")
    product = models.CharField(max_length=200)
    quantity = models.IntegerField(default=1)
    revenue = models.DecimalField(max_digits=18, decimal_places=4)

    def __str__(self) -> str:
        return f"{self.quantity} × {self.product}"


class ValueModel(models.TextChoices):
    BGNBD = "bgnbd", "BG/NBD"
    PARETONBD = "paretonbd", "Pareto/NBD"
    GAMMAGAMMA = "gammagamma", "Gamma-Gamma"


class TimeUnit(models.TextChoices):
    DAY = "day", "Day"
    WEEK = "week", "Week"
    MONTH = "month", "Month"


DAYS_PER_UNIT: dict[str, float] = {TimeUnit.DAY: 1.0, TimeUnit.WEEK: 7.0, TimeUnit.MONTH: 365.25 / 12}


class FitStatus(models.TextChoices):
    QUEUED = "queued", "Queued"
    RUNNING = "running", "Running"
    DONE = "done", "Done"  # converged; in force unless a later fit replaced it
    FAILED = "failed", "Failed"


class ValueFit(models.Model):
    """One fit of one model; the latest converged fit of each model is ``in_force``."""

    model = models.CharField(max_length=16, choices=ValueModel.choices)
    params = models.JSONField(default=dict)
    log_likelihood = models.FloatField(null=True, blank=True)
    customers = models.PositiveIntegerField(default=0)
    calibration_end = models.DateField()
    time_unit = models.CharField(max_length=8, choices=TimeUnit.choices, default=TimeUnit.WEEK)
    currency = models.CharField(max_length=3, blank=True, default="")  # of the spend a Gamma-Gamma fit models
    seconds = models.FloatField(default=0)
    status = models.CharField(max_length=8, choices=FitStatus.choices)
    message = models.TextField(blank=True, default="")
    max_iterations = models.PositiveIntegerField(default=500)  # what a queued fit will be run with
    created_at = models.DateTimeField(auto_now_add=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    in_force = models.BooleanField(default=False)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["model"], condition=Q(in_force=True), name="value_fit_one_in_force"),
        ]

    def __str__(self) -> str:
        return f"{self.model} fit {self.id} ({self.status})"


class CustomerValue(models.Model):
    """A customer's value as of a date, from the fits in force then; kept over time for the chart."""

    customer = models.ForeignKey(Customer, on_delete=models.CASCADE, related_name="value_snapshots")
    fit = models.ForeignKey(ValueFit, on_delete=models.PROTECT, related_name="snapshots")
    as_of = models.DateField()
    p_alive = models.FloatField()
    expected_orders_12m = models.FloatField()
    expected_margin_12m = models.DecimalField(max_digits=18, decimal_places=4)
    clv = models.DecimalField(max_digits=18, decimal_places=4)
    currency = models.CharField(max_length=3)
    margin_to_date = models.DecimalField(max_digits=18, decimal_places=4)
    revenue_to_date = models.DecimalField(default=0, max_digits=18, decimal_places=4)
    cost_to_serve = models.DecimalField(default=0, max_digits=18, decimal_places=4)  # 0 until cost rates exist
    recency_score = models.PositiveSmallIntegerField(null=True, blank=True)  # RFM 1-5
    frequency_score = models.PositiveSmallIntegerField(null=True, blank=True)
    monetary_score = models.PositiveSmallIntegerField(null=True, blank=True)
    segment = models.CharField(max_length=32, blank=True, default="")
    tier = models.CharField(max_length=32, blank=True, default="")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        indexes = [
            models.Index(fields=["customer", "-as_of", "-id"], name="value_latest_per_customer"),
            models.Index(fields=["fit", "segment"], name="value_fit_segment"),
            models.Index(fields=["fit", "tier"], name="value_fit_tier"),
        ]

    def __str__(self) -> str:
        return f"value of customer {self.customer_id} as of {self.as_of}"


CLV_BANDS = 20  # the value page's CLV histogram: equal-width bands between a batch's lowest and highest CLV


class ValueSummary(models.Model):
    """One snapshot batch (fit, as_of) per segment × tier: what the value page and the segments API
    show to date, so they read a few dozen rows instead of grouping a million snapshots. Written in
    the snapshot's transaction; tier changes and merges that touch the batch keep it in step."""

    fit = models.ForeignKey(ValueFit, on_delete=models.PROTECT, related_name="+")
    as_of = models.DateField()
    segment = models.CharField(max_length=32, blank=True, default="")
    tier = models.CharField(max_length=32, blank=True, default="")
    currency = models.CharField(max_length=3)
    customers = models.PositiveIntegerField(default=0)
    # Sums of the snapshots' money columns (2 decimals each), exact.
    revenue = models.DecimalField(default=0, max_digits=24, decimal_places=4)
    margin = models.DecimalField(default=0, max_digits=24, decimal_places=4)
    cost_to_serve = models.DecimalField(default=0, max_digits=24, decimal_places=4)
    clv = models.DecimalField(default=0, max_digits=24, decimal_places=4)
    # The batch's CLV range (the same on every row of the batch) and this group's customers per band of it.
    clv_low = models.FloatField(default=0)
    clv_high = models.FloatField(default=0)
    clv_bands = models.JSONField(default=list)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["fit", "as_of", "segment", "tier"], name="value_summary_one_per_group"),
        ]
        indexes = [models.Index(fields=["-as_of", "-id"], name="value_summary_latest")]

    def __str__(self) -> str:
        return f"value summary {self.as_of} {self.segment}/{self.tier}"


class TierRules(models.Model):
    """The care-tier rules an admin sets (one row, the latest wins): ``rules`` is an ordered list of
    ``{"tier", "top_percent"}`` or ``{"tier", "when"}``; customers no rule picks get ``default``."""

    rules = models.JSONField(default=list)
    default = models.CharField(max_length=32, default="standard")
    updated_at = models.DateTimeField(auto_now=True)
    updated_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )

    def __str__(self) -> str:
        return f"tier rules ({len(self.rules)})"


class TierOverride(models.Model):
    """A manual care tier for one customer; the rules leave it alone until it is removed."""

    customer = models.OneToOneField(Customer, on_delete=models.CASCADE, related_name="tier_override")
    tier = models.CharField(max_length=32)
    reason = models.TextField()
    set_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+")
    set_at = models.DateTimeField(auto_now=True)

    def __str__(self) -> str:
        return f"{self.customer_id} → {self.tier}"


class CostRate(models.Model):
    """What an hour of a role's care effort costs (handling time × rate is the care part of the
    cost to serve; granted compensation is the rest)."""

    role = models.CharField(max_length=16, unique=True)
    per_hour = models.DecimalField(max_digits=12, decimal_places=2)
    currency = models.CharField(max_length=3)
    updated_at = models.DateTimeField(auto_now=True)
    updated_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )

    class Meta:
        constraints = [models.CheckConstraint(condition=Q(per_hour__gte=0), name="cost_rate_non_negative")]

    def __str__(self) -> str:
        return f"{self.role}: {self.per_hour} {self.currency}/h"
