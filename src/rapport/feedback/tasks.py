"""Feedback tasks: thin, take ids, idempotent; the services do the work."""

from __future__ import annotations

from django.tasks import task

from rapport.feedback import services


@task()
def send_after_case_survey(case_id: int) -> int:
    """CSAT after a resolved case; does nothing if this case was already surveyed."""
    result = services.send_after_case(case_id=case_id)
    return len(result.invitations) if result else 0


@task()
def relationship_surveys() -> int:
    """Recurring (daily): each relationship survey that is due invites its audience."""
    return sum(len(r.invitations) for r in services.run_relationship_surveys().values())
