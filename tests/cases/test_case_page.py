"""The case page as cases.case_page reads and writes it: one statement for the case and its
lists (on SQLite and PostgreSQL alike), every piece of user text escaped, forms rendered once
per worker yet carrying each case's own version."""

from __future__ import annotations

from decimal import Decimal

import pytest
from django.test import Client
from django.utils import timezone

from rapport.cases import case_page, forms, services
from rapport.cases.models import Case, SlaClock, SlaPolicy
from rapport.cases.services import CaseInput
from rapport.customers.models import Customer
from rapport.customers.services import CustomerInput, create_customer
from rapport.people.models import Role, Staff
from tests.conftest import make_staff

pytestmark = pytest.mark.django_db


def page_of(staff: Staff, case: Case) -> str:
    client = Client()
    client.force_login(staff)
    response = client.get(f"/cases/{case.reference}/")
    assert response.status_code == 200
    return response.content.decode()


def test_the_page_escapes_every_piece_of_user_text(agent: Staff, lead: Staff, manager: Staff) -> None:
    customer = create_customer(actor=None, data=CustomerInput(name="<b>Evil</b> & Co"))
    bob = make_staff("bob", Role.AGENT, team="Front line")
    bob.first_name = "<i>Bob</i>"
    bob.save()
    case = services.open_case(
        actor=agent,
        data=CaseInput(
            customer_id=customer.id, type="complaint", subject="<script>x</script>", description="a\r\n<b>b</b>"
        ),
    )
    services.add_message(actor=bob, case_id=case.id, kind="internal", body="<img src=x onerror=y>\nline")
    services.request_compensation(
        actor=agent, case_id=case.id, kind="voucher", amount="5", currency="GBP", description="<u>sorry</u>"
    )
    services.hand_off(actor=agent, case_id=case.id, to_user="bob", to_team=None, reason="<em>why</em>")
    body = page_of(lead, case)
    for raw in (
        "<b>Evil</b>",
        "<script>x</script>",
        "<b>b</b>",
        "<img src=x",
        "<u>sorry</u>",
        "<em>why</em>",
        "<i>Bob",
    ):
        assert raw not in body, raw
    assert "&lt;b&gt;Evil&lt;/b&gt; &amp; Co" in body and "&lt;script&gt;x&lt;/script&gt;" in body
    assert "a<br>&lt;b&gt;b&lt;/b&gt;" in body and "&lt;img src=x onerror=y&gt;<br>line" in body
    assert "&lt;u&gt;sorry&lt;/u&gt;" in body and "reason: &lt;em&gt;why&lt;/em&gt;" in body
    assert "&lt;i&gt;Bob&lt;/i&gt;" in body  # owner, message author and hand-off actor's target
    resolved = services.resolve_case(
        actor=bob,
        case_id=case.id,
        root_cause_id=services.create_root_cause(actor=manager, name="<s>Cause</s>").id,
        statement="<q>late</q>",
    )
    body = page_of(lead, resolved)
    assert "&lt;s&gt;Cause&lt;/s&gt;: &lt;q&gt;late&lt;/q&gt;" in body and "<q>" not in body


def test_one_statement_reads_the_case_and_its_lists(
    agent: Staff, lead: Staff, admin: Staff, complaint_policy: SlaPolicy
) -> None:
    customer = create_customer(actor=None, data=CustomerInput(name="Jane"))
    case = services.open_case(actor=agent, data=CaseInput(customer_id=customer.id, type="complaint", subject="S"))
    zed, amy = make_staff("zed", Role.AGENT, team="Front line"), make_staff("amy", Role.AGENT, team="Front line")
    case.watchers.add(zed, amy)
    services.add_message(actor=agent, case_id=case.id, kind="public", body="First")
    services.record_customer_reply(actor=None, case_id=case.id, body="Second")
    services.request_compensation(actor=agent, case_id=case.id, kind="refund", amount="12.5", currency="GBP")
    services.request_compensation(actor=admin, case_id=case.id, kind="voucher", amount="500", currency="JPY")
    services.request_compensation(actor=agent, case_id=case.id, kind="gift", amount="120", currency="GBP")
    now = timezone.now()
    page = case_page.load(case.id, now)
    assert page is not None and page.case.reference == case.reference and page.case.customer.name == "Jane"
    assert page.watchers == ["amy", "zed"]  # as case.watchers.all() orders them
    assert [(m.kind, m.body, m.author) for m in page.messages] == [
        ("public", "First", "alice"),
        ("customer", "Second", ""),
    ]
    assert [m.created_at for m in page.messages] == [m.created_at for m in case.messages.order_by("created_at", "id")]
    assert [(c.kind, c.state, c.due_at) for c in page.clocks] == [
        (c.kind, c.state(now), c.due_at) for c in SlaClock.objects.filter(case=case).order_by("id")
    ]
    amounts = [(r.compensation.amount, r.compensation.status, r.requested_by) for r in page.compensations]
    assert amounts == [
        (Decimal("12.500"), "granted", "alice"),
        (Decimal("500.000"), "granted", "ada"),
        (Decimal("120.000"), "pending_approval", "alice"),
    ]
    assert page.events[0].kind == "opened" and page.events[0].actor == "alice"
    assert case_page.load(case.id + 1000) is None
    body = page_of(lead, case)
    assert "<dt>Watchers</dt><dd>amy, zed</dd>" in body and "12.50 GBP" in body and "500 JPY" in body
    assert "<strong>12.50 GBP</strong>, <strong>500 JPY</strong>" in body  # granted totals
    assert body.count("/approve/") == 1  # the lead may decide the pending 120 GBP


def test_forms_rendered_once_carry_each_cases_version(agent: Staff, customer: Customer) -> None:
    first = services.open_case(actor=agent, data=CaseInput(customer_id=customer.id, type="question", subject="A"))
    second = services.open_case(actor=agent, data=CaseInput(customer_id=customer.id, type="question", subject="B"))
    for _ in range(3):
        services.set_status(actor=agent, case_id=second.id, status="waiting_customer")
        services.set_status(actor=agent, case_id=second.id, status="open")
    versions = {c.id: c.version for c in Case.objects.all()}
    assert versions[first.id] != versions[second.id]
    for case in (first, second, first):
        body = page_of(agent, case)
        version = versions[case.id]
        assert f'name="version" value="{version}" id="handoff-version"' in body
        assert f'name="version" value="{version}" id="resolve-version"' in body
        assert str(forms.VERSION_SENTINEL) not in body
