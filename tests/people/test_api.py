"""Staff, roles and authority through the API: who may do what."""

from __future__ import annotations

import pytest

from rapport.core.models import AuditEntry
from rapport.people.models import ApiToken, RoleAuthority, Staff
from rapport.people.services import issue_token
from tests.conftest import ApiClient

pytestmark = pytest.mark.django_db


def test_roles_carry_compensation_limits(agent_api: ApiClient) -> None:
    roles = {r["role"]: r for r in agent_api.get("/roles").json()}
    assert list(roles) == ["agent", "lead", "manager", "admin"]
    assert roles["agent"]["max_compensation"] == {"amount": "50.00", "currency": "GBP"}
    assert roles["admin"]["max_compensation"]["amount"] == "5000.00"


def test_only_admins_change_authority(agent_api: ApiClient, admin_api: ApiClient, admin: Staff) -> None:
    body = {"max_compensation": {"amount": "75.50", "currency": "eur"}}
    assert agent_api.patch("/roles/agent", body).status_code == 403
    response = admin_api.patch("/roles/agent", body)
    assert response.status_code == 200, response.content
    assert response.json()["max_compensation"] == {"amount": "75.50", "currency": "EUR"}
    authority = RoleAuthority.objects.get(role="agent")
    assert str(authority.max_compensation) == "75.50 EUR"
    assert AuditEntry.objects.filter(action="role.authority_changed", actor=admin).exists()


@pytest.mark.parametrize(
    ("amount", "currency"),
    [("-1", "GBP"), ("10.001", "GBP"), ("10.5", "JPY"), ("10", "XXQ"), ("lots", "GBP")],
)
def test_bad_authority_amounts_are_refused(admin_api: ApiClient, amount: str, currency: str) -> None:
    response = admin_api.patch("/roles/agent", {"max_compensation": {"amount": amount, "currency": currency}})
    assert response.status_code == 422, response.content
    assert RoleAuthority.objects.get(role="agent").max_compensation_amount == 50


def test_unknown_role_is_named(admin_api: ApiClient) -> None:
    response = admin_api.patch("/roles/boss", {"max_compensation": {"amount": "1", "currency": "GBP"}})
    assert response.status_code == 422
    assert "role" in response.json()["errors"]


def test_agents_cannot_administer_staff(agent_api: ApiClient) -> None:
    response = agent_api.post("/staff", {"username": "eve", "role": "admin", "password": "a-long-enough-pass-1"})
    assert response.status_code == 403
    assert not Staff.objects.filter(username="eve").exists()


def test_managers_add_staff_but_not_admins(manager: Staff) -> None:
    from tests.conftest import api_for

    api = api_for(manager)
    ok = api.post("/staff", {"username": "nia", "role": "agent", "team": "Returns", "password": "a-long-enough-pass-1"})
    assert ok.status_code == 201, ok.content
    assert ok.json()["team"] == "Returns"
    assert api.post("/staff", {"username": "root2", "role": "admin"}).status_code == 403
    weak = api.post("/staff", {"username": "weak", "role": "agent", "password": "123"})
    assert weak.status_code == 422 and "password" in weak.json()["errors"]
    taken = api.post("/staff", {"username": "nia", "role": "agent"})
    assert taken.status_code == 409


def test_tokens_are_stored_hashed(agent: Staff) -> None:
    raw = issue_token(actor=None, staff=agent)
    token = ApiToken.objects.get(staff=agent)
    assert raw not in (token.digest, token.prefix)
    assert len(token.digest) == 64
    assert ApiClient(raw).get("/customers").status_code == 200
    token.revoked_at = token.created_at
    token.save()
    assert ApiClient(raw).get("/customers").status_code == 401
