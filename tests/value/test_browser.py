"""The value charts in a real browser: drawn under the CSP, with no console errors."""

from __future__ import annotations

from typing import Any

import pytest

from rapport.people.models import Staff
from rapport.value import services
from rapport.value.models import CustomerValue
from tests.conftest import api_for
from tests.e2e.test_journey import CHROMIUM, SHOTS, browser, sign_in  # noqa: F401  (fixture)
from tests.value.conftest import put_json
from tests.value.test_segments import TIERS

pytestmark = [
    pytest.mark.browser,
    pytest.mark.django_db(transaction=True),
    pytest.mark.skipif(not CHROMIUM.exists(), reason="needs Debian's Chromium at /usr/bin/chromium"),
]

DRAWN = "id => !!(window.Chart && window.Chart.getChart(document.getElementById(id)))"


def test_value_page_and_panel_draw_their_charts(
    live_server: Any,
    browser: Any,  # noqa: F811  (the fixture imported above)
    valued: Staff,
    lead: Staff,
    admin: Staff,
) -> None:
    put_json(api_for(admin), "/value/tiers", TIERS)
    best = CustomerValue.objects.order_by("-clv").first()
    assert best is not None
    CustomerValue.objects.filter(customer_id=best.customer_id).update(as_of="2025-06-30")
    services.snapshot_values(actor=valued)  # a second point on the customer's value chart

    page = browser.new_context(viewport={"width": 1280, "height": 900}).new_page()
    page.set_default_timeout(10_000)
    errors: list[str] = []
    page.on("console", lambda msg: errors.append(msg.text) if msg.type == "error" else None)
    sign_in(page, live_server.url, lead.username)
    page.goto(f"{live_server.url}/value/")
    page.wait_for_load_state("load")
    for chart in ("value-segments-chart", "value-tiers-chart", "value-clv-chart"):
        assert page.evaluate(DRAWN, chart), chart
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SHOTS / "value-page.png"), full_page=True)
    page.goto(f"{live_server.url}/customers/{best.customer_id}/")
    page.wait_for_load_state("load")
    assert page.evaluate(DRAWN, "value-history-chart")
    page.locator(".value-panel").screenshot(path=str(SHOTS / "value-panel.png"))
    assert errors == []
