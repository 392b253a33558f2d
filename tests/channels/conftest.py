"""Channels fixtures: an email channel with its inbound token, and a small email builder."""

from __future__ import annotations

from email.message import EmailMessage
from email.utils import make_msgid
from typing import Any

import pytest
from django.test import Client

from rapport.cases import services as cases
from rapport.channels import inbound, services
from rapport.channels.models import Channel
from rapport.core.models import Calendar
from rapport.people.models import Staff
from tests.cases.conftest import ALWAYS_OPEN

CARE = "care@example.com"


@pytest.fixture
def channel(admin: Staff) -> tuple[Channel, str]:
    return services.create_channel(actor=admin, kind="email", name="Care", address=CARE)


@pytest.fixture
def policy(manager: Staff) -> None:
    calendar: Calendar = cases.create_calendar(
        actor=manager, name="24/7", timezone_name="UTC", weekly_hours=ALWAYS_OPEN
    )
    cases.create_sla_policy(
        actor=manager,
        name="All",
        calendar_id=calendar.id,
        first_response_minutes=240,
        next_response_minutes=240,
        resolution_minutes=2400,
    )


def email(
    sender: str = "Jane Doe <jane@example.org>",
    subject: str = "My order is late",
    body: str = "Where is my parcel?\n",
    to: str = CARE,
    **headers: str,
) -> EmailMessage:
    msg = EmailMessage()
    msg["From"] = sender
    msg["To"] = to
    msg["Subject"] = subject
    msg["Message-ID"] = make_msgid(domain="example.org")
    for name, value in headers.items():
        msg[name.replace("_", "-")] = value
    msg.set_content(body)
    return msg


def post_email(token: str, raw: bytes | EmailMessage, content_type: str = "message/rfc822") -> Any:
    data = raw.as_bytes() if isinstance(raw, EmailMessage) else raw
    return Client().post(
        "/api/v1/inbound/email", data=data, content_type=content_type, headers={"Authorization": f"Bearer {token}"}
    )


def deliver(token: str, raw: bytes | EmailMessage) -> dict[str, Any]:
    """Through the door, then the worker's step, then the outcome as the provider reads it."""
    response = post_email(token, raw)
    assert response.status_code == 202, response.content
    inbound.drain()
    outcome = Client().get(response.json()["url"], headers={"Authorization": f"Bearer {token}"})
    assert outcome.status_code == 200, outcome.content
    return outcome.json() | {"duplicate": response.json()["duplicate"]}
