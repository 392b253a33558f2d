"""The inbound pipeline through the HTTP door: cases, threading, noise, bad input."""

from __future__ import annotations

import io
import zipfile
from email.message import EmailMessage
from typing import Any

import pytest
from django.db import OperationalError
from django.test import Client

from rapport.cases import services as cases
from rapport.cases.models import Case, CaseEvent, CaseMessage, SlaClock, Status
from rapport.channels import inbound, services
from rapport.channels.models import Attachment, Channel, InboundMessage, OutboundMessage
from rapport.core.models import AuditEntry
from rapport.customers.models import ContactPoint, Customer, CustomerStatus, Interaction, NameKey
from rapport.customers.services import CustomerInput, create_customer
from rapport.people.models import Staff
from tests.channels.conftest import CARE, deliver, email, post_email
from tests.conftest import api_for


def api_outcome(token: str, url: str) -> dict[str, Any]:
    response = Client().get(url, headers={"Authorization": f"Bearer {token}"})
    assert response.status_code == 200, response.content
    return dict(response.json())


pytestmark = pytest.mark.django_db

Chan = tuple[Channel, str]


def test_new_email_opens_a_case_for_a_new_prospect_and_queues_an_acknowledgement(channel: Chan, policy: None) -> None:
    msg = email()
    response = post_email(channel[1], msg)
    assert response.status_code == 202, response.content
    stored = response.json()
    assert stored["status"] == "received" and stored["case"] is None  # answered before processing
    assert not Case.objects.exists()
    inbound.drain()  # the worker's step
    body = api_outcome(channel[1], stored["url"])
    case = Case.objects.get()
    assert body["case"] == case.reference and body["status"] == "processed" and not body["duplicate"]
    assert case.channel == "email" and case.subject == "My order is late"
    customer = Customer.objects.get()
    assert customer.status == CustomerStatus.PROSPECT and customer.name == "Jane Doe"
    row = InboundMessage.objects.get()
    assert bytes(row.raw) == msg.as_bytes() and row.case == case and row.interaction is not None
    ack = OutboundMessage.objects.get()
    assert ack.kind == "acknowledgement" and ack.automatic and ack.to == "jane@example.org"
    assert case.reference in ack.body and "We will answer by" in ack.body
    assert ack.in_reply_to == msg["Message-ID"] and ack.subject.startswith(f"[{case.reference}]")


def test_the_same_message_twice_is_taken_once(channel: Chan) -> None:
    msg = email()
    first, second = deliver(channel[1], msg), post_email(channel[1], msg).json()
    assert second["duplicate"] and second["case"] == first["case"]
    assert Case.objects.count() == 1 and InboundMessage.objects.count() == 1


def test_a_duplicate_while_still_waiting_for_the_worker_is_taken_once(channel: Chan) -> None:
    msg = email()
    first, second = post_email(channel[1], msg).json(), post_email(channel[1], msg).json()
    assert second["duplicate"] and second["id"] == first["id"] and second["status"] == "received"
    assert inbound.drain() == 1 and Case.objects.count() == 1


def test_the_outcome_is_visible_only_to_the_channel_that_delivered_it(channel: Chan, admin: Staff) -> None:
    url = post_email(channel[1], email()).json()["url"]
    _, other = services.create_channel(actor=admin, kind="email", name="Sales", address="sales@example.com")
    assert Client().get(url, headers={"Authorization": f"Bearer {other}"}).status_code == 404
    assert Client().get(url).status_code == 401


