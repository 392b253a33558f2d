"""The case pages through the real HTTP stack: queues, opening, the case page and its actions,
approvals, notifications, root causes and the SLA set-up pages. Query counts stay flat."""

from __future__ import annotations

import json
import re
from datetime import timedelta
from typing import Any

import pytest
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from rapport.cases import services
from rapport.cases.models import Case, CaseMessage, Compensation, CorrectiveAction, PriorityRule, SlaClock, SlaPolicy
from rapport.cases.services import CaseInput
from rapport.core.models import Calendar, Notification
from rapport.customers.models import Customer, Interaction
from rapport.customers.services import CustomerInput, create_customer
from rapport.people.models import Role, Staff
from tests.conftest import make_staff

pytestmark = pytest.mark.django_db


def signed_in(staff: Staff) -> Client:
    client = Client()
    client.force_login(staff)
    return client


def open_case(
    actor: Staff,
    customer: Customer,
    *,
    owner: str | None = None,
    subject: str = "Parcel arrived broken",
    type: str = "complaint",
) -> Case:
    return services.open_case(
        actor=actor, data=CaseInput(customer_id=customer.id, type=type, subject=subject, owner=owner)
    )


def count_queries(client: Client, path: str, **headers: str) -> int:
    with CaptureQueriesContext(connection) as ctx:
        response = client.get(path, headers=headers)
    assert response.status_code == 200, response.content
    return len(ctx.captured_queries)


def text(response: Any) -> str:
    return response.content.decode()


# --- queues ------------------------------------------------------------------------------


def test_pages_need_sign_in(client: Client) -> None:
    for path in ("/cases/", "/cases/new/", "/cases/approvals/", "/cases/root-causes/", "/notifications/"):
        response = client.get(path)
        assert response.status_code == 302 and "/login/" in response["Location"], path


def test_my_cases_are_sorted_by_soonest_deadline(agent: Staff, customer: Customer, complaint_policy: SlaPolicy) -> None:
    first = open_case(agent, customer, owner="alice", subject="Due later")
    second = open_case(agent, customer, owner="alice", subject="Due sooner")
    no_clock = open_case(agent, customer, owner="alice", subject="Question without policy", type="question")
    now = timezone.now()
    SlaClock.objects.filter(case=first, kind="first_response").update(due_at=now + timedelta(hours=5))
    SlaClock.objects.filter(case=second, kind="first_response").update(due_at=now + timedelta(minutes=20))
    body = text(signed_in(agent).get("/cases/"))
    assert body.index("Due sooner") < body.index("Due later") < body.index("Question without policy")
    assert no_clock.reference in body and 'aria-current="page">My cases' in body


def test_my_queue_pages_with_a_cursor(agent: Staff, customer: Customer, complaint_policy: SlaPolicy) -> None:
    from rapport.cases import queries

    cases = [open_case(agent, customer, owner="alice", subject=f"Case {i}") for i in range(5)]
    now = timezone.now()
    for i, case in enumerate(cases):
        SlaClock.objects.filter(case=case).update(due_at=now + timedelta(minutes=10 * (5 - i)))
    seen, cursor = [], None
    while True:
        page = queries.my_queue_ids(agent.id, queries.CaseFilters(), cursor=cursor, limit=2)
        seen += [Case.objects.get(id=case_id).subject for case_id in page.items]
        cursor = page.next_cursor
        if not cursor:
            break
    assert seen == [f"Case {i}" for i in (4, 3, 2, 1, 0)]


