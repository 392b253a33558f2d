"""Writing and reading the audit trail. Services call ``record`` inside their transaction."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import date, datetime
from decimal import Decimal
from typing import Any

from django.db.models import Model
from django.utils import timezone

from rapport.core import rows
from rapport.core.models import AuditEntry


def _plain(value: Any) -> Any:
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, Model):
        return str(value)
    if isinstance(value, set | frozenset):
        return sorted(_plain(v) for v in value)
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    return value


def diff(before: Mapping[str, Any], after: Mapping[str, Any]) -> dict[str, list[Any]]:
    """Fields whose value changed, as {field: [before, after]} in JSON-safe form."""
    return {
        key: [_plain(before.get(key)), _plain(after.get(key))]
        for key in sorted(set(before) | set(after))
        if _plain(before.get(key)) != _plain(after.get(key))
    }


def record(
    *, actor: Model | None, action: str, subject_type: str, subject_id: int, changes: Mapping[str, Any] | None = None
) -> AuditEntry:
    return AuditEntry.objects.create(
        actor_id=actor.pk if actor is not None else None,
        at=timezone.now(),
        action=action,
        subject_type=subject_type,
        subject_id=subject_id,
        changes=dict(changes or {}),
    )


def record_many(entries: Iterable[AuditEntry]) -> None:
    rows.insert(list(entries))


def trail(subject_type: str, subject_id: int, limit: int = 100) -> list[AuditEntry]:
    return list(
        AuditEntry.objects.filter(subject_type=subject_type, subject_id=subject_id)
        .select_related("actor")
        .order_by("-at", "-id")[:limit]
    )