def test_a_poison_message_is_set_aside_and_the_rest_of_the_batch_goes_on(
    channel: Chan, monkeypatch: pytest.MonkeyPatch
) -> None:
    for subject in ("One", "Poison", "Three"):
        post_email(channel[1], email(subject=subject))
    real = cases.open_cases_with_clocks  # open_case_with_clocks is a batch of one

    def open_case(**kwargs: Any) -> tuple[Case, list[SlaClock]]:
        if kwargs["data"].subject == "Poison":
            raise RuntimeError("a bug in opening cases")
        return real(actor=kwargs["actor"], inputs=[kwargs["data"]])[0]

    def open_cases(**kwargs: Any) -> list[tuple[Case, list[SlaClock]]]:  # the batch fails: each opens alone
        return [open_case(actor=None, data=data) for data in kwargs["inputs"]]

    monkeypatch.setattr(cases, "open_case_with_clocks", open_case)
    monkeypatch.setattr(cases, "open_cases_with_clocks", open_cases)
    assert inbound.drain() == 3
    assert sorted(Case.objects.values_list("subject", flat=True)) == ["One", "Three"]
    poison = InboundMessage.objects.get(status="unprocessable")
    assert "a bug in opening cases" in poison.error and poison.case_id is None
    assert OutboundMessage.objects.count() == 2  # the poison message's acknowledgement rolled back with it


def test_a_database_hiccup_leaves_the_message_for_the_next_drain(
    channel: Chan, monkeypatch: pytest.MonkeyPatch
) -> None:
    for subject in ("One", "Deadlocked", "Three"):
        post_email(channel[1], email(subject=subject))
    real = inbound._process

    def process(row: InboundMessage, batch: inbound.Batch) -> None:
        real(row, batch)
        if row.subject == "Deadlocked":
            raise OperationalError("deadlock detected")

    monkeypatch.setattr(inbound, "_process", process)
    assert inbound.drain() == 3
    assert InboundMessage.objects.get(subject="").status == "received"  # rolled back, not set aside
    assert Case.objects.count() == 2
    monkeypatch.undo()
    inbound.drain()
    assert Case.objects.count() == 3 and not InboundMessage.objects.filter(status="received").exists()


def test_a_worker_that_dies_mid_batch_loses_and_duplicates_nothing(
    channel: Chan, monkeypatch: pytest.MonkeyPatch
) -> None:
    for subject in ("One", "Two"):
        post_email(channel[1], email(subject=subject))

    def die(row: InboundMessage, batch: inbound.Batch) -> None:
        raise SystemExit("the worker process is killed")  # not an Exception: nothing catches it

    monkeypatch.setattr(inbound, "_process_one", die)
    with pytest.raises(SystemExit):
        inbound.drain()
    assert set(InboundMessage.objects.values_list("status", flat=True)) == {"received"}
    assert not Case.objects.exists()
    monkeypatch.undo()
    assert inbound.drain() == 2 and Case.objects.count() == 2


def test_new_senders_in_one_batch_become_prospects_together(channel: Chan) -> None:
    for sender in ("Jane Doe <jane@example.org>", "Jane Doe <JANE@example.org>", "Bob Stone <bob@example.net>"):
        post_email(channel[1], email(sender=sender))
    assert inbound.drain() == 3
    jane = Customer.objects.get(contact_points__value="jane@example.org")
    assert jane.name == "Jane Doe" and jane.status == CustomerStatus.PROSPECT
    assert Customer.objects.count() == 2 and Case.objects.filter(customer=jane).count() == 2
    assert set(NameKey.objects.filter(customer=jane).values_list("key", flat=True)) == {"jane", "doe"}
    assert ContactPoint.objects.get(customer=jane).is_primary
    assert AuditEntry.objects.filter(action="customer.created", subject_id=jane.id).exists()


def test_a_message_without_message_id_is_deduplicated_by_content(channel: Chan) -> None:
    msg = email()
    del msg["Message-ID"]
    deliver(channel[1], msg)
    assert deliver(channel[1], msg)["duplicate"]
    assert Case.objects.count() == 1


def test_reply_to_our_message_lands_on_the_case_and_resumes_a_waiting_case(channel: Chan, agent: Staff) -> None:
    deliver(channel[1], email())
    case = Case.objects.get()
    cases.claim_case(actor=agent, case_id=case.id)
    cases.add_message(actor=agent, case_id=case.id, kind="public", body="Could you send the order number?")
    cases.set_status(actor=agent, case_id=case.id, status=Status.WAITING_CUSTOMER)
    ours = OutboundMessage.objects.get(kind="reply")
    reply = email(
        subject="Re: anything at all",
        body="It is 4711.\n\nOn Monday, Care wrote:\n> Could you send",
        In_Reply_To=ours.message_id,
        References=ours.message_id,
    )
    answer = deliver(channel[1], reply)
    assert answer["case"] == case.reference
    case.refresh_from_db()
    assert case.status == Status.OPEN and Case.objects.count() == 1
    said = CaseMessage.objects.filter(case=case, kind="customer").get()
    assert said.body == "It is 4711."  # the quoted history is set apart
    assert "On Monday" in InboundMessage.objects.get(case=case, message_id=reply["Message-ID"]).body_text


