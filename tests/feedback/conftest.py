"""Feedback fixtures: a consenting customer managed by the agent, and an NPS survey."""

from __future__ import annotations

from typing import Any

import pytest

from rapport.customers import services as customers
from rapport.customers.models import Customer
from rapport.customers.services import CustomerInput
from rapport.feedback import services
from rapport.feedback.models import Survey
from rapport.people.models import Staff


def make_customer(
    name: str, manager: Staff | None, *, email: str | None = None, consent: bool = True, status: str = "active"
) -> Customer:
    data = CustomerInput(
        name=name,
        status=status,
        emails=[email or f"{name.split()[0].lower()}@example.com"],
        consent={"email": consent},
        account_manager=manager.username if manager else None,
    )
    return customers.create_customer(actor=None, data=data)


@pytest.fixture
def customer(agent: Staff) -> Customer:
    return make_customer("Jane Doe", agent)


@pytest.fixture
def nps(manager: Staff) -> Survey:
    return services.create_survey(actor=manager, name="Relationship NPS", kind="nps")


def invite_one(survey: Survey, customer: Customer, actor: Any = None) -> str:
    """The path of a fresh invitation for this customer."""
    result = services.invite(actor=actor, survey_id=survey.id, customer_ids=[customer.id])
    assert not result.refused, result.refused
    return result.invitations[0][1]


def form(survey: Survey, score: int | None, why: str = "", **extra: str) -> dict[str, Any]:
    version = survey.versions.order_by("-number").first()
    assert version is not None
    score_q, why_q = version.questions.order_by("position")[:2]
    body: dict[str, Any] = {f"q{why_q.id}": why, **extra}
    if score is not None:
        body[f"q{score_q.id}"] = str(score)
    return body
