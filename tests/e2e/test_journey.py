"""The main staff journey in a real browser (Debian's Chromium driven by Playwright).

Screenshots land in ``artifacts/screenshots/`` (git-ignored). With ``RAPPORT_DOCS_SCREENSHOT=1``
the README screenshot ``docs/screenshot-customer-360.png`` is refreshed too.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from django.utils import timezone

from rapport.customers import services
from rapport.customers.models import ContactPoint
from rapport.customers.services import CustomerInput
from rapport.people.models import Role, Staff
from tests.conftest import PASSWORD, make_staff

CHROMIUM = Path("/usr/bin/chromium")
ROOT = Path(__file__).resolve().parents[2]
SHOTS = ROOT / "artifacts" / "screenshots"

# Form controls and buttons a screen reader could not name (no label, aria-label or text).
UNNAMED_CONTROLS = """
[...document.querySelectorAll('input:not([type=hidden]), select, textarea, button')]
  .filter(el => !(el.labels && el.labels.length) && !el.getAttribute('aria-label')
                && !el.getAttribute('aria-labelledby') && !el.textContent.trim())
  .map(el => el.outerHTML)
"""

pytestmark = [
    pytest.mark.browser,
    pytest.mark.django_db(transaction=True),
    pytest.mark.skipif(
        not CHROMIUM.exists(), reason="needs Debian's Chromium at /usr/bin/chromium (apt-get install chromium)"
    ),
]


@pytest.fixture
def browser(monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    from playwright.sync_api import sync_playwright

    # Playwright's sync API keeps an event loop on this thread; Django's ORM calls in the test
    # body are still plain synchronous calls, so its async-safety guard does not apply.
    monkeypatch.setenv("DJANGO_ALLOW_ASYNC_UNSAFE", "true")

    with sync_playwright() as p:
        browser = p.chromium.launch(
            executable_path=str(CHROMIUM), args=["--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage"]
        )
        yield browser
        browser.close()


@pytest.fixture
def page(browser: Any) -> Iterator[Any]:
    context = browser.new_context(viewport={"width": 1280, "height": 900}, locale="en-GB", timezone_id="Europe/London")
    page = context.new_page()
    page.set_default_timeout(10_000)
    errors: list[str] = []
    page.on("console", lambda msg: errors.append(msg.text) if msg.type == "error" else None)
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    page.console_errors = errors
    yield page
    context.close()


def sign_in(page: Any, base: str, username: str) -> None:
    page.goto(f"{base}/login/")
    page.get_by_label("Username").fill(username)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url(f"{base}/")


def test_agent_creates_a_customer_logs_a_call_and_finds_them(live_server: Any, page: Any, agent: Staff) -> None:
    from playwright.sync_api import expect

    base = live_server.url
    sign_in(page, base, agent.username)
    expect(page.get_by_role("heading", name="My customers")).to_be_visible()

    page.get_by_role("link", name="New customer").click()
    page.get_by_label("Name").fill("Wilhelmina Murray")
    page.get_by_label("Status").select_option("active")
    page.get_by_label("Emails").fill("mina@whitby.example")
    page.get_by_label("Phones").fill("020 7946 0321")
    page.get_by_label("Tags").fill("vip, newsletter")
    page.get_by_label("Email", exact=True).check()
    page.get_by_role("button", name="Create customer").click()

    expect(page.get_by_role("heading", level=1)).to_contain_text("Wilhelmina Murray")
    url = page.url
    assert "/customers/" in url

    form = page.locator("#log-form")
    form.get_by_label("Channel").select_option("phone")
    form.get_by_label("Direction").select_option("in")
    form.get_by_label("Duration (minutes)").fill("6")
    form.get_by_label("Summary").fill("Asked when the replacement kettle will arrive")
    form.get_by_label("Notes").fill("Promised a call back by Friday.")
    form.get_by_role("button", name="Log contact").click()

    entry = page.locator("#timeline-entries .timeline__entry").first
    expect(entry).to_contain_text("Asked when the replacement kettle will arrive")
    expect(entry).to_contain_text("6 min")
    assert page.url == url  # htmx: the entry arrived without leaving the page
    expect(page.locator("#log-form").get_by_label("Summary")).to_have_value("")  # a fresh form
    form = page.locator("#log-form")
    form.get_by_label("Channel").select_option("email")
    form.get_by_label("Summary").fill("Sent the tracking link")
    form.get_by_role("button", name="Log contact").click()
    expect(page.locator("#timeline-entries .timeline__entry").first).to_contain_text("Sent the tracking link")
    expect(page.locator("#timeline-entries .timeline__entry")).to_have_count(2)
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SHOTS / "customer-360.png"), full_page=True)

    search = page.get_by_role("searchbox", name="Search customers and contacts")
    search.press_sequentially("wilhel", delay=30)
    result = page.locator("#search-live").get_by_role("link", name="Wilhelmina Murray")
    expect(result).to_be_visible()
    page.screenshot(path=str(SHOTS / "live-search.png"))
    page.keyboard.press("Escape")
    expect(result).to_have_count(0)

    # The same page at 360 px: nothing wider than the screen.
    page.set_viewport_size({"width": 360, "height": 780})
    page.goto(url)
    expect(page.get_by_role("heading", level=1)).to_contain_text("Wilhelmina Murray")
    assert page.evaluate("document.documentElement.scrollWidth") <= 360
    page.screenshot(path=str(SHOTS / "customer-360-360px.png"), full_page=True)
    for name, path in (
        ("home", "/"),
        ("customers", "/customers/"),
        ("new-customer", "/customers/new/"),
        ("edit-customer", f"{url.removeprefix(base)}edit/"),
        ("search", "/search?q=wil"),
    ):
        page.goto(base + path)
        page.screenshot(path=str(SHOTS / f"{name}-360px.png"), full_page=True)
        assert page.evaluate("document.documentElement.scrollWidth") <= 360, path
        assert page.evaluate(UNNAMED_CONTROLS) == [], path

    assert page.console_errors == []  # no CSP violations, no script errors


def test_timeline_loads_older_contacts_on_scroll(live_server: Any, page: Any, agent: Staff) -> None:
    from playwright.sync_api import expect

    customer = services.create_customer(actor=agent, data=CustomerInput(name="Long Story"))
    now = timezone.now()
    for i in range(45):
        services.log_interaction(
            actor=agent,
            customer_id=customer.id,
            channel="email",
            direction="in",
            summary=f"Letter {i:02d}",
            occurred_at=now - timedelta(hours=i),
        )
    sign_in(page, live_server.url, agent.username)
    page.goto(f"{live_server.url}/customers/{customer.id}/")
    entries = page.locator("#timeline-entries .timeline__entry")
    expect(entries).to_have_count(20)
    page.locator(".timeline__more").scroll_into_view_if_needed()
    expect(entries).to_have_count(40)
    page.locator(".timeline__more").scroll_into_view_if_needed()
    expect(entries).to_have_count(45)
    expect(entries.last).to_contain_text("Letter 44")
    assert page.console_errors == []


def _demo_customer(agent: Staff, lead: Staff) -> int:
    customer = services.create_customer(
        actor=agent,
        data=CustomerInput(
            name="Harriet Vane",
            status="active",
            emails=["harriet.vane@example.com", "h.vane@oxford.example"],
            phones=["020 7946 0412", "07912 345678"],
            account_manager=agent.username,
            preferred_channel="email",
            language="en",
            timezone="Europe/London",
            tags=["author", "gold tier", "newsletter"],
            consent={"email": True, "phone": True, "post": False, "marketing": False},
            notes="Writes in the mornings; prefers email before 11:00. Long-standing customer since 2019.",
        ),
    )
    ContactPoint.objects.filter(value="h.vane@oxford.example").update(bouncing=True)
    now = timezone.now()
    contacts = [
        (lead, "email", "out", 3 * 24 * 60, None, "Sent the revised delivery schedule", ""),
        (
            agent,
            "phone",
            "in",
            2 * 24 * 60,
            9,
            "Replacement printer arrived damaged",
            "Photos requested; courier claim opened.",
        ),
        (agent, "email", "in", 2 * 24 * 60 - 50, None, "Photos of the damaged printer", ""),
        (
            lead,
            "phone",
            "out",
            24 * 60,
            4,
            "Apologised and offered a next-day replacement",
            "Accepted; delivery Thursday AM.",
        ),
        (
            agent,
            "meeting",
            "in",
            5 * 60,
            30,
            "Quarterly review at the Oxford office",
            "Happy with support; wants paper refills.",
        ),
        (agent, "phone", "in", 35, 6, "Confirmed the replacement works perfectly", ""),
    ]
    for staff, channel, direction, minutes_ago, minutes, summary, body in contacts:
        services.log_interaction(
            actor=staff,
            customer_id=customer.id,
            channel=channel,
            direction=direction,
            summary=summary,
            body=body,
            occurred_at=now - timedelta(minutes=minutes_ago),
            duration_seconds=minutes * 60 if minutes else None,
        )
    services.update_customer(
        actor=lead,
        customer_id=customer.id,
        data=CustomerInput(status="active", tags=["author", "gold tier", "newsletter"]),
    )
    return customer.id


def test_readme_screenshot_of_the_customer_360(live_server: Any, page: Any, agent: Staff) -> None:
    from playwright.sync_api import expect

    agent.first_name, agent.last_name = "Alice", "Moreau"
    agent.save()
    lead = make_staff("lena", Role.LEAD, team="Front line")
    lead.first_name, lead.last_name = "Lena", "Okafor"
    lead.save()
    customer_id = _demo_customer(agent, lead)
    sign_in(page, live_server.url, lead.username)
    page.set_viewport_size({"width": 1280, "height": 1000})
    page.goto(f"{live_server.url}/customers/{customer_id}/")
    expect(page.get_by_role("heading", name="Audit trail")).to_be_visible()
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SHOTS / "customer-360-demo.png"), full_page=True)
    if os.environ.get("RAPPORT_DOCS_SCREENSHOT") == "1":
        page.screenshot(path=str(ROOT / "docs" / "screenshot-customer-360.png"))
    assert page.console_errors == []
