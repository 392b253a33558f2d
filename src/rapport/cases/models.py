"""Cases: complaints, requests and questions, owned to the end, on the clock, compensated
when things went wrong, and traced to the root cause that needs fixing."""

from __future__ import annotations

import re
from datetime import datetime
from decimal import Decimal

from django.conf import settings
from django.db import models
from django.db.models import Q

from rapport.customers.models import Channel

REFERENCE_RE = re.compile(r"^\s*C-?0*(\d{1,12})\s*$", re.IGNORECASE)


class CaseType(models.TextChoices):
    COMPLAINT = "complaint", "Complaint"
    REQUEST = "request", "Request"
    QUESTION = "question", "Question"
    INCIDENT = "incident", "Incident"
    COMPLIMENT = "compliment", "Compliment"


class Priority(models.TextChoices):
    LOW = "low", "Low"
    NORMAL = "normal", "Normal"
    HIGH = "high", "High"
    URGENT = "urgent", "Urgent"


class Status(models.TextChoices):
    NEW = "new", "New"
    OPEN = "open", "Open"
    WAITING_CUSTOMER = "waiting_customer", "Waiting on customer"
    WAITING_THIRD_PARTY = "waiting_third_party", "Waiting on third party"
    RESOLVED = "resolved", "Resolved"
    CLOSED = "closed", "Closed"


OPEN_STATUSES = (Status.NEW, Status.OPEN, Status.WAITING_CUSTOMER, Status.WAITING_THIRD_PARTY)
DONE_STATUSES = (Status.RESOLVED, Status.CLOSED)


def format_reference(case_id: int) -> str:
    return f"C-{case_id:06d}"


def parse_reference(text: str) -> int | None:
    match = REFERENCE_RE.match(text)
    return int(match.group(1)) if match else None


class RootCause(models.Model):
    """A node of the root-cause tree (delivery > late)."""

    name = models.CharField(max_length=100)
    parent = models.ForeignKey("self", null=True, blank=True, on_delete=models.PROTECT, related_name="children")
    active = models.BooleanField(default=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["parent", "name"], name="root_cause_unique_in_parent"),
            models.UniqueConstraint(fields=["name"], condition=Q(parent__isnull=True), name="root_cause_unique_top"),
        ]
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name


class Case(models.Model):
    # customer, owner and team are the first column of composite indexes below: no index of their own.
    customer = models.ForeignKey("customers.Customer", on_delete=models.PROTECT, related_name="cases", db_index=False)
    type = models.CharField(max_length=16, choices=CaseType.choices)
    subject = models.CharField(max_length=200)
    description = models.TextField(blank=True, default="")
    channel = models.CharField(max_length=16, choices=Channel.choices, default=Channel.OTHER)
    priority = models.CharField(max_length=8, choices=Priority.choices, default=Priority.NORMAL)
    status = models.CharField(max_length=24, choices=Status.choices, default=Status.NEW)
    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="owned_cases",
        db_index=False,
    )
    team = models.ForeignKey(
        "people.Team", null=True, blank=True, on_delete=models.PROTECT, related_name="cases", db_index=False
    )
    opened_at = models.DateTimeField()
    first_response_at = models.DateTimeField(null=True, blank=True)
    resolved_at = models.DateTimeField(null=True, blank=True)
    closed_at = models.DateTimeField(null=True, blank=True)
    root_cause = models.ForeignKey(RootCause, null=True, blank=True, on_delete=models.PROTECT, related_name="cases")
    root_cause_statement = models.TextField(blank=True, default="")
    # The SLA terms the case started with; later policy or calendar edits do not touch them.
    sla_terms = models.JSONField(default=dict, blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    version = models.PositiveIntegerField(default=1)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)
    watchers = models.ManyToManyField(settings.AUTH_USER_MODEL, blank=True, related_name="watched_cases")

    class Meta:
        indexes = [
            models.Index(fields=["owner", "status"], name="case_owner_status"),
            models.Index(fields=["team", "status"], name="case_team_status"),
            models.Index(fields=["customer", "-opened_at"], name="case_customer_opened"),
            models.Index(fields=["status", "-opened_at"], name="case_status_opened"),
            models.Index(fields=["type", "resolved_at"], name="case_type_resolved"),
            models.Index(fields=["team", "-opened_at"], condition=Q(owner__isnull=True), name="case_unassigned"),
            # A team's open cases, newest first (the team queue), however busy the other teams are.
            models.Index(fields=["team", "-id"], condition=Q(status__in=OPEN_STATUSES), name="case_team_open"),
            # A person's open cases (My cases) read from the index alone on PostgreSQL.
            models.Index(fields=["owner", "id"], condition=Q(status__in=OPEN_STATUSES), name="case_owner_open"),
        ]

    def __str__(self) -> str:
        return f"{self.reference} {self.subject}"

    @property
    def reference(self) -> str:
        return format_reference(self.id)

    @property
    def is_open(self) -> bool:
        return self.status in OPEN_STATUSES