def test_the_default_my_queue_pages_exactly_like_the_filtered_one(
    agent: Staff, customer: Customer, complaint_policy: SlaPolicy
) -> None:
    """The unfiltered "My cases" has its own hand-written statement: same order, same cursors,
    with deadlines tied, cases without a clock, paused clocks and closed cases about."""
    from rapport.cases import queries

    cases = [open_case(agent, customer, owner="alice", subject=f"Case {i}") for i in range(7)]
    cases.append(open_case(agent, customer, owner="alice", subject="No clock", type="question"))
    now = timezone.now().replace(microsecond=0)
    for i, case in enumerate(cases[:7]):
        SlaClock.objects.filter(case=case).update(due_at=now + timedelta(minutes=10 * (i % 3)))
    SlaClock.objects.filter(case=cases[5]).update(paused_at=now, due_at=None)  # waiting: no running deadline
    Case.objects.filter(id=cases[6].id).update(status="resolved")  # not open: not in the queue

    def walk(filters: queries.CaseFilters) -> list[tuple[list[int], str | None]]:
        pages, cursor = [], None
        while True:
            page = queries.my_queue_ids(agent.id, filters, cursor=cursor, limit=2)
            pages.append((list(page.items), page.next_cursor))
            if not (cursor := page.next_cursor):
                return pages

    by_hand = walk(queries.CaseFilters(open_only=True))
    general = walk(queries.CaseFilters(open_only=True, type="complaint"))  # same cases, other path
    assert [ids for ids, _ in by_hand] == [
        [cases[0].id, cases[3].id],
        [cases[1].id, cases[4].id],
        [cases[2].id, cases[5].id],
        [cases[7].id],
    ]
    no_clock = cases[7].id
    assert [i for ids, _ in by_hand for i in ids if i != no_clock] == [i for ids, _ in general for i in ids]
    assert [i for ids, _ in by_hand for i in ids][-2:] == sorted([cases[5].id, no_clock])  # no deadline: last, by id


def test_queue_query_count_is_flat(agent: Staff, customer: Customer, complaint_policy: SlaPolicy) -> None:
    for i in range(2):
        open_case(agent, customer, owner="alice", subject=f"Early {i}")
        open_case(agent, customer, subject=f"Unowned {i}")
    client = signed_in(agent)
    tabs = ("mine", "team", "unassigned", "all")
    client.get("/cases/")  # reads the staff and team lists the filter shows (kept 30 s)
    few = {tab: count_queries(client, f"/cases/?tab={tab}") for tab in tabs}
    # session, user, page ids, rows with their clocks, the user's team (the page header)
    assert max(few.values()) <= 5, few
    for i in range(12):
        open_case(agent, customer, owner="alice", subject=f"Later {i}")
        open_case(agent, customer, subject=f"Unowned later {i}")
    many = {tab: count_queries(client, f"/cases/?tab={tab}") for tab in tabs}
    assert many == few


def test_unassigned_tab_filters_and_htmx_fragment(
    agent: Staff, customer: Customer, complaint_policy: SlaPolicy
) -> None:
    open_case(agent, customer, subject="Nobody has this")
    open_case(agent, customer, owner="alice", subject="Alice has this")
    client = signed_in(agent)
    body = text(client.get("/cases/", {"tab": "unassigned"}))
    assert "Nobody has this" in body and "Alice has this" not in body and ">Claim</button>" in body
    fragment = client.get(
        "/cases/", {"tab": "all", "priority": "normal", "breached": "no"}, headers={"HX-Request": "true"}
    )
    assert fragment.status_code == 200 and "<html" not in text(fragment)
    assert "Nobody has this" in text(fragment) and "Alice has this" in text(fragment)
    assert "Nobody has this" not in text(client.get("/cases/", {"tab": "all", "breached": "yes"}))
    bad = client.get("/cases/", {"tab": "all", "status": "lost"})
    assert bad.status_code == 400


def test_claim_and_a_lost_race(agent: Staff, lead: Staff, customer: Customer) -> None:
    case = open_case(agent, customer)
    bob = make_staff("bob", Role.AGENT, team="Front line")
    response = signed_in(bob).post(f"/cases/{case.reference}/claim/")
    assert response.status_code == 302 and Case.objects.get().owner == bob
    late = signed_in(agent).post(f"/cases/{case.reference}/claim/", follow=True)
    assert f"{case.reference} is already owned by bob" in text(late)
    assert Case.objects.get().owner == bob


# --- opening ----------------------------------------------------------------------------


