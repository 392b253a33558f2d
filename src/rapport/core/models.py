"""Shared-kernel tables: the audit trail and API idempotency records."""

from __future__ import annotations

from django.conf import settings
from django.db import models


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
