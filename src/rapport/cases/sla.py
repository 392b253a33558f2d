"""SLA clocks: start, pause, resume and stop, in business time, with escalations run by
background tasks scheduled for the minutes clocks fall due (never by polling every case).

Called only from cases.services, inside their transactions.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime, timedelta
from decimal import Decimal

from dj_queue.backend import DjQueueBackend
from dj_queue.db import get_database_alias
from django.db import DEFAULT_DB_ALIAS, transaction
from django.tasks import Task
from django.utils import timezone

from rapport.cases.models import Case, ClockKind, SlaClock, SlaPolicy
from rapport.core import rows
from rapport.core.business_time import BusinessCalendar
from rapport.core.models import Calendar

_engines: dict[tuple[int, str], BusinessCalendar] = {}


def engine(calendar: Calendar) -> BusinessCalendar:
    """A compiled calendar, cached per (calendar, last change) so edits take effect at once."""
    key = (calendar.id, calendar.updated_at.isoformat())
    found = _engines.get(key)
    if found is None:
        found = _engines[key] = calendar.as_business_hours()
    return found


def terms_of(policy: SlaPolicy) -> dict[str, object]:
    return {
        "policy_id": policy.id,
        "policy": policy.name,
        "calendar_id": policy.calendar_id,
        "first_response_minutes": policy.first_response_minutes,
        "next_response_minutes": policy.next_response_minutes,
        "resolution_minutes": policy.resolution_minutes,
        "at_risk_ratio": str(policy.at_risk_ratio),
    }


def start(case: Case, kind: str, at: datetime, *, paused: bool = False) -> SlaClock | None:
    """Start a clock on the terms recorded on the case (none when no policy applied)."""
    clocks = start_many(case, (kind,), at, paused=paused)
    return clocks[0] if clocks else None


def start_many(
    case: Case, kinds: Iterable[str], at: datetime, *, paused: bool = False, calendar: Calendar | None = None
) -> list[SlaClock]:
    """Start several clocks at once: one INSERT for the clocks, one batch for their escalations.

    ``calendar`` is the terms' calendar when the caller already has it (saves reading it again)."""
    clocks = unsaved_on_cases([(case, at, paused)], kinds, {calendar.id: calendar} if calendar else {})[0]
    rows.insert(clocks)
    schedule(*clocks)
    return clocks


def unsaved_on_cases(
    openings: list[tuple[Case, datetime, bool]], kinds: Iterable[str], calendars: dict[int, Calendar]
) -> list[list[SlaClock]]:
    """Unsaved clocks for new cases, (case, at, paused) each, on the terms recorded on each case.
    The caller inserts them (with its other rows: rows.insert_all) and then calls ``schedule``.
    ``calendars`` by id: those the caller already has."""
    kinds = tuple(kinds)
    wanted = {int(c.sla_terms["calendar_id"]) for c, _, paused in openings if c.sla_terms and not paused}
    if missing := wanted - set(calendars):
        calendars = calendars | Calendar.objects.in_bulk(missing)
    return [_new_clocks(case, kinds, at, paused, calendars) for case, at, paused in openings]


def _new_clocks(
    case: Case, kinds: tuple[str, ...], at: datetime, paused: bool, calendars: dict[int, Calendar]
) -> list[SlaClock]:
    """The unsaved clocks on the terms recorded on the case (none when no policy applied)."""
    terms = case.sla_terms
    if not terms:
        return []
    calendar_id = int(terms["calendar_id"])
    calendar = calendars.get(calendar_id)
    if calendar is None and not paused:
        raise Calendar.DoesNotExist(f"No calendar with id {calendar_id}.")
    clocks: list[SlaClock] = []
    for kind in kinds:
        clock = SlaClock(
            case=case,
            kind=kind,
            target_minutes=int(terms[f"{kind}_minutes"]),
            at_risk_ratio=Decimal(str(terms["at_risk_ratio"])),
            calendar_id=calendar_id,
            started_at=at,
            resumed_at=at,
        )
        if calendar is not None:
            clock.calendar = calendar
        if paused:
            clock.paused_at = at
        clocks.append(clock)
    if calendar is not None and not paused:
        _set_deadlines(clocks, calendar, at)
    return clocks


