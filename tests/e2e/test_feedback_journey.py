"""The feedback loop in a real browser: send a survey, answer it as a detractor on a phone,
the account manager sees the follow-up, records the outcome, and the loop is closed."""

from __future__ import annotations

from typing import Any

import pytest

from rapport.feedback.models import FollowUp, Response
from rapport.people.models import Staff
from tests.conftest import api_for
from tests.e2e.test_journey import CHROMIUM, SHOTS, UNNAMED_CONTROLS, browser, sign_in  # noqa: F401  (fixture)
from tests.feedback.conftest import make_customer

pytestmark = [
    pytest.mark.browser,
    pytest.mark.django_db(transaction=True),
    pytest.mark.skipif(not CHROMIUM.exists(), reason="needs Debian's Chromium at /usr/bin/chromium"),
]


def test_detractor_answer_on_a_phone_is_followed_up_and_closed(
    live_server: Any,
    browser: Any,  # noqa: F811  (the fixture imported above)
    agent: Staff,
    lead: Staff,
    manager: Staff,
) -> None:
    from playwright.sync_api import expect

    base = live_server.url
    customer = make_customer("Mina Harker", agent)
    # Care managers define surveys; team leads send them.
    survey = api_for(manager).post("/surveys", {"name": "Relationship NPS", "kind": "nps"}).json()
    api = api_for(lead)
    sent = api.post(f"/surveys/{survey['id']}/invitations", {"customers": [customer.id]}).json()
    url = sent["invitations"][0]["url"].replace("http://testserver", base)

    phone = browser.new_context(viewport={"width": 360, "height": 740}, is_mobile=True, has_touch=True)
    page = phone.new_page()
    page.set_default_timeout(10_000)
    errors: list[str] = []
    page.on("console", lambda msg: errors.append(msg.text) if msg.type == "error" else None)
    page.goto(url)
    expect(page.get_by_role("heading", level=1)).to_contain_text("Relationship NPS")
    assert page.evaluate(UNNAMED_CONTROLS) == []
    assert page.evaluate("document.documentElement.scrollWidth") <= 360
    page.get_by_role("button", name="Send my answer").click()  # nothing chosen: a clear message
    expect(page.get_by_role("alert")).to_contain_text("Please check the answer marked below")
    page.get_by_role("radio", name="3", exact=True).check()
    page.get_by_label("What is the main reason for your answer?").fill("Nobody called me back <b>twice</b>.")
    page.get_by_role("button", name="Send my answer").click()
    expect(page.get_by_role("heading", name="Thank you")).to_be_visible()
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SHOTS / "survey-thanks-360.png"), full_page=True)
    # The 422 for the empty form is reported as a failed load; anything else is a real error (CSP, JS).
    assert [e for e in errors if "status of 422" not in e] == []
    phone.close()
    assert Response.objects.get().score == 3

    desk = browser.new_context(viewport={"width": 1280, "height": 900})
    page = desk.new_page()
    page.set_default_timeout(10_000)
    sign_in(page, base, agent.username)
    page.goto(f"{base}/feedback/follow-ups/")
    card = page.locator(".follow-up").first
    expect(card).to_contain_text("Mina Harker")
    expect(card).to_contain_text("Detractor: NPS 3")
    expect(card).to_contain_text("Nobody called me back <b>twice</b>.")  # shown as text, not markup
    card.get_by_label("Outcome").fill("Called Mina, apologised, booked the engineer for Monday.")
    card.get_by_role("button", name="Record outcome and close").click()
    expect(page.get_by_role("status")).to_contain_text("the loop is closed")
    expect(page.get_by_text("No open follow-ups.")).to_be_visible()
    desk.close()
    fu = FollowUp.objects.get()
    assert fu.closed_at is not None and fu.closed_by_id == agent.id and "engineer" in fu.outcome
