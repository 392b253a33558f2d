"""The whole conversation over real SMTP on loopback: a customer writes to `rapport smtpd`,
the agent's reply reaches a sink with threading headers, the customer's answer to it lands
on the same case."""

from __future__ import annotations

import smtplib
from collections.abc import Iterator
from email import message_from_bytes, policy
from email.message import EmailMessage

import pytest
from aiosmtpd.controller import Controller
from django.test import override_settings

from rapport.cases import services as cases
from rapport.cases.models import Case, CaseMessage
from rapport.channels import inbound, outbound
from rapport.channels.models import Channel, OutboundMessage
from rapport.channels.smtpd import controller
from rapport.people.models import Staff
from tests.channels.conftest import CARE, email
from tests.channels.smtp_helpers import Capture, free_port, mailers_for, sink

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def listener(channel: tuple[Channel, str]) -> Iterator[Controller]:
    server = controller("127.0.0.1", free_port())
    server.start()
    yield server
    server.stop()


@pytest.fixture
def capture() -> Iterator[tuple[Controller, Capture]]:
    handler = Capture()
    server = sink(handler)
    server.start()
    yield server, handler
    server.stop()


def send(server: Controller, msg: EmailMessage, to: str = CARE) -> None:
    with smtplib.SMTP(server.hostname, server.port, timeout=10) as client:
        client.send_message(msg, to_addrs=[to])


def deliver_outbox() -> None:
    for row_id in OutboundMessage.objects.filter(status="queued").values_list("id", flat=True):
        outbound.send(row_id)


def test_real_smtp_conversation(listener: Controller, capture: tuple[Controller, Capture], agent: Staff) -> None:
    first = email(subject="Broken kettle", body="It stopped working.\n")
    send(listener, first)
    inbound.drain()  # the worker's step
    case = Case.objects.get()
    assert case.subject == "Broken kettle" and case.channel == "email"

    cases.claim_case(actor=agent, case_id=case.id)
    cases.add_message(actor=agent, case_id=case.id, kind="public", body="Sorry! Is the light on?")
    with override_settings(MAILERS=mailers_for(capture[0])):
        deliver_outbox()
    assert set(OutboundMessage.objects.values_list("status", flat=True)) == {"sent"}
    replies = [message_from_bytes(raw, policy=policy.default) for _, raw in capture[1].messages]
    ack = next(m for m in replies if m["Auto-Submitted"] == "auto-generated")
    assert case.reference in ack.get_content()
    reply = next(m for m in replies if m["Auto-Submitted"] is None)
    assert reply["In-Reply-To"] == first["Message-ID"] and first["Message-ID"] in reply["References"]
    assert reply["Message-ID"] == OutboundMessage.objects.get(kind="reply").message_id
    assert f"[{case.reference}]" in reply["Subject"] and reply["Reply-To"] == CARE and reply["To"] == "jane@example.org"

    answer = EmailMessage()
    answer["From"], answer["To"], answer["Subject"] = "jane@example.org", reply["Reply-To"], f"Re: {reply['Subject']}"
    answer["Message-ID"] = "<answer-1@example.org>"
    answer["In-Reply-To"] = reply["Message-ID"]
    answer["References"] = f"{reply['References']} {reply['Message-ID']}"
    answer.set_content("Yes, the light is on.\n\n> Sorry! Is the light on?\n")
    send(listener, answer)
    inbound.drain()
    assert Case.objects.count() == 1
    assert CaseMessage.objects.get(case=case, kind="customer").body == "Yes, the light is on."


def test_smtpd_refuses_other_recipients_with_550(listener: Controller) -> None:
    with pytest.raises(smtplib.SMTPRecipientsRefused) as refused:
        send(listener, email(to="someone@else.example.com"), to="someone@else.example.com")
    assert refused.value.recipients["someone@else.example.com"][0] == 550
    assert not Case.objects.exists()
