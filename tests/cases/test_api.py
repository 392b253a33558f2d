"""Cases through the API: the journey, bad input, authority and races."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from rapport.cases.models import Case, CaseEvent, Compensation, CustomerUpdate, SlaClock
from rapport.core.models import Notification
from rapport.customers.models import Customer, Interaction
from rapport.people.models import Staff
from tests.conftest import ApiClient, api_for, make_staff

pytestmark = pytest.mark.django_db


def open_case(api: ApiClient, customer: Customer, **fields: object) -> dict:
    body = {
        "customer": customer.id,
        "type": "complaint",
        "subject": "Parcel arrived broken",
        "channel": "phone",
        **fields,
    }
    response = api.post("/cases", body)
    assert response.status_code == 201, response.content
    return response.json()


def test_open_claim_reply_resolve_journey(
    agent_api: ApiClient, agent: Staff, customer: Customer, complaint_policy, admin_api: ApiClient
) -> None:  # type: ignore[no-untyped-def]
    case = open_case(agent_api, customer)
    assert case["reference"].startswith("C-") and case["status"] == "new" and case["owner"] is None
    assert case["sla_policy"] == "Complaints"
    assert {c["kind"]: c["state"] for c in case["sla"]} == {"first_response": "running", "resolution": "running"}
    ref = case["reference"]

    claimed = agent_api.post(f"/cases/{ref}/claim").json()
    assert claimed["owner"] == "alice" and claimed["status"] == "open" and claimed["team"] == "Front line"

    reply = agent_api.post(f"/cases/{ref}/messages", {"kind": "public", "body": "Sorry! A replacement is on its way."})
    assert reply.status_code == 201
    after = agent_api.get(f"/cases/{ref}").json()
    assert {c["kind"]: c["state"] for c in after["sla"]}["first_response"] == "met"
    assert after["first_response_at"] is not None
    note = agent_api.post(f"/cases/{ref}/messages", {"kind": "internal", "body": "Courier damaged two this week"})
    assert note.status_code == 201

    cause = admin_api.post("/root-causes", {"name": "Delivery"}).json()
    damaged = admin_api.post("/root-causes", {"name": "Damaged in transit", "parent": cause["id"]}).json()
    assert damaged["path"] == "Delivery > Damaged in transit"

    no_cause = agent_api.post(f"/cases/{ref}/resolve", {"statement": "courier"})
    assert no_cause.status_code == 422 and "root_cause" in no_cause.json()["errors"]
    assert Case.objects.get().status == "open"

    resolved = agent_api.post(f"/cases/{ref}/resolve", {"root_cause": damaged["id"], "statement": "Courier dropped it"})
    assert resolved.status_code == 200, resolved.content
    body = resolved.json()
    assert body["status"] == "resolved" and body["root_cause"] == damaged["id"]
    assert {c["kind"]: c["state"] for c in body["sla"]} == {"first_response": "met", "resolution": "met"}
    summaries = list(Interaction.objects.filter(customer=customer).values_list("summary", flat=True))
    assert any(s.startswith(f"Opened {ref}") for s in summaries)
    assert any(s.startswith(f"Reply on {ref}") for s in summaries)
    assert CustomerUpdate.objects.filter(kind="resolved").count() == 1

    reopened = agent_api.post(f"/cases/{ref}/reopen", {"reason": "Replacement also broken"}).json()
    assert reopened["status"] == "open"
    assert {c["kind"]: c["state"] for c in reopened["sla"]}["resolution"] == "running"


def test_handoff_keeps_the_previous_owner_watching_and_tells_the_customer(
    agent_api: ApiClient, customer: Customer, lead: Staff
) -> None:
    make_staff("bob", "agent", team="Returns")
    ref = open_case(agent_api, customer, owner="alice")["reference"]
    missing = agent_api.post(f"/cases/{ref}/handoff", {"to_user": "bob"})
    assert missing.status_code == 422 and "reason" in missing.json()["errors"]
    nobody = agent_api.post(f"/cases/{ref}/handoff", {"reason": "x"})
    assert nobody.status_code == 422
    Staff.objects.filter(username="bob").update(is_active=False)
    inactive = agent_api.post(f"/cases/{ref}/handoff", {"to_user": "bob", "reason": "Returns handle this"})
    assert inactive.status_code == 422 and "to_user" in inactive.json()["errors"]
    Staff.objects.filter(username="bob").update(is_active=True)

    done = agent_api.post(f"/cases/{ref}/handoff", {"to_user": "bob", "reason": "Returns handle this"})
    assert done.status_code == 200, done.content
    body = done.json()
    assert body["owner"] == "bob" and body["team"] == "Returns" and body["watchers"] == ["alice"]
    update = CustomerUpdate.objects.get(kind="handed_off")
    assert "Returns" in update.body
    assert Interaction.objects.filter(customer=customer, summary__contains="handed to").exists()
    assert Notification.objects.filter(recipient__username="bob", kind="case.handed_off").exists()
    # Alice no longer owns it and is not in Returns, so she can watch but not act.
    assert agent_api.post(f"/cases/{ref}/status", {"status": "waiting_customer"}).status_code == 403


def test_stale_writes_get_412(agent_api: ApiClient, customer: Customer) -> None:
    ref = open_case(agent_api, customer, owner="alice")["reference"]
    etag = agent_api.get(f"/cases/{ref}")["ETag"]
    ok = agent_api.patch(f"/cases/{ref}", {"priority": "high"}, {"If-Match": etag})
    assert ok.status_code == 200 and ok.json()["priority"] == "high"
    stale = agent_api.patch(f"/cases/{ref}", {"priority": "low"}, {"If-Match": etag})
    assert stale.status_code == 412
    assert Case.objects.get().priority == "high"


def test_compensation_within_authority_and_above_it(
    agent_api: ApiClient, lead_api: ApiClient, customer: Customer, lead: Staff
) -> None:  # type: ignore[no-untyped-def]
    ref = open_case(agent_api, customer, owner="alice")["reference"]
    small = agent_api.post(f"/cases/{ref}/compensations", {"kind": "refund", "amount": "20.00", "currency": "GBP"})
    assert small.status_code == 201 and small.json()["status"] == "granted"
    big = agent_api.post(f"/cases/{ref}/compensations", {"kind": "credit", "amount": "120.00", "currency": "GBP"})
    assert big.status_code == 202 and big.json()["status"] == "pending_approval"
    assert Notification.objects.filter(recipient=lead, kind="compensation.approval").exists()
    own = agent_api.post(f"/compensations/{big.json()['id']}/approve", {})
    assert own.status_code == 403

    huge = agent_api.post(
        f"/cases/{ref}/compensations", {"kind": "refund", "amount": "400.00", "currency": "GBP"}
    ).json()
    too_big_for_lead = lead_api.post(f"/compensations/{huge['id']}/approve", {})
    assert too_big_for_lead.status_code == 403

    approved = lead_api.post(f"/compensations/{big.json()['id']}/approve", {"reason": "Loyal customer"})
    assert approved.status_code == 200 and approved.json()["status"] == "granted"
    assert lead_api.post(f"/compensations/{big.json()['id']}/approve", {}).status_code == 409
    no_reason = make_staff("mgr", "manager")
    manager_api = api_for(no_reason)
    assert manager_api.post(f"/compensations/{huge['id']}/reject", {"reason": ""}).status_code == 422
    rejected = manager_api.post(f"/compensations/{huge['id']}/reject", {"reason": "Refund already sent"})
    assert rejected.status_code == 200 and rejected.json()["status"] == "rejected"

    case = agent_api.get(f"/cases/{ref}").json()
    assert case["compensation_total"] == [{"amount": "140.00", "currency": "GBP"}]
    gestures = agent_api.post(f"/cases/{ref}/compensations", {"kind": "gift", "description": "Flowers"})
    assert gestures.status_code == 201


@pytest.mark.parametrize(
    ("amount", "currency", "field"),
    [
        ("0", "GBP", "amount"),
        ("-5", "GBP", "amount"),
        ("10.001", "GBP", "amount"),
        ("10", "XYZ", "currency"),
        ("1.5", "JPY", "amount"),
    ],
)
def test_bad_compensation_is_refused(
    agent_api: ApiClient, customer: Customer, amount: str, currency: str, field: str
) -> None:
    ref = open_case(agent_api, customer, owner="alice")["reference"]
    response = agent_api.post(f"/cases/{ref}/compensations", {"kind": "refund", "amount": amount, "currency": currency})
    assert response.status_code == 422, response.content
    assert field in response.json()["errors"]
    assert Compensation.objects.count() == 0


def test_calendar_and_policy_validation(admin_api: ApiClient, agent_api: ApiClient) -> None:
    good = {
        "name": "UK office",
        "timezone": "Europe/London",
        "weekly_hours": {"mon": [["09:00", "17:00"]]},
        "holidays": {"country": "GB", "subdivision": "ENG"},
        "closed_dates": ["2026-12-24"],
    }
    assert agent_api.post("/calendars", good).status_code == 403
    created = admin_api.post("/calendars", good)
    assert created.status_code == 201, created.content
    assert admin_api.post("/calendars", good).status_code == 409
    assert admin_api.post("/calendars", {**good, "name": "Empty", "weekly_hours": {}}).status_code == 422
    assert admin_api.post("/calendars", {**good, "name": "Mars", "timezone": "Mars/Base"}).status_code == 422
    assert admin_api.post("/calendars", {**good, "name": "XX", "holidays": {"country": "XX"}}).status_code == 422
    assert admin_api.post("/calendars", {**good, "name": "Bad date", "closed_dates": ["24/12"]}).status_code == 422
    policy = {
        "name": "High complaints",
        "calendar": created.json()["id"],
        "case_type": "complaint",
        "priority": "high",
        "first_response_minutes": 240,
        "next_response_minutes": 480,
        "resolution_minutes": 2400,
        "at_risk_ratio": 0.8,
    }
    assert admin_api.post("/sla-policies", policy).status_code == 201
    assert admin_api.post("/sla-policies", {**policy, "first_response_minutes": 0}).status_code == 422
    assert admin_api.post("/sla-policies", {**policy, "at_risk_ratio": 1.5}).status_code == 422


def test_most_specific_policy_applies_and_terms_stick(
    admin_api: ApiClient, agent_api: ApiClient, customer: Customer, always_open
) -> None:  # type: ignore[no-untyped-def]
    base = {"calendar": always_open.id, "next_response_minutes": 100, "resolution_minutes": 1000}
    admin_api.post("/sla-policies", {**base, "name": "Any", "first_response_minutes": 500})
    admin_api.post(
        "/sla-policies", {**base, "name": "Complaints", "case_type": "complaint", "first_response_minutes": 300}
    )
    admin_api.post(
        "/sla-policies",
        {
            **base,
            "name": "Urgent complaints",
            "case_type": "complaint",
            "priority": "urgent",
            "first_response_minutes": 30,
        },
    )
    urgent = open_case(agent_api, customer, priority="urgent")
    normal = open_case(agent_api, customer)
    question = open_case(agent_api, customer, type="question")
    assert [c["sla_policy"] for c in (urgent, normal, question)] == ["Urgent complaints", "Complaints", "Any"]
    first = next(c for c in urgent["sla"] if c["kind"] == "first_response")
    assert first["target_minutes"] == 30
    # A later policy change leaves the running case's clock as it was.
    from rapport.cases.models import SlaPolicy

    SlaPolicy.objects.filter(name="Urgent complaints").update(first_response_minutes=999)
    again = agent_api.get(f"/cases/{urgent['reference']}").json()
    assert next(c for c in again["sla"] if c["kind"] == "first_response")["target_minutes"] == 30


def test_priority_rules_pick_the_default(agent_api: ApiClient, manager: Staff, customer: Customer) -> None:
    from rapport.cases.services import create_priority_rule

    create_priority_rule(actor=manager, conditions={"words": ["refund", "lawyer"]}, priority="high", position=20)
    create_priority_rule(
        actor=manager, conditions={"customer_tag": "vip", "case_type": "complaint"}, priority="urgent", position=10
    )
    assert open_case(agent_api, customer)["priority"] == "urgent"
    assert open_case(agent_api, customer, type="question", subject="Where is my refund?")["priority"] == "high"
    assert open_case(agent_api, customer, type="question", subject="Opening hours?")["priority"] == "normal"


def test_migrated_cases_keep_history_and_start_paused_when_waiting(
    lead_api: ApiClient, agent_api: ApiClient, customer: Customer, complaint_policy
) -> None:  # type: ignore[no-untyped-def]
    past = (datetime.now(UTC) - timedelta(days=3)).isoformat()
    assert (
        agent_api.post(
            "/cases", {"customer": customer.id, "type": "complaint", "subject": "Old", "opened_at": past}
        ).status_code
        == 422
    )
    old = open_case(lead_api, customer, opened_at=past)
    assert {c["kind"]: c["state"] for c in old["sla"]}["first_response"] == "breached"
    waiting = open_case(lead_api, customer, status="waiting_customer")
    assert {c["state"] for c in waiting["sla"]} == {"paused"}


def test_unknown_case_and_customer(agent_api: ApiClient) -> None:
    assert agent_api.get("/cases/C-999999").status_code == 404
    assert agent_api.get("/cases/garbage").status_code == 404
    response = agent_api.post("/cases", {"customer": 424242, "type": "complaint", "subject": "x"})
    assert response.status_code == 422 and "customer" in response.json()["errors"]
    bad = agent_api.post("/cases", {"customer": 1, "type": "rant", "subject": " ", "priority": "meh"})
    assert set(bad.json()["errors"]) >= {"type", "subject", "priority"}


def test_queue_filters(agent_api: ApiClient, customer: Customer, complaint_policy) -> None:  # type: ignore[no-untyped-def]
    mine = open_case(agent_api, customer, owner="alice")
    unassigned = open_case(agent_api, customer, type="question")
    assert [c["reference"] for c in agent_api.get("/cases", owner="me").json()["items"]] == [mine["reference"]]
    assert [c["reference"] for c in agent_api.get("/cases", owner="none").json()["items"]] == [unassigned["reference"]]
    assert len(agent_api.get("/cases", type="complaint").json()["items"]) == 1
    assert agent_api.get("/cases", breached=True).json()["items"] == []
    SlaClock.objects.filter(case__id=int(mine["reference"][2:])).update(due_at=datetime.now(UTC) - timedelta(minutes=1))
    assert [c["reference"] for c in agent_api.get("/cases", breached=True).json()["items"]] == [mine["reference"]]
    assert agent_api.get("/cases", status="bogus").status_code == 422


def test_merging_customers_moves_their_cases(lead_api: ApiClient, customer: Customer) -> None:
    other = Customer.objects.create(name="Jane S")
    ref = open_case(lead_api, other)["reference"]
    assert lead_api.post(f"/customers/{customer.id}/merge", {"duplicate_id": other.id}).status_code == 200
    assert lead_api.get(f"/cases/{ref}").json()["customer"] == customer.id


def test_history_records_each_step(agent_api: ApiClient, customer: Customer) -> None:
    ref = open_case(agent_api, customer)["reference"]
    agent_api.post(f"/cases/{ref}/claim")
    agent_api.post(f"/cases/{ref}/status", {"status": "waiting_customer"})
    kinds = list(CaseEvent.objects.order_by("id").values_list("kind", flat=True))
    assert kinds == ["opened", "claimed", "status"]


def test_root_cause_report_counts_complaints_and_their_cost(
    agent_api: ApiClient, admin_api: ApiClient, customer: Customer
) -> None:
    late = admin_api.post("/root-causes", {"name": "Late"}).json()
    rude = admin_api.post("/root-causes", {"name": "Attitude"}).json()
    for cause, amount in ((late, "10.00"), (late, "5.50"), (rude, None)):
        ref = open_case(agent_api, customer, owner="alice")["reference"]
        if amount:
            agent_api.post(f"/cases/{ref}/compensations", {"kind": "refund", "amount": amount, "currency": "GBP"})
        agent_api.post(f"/cases/{ref}/resolve", {"root_cause": cause["id"], "statement": "went wrong"})
    rows = agent_api.get("/root-causes/report").json()
    by_path = {r["path"]: r for r in rows}
    assert by_path["Late"]["complaints"] == 2
    assert by_path["Late"]["compensation"] == [{"amount": "15.50", "currency": "GBP"}]
    assert by_path["Attitude"]["complaints"] == 1 and by_path["Attitude"]["compensation"] == []
    assert agent_api.get("/root-causes/report", months=0).status_code == 422
