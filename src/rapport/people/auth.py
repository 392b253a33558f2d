"""Signing in: Django's model backend, loading the staff member's team with them."""

from __future__ import annotations

from typing import Any

from django.contrib.auth.backends import ModelBackend

from rapport.people import queries
from rapport.people.models import Staff


class StaffBackend(ModelBackend):
    """Every page shows the signed-in member's team: loaded with them, in one hand-written join."""

    def get_user(self, user_id: Any) -> Staff | None:
        try:
            user = queries.staff_by_id(int(user_id))
        except (TypeError, ValueError):
            return None
        return user if user is not None and self.user_can_authenticate(user) else None
