"""Signing in: Django's model backend, loading the staff member's team with them."""

from __future__ import annotations

from typing import Any

from django.contrib.auth.backends import ModelBackend

from rapport.people.models import Staff


class StaffBackend(ModelBackend):
    """Every page shows the signed-in member's team; loading it with them saves a query per page."""

    def get_user(self, user_id: Any) -> Staff | None:
        user = Staff._default_manager.select_related("team").filter(pk=user_id).first()
        return user if user is not None and self.user_can_authenticate(user) else None
