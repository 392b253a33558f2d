"""The customer page's value panel and the value page: content, permissions, query counts."""

from __future__ import annotations

import json
import re
from typing import Any

import pytest
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext

from rapport.customers.models import Customer
from rapport.people.models import Staff
from rapport.value import services
from rapport.value.models import CustomerValue
from tests.conftest import api_for
from tests.value.conftest import put_json
from tests.value.test_segments import TIERS

pytestmark = pytest.mark.django_db


def signed_in(staff: Staff) -> Client:
    client = Client()
    client.force_login(staff)
    return client


def json_block(html: str, element_id: str) -> Any:
    match = re.search(rf'<script id="{element_id}" type="application/json">(.*?)</script>', html, re.S)
    assert match, f"no {element_id} block"
    return json.loads(match.group(1))


def count_queries(client: Client, path: str) -> int:
    with CaptureQueriesContext(connection) as captured:
        assert client.get(path).status_code == 200
    return len(captured)


def test_customer_page_shows_the_value_panel_and_chart(valued: Staff, lead: Staff, admin: Staff) -> None:
    put_json(api_for(admin), "/value/tiers", TIERS)
    customer = Customer.objects.get(id=CustomerValue.objects.order_by("-clv").first().customer_id)  # type: ignore[union-attr]
    client = signed_in(lead)
    html = client.get(f"/customers/{customer.id}/").content.decode()
    assert "Platinum tier" in html and "Lifetime value (CLV)" in html and "P(alive)" in html
    assert "Cost to serve" in html and "Profitability to date" in html
    assert "value-history-chart" not in html  # one snapshot is not a line yet
    services.snapshot_values(actor=valued, horizon_days=180)  # a second snapshot, same as_of: replaced
    before = count_queries(client, f"/customers/{customer.id}/")
    CustomerValue.objects.filter(customer=customer).update(as_of="2025-06-30")
    services.snapshot_values(actor=valued)
    html = client.get(f"/customers/{customer.id}/").content.decode()
    chart = json_block(html, "value-history-data")
    assert chart["labels"] == ["2025-06-30", "2025-12-31"] and len(chart["clv"]) == 2
    assert 'src="/static/value/value.js"' in html and "<script>" not in html and "style=" not in html
    assert count_queries(client, f"/customers/{customer.id}/") == before  # snapshots do not add queries
    put_json(api_for(lead), f"/customers/{customer.id}/tier", {"tier": "gold", "reason": "Asked to be left alone"})
    html = client.get(f"/customers/{customer.id}/").content.decode()
    assert "Gold tier (set by hand)" in html and "Tier set by hand: Asked to be left alone" in html


def test_value_page_for_leads_with_charts_and_lists(
    valued: Staff, agent: Staff, lead: Staff, admin: Staff, django_assert_max_num_queries: Any
) -> None:
    assert signed_in(agent).get("/value/").status_code == 403
    empty_rules = signed_in(lead).get("/value/").content.decode()
    assert "No top tiers are set" in empty_rules
    put_json(api_for(admin), "/value/tiers", TIERS)
    client = signed_in(lead)
    with django_assert_max_num_queries(14):
        response = client.get("/value/")
    html = response.content.decode()
    assert response.status_code == 200
    page = json_block(html, "value-page-data")
    assert "Champions" in page["segments"] or "Loyal" in page["segments"]
    assert set(page["tiers"]) == {"platinum", "gold", "standard"}
    histogram = json_block(html, "value-clv-data")
    assert sum(histogram["counts"]) == 150 and len(histogram["counts"]) == 20
    assert "8 customers in platinum, gold" not in html and "30 customers in platinum, gold" in html
    assert html.index("· platinum</span>") < html.index("· gold</span>")  # the top tier first
    assert "0.00</td>" in html  # cost to serve, in cents
    assert "per platinum customer" in html and "bgnbd" not in html and "BG/NBD" in html
    managed = Customer.objects.filter(care_tier="platinum")
    managed.update(account_manager=lead)
    assert "22 customers in platinum, gold" in client.get("/value/").content.decode()


def test_value_page_before_any_snapshot(lead: Staff) -> None:
    html = signed_in(lead).get("/value/").content.decode()
    assert "No value snapshot yet" in html and "No fits yet" in html
