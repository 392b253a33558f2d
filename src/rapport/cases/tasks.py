"""Scheduled escalations: enqueued with ``run_after`` at the instant a clock falls due.

Each takes the clock's generation; a clock paused, resumed or stopped since has a newer one,
and the task does nothing. Running one twice is harmless for the same reason."""

from __future__ import annotations

from django.tasks import task

from rapport.cases import services


@task()
def clock_at_risk(clock_id: int, generation: int) -> bool:
    return services.escalate_at_risk(clock_id=clock_id, generation=generation)


@task()
def clock_breached(clock_id: int, generation: int) -> bool:
    return services.escalate_breach(clock_id=clock_id, generation=generation)
