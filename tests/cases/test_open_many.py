"""open_cases: many cases in one go, the same rows as open_case one by one, constant queries."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

import pytest
from dj_queue.models import Job
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from rapport.cases import services, sla
from rapport.cases.events import CaseOpened
from rapport.cases.models import Case, CaseEvent, SlaClock, SlaPolicy
from rapport.core import events
from rapport.core.errors import InvalidInput
from rapport.core.models import AuditEntry, Calendar, Notification
from rapport.customers.events import InteractionLogged
from rapport.customers.models import Interaction
from rapport.customers.services import CustomerInput, create_customer, merge_customers
from rapport.people.models import Staff
from tests.conftest import make_staff

pytestmark = pytest.mark.django_db


@pytest.fixture
def setup(manager: Staff, lead: Staff, always_open: Calendar, complaint_policy: SlaPolicy) -> dict[str, Any]:
    """Two policies, two priority rules (words, a customer tag), customers with and without the tag,
    a merged-away duplicate, a second team and an agent to own cases."""
    services.create_sla_policy(
        actor=manager,
        name="Urgent anything",
        calendar_id=always_open.id,
        priority="urgent",
        first_response_minutes=15,
        next_response_minutes=30,
        resolution_minutes=240,
    )
    services.create_priority_rule(actor=manager, conditions={"words": ["lawyer"]}, priority="urgent", position=1)
    services.create_priority_rule(actor=manager, conditions={"customer_tag": "vip"}, priority="high", position=2)
    vip = create_customer(
        actor=None, data=CustomerInput(name="Vera Important", emails=["vera@example.com"], tags=["vip"])
    )
    plain = create_customer(actor=None, data=CustomerInput(name="Paul Plain", emails=["paul@example.com"]))
    duplicate = create_customer(actor=None, data=CustomerInput(name="Paul P", emails=["paulp@example.com"]))
    merge_customers(actor=None, survivor_id=plain.id, duplicate_id=duplicate.id)
    owner = make_staff("oscar", team="Billing")
    return {"vip": vip, "plain": plain, "duplicate": duplicate, "owner": owner}


def _inputs(setup: dict[str, Any], opened_at: datetime) -> list[services.CaseInput]:
    vip, plain, duplicate = setup["vip"], setup["plain"], setup["duplicate"]
    case = services.CaseInput
    return [
        case(vip.id, "complaint", "  Parcel   late ", "Where is it?", channel="email", opened_at=opened_at),
        case(plain.id, "question", "My lawyer will call", "Sort it out", channel="phone", opened_at=opened_at),
        case(duplicate.id, "request", "New address", channel="web", owner="oscar", opened_at=opened_at),
        case(plain.id, "complaint", "Broken", "It broke", team="Front line", priority="low", opened_at=opened_at),
        case(vip.id, "complaint", "Waiting", status="waiting_customer", opened_at=opened_at - timedelta(minutes=3)),
        case(plain.id, "incident", "Outage", opened_at=opened_at),
    ]


def _stored(case: Case) -> dict[str, Any]:
    """Every row open_case writes for a case, with the case's own ids and reference taken out."""
    ref = case.reference

    def plain(rows: Any, *drop: str) -> list[dict[str, Any]]:
        out = []
        for row in rows.values():
            for key in ("id", "case_id", "created_at", "updated_at", *drop):
                row.pop(key, None)
            out.append({k: v.replace(ref, "<ref>") if isinstance(v, str) else v for k, v in row.items()})
        return sorted(out, key=repr)

    audit = plain(AuditEntry.objects.filter(subject_type="case", subject_id=case.id), "subject_id", "at")
    for row in audit:
        row["changes"]["reference"] = row["changes"]["reference"].replace(ref, "<ref>")
    return {
        "case": plain(Case.objects.filter(id=case.id)),
        "clocks": plain(SlaClock.objects.filter(case=case)),
        "history": plain(CaseEvent.objects.filter(case=case)),
        "timeline": plain(Interaction.objects.filter(source_type="case", source_id=case.id), "source_id"),
        "audit": audit,
        "notifications": plain(Notification.objects.filter(link__contains=ref)),
    }


