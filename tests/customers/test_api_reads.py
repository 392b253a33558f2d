"""The hot read paths of the customers API: an email lookup and a timeline page answer in a
fixed, small number of queries (every request's floor), and stay correct at the edges."""

from __future__ import annotations

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from rapport.customers.services import CustomerInput, create_customer
from tests.conftest import ApiClient

pytestmark = pytest.mark.django_db


def queries_of(api: ApiClient, path: str, **query: object) -> tuple[dict, list[str]]:
    api.get(path, **query)  # the token's once-a-minute stamp is not part of the answer's cost
    with CaptureQueriesContext(connection) as captured:
        response = api.get(path, **query)
    assert response.status_code == 200, response.content
    return response.json(), [q["sql"] for q in captured.captured_queries]


def test_an_email_with_digits_is_not_also_searched_as_a_phone_number(agent_api: ApiClient) -> None:
    jane = create_customer(
        actor=None, data=CustomerInput(name="Jane Smith", emails=["jane1977@example.com"], phones=["+442079460018"])
    )
    body, sql = queries_of(agent_api, "/customers", q="jane1977@example.com")
    assert [c["id"] for c in body["items"]] == [jane.id]
    searches = [s for s in sql if s.startswith('SELECT "customers_contactpoint"."customer_id"')]
    assert len(searches) == 1  # the email index only
    assert len(sql) <= 7  # token, email match, survivors, page, customers, contact points, tags


def test_a_timeline_page_reads_no_customer_card(agent_api: ApiClient) -> None:
    jane = create_customer(actor=None, data=CustomerInput(name="Jane Smith", emails=["jane@example.com"]))
    agent_api.post(f"/customers/{jane.id}/interactions", {"channel": "phone", "direction": "in", "summary": "Call"})
    body, sql = queries_of(agent_api, f"/customers/{jane.id}/timeline")
    assert [i["summary"] for i in body["items"]] == ["Call"]
    assert not any("customers_customer_tags" in s or '"customers_contactpoint"' in s for s in sql)
    assert len(sql) <= 3  # token, the customer's survivor, the page


def test_the_timeline_of_an_unknown_customer_is_404(agent_api: ApiClient) -> None:
    response = agent_api.get("/customers/987654/timeline")
    assert response.status_code == 404 and response["Content-Type"] == "application/problem+json"
