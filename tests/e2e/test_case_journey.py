"""The complaint journey in a real browser: open → hand off → compensate above the limit →
a team lead approves → resolve with a root cause. Screenshots land in artifacts/screenshots/;
with ``RAPPORT_DOCS_SCREENSHOT=1`` the README's ``docs/screenshot-case.png`` is refreshed."""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import Any

import pytest

from rapport.cases import services
from rapport.cases.models import Case, Compensation
from rapport.customers.models import Customer
from rapport.customers.services import CustomerInput, create_customer
from rapport.people.models import Role, Staff
from tests.cases.conftest import ALWAYS_OPEN
from tests.conftest import make_staff
from tests.e2e.test_journey import CHROMIUM, ROOT, SHOTS, UNNAMED_CONTROLS, browser, sign_in  # noqa: F401

pytestmark = [
    pytest.mark.browser,
    pytest.mark.django_db(transaction=True),
    pytest.mark.skipif(not CHROMIUM.exists(), reason="needs Debian's Chromium at /usr/bin/chromium"),
]


def named(staff: Staff, first: str, last: str) -> Staff:
    staff.first_name, staff.last_name = first, last
    staff.save()
    return staff


@pytest.fixture
def people(db: Any) -> dict[str, Staff]:
    return {
        "alice": named(make_staff("alice", Role.AGENT, team="Front line"), "Alice", "Moreau"),
        "bob": named(make_staff("bob", Role.AGENT, team="Front line"), "Bob", "Ng"),
        "lena": named(make_staff("lena", Role.LEAD, team="Front line"), "Lena", "Okafor"),
        "mo": named(make_staff("mo", Role.MANAGER), "Mo", "Haddad"),
    }


@pytest.fixture
def setup(people: dict[str, Staff]) -> Customer:
    mo = people["mo"]
    calendar = services.create_calendar(actor=mo, name="24/7", timezone_name="UTC", weekly_hours=ALWAYS_OPEN)
    services.create_sla_policy(
        actor=mo,
        name="Complaints",
        calendar_id=calendar.id,
        case_type="complaint",
        first_response_minutes=240,
        next_response_minutes=480,
        resolution_minutes=2400,
    )
    delivery = services.create_root_cause(actor=mo, name="Delivery")
    services.create_root_cause(actor=mo, name="Damaged in transit", parent_id=delivery.id)
    services.create_root_cause(actor=mo, name="Product")
    return create_customer(
        actor=None, data=CustomerInput(name="Harriet Vane", status="active", emails=["harriet.vane@example.com"])
    )


@pytest.fixture
def page_for(browser: Any) -> Any:  # noqa: F811
    """A fresh browser context per person, each collecting console errors."""
    contexts: list[Any] = []

    def open_as(base: str, username: str) -> Any:
        context = browser.new_context(
            viewport={"width": 1280, "height": 900}, locale="en-GB", timezone_id="Europe/London"
        )
        contexts.append(context)
        page = context.new_page()
        page.set_default_timeout(10_000)
        page.console_errors = []
        page.on("console", lambda msg: page.console_errors.append(msg.text) if msg.type == "error" else None)
        page.on("pageerror", lambda exc: page.console_errors.append(str(exc)))
        sign_in(page, base, username)
        return page

    yield open_as
    for context in contexts:
        context.close()


