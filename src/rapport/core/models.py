"""Shared-kernel tables: audit trail, API idempotency, business calendars, staff notifications."""

from __future__ import annotations

from datetime import date

from django.conf import settings
from django.db import models

from rapport.core.business_time import BusinessCalendar, parse_weekly_hours


class AuditEntry(models.Model):
    """One change that matters: who, when, what, before and after.

    ``subject_type``/``subject_id`` name the changed record ("customer", 42) so every app
    can audit without the kernel knowing its models.
    """

    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    at = models.DateTimeField(db_index=False)
    action = models.CharField(max_length=64)
    subject_type = models.CharField(max_length=40)
    subject_id = models.BigIntegerField()
    changes = models.JSONField(default=dict, blank=True)  # {field: [before, after]} or a description

    class Meta:
        indexes = [models.Index(fields=["subject_type", "subject_id", "-at"], name="audit_subject_at")]
        ordering = ["-at", "-id"]

    def __str__(self) -> str:
        return f"{self.action} {self.subject_type}:{self.subject_id}"


class IdempotencyRecord(models.Model):
    """The first response to a POST made with an ``Idempotency-Key``; replayed on repeats."""

    staff = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    key = models.CharField(max_length=255)
    fingerprint = models.CharField(max_length=64)  # sha256 of method, path and body
    status_code = models.PositiveSmallIntegerField(null=True)  # null while the first request runs
    response_body = models.JSONField(null=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["staff", "key"], name="idempotency_staff_key")]

    def __str__(self) -> str:
        return f"{self.key} ({self.staff_id})"


class Calendar(models.Model):
    """A business calendar: weekly opening hours in a zone, public holidays and closed days.

    Deadlines are computed by ``core.business_time``; ``as_business_hours()`` builds it.
    Changing a calendar affects new clocks only: running clocks keep the deadlines they got.
    """

    name = models.CharField(max_length=100, unique=True)
    timezone = models.CharField(max_length=64)
    weekly_hours = models.JSONField()  # {"mon": [["09:00", "17:00"]], ...}
    holiday_country = models.CharField(max_length=2, blank=True, default="")
    holiday_subdivision = models.CharField(max_length=10, blank=True, default="")
    closed_dates = models.JSONField(default=list, blank=True)  # ["2026-12-24", ...]
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name

    def as_business_hours(self) -> BusinessCalendar:
        return BusinessCalendar(
            timezone=self.timezone,
            weekly_hours=parse_weekly_hours(self.weekly_hours),
            country=self.holiday_country or None,
            subdivision=self.holiday_subdivision or None,
            closed_dates=frozenset(date.fromisoformat(d) for d in self.closed_dates),
        )


class Notification(models.Model):
    """Something a staff member should see (a deadline at risk, an approval waiting)."""

    recipient = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="notifications")
    kind = models.CharField(max_length=40)
    title = models.CharField(max_length=300)
    link = models.CharField(max_length=300, blank=True, default="")
    created_at = models.DateTimeField(auto_now_add=True)
    read_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        indexes = [models.Index(fields=["recipient", "read_at", "-created_at"], name="notification_inbox")]
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return self.title
