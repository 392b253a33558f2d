"""Survey invitations from feedback go out through channels' outbox (wired in rapport.wiring):
invite by API, the email reaches a real SMTP sink on loopback with the survey link."""

from __future__ import annotations

from email import message_from_bytes, policy

import pytest
from django.test import Client, override_settings

from rapport.channels import outbound, services
from rapport.channels.models import Channel, OutboundMessage
from rapport.customers.services import CustomerInput, create_customer
from rapport.feedback import services as feedback
from rapport.feedback.models import Invitation
from rapport.people.models import Staff
from tests.channels.smtp_helpers import Capture, mailers_for, sink
from tests.conftest import api_for

pytestmark = pytest.mark.django_db


def test_an_invitation_is_emailed_with_its_link_and_answerable(
    channel: tuple[Channel, str], manager: Staff, lead: Staff, settings: object
) -> None:
    settings.RAPPORT_SITE_URL = "https://care.example.com"  # type: ignore[attr-defined]
    customer = create_customer(
        actor=None,
        data=CustomerInput(name="Mina Harker", emails=["mina@example.org"], consent={"email": True}, language="en"),
    )
    survey = feedback.create_survey(actor=manager, name="How did we do?", kind="nps")
    answer = api_for(lead).post(f"/surveys/{survey.id}/invitations", {"customers": [customer.id]})
    assert answer.status_code == 201, answer.content
    assert answer.json()["invitations"][0]["status"] == "sent"  # taken by the email sender, not listed
    row = OutboundMessage.objects.get(kind="survey_invitation")
    assert row.automatic and row.case is None and row.to == "mina@example.org"

    handler = Capture()
    server = sink(handler)
    server.start()
    try:
        with override_settings(MAILERS=mailers_for(server)):
            assert outbound.send_outbox() == {"sent": 1}
    finally:
        server.stop()
    ((recipients, raw),) = handler.messages
    sent = message_from_bytes(raw, policy=policy.default)
    assert recipients == ["mina@example.org"] and sent["Auto-Submitted"] == "auto-generated"
    assert sent["Subject"] == "How did we do?"
    body = sent.get_content()
    assert "Hello Mina Harker" in body
    link = next(word for word in body.split() if word.startswith("https://care.example.com/s/"))
    page = Client().get(link.removeprefix("https://care.example.com"))
    assert page.status_code == 200 and b"How did we do?" in page.content
    assert Invitation.objects.get().status == "sent"


def test_without_an_email_channel_or_over_the_automatic_mail_limit_the_invitation_stays_listed(
    manager: Staff, lead: Staff, admin: Staff
) -> None:
    jane = create_customer(
        actor=None, data=CustomerInput(name="Jane Doe", emails=["jane@example.org"], consent={"email": True})
    )
    survey = feedback.create_survey(actor=manager, name="NPS", kind="nps")
    first = feedback.invite(actor=lead, survey_id=survey.id, customer_ids=[jane.id])
    assert [inv.status for inv, _ in first.invitations] == ["listed"] and not OutboundMessage.objects.exists()

    services.create_channel(actor=admin, kind="email", name="Care", address="care@example.com")
    bob = create_customer(
        actor=None, data=CustomerInput(name="Bob Stone", emails=["bob@example.org"], consent={"email": True})
    )
    for i in range(outbound.MAX_AUTOMATIC_PER_ADDRESS_HOUR):  # an auto-responder loop, say
        outbound.queue(case=None, to="bob@example.org", subject=f"Auto {i}", body="-", kind="x", automatic=True)
    second = feedback.invite(actor=lead, survey_id=survey.id, customer_ids=[bob.id])
    assert [inv.status for inv, _ in second.invitations] == ["listed"]
    assert not OutboundMessage.objects.filter(kind="survey_invitation").exists()