def test_open_cases_stores_what_open_case_stores_one_by_one(
    setup: dict[str, Any], lead: Staff, django_capture_on_commit_callbacks: Any
) -> None:
    opened_at = timezone.now().replace(microsecond=0) - timedelta(minutes=1)
    seen: list[object] = []
    for event_type in (CaseOpened, InteractionLogged):
        events.subscribe(event_type, seen.append)
    try:
        with django_capture_on_commit_callbacks(execute=True):
            alone = [services.open_case(actor=lead, data=data) for data in _inputs(setup, opened_at)]
        events_alone, seen[:] = list(seen), []
        with django_capture_on_commit_callbacks(execute=True):
            together = services.open_cases(actor=lead, inputs=_inputs(setup, opened_at))
        events_together = list(seen)
    finally:
        for event_type in (CaseOpened, InteractionLogged):
            events.unsubscribe(event_type, seen.append)
    assert len(together) == len(alone) == 6
    for one, many in zip(alone, together, strict=True):
        assert many.id and _stored(many) == _stored(one)
    # Spot checks that the comparison compares something: rules, policies, merge, owner, waiting.
    priorities = [c.priority for c in together]
    assert priorities == ["high", "urgent", "normal", "low", "high", "normal"]
    assert together[0].sla_terms["policy"] == "Complaints" and together[1].sla_terms["policy"] == "Urgent anything"
    assert together[2].customer_id == setup["plain"].id and together[2].owner == setup["owner"]
    assert together[2].team is not None and together[2].team.name == "Billing"
    assert SlaClock.objects.filter(case=together[4], paused_at__isnull=False).count() == 2
    swept = {j.scheduled_at for j in Job.objects.filter(task_path="rapport.cases.tasks.sweep_clocks")}
    running = SlaClock.objects.filter(case__in=together, paused_at__isnull=True)
    assert {sla.sweep_minute(at) for c in running for at in (c.at_risk_at, c.due_at) if at} <= swept
    # The same events, one CaseOpened and one InteractionLogged per case.
    kinds = sorted(type(e).__name__ for e in events_together)
    assert kinds == sorted(type(e).__name__ for e in events_alone) == ["CaseOpened"] * 6 + ["InteractionLogged"] * 6


def test_open_cases_reads_and_writes_in_a_constant_number_of_queries(setup: dict[str, Any]) -> None:
    """Constant for cases nobody owns yet (each case given to an owner adds their notification)."""
    now = timezone.now()
    unowned = [data for data in _inputs(setup, now) if not data.owner]

    def queries(n: int) -> int:
        inputs = (unowned * n)[:n]
        with CaptureQueriesContext(connection) as captured:
            services.open_cases(actor=None, inputs=inputs)
        return len(captured.captured_queries)

    queries(1)  # the first case opened reads the rules and policies; the next ones keep them
    assert queries(6) == queries(30)


def test_one_bad_input_opens_nothing_and_says_what_open_case_says(setup: dict[str, Any]) -> None:
    now = timezone.now()
    inputs = _inputs(setup, now)
    inputs[3] = services.CaseInput(setup["plain"].id, "question", "x", owner="nobody")
    with pytest.raises(InvalidInput) as together:
        services.open_cases(actor=None, inputs=inputs)
    with pytest.raises(InvalidInput) as alone:
        services.open_case(actor=None, data=inputs[3])
    assert together.value.errors == alone.value.errors == {"owner": ["No active staff member is called 'nobody'."]}
    assert not Case.objects.exists() and not SlaClock.objects.exists() and not Job.objects.exists()
    with pytest.raises(InvalidInput) as no_customer:
        services.open_cases(actor=None, inputs=[*inputs[:2], services.CaseInput(10**9, "question", "x")])
    assert no_customer.value.errors == {"customer": [f"No customer with id {10**9}."]}


def test_no_inputs_open_nothing(db: Any) -> None:
    assert services.open_cases(actor=None, inputs=[]) == []
