"""Fixtures for the value tests: a care manager's API client and a CSV poster."""

from __future__ import annotations

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