class MessageKind(models.TextChoices):
    PUBLIC = "public", "Reply to the customer"
    INTERNAL = "internal", "Internal note"
    CUSTOMER = "customer", "From the customer"


class CaseMessage(models.Model):
    case = models.ForeignKey(Case, on_delete=models.CASCADE, related_name="messages")
    kind = models.CharField(max_length=10, choices=MessageKind.choices)
    body = models.TextField()
    author = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    interaction = models.ForeignKey(
        "customers.Interaction", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField()
    # Staff time spent on this reply or note (the case work); value counts it in the cost to serve.
    handling_seconds = models.PositiveIntegerField(null=True, blank=True)

    class Meta:
        indexes = [models.Index(fields=["case", "created_at", "id"], name="case_message_order")]
        ordering = ["created_at", "id"]

    def __str__(self) -> str:
        return f"{self.get_kind_display()} on case {self.case_id}"


class CaseEvent(models.Model):
    """The case's own history: opened, claimed, handed off, status changes, breaches."""

    # No index of its own: case_event_order leads with the case (one index less to write).
    case = models.ForeignKey(Case, on_delete=models.CASCADE, related_name="history", db_index=False)
    kind = models.CharField(max_length=32)
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    data = models.JSONField(default=dict, blank=True)
    at = models.DateTimeField()

    class Meta:
        indexes = [models.Index(fields=["case", "at"], name="case_event_order")]
        ordering = ["at", "id"]

    def __str__(self) -> str:
        return f"{self.kind} on case {self.case_id}"


class ClockKind(models.TextChoices):
    FIRST_RESPONSE = "first_response", "First response"
    NEXT_RESPONSE = "next_response", "Next response"
    RESOLUTION = "resolution", "Resolution"


class ClockQuerySet(models.QuerySet["SlaClock"]):
    def running(self) -> ClockQuerySet:
        return self.filter(stopped_at__isnull=True, paused_at__isnull=True)

    def breached_by(self, now: datetime) -> ClockQuerySet:
        return self.running().filter(due_at__lt=now)

    def at_risk_by(self, now: datetime) -> ClockQuerySet:
        return self.running().filter(at_risk_at__lte=now, due_at__gte=now)


class SlaClock(models.Model):
    """One service-standard clock on a case, counted in business time.

    While running, ``due_at`` and ``at_risk_at`` are absolute instants computed from the
    calendar when the clock (re)started; while paused they are null and ``used_seconds`` holds
    the business time consumed so far. ``generation`` changes on every pause, resume and stop,
    so a scheduled escalation can tell it is stale and do nothing.
    """

    # case is the first column of clock_case_kind: no index of its own.
    case = models.ForeignKey(Case, on_delete=models.CASCADE, related_name="clocks", db_index=False)
    kind = models.CharField(max_length=16, choices=ClockKind.choices)
    target_minutes = models.PositiveIntegerField()
    at_risk_ratio = models.DecimalField(max_digits=4, decimal_places=3, default=Decimal("0.8"))
    calendar = models.ForeignKey("core.Calendar", on_delete=models.PROTECT, related_name="+")
    started_at = models.DateTimeField()
    resumed_at = models.DateTimeField(null=True, blank=True)
    used_seconds = models.PositiveIntegerField(default=0)  # business seconds before resumed_at
    due_at = models.DateTimeField(null=True, blank=True)
    at_risk_at = models.DateTimeField(null=True, blank=True)
    paused_at = models.DateTimeField(null=True, blank=True)
    stopped_at = models.DateTimeField(null=True, blank=True)
    breached_at = models.DateTimeField(null=True, blank=True)
    at_risk_notified_at = models.DateTimeField(null=True, blank=True)
    generation = models.PositiveIntegerField(default=1)

    objects = ClockQuerySet.as_manager()

    class Meta:
        indexes = [
            models.Index(
                fields=["due_at"],
                condition=Q(stopped_at__isnull=True, paused_at__isnull=True),
                name="clock_running_due",
            ),
            models.Index(fields=["case", "kind"], name="clock_case_kind"),
            # A case's nearest running deadline (the queues' sort) without visiting the table.
            models.Index(
                fields=["case", "due_at"],
                condition=Q(stopped_at__isnull=True, paused_at__isnull=True),
                name="clock_running_case",
            ),
            # What the escalation sweeps read: running clocks not yet escalated (small).
            models.Index(
                fields=["at_risk_at"],
                condition=Q(stopped_at__isnull=True, paused_at__isnull=True, at_risk_notified_at__isnull=True),
                name="clock_awaiting_at_risk",
            ),
            models.Index(
                fields=["due_at"],
                condition=Q(stopped_at__isnull=True, paused_at__isnull=True, breached_at__isnull=True),
                name="clock_awaiting_breach",
            ),
        ]
        constraints = [
            models.CheckConstraint(condition=Q(target_minutes__gt=0), name="clock_target_positive"),
        ]

    def __str__(self) -> str:
        return f"{self.get_kind_display()} clock of case {self.case_id}"

    def state(self, now: datetime) -> str:
        if self.stopped_at is not None:
            return "breached" if self.breached_at is not None else "met"
        if self.paused_at is not None:
            return "paused"
        if self.due_at is not None and now > self.due_at:
            return "breached"
        if self.at_risk_at is not None and now >= self.at_risk_at:
            return "at_risk"
        return "running"


class SlaPolicy(models.Model):
    """Targets in business minutes for cases of a type and priority (blank = any).

    The most specific active policy applies (case type, priority and the customer's care tier).
    """

    name = models.CharField(max_length=100)
    calendar = models.ForeignKey("core.Calendar", on_delete=models.PROTECT, related_name="sla_policies")
    case_type = models.CharField(max_length=16, choices=CaseType.choices, blank=True, default="")
    priority = models.CharField(max_length=8, choices=Priority.choices, blank=True, default="")
    tier = models.CharField(max_length=32, blank=True, default="")  # the customer's care tier; blank = any
    first_response_minutes = models.PositiveIntegerField()
    next_response_minutes = models.PositiveIntegerField()
    resolution_minutes = models.PositiveIntegerField()
    at_risk_ratio = models.DecimalField(max_digits=4, decimal_places=3, default=Decimal("0.8"))
    active = models.BooleanField(default=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["name"]
        constraints = [
            models.CheckConstraint(
                condition=Q(first_response_minutes__gt=0, next_response_minutes__gt=0, resolution_minutes__gt=0),
                name="sla_targets_positive",
            ),
            models.CheckConstraint(condition=Q(at_risk_ratio__gt=0, at_risk_ratio__lt=1), name="sla_ratio_fraction"),
        ]

    def __str__(self) -> str:
        return self.name


class PriorityRule(models.Model):
    """If every condition holds, a new case gets this priority. Lowest ``position`` wins.

    ``conditions`` is open to new facts: {"case_type": "complaint", "words": ["refund"],
    "customer_tag": "vip"} today; a value tier tomorrow, with no schema change.
    """

    position = models.PositiveIntegerField(default=100)
    conditions = models.JSONField()
    priority = models.CharField(max_length=8, choices=Priority.choices)
    active = models.BooleanField(default=True)

    class Meta:
        ordering = ["position", "id"]

    def __str__(self) -> str:
        return f"{self.conditions} → {self.priority}"


class OpeningTermsStamp(models.Model):
    """One row whose stamp changes (to a new random number) with every change of a priority
    rule, an SLA policy or a calendar: the terms opening a case reads. Workers keep those terms
    between requests under the stamp they were read with (cases.opening_terms); random, not a
    counter, so a rolled-back change can never leave a stamp that a later change reuses."""

    stamp = models.BigIntegerField()

    def __str__(self) -> str:
        return f"opening terms stamp {self.stamp}"


class CustomerUpdate(models.Model):
    """A customer-facing message queued for delivery (the channels capability sends them)."""

    case = models.ForeignKey(Case, on_delete=models.CASCADE, related_name="customer_updates")
    kind = models.CharField(max_length=32)
    subject = models.CharField(max_length=200)
    body = models.TextField()
    status = models.CharField(max_length=10, default="queued")  # queued, sent, failed
    created_at = models.DateTimeField(auto_now_add=True)
    sent_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        indexes = [models.Index(fields=["status", "created_at"], name="customer_update_outbox")]

    def __str__(self) -> str:
        return self.subject


class CompensationKind(models.TextChoices):
    REFUND = "refund", "Refund"
    CREDIT = "credit", "Account credit"
    VOUCHER = "voucher", "Voucher"
    GIFT = "gift", "Gift"
    SERVICE = "service", "Service gesture"


class CompensationStatus(models.TextChoices):
    GRANTED = "granted", "Granted"
    PENDING = "pending_approval", "Pending approval"
    REJECTED = "rejected", "Rejected"


class Compensation(models.Model):
    case = models.ForeignKey(Case, on_delete=models.PROTECT, related_name="compensations")
    customer = models.ForeignKey("customers.Customer", on_delete=models.PROTECT, related_name="compensations")
    kind = models.CharField(max_length=10, choices=CompensationKind.choices)
    amount = models.DecimalField(max_digits=12, decimal_places=3, null=True, blank=True)
    currency = models.CharField(max_length=3, blank=True, default="")
    description = models.CharField(max_length=300, blank=True, default="")
    status = models.CharField(max_length=16, choices=CompensationStatus.choices)
    requested_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    decided_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    decision_reason = models.CharField(max_length=300, blank=True, default="")
    requested_at = models.DateTimeField()
    decided_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        indexes = [
            models.Index(fields=["status", "requested_at"], name="compensation_status"),
            models.Index(fields=["customer", "status"], name="compensation_customer"),
        ]
        constraints = [
            models.CheckConstraint(
                condition=Q(amount__isnull=True) | Q(amount__gt=0), name="compensation_amount_positive"
            ),
            models.CheckConstraint(
                condition=Q(amount__isnull=True) | ~Q(currency=""), name="compensation_amount_has_currency"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.get_kind_display()} on case {self.case_id} ({self.get_status_display()})"


class ActionStatus(models.TextChoices):
    OPEN = "open", "Open"
    IN_PROGRESS = "in_progress", "In progress"
    DONE = "done", "Done"
    CANCELLED = "cancelled", "Cancelled"


class CorrectiveAction(models.Model):
    """Fixing the system: what will change so the complaint does not happen again."""

    title = models.CharField(max_length=200)
    description = models.TextField(blank=True, default="")
    owner = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="corrective_actions")
    due_date = models.DateField()
    status = models.CharField(max_length=12, choices=ActionStatus.choices, default=ActionStatus.OPEN)
    root_cause = models.ForeignKey(RootCause, null=True, blank=True, on_delete=models.PROTECT, related_name="actions")
    cases = models.ManyToManyField(Case, blank=True, related_name="corrective_actions")
    created_at = models.DateTimeField(auto_now_add=True)
    completed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        indexes = [models.Index(fields=["status", "due_date"], name="action_status_due")]
        ordering = ["due_date", "id"]

    def __str__(self) -> str:
        return self.title
