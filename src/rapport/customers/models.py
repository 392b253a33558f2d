"""Customers (also prospects and former customers), their contact points and the timeline."""

from __future__ import annotations

import re

from django.conf import settings
from django.db import models
from django.db.models import Q

REFERENCE_PREFIX = "CU-"
REFERENCE_RE = re.compile(r"^\s*CU-?0*(\d{1,12})\s*$", re.IGNORECASE)


class CustomerKind(models.TextChoices):
    PERSON = "person", "Person"
    ORGANISATION = "organisation", "Organisation"


class CustomerStatus(models.TextChoices):
    PROSPECT = "prospect", "Prospect"
    ACTIVE = "active", "Active"
    FORMER = "former", "Former customer"


class Channel(models.TextChoices):
    PHONE = "phone", "Phone"
    EMAIL = "email", "Email"
    LETTER = "letter", "Letter"
    MEETING = "meeting", "Meeting"
    CHAT = "chat", "Chat"
    SMS = "sms", "SMS"
    PORTAL = "portal", "Portal"
    WEB = "web", "Web"
    SURVEY = "survey", "Survey"
    OTHER = "other", "Other"


class Direction(models.TextChoices):
    INBOUND = "in", "Inbound"
    OUTBOUND = "out", "Outbound"


CONSENT_CHANNELS = ("email", "phone", "post", "marketing")


class Tag(models.Model):
    name = models.CharField(max_length=50, unique=True)

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name


class CustomerQuerySet(models.QuerySet["Customer"]):
    def live(self) -> CustomerQuerySet:
        """Customers that have not been merged into another."""
        return self.filter(merged_into__isnull=True)

    def managed_by(self, staff_id: int) -> CustomerQuerySet:
        return self.live().filter(account_manager_id=staff_id)


class Customer(models.Model):
    kind = models.CharField(max_length=16, choices=CustomerKind.choices, default=CustomerKind.PERSON)
    name = models.CharField(max_length=200)
    status = models.CharField(max_length=16, choices=CustomerStatus.choices, default=CustomerStatus.PROSPECT)
    # No index of its own: customer_manager_name (account_manager, name; partial, managed
    # customers only) serves "customers of this manager" and the foreign key's checks.
    account_manager = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="managed_customers",
        db_index=False,
    )
    external_id = models.CharField(max_length=100, null=True, blank=True, unique=True)
    preferred_channel = models.CharField(max_length=16, choices=Channel.choices, blank=True, default="")
    language = models.CharField(max_length=16, default="en")
    timezone = models.CharField(max_length=64, default="UTC")
    consent_email = models.BooleanField(default=False)
    consent_phone = models.BooleanField(default=False)
    consent_post = models.BooleanField(default=False)
    consent_marketing = models.BooleanField(default=False)
    notes = models.TextField(blank=True, default="")
    # Set by value, read by cases. db_default: the bulk COPY imports name their columns and leave it out.
    care_tier = models.CharField(max_length=32, blank=True, default="", db_default="")
    segment = models.CharField(
        max_length=32, blank=True, default="", db_default=""
    )  # set by value (RFM), like care_tier
    tags = models.ManyToManyField(Tag, blank=True, related_name="customers")
    merged_into = models.ForeignKey("self", null=True, blank=True, on_delete=models.PROTECT, related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)
    version = models.PositiveIntegerField(default=1)  # bumped on every edit; the API's ETag

    objects = CustomerQuerySet.as_manager()

    class Meta:
        indexes = [
            # Managed customers only: most have no manager, and every unmanaged one would be a
            # random insert into this index (the CSV import paid ~8% of its database time for it).
            models.Index(
                fields=["account_manager", "name"],
                name="customer_manager_name",
                condition=Q(account_manager__isnull=False),
            ),
            models.Index(fields=["status", "id"], name="customer_status_id"),
            models.Index(fields=["-updated_at"], name="customer_updated"),
            # The list filters by care tier and segment, newest first (paginated by id).
            models.Index(fields=["care_tier", "id"], name="customer_tier_id"),
            models.Index(fields=["segment", "id"], name="customer_segment_id"),
        ]

    def __str__(self) -> str:
        return self.name

    @property
    def reference(self) -> str:
        return format_reference(self.id)

    @property
    def consent(self) -> dict[str, bool]:
        return {channel: getattr(self, f"consent_{channel}") for channel in CONSENT_CHANNELS}


def format_reference(customer_id: int) -> str:
    return f"{REFERENCE_PREFIX}{customer_id:06d}"


def parse_reference(text: str) -> int | None:
    match = REFERENCE_RE.match(text)
    return int(match.group(1)) if match else None


class ContactPointKind(models.TextChoices):
    EMAIL = "email", "Email"
    PHONE = "phone", "Phone"


