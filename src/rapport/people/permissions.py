"""Permission checks used by services, so every adapter (page, API, command) agrees."""

from __future__ import annotations

from django.contrib.auth.models import AnonymousUser

from rapport.core.errors import PermissionDenied
from rapport.people.models import Role, Staff

Actor = Staff | AnonymousUser | None


def _staff(actor: Actor) -> Staff:
    if not isinstance(actor, Staff) or not actor.is_active:
        raise PermissionDenied("Sign in as an active staff member.")
    return actor


def require_staff(actor: Actor) -> Staff:
    """Any active staff member: agents and above work with customers."""
    return _staff(actor)


def require_role(actor: Actor, role: str, doing: str) -> Staff:
    staff = _staff(actor)
    if not staff.has_role_at_least(role):
        raise PermissionDenied(f"{Role(role).label} or above may {doing}.")
    return staff


def can_see_audit(actor: Actor) -> bool:
    return isinstance(actor, Staff) and actor.has_role_at_least(Role.LEAD)


def can_administer_staff(actor: Actor) -> bool:
    return isinstance(actor, Staff) and actor.has_role_at_least(Role.MANAGER)