def test_subject_token_threads_only_for_participants(channel: Chan) -> None:
    deliver(channel[1], email())
    case = Case.objects.get()
    same = deliver(channel[1], email(subject=f"Re: [{case.reference}] more"))
    assert same["case"] == case.reference
    intruder = email(sender="mallory@evil.example.net", subject=f"[{case.reference}] give me")
    stranger = deliver(channel[1], intruder)
    assert stranger["case"] != case.reference
    flagged = Case.objects.exclude(id=case.id).get()
    assert CaseEvent.objects.filter(case=flagged, kind="flagged").exists()


def test_never_threaded_by_subject_alone(channel: Chan) -> None:
    deliver(channel[1], email())
    deliver(channel[1], email())  # same subject, new Message-ID
    assert Case.objects.count() == 2


def test_known_sender_is_matched_case_insensitively(channel: Chan) -> None:
    known = create_customer(actor=None, data=CustomerInput(name="Jane", emails=["jane@example.org"]))
    deliver(channel[1], email(sender="JANE@Example.ORG"))
    assert Case.objects.get().customer == known and Customer.objects.count() == 1


@pytest.mark.parametrize(
    "headers", [{"Auto_Submitted": "auto-replied"}, {"X_Autoreply": "yes"}, {"X_Autorespond": "1"}]
)
def test_machine_written_mail_is_on_the_timeline_without_a_case_or_answer(
    channel: Chan,
    headers: dict[str, str],
) -> None:
    customer = create_customer(actor=None, data=CustomerInput(name="Jane", emails=["jane@example.org"]))
    answer = deliver(channel[1], email(subject="Out of office", **headers))
    assert answer["status"] == "ignored" and answer["case"] is None and answer["reason"]
    assert not Case.objects.exists() and not OutboundMessage.objects.exists()
    assert Interaction.objects.filter(customer=customer, source_type="inbound_email").count() == 1


def test_mail_from_our_own_address_opens_nothing(channel: Chan) -> None:
    answer = deliver(channel[1], email(sender=CARE))
    assert answer["status"] == "ignored" and not Case.objects.exists() and not Customer.objects.exists()


def test_bulk_mail_may_open_a_case_but_gets_no_automatic_answer(channel: Chan) -> None:
    deliver(channel[1], email(Precedence="bulk"))
    deliver(channel[1], email(sender="news@list.example.net", List_Id="<news.list.example.net>"))
    assert Case.objects.count() == 2 and not OutboundMessage.objects.exists()


def _dsn(failed: str) -> bytes:
    return (
        "From: MAILER-DAEMON@mx.example.net\r\nTo: care@example.com\r\nSubject: Undelivered Mail\r\n"
        "Message-ID: <dsn1@mx.example.net>\r\nMIME-Version: 1.0\r\n"
        'Content-Type: multipart/report; report-type=delivery-status; boundary="B"\r\n\r\n'
        "--B\r\nContent-Type: text/plain\r\n\r\nDelivery failed.\r\n"
        "--B\r\nContent-Type: message/delivery-status\r\n\r\nReporting-MTA: dns; mx.example.net\r\n\r\n"
        f"Final-Recipient: rfc822; {failed}\r\nAction: failed\r\nStatus: 5.1.1\r\n\r\n--B--\r\n"
    ).encode()


