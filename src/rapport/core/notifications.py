"""Staff notifications: an in-app inbox. Other deliveries (email, chat) subscribe later."""

from __future__ import annotations

from collections.abc import Iterable

from rapport.core.models import Notification


def notify(*, recipients: Iterable[object], kind: str, title: str, link: str = "") -> int:
    """Queue one notification per distinct active recipient; returns how many were written."""
    seen: dict[int, object] = {}
    for person in recipients:
        if person is not None and getattr(person, "is_active", False):
            seen.setdefault(person.pk, person)  # type: ignore[attr-defined]
    Notification.objects.bulk_create(
        Notification(recipient_id=pk, kind=kind, title=title[:300], link=link) for pk in seen
    )
    return len(seen)