def test_open_a_case_from_the_customer_page(agent: Staff, customer: Customer, complaint_policy: SlaPolicy) -> None:
    client = signed_in(agent)
    page = text(client.get(f"/customers/{customer.id}/"))
    assert f'href="/cases/new/?customer={customer.id}"' in page and ">Cases</h2>" in page
    form = text(client.get("/cases/new/", {"customer": customer.id}))
    assert f'value="{customer.id}"' in form and "Jane Smith" in form
    response = client.post(
        "/cases/new/",
        {
            "customer": customer.id,
            "type": "complaint",
            "subject": "Kettle leaks",
            "description": "Since Monday",
            "channel": "phone",
            "priority": "",
            "owner": "alice",
            "team": "",
        },
    )
    case = Case.objects.get()
    assert response.status_code == 302 and response["Location"] == f"/cases/{case.reference}/"
    assert case.owner == agent and case.priority == "normal" and case.status == "open"
    assert case.reference in text(client.get(f"/customers/{customer.id}/"))


def test_open_a_case_with_bad_input_names_the_field(agent: Staff, customer: Customer) -> None:
    response = signed_in(agent).post(
        "/cases/new/", {"customer": customer.id, "type": "complaint", "subject": "  ", "channel": "phone"}
    )
    assert response.status_code == 400 and Case.objects.count() == 0
    assert "This field is required" in text(response) or "Say in a few words" in text(response)
    unknown = signed_in(agent).post(
        "/cases/new/", {"customer": 999999, "type": "complaint", "subject": "Hi", "channel": "phone"}
    )
    assert unknown.status_code == 400 and "No customer with id 999999" in text(unknown)


# --- the case page ----------------------------------------------------------------------


def test_case_page_shows_clocks_conversation_and_history(
    agent: Staff, customer: Customer, complaint_policy: SlaPolicy
) -> None:
    case = open_case(agent, customer, owner="alice")
    client = signed_in(agent)
    client.post(f"/cases/{case.reference}/reply/", {"kind": "internal", "body": "Courier again"})
    services.record_customer_reply(actor=None, case_id=case.id, body="Any news?")
    body = text(client.get(f"/cases/{case.reference}/"))
    assert "Service clocks" in body and "data-due=" in body and "due in" in body
    assert 'class="message message--internal"' in body and 'class="message message--customer"' in body
    assert "Courier again" in body and "Any news?" in body and "History" in body
    assert 'name="version" value="' in body and '<dialog id="handoff-dialog"' in body
    assert "<script>" not in body and "style=" not in body  # CSP: nothing inline


def test_case_page_query_count_is_flat(agent: Staff, customer: Customer, complaint_policy: SlaPolicy) -> None:
    case = open_case(agent, customer, owner="alice")
    client = signed_in(agent)
    for i in range(2):
        services.add_message(actor=agent, case_id=case.id, kind="internal", body=f"Note {i}")
        services.request_compensation(actor=agent, case_id=case.id, kind="voucher", amount="5", currency="GBP")
    client.get(f"/cases/{case.reference}/")  # reads the staff, team and root-cause lists (kept 30 s)
    few = count_queries(client, f"/cases/{case.reference}/")
    assert few <= 3, few  # session, user, the case with all its lists (cases.case_page.load)
    for i in range(10):
        services.add_message(actor=agent, case_id=case.id, kind="public", body=f"Reply {i}")
        services.request_compensation(actor=agent, case_id=case.id, kind="gift", amount="500", currency="GBP")
    assert count_queries(client, f"/cases/{case.reference}/") == few


def test_public_reply_meets_the_first_response_clock(
    agent: Staff, customer: Customer, complaint_policy: SlaPolicy
) -> None:
    case = open_case(agent, customer, owner="alice")
    response = signed_in(agent).post(f"/cases/{case.reference}/reply/", {"kind": "public", "body": "On its way"})
    assert response.status_code == 302
    assert SlaClock.objects.get(case=case, kind="first_response").stopped_at is not None
    assert CaseMessage.objects.get().kind == "public"
    empty = signed_in(agent).post(f"/cases/{case.reference}/reply/", {"kind": "public", "body": ""})
    assert empty.status_code == 400


def test_stale_form_changes_nothing(agent: Staff, customer: Customer) -> None:
    case = open_case(agent, customer, owner="alice")
    make_staff("bob", Role.AGENT, team="Front line")
    client = signed_in(agent)
    stale = case.version
    services.set_status(actor=agent, case_id=case.id, status="waiting_third_party")
    response = client.post(
        f"/cases/{case.reference}/handoff/",
        {"version": stale, "to_user": "bob", "to_team": "", "reason": "Knows couriers"},
    )
    assert response.status_code == 412 and "changed since you opened it" in text(response)
    assert Case.objects.get().owner == agent
    status = client.post(f"/cases/{case.reference}/status/", {"version": stale, "status": "open"})
    assert status.status_code == 412 and Case.objects.get().status == "waiting_third_party"