def test_a_bounce_marks_the_address_bouncing_and_opens_nothing(channel: Chan) -> None:
    customer = create_customer(actor=None, data=CustomerInput(name="Jane", emails=["jane@example.org"]))
    answer = deliver(channel[1], _dsn("jane@example.org"))
    assert answer["status"] == "ignored" and not Case.objects.exists()
    assert ContactPoint.objects.get(customer=customer).bouncing
    assert Interaction.objects.filter(customer=customer, summary__contains="bounced").exists()


def test_html_only_mail_is_sanitised_and_read_as_text(channel: Chan) -> None:
    msg = email()
    msg.set_content('<p>Hello <b>there</b></p><script>alert(1)</script><img src=x onerror="alert(2)">', subtype="html")
    deliver(channel[1], msg)
    row = InboundMessage.objects.get()
    assert "<script" not in row.body_html and "onerror" not in row.body_html and "<b>there</b>" in row.body_html
    assert "Hello there" in Case.objects.get().description and "<" not in Case.objects.get().description


def test_broken_charset_falls_back_without_crashing(channel: Chan) -> None:
    raw = (
        b"From: jane@example.org\r\nTo: care@example.com\r\nSubject: =?x-unknown?q?caf=E9?=\r\n"
        b"Message-ID: <cs@example.org>\r\nContent-Type: text/plain; charset=x-no-such-charset\r\n"
        b"Content-Transfer-Encoding: 8bit\r\n\r\ncaf\xe9 \xff\xfe broken\r\n"
    )
    answer = deliver(channel[1], raw)
    assert answer["status"] == "processed"
    assert "broken" in Case.objects.get().description


def test_malformed_mime_and_no_from_are_kept_as_unprocessable_and_listed(channel: Chan, admin: Staff) -> None:
    no_from = email()
    del no_from["From"]
    assert deliver(channel[1], no_from)["status"] == "unprocessable"
    garbage = b"\x00\x01 this is not: an email\r\n\r\n--\r\nContent-Type: multipart/mixed; boundary=\r\n\xff"
    assert deliver(channel[1], garbage)["status"] == "unprocessable"
    bad_boundary = (
        b"From: jane@example.org\r\nMessage-ID: <mb@example.org>\r\nSubject: x\r\n"
        b'Content-Type: multipart/mixed; boundary="nope"\r\n\r\nno parts here at all\r\n'
    )
    assert deliver(channel[1], bad_boundary)["status"] in ("processed", "unprocessable")
    listed = api_for(admin).get("/inbound", status="unprocessable").json()
    assert len(listed) >= 2 and all(item["error"] for item in listed)
    assert InboundMessage.objects.count() == 3  # nothing dropped


def _with_attachment(name: str, data: bytes, ctype: str = "application/octet-stream") -> EmailMessage:
    msg = email()
    maintype, subtype = ctype.split("/")
    msg.add_attachment(data, maintype=maintype, subtype=subtype, filename=name)
    return msg


def test_attachments_are_stored_under_generated_names(channel: Chan) -> None:
    deliver(channel[1], _with_attachment("../../etc/passwd", b"hello", "text/plain"))
    item = Attachment.objects.get()
    assert item.label == "....etcpasswd" and item.storage_name.startswith("attachments/")
    assert "passwd" not in item.storage_name and item.size == 5 and not item.refused_reason


def test_a_30_mb_attachment_is_refused_but_the_message_kept(channel: Chan) -> None:
    answer = deliver(channel[1], _with_attachment("huge.bin", b"\0" * (30 * 1024 * 1024)))
    assert answer["status"] == "processed"
    item = Attachment.objects.get()
    assert item.refused_reason and not item.storage_name
    case = Case.objects.get()
    assert "huge.bin" in case.description and CaseEvent.objects.filter(case=case, kind="attachments_refused").exists()


def test_a_zip_bomb_is_stored_as_is_and_never_unpacked(channel: Chan) -> None:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("bomb.txt", b"\0" * (50 * 1024 * 1024))
    deliver(channel[1], _with_attachment("bomb.zip", buffer.getvalue(), "application/zip"))
    item = Attachment.objects.get()
    assert item.size == len(buffer.getvalue()) < 1024 * 1024 and not item.refused_reason


