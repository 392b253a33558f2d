"""SLA clocks on a business calendar: exact deadlines, pauses, resumes, reopening and the
escalations (sweeps scheduled for the minutes clocks fall due, each clock escalated once)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from dj_queue.models import Job
from django.db import transaction
from django.utils import timezone

from rapport.cases import services, sla, tasks
from rapport.cases.models import Case, CaseEvent, SlaClock
from rapport.core.models import Calendar, Notification
from rapport.customers.models import Customer, Interaction
from rapport.people.models import Staff

pytestmark = pytest.mark.django_db

OFFICE = {d: [["09:00", "17:00"]] for d in ("mon", "tue", "wed", "thu", "fri")}


def utc(text: str) -> datetime:
    return datetime.fromisoformat(text).astimezone(UTC)


@pytest.fixture
def office(manager: Staff) -> Calendar:
    return services.create_calendar(
        actor=manager,
        name="London office",
        timezone_name="Europe/London",
        weekly_hours=OFFICE,
        holidays={"country": "GB", "subdivision": "ENG"},
    )


@pytest.fixture
def case(manager: Staff, office: Calendar, customer: Customer) -> Case:
    services.create_sla_policy(
        actor=manager,
        name="Standard",
        calendar_id=office.id,
        first_response_minutes=120,
        next_response_minutes=240,
        resolution_minutes=960,
        at_risk_ratio="0.75",
    )
    return services.open_case(
        actor=manager, data=services.CaseInput(customer_id=customer.id, type="request", subject="Help")
    )


def restart_at(case: Case, kind: str, at: datetime) -> SlaClock:
    """A fresh clock of ``kind`` started at a chosen instant, on the case's recorded terms."""
    SlaClock.objects.filter(case=case, kind=kind).delete()
    clock = sla.start(case, kind, at)
    assert clock is not None
    return SlaClock.objects.select_related("calendar").get(id=clock.id)


def test_deadlines_roll_over_weekends_into_summer_time(case: Case) -> None:
    clock = restart_at(case, "first_response", utc("2026-03-27T16:00:00+00:00"))  # Friday 16:00 GMT
    # 60 minutes on Friday, the rest on Monday after the clocks went forward.
    assert clock.due_at == utc("2026-03-30T09:00:00+00:00")
    # At risk after 75 % = 90 minutes: Monday 09:30 BST = 08:30 UTC.
    assert clock.at_risk_at == utc("2026-03-30T08:30:00+00:00")


def test_pause_and_resume_keep_the_used_business_time(case: Case) -> None:
    clock = restart_at(case, "resolution", utc("2026-11-20T16:00:00+00:00"))  # Friday; target 16 business hours
    sla.pause(clock, utc("2026-11-20T16:30:00+00:00"))
    assert clock.used_seconds == 30 * 60 and clock.due_at is None
    assert clock.state(utc("2026-11-25T12:00:00+00:00")) == "paused"
    # The customer answers on Tuesday 10:00, leaving 15.5 business hours.
    sla.resume(clock, utc("2026-11-24T10:00:00+00:00"))
    # Tue 10:00→17:00 is 7 h, Wed 09:00→17:00 is 8 h (15 h), Thu 09:00 + 30 min.
    assert clock.due_at == utc("2026-11-26T09:30:00+00:00")


def test_pausing_in_closed_time_uses_no_business_time(case: Case) -> None:
    clock = restart_at(case, "resolution", utc("2026-11-21T10:00:00+00:00"))  # Saturday
    sla.pause(clock, utc("2026-11-22T18:00:00+00:00"))  # Sunday evening
    assert clock.used_seconds == 0


def test_holidays_are_skipped(case: Case) -> None:
    clock = restart_at(case, "first_response", utc("2026-12-24T16:30:00+00:00"))
    # 30 min Thu 24th; Christmas, weekend, Boxing Day substitute (Mon 28th); Tue 29th 09:00 + 90 min.
    assert clock.due_at == utc("2026-12-29T10:30:00+00:00")


def test_stopping_late_counts_as_breached(case: Case) -> None:
    clock = restart_at(case, "first_response", utc("2026-11-23T09:00:00+00:00"))
    sla.stop(clock, utc("2026-11-23T12:00:00+00:00"))
    assert clock.breached_at == utc("2026-11-23T11:00:00+00:00")
    assert clock.state(utc("2026-11-23T12:00:00+00:00")) == "breached"