def test_hand_off_page_and_errors(agent: Staff, customer: Customer) -> None:
    case = open_case(agent, customer, owner="alice")
    bob = make_staff("bob", Role.AGENT, team="Front line")
    client = signed_in(agent)
    page = client.get(f"/cases/{case.reference}/handoff/")
    assert page.status_code == 200 and "To person" in text(page)
    nobody = client.post(f"/cases/{case.reference}/handoff/", {"version": case.version, "reason": "x"})
    assert nobody.status_code == 400 and "Hand the case to a person" in text(nobody)
    done = client.post(
        f"/cases/{case.reference}/handoff/",
        {"version": case.version, "to_user": "bob", "reason": "Knows the courier"},
        follow=True,
    )
    assert "Handed" in text(done)
    case.refresh_from_db()
    assert case.owner == bob and agent in case.watchers.all()
    assert Interaction.objects.filter(summary__contains="handed to").exists()


def test_compensation_above_the_limit_waits_for_a_lead(agent: Staff, lead: Staff, customer: Customer) -> None:
    case = open_case(agent, customer, owner="alice")
    client = signed_in(agent)
    response = client.post(
        f"/cases/{case.reference}/compensations/",
        {"kind": "refund", "amount": "120.00", "currency": "GBP", "description": "Broken kettle"},
        follow=True,
    )
    assert "pending approval" in text(response).lower()
    compensation = Compensation.objects.get()
    assert compensation.status == "pending_approval"
    assert f"/cases/compensations/{compensation.id}/approve/" not in text(response)  # not for the requester
    lead_page = text(signed_in(lead).get(f"/cases/{case.reference}/"))
    assert f"/cases/compensations/{compensation.id}/approve/" in lead_page
    inbox = text(signed_in(lead).get("/cases/approvals/"))
    assert case.reference in inbox and "120.00 GBP" in inbox
    assert case.reference not in text(client.get("/cases/approvals/"))
    own = client.post(f"/cases/compensations/{compensation.id}/approve/")
    assert own.status_code == 403 and "your own" in text(own)
    approved = signed_in(lead).post(f"/cases/compensations/{compensation.id}/approve/", {"back": "approvals"})
    assert approved.status_code == 302 and approved["Location"] == "/cases/approvals/"
    assert Compensation.objects.get().status == "granted"
    assert "120.00 GBP" in text(client.get(f"/customers/{customer.id}/"))


def test_bad_compensation_shows_field_errors(agent: Staff, customer: Customer) -> None:
    case = open_case(agent, customer, owner="alice")
    client = signed_in(agent)
    for amount, currency in (("-5", "GBP"), ("10.001", "GBP"), ("10", "XXY")):
        response = client.post(
            f"/cases/{case.reference}/compensations/", {"kind": "refund", "amount": amount, "currency": currency}
        )
        assert response.status_code == 400, (amount, currency)
    assert Compensation.objects.count() == 0


def test_resolving_a_complaint_needs_a_root_cause(
    agent: Staff, manager: Staff, customer: Customer, complaint_policy: SlaPolicy
) -> None:
    case = open_case(agent, customer, owner="alice")
    delivery = services.create_root_cause(actor=manager, name="Delivery")
    late = services.create_root_cause(actor=manager, name="Late", parent_id=delivery.id)
    client = signed_in(agent)
    page = text(client.get(f"/cases/{case.reference}/"))
    assert "Delivery &gt; Late" in page
    missing = client.post(f"/cases/{case.reference}/resolve/", {"version": case.version, "statement": ""})
    assert missing.status_code == 400 and "A complaint needs a root cause" in text(missing)
    assert Case.objects.get().status == "open"
    done = client.post(
        f"/cases/{case.reference}/resolve/",
        {"version": case.version, "root_cause": late.id, "statement": "Courier was a day late"},
    )
    assert done.status_code == 302
    resolved = Case.objects.get()
    assert resolved.status == "resolved" and resolved.root_cause == late
    page = text(client.get(f"/cases/{case.reference}/"))
    assert "clock-badge--met" in page and ">Reopen</button>" in page
    reopened = client.post(f"/cases/{case.reference}/reopen/", {"reason": "Still broken"})
    assert reopened.status_code == 302 and Case.objects.get().status == "open"