def test_complaint_open_hand_off_compensate_approve_resolve(
    live_server: Any, page_for: Callable[..., Any], people: dict[str, Staff], setup: Customer
) -> None:
    from playwright.sync_api import expect

    base, customer = live_server.url, setup
    SHOTS.mkdir(parents=True, exist_ok=True)

    # Alice opens a complaint from the customer page and hands it to Bob.
    alice = page_for(base, "alice")
    alice.goto(f"{base}/customers/{customer.id}/")
    alice.get_by_role("link", name="Open a case").click()
    expect(alice.get_by_label("Customer number")).to_have_value(str(customer.id))
    alice.get_by_label("Type").select_option("complaint")
    alice.get_by_label("Subject").fill("Printer arrived damaged")
    alice.get_by_label("Description").fill("The box was crushed; the paper tray is cracked.")
    alice.get_by_label("Came in by").select_option("phone")
    alice.get_by_role("button", name="Open case").click()
    expect(alice.get_by_role("heading", level=1)).to_have_text("Printer arrived damaged")
    case = Case.objects.get()
    assert alice.url.endswith(f"/cases/{case.reference}/")
    expect(alice.locator(".clock__left").first).to_contain_text("due in")

    alice.get_by_role("link", name="Hand off").click()
    dialog = alice.locator("#handoff-dialog")
    expect(dialog).to_be_visible()  # the <dialog>, opened by static/cases.js
    dialog.get_by_label("To person").select_option("bob")
    dialog.get_by_label("Reason").fill("Bob handles courier damage claims.")
    alice.screenshot(path=str(SHOTS / "case-handoff-dialog.png"))
    dialog.get_by_role("button", name="Hand off").click()
    expect(alice.get_by_role("status")).to_contain_text("Handed")
    expect(alice.locator(".facts")).to_contain_text("Bob Ng")

    # Bob offers a refund above an agent's GBP 50 authority: it waits for approval.
    bob = page_for(base, "bob")
    bob.goto(f"{base}/cases/{case.reference}/")
    bob.get_by_label("Message").fill("Sorry about the printer, Harriet. A refund is on its way.")
    bob.get_by_role("button", name="Send").click()
    expect(bob.locator(".message--public")).to_contain_text("A refund is on its way")
    panel = bob.locator("#compensation")
    panel.get_by_label("Kind").select_option("refund")
    panel.get_by_label("Amount").fill("120.00")
    panel.get_by_label("Currency").fill("GBP")
    panel.get_by_label("Description").fill("Full refund of the damaged printer")
    panel.get_by_role("button", name="Offer compensation").click()
    expect(bob.locator("#compensation")).to_contain_text("Pending approval")
    expect(bob.locator("#compensation").get_by_role("button", name="Approve")).to_have_count(0)

    # Lena, the team lead, sees it in her bell and approvals inbox and approves it.
    lena = page_for(base, "lena")
    expect(lena.locator(".bell__count")).to_be_visible()
    lena.get_by_role("link", name="Approvals").click()
    lena.get_by_role("button", name=f"Approve 120.00 GBP on {case.reference}").click()
    expect(lena.get_by_role("status")).to_contain_text("approved")
    assert Compensation.objects.get().status == "granted"

    # Bob resolves the complaint with its root cause.
    bob.reload()
    expect(bob.locator("#compensation")).to_contain_text("Granted")
    bob.get_by_label("Root cause").select_option(label="Delivery > Damaged in transit")
    bob.get_by_label("What went wrong").fill("The courier crushed the box in transit.")
    bob.get_by_role("button", name="Resolve").click()
    expect(bob.locator(".case-status")).to_have_text("Resolved")
    expect(bob.locator(".clock-badge--met")).to_have_count(2)
    bob.screenshot(path=str(SHOTS / "case-resolved.png"), full_page=True)
    if os.environ.get("RAPPORT_DOCS_SCREENSHOT") == "1":
        bob.screenshot(path=str(ROOT / "docs" / "screenshot-case.png"))

    # The customer's timeline has the hand-off and the compensation.
    bob.goto(f"{base}/customers/{customer.id}/")
    timeline = bob.locator("#timeline-entries")
    expect(timeline).to_contain_text(f"{case.reference} handed to Bob Ng")
    expect(timeline).to_contain_text("Refund of 120.00 GBP granted")
    expect(bob.locator(".case-panel")).to_contain_text("120.00 GBP")

    # Every case page at 360 px: nothing wider than the screen, every control named.
    mo = page_for(base, "mo")
    mo.set_viewport_size({"width": 360, "height": 780})
    for name, path in (
        ("case", f"/cases/{case.reference}/"),
        ("queue", "/cases/?tab=all"),
        ("new-case", "/cases/new/"),
        ("approvals", "/cases/approvals/"),
        ("root-causes", "/cases/root-causes/"),
        ("settings", "/cases/settings/"),
        ("notifications", "/notifications/"),
        ("handoff", f"/cases/{case.reference}/handoff/"),
    ):
        mo.goto(base + path)
        mo.screenshot(path=str(SHOTS / f"{name}-360px.png"), full_page=True)
        assert mo.evaluate("document.documentElement.scrollWidth") <= 360, path
        assert mo.evaluate(UNNAMED_CONTROLS) == [], path
    for page in (alice, bob, lena, mo):
        assert page.console_errors == []  # no CSP violations, no script errors
