"""Fixtures for the value tests: a care manager's API client and a CSV poster."""

from __future__ import annotations

import json
from datetime import date
from typing import Any

import pytest

from rapport.people.models import Staff
from tests.conftest import ApiClient, api_for


@pytest.fixture
def manager_api(manager: Staff) -> ApiClient:
    return api_for(manager)


def post_csv(api: ApiClient, text: str, **query: Any) -> Any:
    """POST a CSV body to the order import, the way a user's script does."""
    params = "&".join(f"{k}={str(v).lower()}" for k, v in query.items())
    return api.client.post(
        f"/api/v1/orders/import?{params}", data=text.encode(), content_type="text/csv", headers=api.headers
    )


def put_json(api: ApiClient, path: str, body: Any) -> Any:
    """PUT a JSON body (the shared client has no put)."""
    return api.client.put(f"/api/v1{path}", data=json.dumps(body), content_type="application/json", headers=api.headers)


@pytest.fixture
def valued(manager: Staff, lead: Staff) -> Staff:
    """150 synthetic customers with orders, both fits in force and one snapshot; returns the manager."""
    from rapport.value import services
    from tests.value.test_orders import synthetic_orders

    api_for(lead).post("/orders/bulk", {"orders": synthetic_orders(), "create_missing_customers": True})
    for model in ("bgnbd", "gammagamma"):
        services.run_fit(actor=manager, model=model, calibration_end=date(2025, 12, 31))
    services.snapshot_values(actor=manager)
    return manager