def test_reopening_resumes_with_the_time_already_used(case: Case) -> None:
    clock = restart_at(case, "resolution", utc("2026-11-23T09:00:00+00:00"))
    sla.stop(clock, utc("2026-11-23T13:00:00+00:00"))  # 4 h used
    sla.restart(clock, utc("2026-11-24T09:00:00+00:00"))
    assert clock.used_seconds == 4 * 3600
    assert clock.due_at == utc("2026-11-25T13:00:00+00:00")  # 12 h left: Tue 8 h + Wed 4 h


def test_waiting_on_customer_pauses_and_a_reply_resumes(case: Case, manager: Staff) -> None:
    services.set_status(actor=manager, case_id=case.id, status="waiting_customer")
    assert {c.state(datetime.now(UTC)) for c in case.clocks.all()} == {"paused"}
    services.record_customer_reply(actor=None, case_id=case.id, body="Here is the photo you asked for")
    case.refresh_from_db()
    assert case.status == "open"
    assert all(c.paused_at is None and c.due_at is not None for c in case.clocks.filter(stopped_at__isnull=True))
    assert Interaction.objects.filter(direction="in", summary__startswith="Customer reply").exists()


def sweeps() -> list[datetime]:
    """When the scheduled sweeps run (a sweep a full one asks for at once has no time)."""
    jobs = Job.objects.filter(task_path="rapport.cases.tasks.sweep_clocks", scheduled_at__isnull=False)
    return sorted(at for at in jobs.values_list("scheduled_at", flat=True) if at is not None)


def test_sweeps_are_scheduled_for_the_minutes_clocks_fall_due(
    case: Case, manager: Staff, django_capture_on_commit_callbacks
) -> None:  # type: ignore[no-untyped-def]
    with django_capture_on_commit_callbacks(execute=True):
        services.set_status(actor=manager, case_id=case.id, status="waiting_customer")
        services.set_status(actor=manager, case_id=case.id, status="open")
    clock = case.clocks.get(kind="first_response")
    assert clock.due_at is not None and clock.at_risk_at is not None
    assert {sla.sweep_minute(clock.due_at), sla.sweep_minute(clock.at_risk_at)} <= set(sweeps())


def test_sweep_minute_is_the_boundary_at_or_after() -> None:
    assert sla.sweep_minute(utc("2026-11-23T10:15:00+00:00")) == utc("2026-11-23T10:15:00+00:00")
    assert sla.sweep_minute(utc("2026-11-23T10:15:00.000001+00:00")) == utc("2026-11-23T10:16:00+00:00")
    assert sla.sweep_minute(utc("2026-11-23T23:59:59+00:00")) == utc("2026-11-24T00:00:00+00:00")


def test_cases_falling_due_in_the_same_minutes_share_their_sweeps(
    manager: Staff, customer: Customer, office: Calendar, django_capture_on_commit_callbacks
) -> None:  # type: ignore[no-untyped-def]
    services.create_sla_policy(
        actor=manager, name="Questions", calendar_id=office.id, case_type="question",
        first_response_minutes=24 * 60, next_response_minutes=24 * 60, resolution_minutes=5 * 24 * 60,
    )  # fmt: skip
    opened_at = timezone.now().replace(microsecond=0)  # a day's target: every sweep is beyond the margin
    data = services.CaseInput(customer_id=customer.id, type="question", subject="Where?", opened_at=opened_at)
    with django_capture_on_commit_callbacks(execute=True):
        first = services.open_case(actor=None, data=data)
    scheduled = sweeps()
    with django_capture_on_commit_callbacks(execute=True):
        second = services.open_case(actor=None, data=data)
    assert [c.due_at for c in first.clocks.all()] == [c.due_at for c in second.clocks.all()]
    assert sweeps() == scheduled and len(scheduled) == 4  # two clocks: at risk and due each
    sla.forget_sweeps()  # another worker process does not know them: it schedules its own
    with django_capture_on_commit_callbacks(execute=True):
        services.open_case(actor=None, data=data)
    assert sweeps() == sorted(scheduled * 2)