def test_agents_cannot_work_on_other_teams_cases(agent: Staff, customer: Customer) -> None:
    other = make_staff("olga", Role.AGENT, team="Billing")
    case = open_case(other, customer, owner="olga")
    response = signed_in(agent).post(f"/cases/{case.reference}/reply/", {"kind": "internal", "body": "Hi"})
    assert response.status_code == 403 and "belongs to" in text(response)
    assert CaseMessage.objects.count() == 0


def test_unknown_case_is_404(agent: Staff) -> None:
    assert signed_in(agent).get("/cases/C-999999/").status_code == 404
    assert signed_in(agent).get("/cases/nonsense/").status_code == 404


# --- notifications ----------------------------------------------------------------------


def test_notifications_bell_list_and_mark_read(agent: Staff, lead: Staff, customer: Customer) -> None:
    case = open_case(agent, customer, owner="alice")
    services.request_compensation(actor=agent, case_id=case.id, kind="refund", amount="120", currency="GBP")
    client = signed_in(lead)
    assert "bell__count" in text(client.get("/notifications/bell/"))
    assert 'hx-get="/notifications/bell/"' in text(client.get("/cases/"))
    page = text(client.get("/notifications/"))
    assert f"Approve 120.00 GBP for {case.reference}?" in page
    note = Notification.objects.get(recipient=lead)
    followed = client.post(f"/notifications/{note.id}/read/", {"follow": "1"})
    assert followed.status_code == 302 and followed["Location"] == f"/cases/{case.reference}/"
    assert Notification.objects.get(id=note.id).read_at is not None
    assert "bell__count" not in text(client.get("/notifications/bell/"))
    theirs = signed_in(agent).post(f"/notifications/{note.id}/read/")
    assert theirs.status_code == 302 and theirs["Location"] == "/notifications/"
    Notification.objects.filter(id=note.id).update(read_at=None)
    client.post("/notifications/read/")
    assert not Notification.objects.filter(recipient=lead, read_at__isnull=True).exists()


# --- root causes --------------------------------------------------------------------------


def test_root_cause_page_tree_report_chart_and_actions(
    agent: Staff, lead: Staff, manager: Staff, customer: Customer
) -> None:
    assert signed_in(agent).post("/cases/root-causes/new/", {"name": "Product"}).status_code == 403
    client = signed_in(manager)
    assert client.post("/cases/root-causes/new/", {"name": "Product"}).status_code == 302
    product = services.create_root_cause(actor=manager, name="Delivery")
    defect = client.post("/cases/root-causes/new/", {"name": "Lost", "parent": product.id})
    assert defect.status_code == 302
    duplicate = client.post("/cases/root-causes/new/", {"name": "lost", "parent": product.id})
    assert duplicate.status_code == 409 and "already exists" in text(duplicate)
    case = open_case(agent, customer, owner="alice")
    services.request_compensation(actor=agent, case_id=case.id, kind="refund", amount="30", currency="GBP")
    lost = product.children.get()
    services.resolve_case(actor=agent, case_id=case.id, root_cause_id=lost.id, statement="Courier lost it")
    page = text(signed_in(agent).get("/cases/root-causes/"))
    assert "Delivery &gt; Lost" in page and "30.00 GBP" in page
    block = re.search(r'<script id="root-cause-data" type="application/json">(.*?)</script>', page, re.S)
    assert block is not None
    data = json.loads(block.group(1))
    assert data["causes"] == [{"label": "Delivery", "data": [1]}] and data["cost"][0]["label"] == "GBP"
    assert "vendor/chart.umd.min.js" in page and ">Plan action</button>" not in page

    planned = signed_in(lead).post(
        "/cases/root-causes/actions/",
        {
            "title": "Switch courier",
            "owner": "alice",
            "due_date": "2030-01-31",
            "root_cause": lost.id,
            "cases": case.reference,
            "description": "",
        },
    )
    assert planned.status_code == 302
    action = CorrectiveAction.objects.get()
    assert list(action.cases.all()) == [case]
    bad = signed_in(lead).post(
        "/cases/root-causes/actions/", {"title": "X", "owner": "alice", "due_date": "2030-01-31", "cases": "C-999999"}
    )
    assert bad.status_code == 400 and "No case C-999999" in text(bad)
    updated = signed_in(agent).post(f"/cases/root-causes/actions/{action.id}/status/", {"status": "done"})
    assert updated.status_code == 302 and CorrectiveAction.objects.get().status == "done"


