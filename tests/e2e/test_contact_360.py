"""The public contact form on a 360 px phone: nothing scrolls sideways, every control is
named, and it works with JavaScript switched off (a plain form post)."""

from __future__ import annotations

from typing import Any

import pytest

from rapport.cases.models import Case
from rapport.channels import forms
from tests.e2e.test_journey import CHROMIUM, SHOTS, UNNAMED_CONTROLS, browser  # noqa: F401  (fixture)

pytestmark = [
    pytest.mark.browser,
    pytest.mark.django_db(transaction=True),
    pytest.mark.skipif(not CHROMIUM.exists(), reason="needs Debian's Chromium at /usr/bin/chromium"),
]

PHONE = {"viewport": {"width": 360, "height": 740}, "is_mobile": True, "has_touch": True}


def test_contact_form_at_360_px_without_javascript(
    live_server: Any,
    browser: Any,  # noqa: F811  (the fixture imported above)
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from playwright.sync_api import expect

    monkeypatch.setattr(forms, "MIN_FILL_SECONDS", 0)  # the spam check's minimum fill time
    url = f"{live_server.url}/contact"

    # Layout and labels, measured with JavaScript on (the measuring needs it).
    measuring = browser.new_context(**PHONE)
    page = measuring.new_page()
    page.goto(url)
    assert page.evaluate("document.documentElement.scrollWidth") <= 360
    assert page.evaluate(UNNAMED_CONTROLS) == []
    for label in ("Your name", "Your email address", "What is it about?", "Your message"):
        expect(page.get_by_label(label)).to_be_visible()
    measuring.close()

    # The customer's visit, with JavaScript off: a plain form post.
    phone = browser.new_context(java_script_enabled=False, **PHONE)
    page = phone.new_page()
    page.set_default_timeout(10_000)
    page.goto(url)
    page.get_by_role("button", name="Send").click()  # empty: the errors come back, named
    expect(page.get_by_role("alert").first).to_contain_text("Please correct the fields marked below")
    page.get_by_label("Your name").fill("Mina Harker")
    page.get_by_label("Your email address").fill("mina@example.org")
    page.get_by_label("What is it about?").select_option("question")
    page.get_by_label("Your message").fill("When does the Whitby shop open?\nThanks")
    page.get_by_role("button", name="Send").click()
    case = Case.objects.get()
    expect(page.locator("body")).to_contain_text(case.reference)
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SHOTS / "contact-done-360.png"), full_page=True)
    phone.close()
    assert case.channel == "web" and case.customer.name == "Mina Harker"