def _set_deadlines(clocks: list[SlaClock], calendar: Calendar, resumed_at: datetime) -> None:
    """Due and at-risk instants of clocks on one calendar running again from ``resumed_at``."""
    seconds = []
    for clock in clocks:
        target = clock.target_minutes * 60
        seconds.append(max(target - clock.used_seconds, 0))
        seconds.append(max(int(target * float(clock.at_risk_ratio)) - clock.used_seconds, 0))
    moments = engine(calendar).each_after(resumed_at, seconds)
    for i, clock in enumerate(clocks):
        clock.resumed_at = resumed_at
        clock.due_at, clock.at_risk_at = moments[2 * i], moments[2 * i + 1]


def pause(clock: SlaClock, at: datetime) -> None:
    if clock.stopped_at or clock.paused_at:
        return
    clock.used_seconds += engine(clock.calendar).open_seconds_between(clock.resumed_at or clock.started_at, at)
    clock.paused_at = at
    clock.due_at = clock.at_risk_at = None
    clock.generation += 1
    clock.save()


def resume(clock: SlaClock, at: datetime) -> None:
    if clock.stopped_at or not clock.paused_at:
        return
    clock.paused_at = None
    _set_deadlines([clock], clock.calendar, at)
    clock.generation += 1
    clock.save()
    schedule(clock)


def stop(clock: SlaClock, at: datetime) -> None:
    """Stop a clock because its promise was kept (or kept late: then it counts as breached)."""
    if clock.stopped_at:
        return
    if clock.paused_at is None and clock.due_at is not None and at > clock.due_at and clock.breached_at is None:
        clock.breached_at = clock.due_at
    clock.stopped_at = at
    clock.generation += 1
    clock.save()


def restart(clock: SlaClock, at: datetime) -> None:
    """A stopped clock runs again (a reopened case), keeping the business time already used."""
    if not clock.stopped_at:
        return
    used_until = clock.paused_at or clock.stopped_at
    clock.used_seconds += engine(clock.calendar).open_seconds_between(clock.resumed_at or clock.started_at, used_until)
    clock.stopped_at = None
    clock.paused_at = None
    _set_deadlines([clock], clock.calendar, at)
    clock.generation += 1
    clock.save()
    schedule(clock)


# Escalations are swept per minute: one background task at each minute boundary that some
# clock's at-risk or due instant falls into, which escalates every clock then due (so an
# escalation is at most a minute late, and a thousand cases opened in a minute share one task
# instead of four each). Each worker process remembers the minutes it has already scheduled;
# only minutes at least SWEEP_MARGIN ahead are trusted to that memory, so a sweep cannot run
# before a clock that counts on it has committed. A recurring sweep (settings) is the safety net.
SWEEP_SECONDS = 60
SWEEP_MARGIN = timedelta(minutes=2)
_scheduled_sweeps: set[datetime] = set()


def forget_sweeps() -> None:
    """Forget the sweeps this process scheduled (a test's rolled-back database, a restore)."""
    _scheduled_sweeps.clear()


def sweep_minute(instant: datetime) -> datetime:
    """The minute boundary at or after ``instant``: when its escalation runs."""
    floor = instant.replace(second=0, microsecond=0)
    return floor if floor == instant else floor + timedelta(seconds=SWEEP_SECONDS)


def schedule(*clocks: SlaClock) -> None:
    """Make sure a sweep runs when each running clock becomes at risk and when it falls due.

    dj_queue keeps its jobs in this database, so new sweeps are written in the caller's
    transaction (all in one batch) and commit or roll back with the clocks; any other task
    backend gets them after commit."""
    from rapport.cases import tasks  # tasks import services; keep the cycle out of import time

    now = timezone.now()
    minutes = {sweep_minute(at) for c in clocks for at in (c.at_risk_at, c.due_at) if at is not None}
    trusted = now + SWEEP_MARGIN
    new = sorted(m for m in minutes if m < trusted or m not in _scheduled_sweeps)
    if not new:
        return
    calls: list[tuple[Task[..., int], tuple[str], dict[str, object]]] = [
        (tasks.sweep_clocks.using(run_after=max(minute, now)), (minute.isoformat(),), {}) for minute in new
    ]

    def remember() -> None:
        _scheduled_sweeps.difference_update([m for m in _scheduled_sweeps if m < now])
        _scheduled_sweeps.update(new)

    backend = tasks.sweep_clocks.get_backend()
    if isinstance(backend, DjQueueBackend) and get_database_alias(backend.alias) == DEFAULT_DB_ALIAS:
        backend.enqueue_all(calls)
        transaction.on_commit(remember)
        return

    def enqueue() -> None:
        for task, args, _ in calls:
            task.enqueue(*args)
        remember()

    transaction.on_commit(enqueue)


KINDS = tuple(ClockKind.values)
