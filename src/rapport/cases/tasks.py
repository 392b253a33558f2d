"""Scheduled escalations: a sweep runs at each minute boundary some clock falls due in
(``sla.schedule``) and escalates every clock at risk or breached by then. Escalating is
idempotent (a clock records that it was escalated), so a sweep delivered twice, or two sweeps
for the same minute, do nothing more."""

from __future__ import annotations

from django.tasks import task

from rapport.cases import services


@task()
def sweep_clocks(minute: str = "") -> int:
    """``minute`` (ISO) is the boundary it was scheduled for, shown in the job list; the
    recurring safety-net sweep (settings) passes none."""
    return services.escalate_due_clocks()
