"""Fixtures shared by every test: staff of each role, API clients with real tokens."""

from __future__ import annotations

import json
from typing import Any

import pytest
from django.test import Client

from rapport.cases import opening_terms, sla
from rapport.channels import webhooks
from rapport.people import services as people
from rapport.people.models import Role, Staff

PASSWORD = "correct-horse-battery-staple"


def make_staff(username: str, role: str = Role.AGENT, team: str | None = None) -> Staff:
    return people.create_staff(
        actor=None, username=username, role=role, password=PASSWORD, team=team, email=f"{username}@example.com"
    )


@pytest.fixture(autouse=True)
def _fresh_worker_memory() -> None:
    """Each test starts like a new worker process: what a worker keeps between requests (the
    sweeps it scheduled, the terms of opening a case, webhook subscriptions) must not outlive a rolled-back test."""
    sla.forget_sweeps()
    opening_terms.forget()
    webhooks.forget_subscriptions()


@pytest.fixture
def agent(db: Any) -> Staff:
    return make_staff("alice", Role.AGENT, team="Front line")


@pytest.fixture
def lead(db: Any) -> Staff:
    return make_staff("lena", Role.LEAD, team="Front line")


@pytest.fixture
def manager(db: Any) -> Staff:
    return make_staff("mo", Role.MANAGER)


@pytest.fixture
def admin(db: Any) -> Staff:
    return make_staff("ada", Role.ADMIN)


class ApiClient:
    """The Django test client speaking JSON with a bearer token, through the full stack."""

    def __init__(self, token: str | None) -> None:
        self.client = Client()
        self.headers = {"Authorization": f"Bearer {token}"} if token else {}

    def _call(
        self, method: str, path: str, body: Any = None, headers: dict[str, str] | None = None, **query: Any
    ) -> Any:
        kwargs: dict[str, Any] = {"headers": {**self.headers, **(headers or {})}}
        if body is not None:
            kwargs["data"] = json.dumps(body)
            kwargs["content_type"] = "application/json"
        elif query:
            kwargs["data"] = query
        return getattr(self.client, method)(f"/api/v1{path}", **kwargs)

    def get(self, path: str, **query: Any) -> Any:
        return self._call("get", path, **query)

    def post(self, path: str, body: Any = None, headers: dict[str, str] | None = None) -> Any:
        return self._call("post", path, body if body is not None else {}, headers)

    def patch(self, path: str, body: Any, headers: dict[str, str] | None = None) -> Any:
        return self._call("patch", path, body, headers)


def api_for(staff: Staff | None) -> ApiClient:
    return ApiClient(people.issue_token(actor=None, staff=staff) if staff else None)


@pytest.fixture
def agent_api(agent: Staff) -> ApiClient:
    return api_for(agent)


@pytest.fixture
def lead_api(lead: Staff) -> ApiClient:
    return api_for(lead)


@pytest.fixture
def admin_api(admin: Staff) -> ApiClient:
    return api_for(admin)