# --- SLA set-up ----------------------------------------------------------------------------


def test_sla_settings_are_for_managers(agent: Staff, manager: Staff) -> None:
    assert signed_in(agent).get("/cases/settings/").status_code == 403
    assert signed_in(agent).post("/cases/settings/calendars/", {"name": "X"}).status_code == 403
    client = signed_in(manager)
    assert client.get("/cases/settings/").status_code == 200
    response = client.post(
        "/cases/settings/calendars/",
        {
            "name": "UK office",
            "timezone": "Europe/London",
            "holiday_country": "GB",
            "holiday_subdivision": "ENG",
            "closed_dates": "2026-12-24\n2026-12-31",
            "mon": "09:00-12:00, 13:00-17:00",
            "tue": "09:00-17:00",
            "wed": "",
            "thu": "",
            "fri": "09:00-17:00",
            "sat": "",
            "sun": "",
        },
    )
    assert response.status_code == 302, text(response)
    calendar = Calendar.objects.get()
    assert calendar.weekly_hours == {
        "mon": [["09:00", "12:00"], ["13:00", "17:00"]],
        "tue": [["09:00", "17:00"]],
        "fri": [["09:00", "17:00"]],
    }
    assert calendar.closed_dates == ["2026-12-24", "2026-12-31"]
    closed = client.post("/cases/settings/calendars/", {"name": "Never", "timezone": "UTC"})
    assert closed.status_code == 400 and Calendar.objects.count() == 1
    policy = client.post(
        "/cases/settings/policies/",
        {
            "name": "Urgent complaints",
            "calendar": calendar.id,
            "case_type": "complaint",
            "priority": "urgent",
            "first_response_minutes": 60,
            "next_response_minutes": 120,
            "resolution_minutes": 480,
            "at_risk_ratio": "0.75",
        },
    )
    assert policy.status_code == 302 and SlaPolicy.objects.get().resolution_minutes == 480
    rule = client.post(
        "/cases/settings/rules/",
        {"priority": "urgent", "position": 10, "case_type": "complaint", "words": "refund, lawyer", "customer_tag": ""},
    )
    assert rule.status_code == 302
    assert PriorityRule.objects.get().conditions == {"case_type": "complaint", "words": ["refund", "lawyer"]}
    empty_rule = client.post("/cases/settings/rules/", {"priority": "high", "position": 10})
    assert empty_rule.status_code == 400 and "at least one condition" in text(empty_rule)
    page = text(client.get("/cases/settings/"))
    assert "UK office" in page and "Urgent complaints" in page and "refund, lawyer" in page


def test_customer_panel_costs_two_queries_whatever_the_cases(agent: Staff) -> None:
    customer = create_customer(actor=None, data=CustomerInput(name="Panel Count"))
    open_case(agent, customer)
    client = signed_in(agent)
    few = count_queries(client, f"/customers/{customer.id}/")
    for i in range(8):
        open_case(agent, customer, subject=f"More {i}", owner="alice")
    assert count_queries(client, f"/customers/{customer.id}/") == few


def test_amounts_show_their_currencys_decimal_places(agent: Staff, admin: Staff, customer: Customer) -> None:
    case = open_case(agent, customer, owner="alice")
    services.request_compensation(actor=admin, case_id=case.id, kind="voucher", amount="500", currency="JPY")
    services.request_compensation(actor=agent, case_id=case.id, kind="refund", amount="12.5", currency="GBP")
    page = text(signed_in(agent).get(f"/cases/{case.reference}/"))
    assert "500 JPY" in page and "500.00 JPY" not in page and "12.50 GBP" in page