def test_sweeps_due_soon_are_scheduled_even_when_remembered(
    case: Case, manager: Staff, django_capture_on_commit_callbacks
) -> None:  # type: ignore[no-untyped-def]
    """A remembered sweep less than SWEEP_MARGIN ahead may be running already; schedule anew."""
    clock = case.clocks.get(kind="first_response")
    soon = timezone.now() + timedelta(seconds=30)
    SlaClock.objects.filter(id=clock.id).update(at_risk_at=soon, due_at=soon + timedelta(seconds=30))
    clock.refresh_from_db()
    with django_capture_on_commit_callbacks(execute=True):
        sla.schedule(clock)
    before = len(sweeps())
    with django_capture_on_commit_callbacks(execute=True):
        sla.schedule(clock)
    assert len(sweeps()) == before + len({sla.sweep_minute(soon), sla.sweep_minute(soon + timedelta(seconds=30))})


def test_breach_escalation_notifies_the_lead_and_records_it(case: Case, lead: Staff, manager: Staff) -> None:
    team = lead.team
    assert team is not None
    team.lead = lead
    team.save()
    services.claim_case(actor=lead, case_id=case.id)
    clock = case.clocks.get(kind="first_response")
    SlaClock.objects.filter(id=clock.id).update(due_at=utc("2020-01-01T00:00:00+00:00"))
    assert tasks.sweep_clocks.call() >= 1
    assert tasks.sweep_clocks.call() == 0  # a second sweep (or the same one delivered twice): nothing more
    clock.refresh_from_db()
    assert clock.breached_at == utc("2020-01-01T00:00:00+00:00")
    assert CaseEvent.objects.filter(case=case, kind="breached").count() == 1
    assert Notification.objects.filter(recipient=lead, kind="sla.breached").count() == 1
    assert Interaction.objects.filter(summary__contains="standard missed").count() == 1


def test_paused_clocks_are_not_escalated(case: Case, manager: Staff) -> None:
    clock = case.clocks.get(kind="first_response")
    old_generation = clock.generation
    services.set_status(actor=manager, case_id=case.id, status="waiting_customer")
    SlaClock.objects.filter(id=clock.id).update(at_risk_at=utc("2020-01-01T00:00:00+00:00"))
    assert tasks.sweep_clocks.call() == 0
    # A sweep that read the clock just before it paused finds it changed under its lock.
    assert services.escalate_at_risk(clock_id=clock.id, generation=old_generation) is False
    assert services.escalate_breach(clock_id=clock.id, generation=old_generation) is False


def test_at_risk_notifies_the_owner_once(case: Case, agent: Staff) -> None:
    services.claim_case(actor=agent, case_id=case.id)
    clock = case.clocks.get(kind="resolution")
    SlaClock.objects.filter(id=clock.id).update(at_risk_at=timezone.now() - timedelta(minutes=1))
    assert tasks.sweep_clocks.call() == 1
    assert tasks.sweep_clocks.call() == 0
    assert Notification.objects.filter(recipient=agent, kind="sla.at_risk").count() == 1


def test_a_full_sweep_schedules_the_next_at_once(
    case: Case, monkeypatch: pytest.MonkeyPatch, django_capture_on_commit_callbacks
) -> None:  # type: ignore[no-untyped-def]
    past = timezone.now() - timedelta(minutes=1)
    SlaClock.objects.filter(case=case).update(at_risk_at=past)
    monkeypatch.setattr(services, "SWEEP_BATCH", 1)
    jobs = Job.objects.filter(task_path="rapport.cases.tasks.sweep_clocks")
    before = jobs.count()
    with django_capture_on_commit_callbacks(execute=True):
        assert services.escalate_due_clocks() == 1
    assert jobs.count() == before + 1
    assert services.escalate_due_clocks() == 1
    assert services.escalate_due_clocks() == 0


def test_escalations_are_enqueued_only_after_commit(manager: Staff, customer: Customer, case: Case) -> None:
    before = Job.objects.count()
    try:
        with transaction.atomic():
            services.open_case(
                actor=manager, data=services.CaseInput(customer_id=customer.id, type="request", subject="X")
            )
            raise RuntimeError("rolled back")
    except RuntimeError:
        pass
    assert Job.objects.count() == before