class ContactPoint(models.Model):
    """An email address or phone number, stored normalised (lower-case email, E.164 phone)."""

    # No index of its own: contact_point_once (customer, kind, value) serves it.
    customer = models.ForeignKey(Customer, on_delete=models.CASCADE, related_name="contact_points", db_index=False)
    kind = models.CharField(max_length=8, choices=ContactPointKind.choices)
    value = models.CharField(max_length=254, db_index=True)
    label = models.CharField(max_length=40, blank=True, default="")
    is_primary = models.BooleanField(default=False)
    bouncing = models.BooleanField(default=False)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-is_primary", "id"]
        constraints = [
            # One customer per email address: the address identifies the person in every channel.
            models.UniqueConstraint(fields=["value"], condition=Q(kind="email"), name="contact_email_unique"),
            models.UniqueConstraint(fields=["customer", "kind", "value"], name="contact_point_once"),
        ]

    def __str__(self) -> str:
        return self.value


class NameKey(models.Model):
    """One lower-cased word of a customer's name, for prefix search by any word.

    A B-tree range scan on ``key`` answers "names with a word starting with 'smi'" in a few
    index pages at any table size, on SQLite and PostgreSQL alike (see core.search).
    """

    customer = models.ForeignKey(Customer, on_delete=models.CASCADE, related_name="+")
    key = models.CharField(max_length=100, db_index=True)  # PostgreSQL also gets a pattern-ops index

    def __str__(self) -> str:
        return self.key


class InteractionQuerySet(models.QuerySet["Interaction"]):
    def for_customer(self, customer_id: int) -> InteractionQuerySet:
        return self.filter(customer_id=customer_id)


class Interaction(models.Model):
    """One contact with a customer, in any channel: the unit of the contact timeline.

    Later capabilities (cases, email, surveys) add their contacts here too and point back
    at their own record with ``source_type``/``source_id``.
    """

    # customer and staff lead composite indexes below: no index of their own.
    customer = models.ForeignKey(Customer, on_delete=models.CASCADE, related_name="interactions", db_index=False)
    channel = models.CharField(max_length=16, choices=Channel.choices)
    direction = models.CharField(max_length=3, choices=Direction.choices)
    occurred_at = models.DateTimeField()
    summary = models.CharField(max_length=300)
    body = models.TextField(blank=True, default="")
    staff = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+", db_index=False
    )
    duration_seconds = models.PositiveIntegerField(null=True, blank=True)
    source_type = models.CharField(max_length=40, blank=True, default="")
    source_id = models.BigIntegerField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    objects = InteractionQuerySet.as_manager()

    class Meta:
        indexes = [
            models.Index(fields=["customer", "-occurred_at", "-id"], name="timeline_customer_occurred"),
            models.Index(fields=["-occurred_at", "-id"], name="timeline_recent"),
            models.Index(fields=["staff", "-occurred_at"], name="timeline_staff_occurred"),
        ]

    def __str__(self) -> str:
        return f"{self.get_channel_display()} {self.get_direction_display().lower()}: {self.summary}"


class ImportStatus(models.TextChoices):
    PENDING = "pending", "Waiting to start"
    VALIDATING = "validating", "Checking rows"
    INVALID = "invalid", "Has errors"
    IMPORTING = "importing", "Importing"
    DONE = "done", "Done"
    FAILED = "failed", "Failed"


class ImportJob(models.Model):
    """A customer CSV upload checked (and imported) by a background task, with its progress."""

    ERRORS_KEPT = 1000  # the stored error list is capped; error_count holds the true total

    file = models.CharField(max_length=255)  # name in the default storage
    original_name = models.CharField(max_length=255, blank=True, default="")
    status = models.CharField(max_length=16, choices=ImportStatus.choices, default=ImportStatus.PENDING)
    dry_run = models.BooleanField(default=True)
    rows_total = models.PositiveIntegerField(default=0)
    rows_done = models.PositiveIntegerField(default=0)
    created = models.PositiveIntegerField(default=0)
    errors = models.JSONField(default=list, blank=True)  # [{"line", "field", "message"}], at most ERRORS_KEPT
    error_count = models.PositiveIntegerField(default=0)
    failure = models.TextField(blank=True, default="")  # an unexpected crash, for the operator
    # A real import started from a clean dry run points at it; one real import per dry run.
    dry_run_of = models.OneToOneField(
        "self", null=True, blank=True, on_delete=models.SET_NULL, related_name="real_import"
    )
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]

    def __str__(self) -> str:
        return f"Import {self.id} ({self.status})"

    @property
    def running(self) -> bool:
        return self.status in (ImportStatus.PENDING, ImportStatus.VALIDATING, ImportStatus.IMPORTING)

    @property
    def percent(self) -> int:
        return min(100, self.rows_done * 100 // self.rows_total) if self.rows_total else 0