def test_twenty_levels_of_nested_messages_are_not_followed(channel: Chan) -> None:
    inner = email(subject="level 0")
    for level in range(1, 21):
        outer = email(subject=f"level {level}")
        outer.add_attachment(inner)
        inner = outer
    answer = deliver(channel[1], inner)
    assert answer["status"] == "processed"
    case = Case.objects.get()
    assert "deeper than" in case.description


def test_spoofed_sender_is_received_and_the_verdict_noted(channel: Chan) -> None:
    create_customer(actor=None, data=CustomerInput(name="Jane", emails=["jane@example.org"]))
    msg = email(Authentication_Results="mx.example.com; spf=fail smtp.mailfrom=example.org; dkim=fail")
    assert deliver(channel[1], msg)["status"] == "processed"
    event = CaseEvent.objects.get(kind="sender_verdict")
    assert event.data["failed"] == ["dkim", "spf"] and "spf=fail" in event.data["headers"]


def test_loop_with_an_auto_responder_stops_after_one_message_each_way(channel: Chan) -> None:
    deliver(channel[1], email(sender="bot@robot.example.net", subject="Hello"))  # opens a case; we acknowledge
    ack = OutboundMessage.objects.get()
    for i in range(5):  # the robot answers our acknowledgement (and keeps answering)
        deliver(
            channel[1],
            email(
                sender="bot@robot.example.net",
                subject=f"Auto: {ack.subject} {i}",
                In_Reply_To=ack.message_id,
                Auto_Submitted="auto-replied",
            ),
        )
        deliver(
            channel[1],
            email(sender="bot@robot.example.net", subject=f"Re: {ack.subject} {i}", In_Reply_To=ack.message_id),
        )  # a robot that does not say so
    assert OutboundMessage.objects.count() == 1 and Case.objects.count() == 1


def test_a_runaway_sender_is_limited(channel: Chan) -> None:
    for i in range(14):
        deliver(channel[1], email(sender="flood@robot.example.net", subject=f"Message {i}"))
    assert Case.objects.count() == 10
    assert OutboundMessage.objects.filter(to="flood@robot.example.net").count() == 3
    assert InboundMessage.objects.filter(status="ignored").count() == 4


def test_the_door_needs_a_channel_token_and_raw_mime(channel: Chan, agent: Staff) -> None:
    staff_token = api_for(agent).headers["Authorization"].split()[1]
    assert post_email(staff_token, email()).status_code == 401
    assert post_email("rci_wrong", email()).status_code == 401
    assert post_email(channel[1], email(), content_type="application/json").status_code == 415
    assert not InboundMessage.objects.exists()


def test_admins_create_channels_and_see_the_token_once(admin: Staff, agent: Staff) -> None:
    response = api_for(admin).post("/channels", {"kind": "email", "name": "Care", "address": "Help@Example.com"})
    assert response.status_code == 201
    body: dict[str, Any] = response.json()
    assert body["address"] == "help@example.com" and body["inbound_token"].startswith("rci_")
    assert body["inbound_token"] not in str(Channel.objects.values_list().get())
    assert api_for(admin).post("/channels", {"name": "Again", "address": "help@example.com"}).status_code == 409
    assert api_for(agent).post("/channels", {"name": "X", "address": "x@example.com"}).status_code == 403
    bad = api_for(admin).post("/channels", {"kind": "fax", "name": "", "address": "nope"})
    assert bad.status_code == 422 and set(bad.json()["errors"]) == {"kind", "name", "address"}


def test_admins_reprocess_an_unprocessable_message(channel: Chan, admin: Staff, agent: Staff) -> None:
    deliver(channel[1], email())
    row = InboundMessage.objects.get()
    Case.objects.all().delete()
    InboundMessage.objects.filter(id=row.id).update(
        status="unprocessable", error="RuntimeError: bug since fixed", case=None
    )
    assert api_for(agent).post(f"/inbound/{row.id}/reprocess").status_code == 403
    answer = api_for(admin).post(f"/inbound/{row.id}/reprocess")
    assert answer.status_code == 200 and answer.json()["status"] == "processed"
    assert Case.objects.count() == 1
