"""Outbound email: headers, the outbox of cases, at-most-once sending, retries, failures."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from django.core import mail
from django.db import transaction
from django.test import override_settings
from django.utils import timezone

from rapport.cases import services as cases
from rapport.cases.models import Case, CaseEvent, CustomerUpdate
from rapport.channels import outbound
from rapport.channels.models import Channel, OutboundMessage
from rapport.core.errors import InvalidInput
from rapport.core.models import Notification
from rapport.customers.models import Interaction
from rapport.people.models import Staff
from rapport.settings import _mailer
from tests.channels.conftest import CARE, deliver, email
from tests.channels.smtp_helpers import Capture, free_port, mailers_for, sink

pytestmark = pytest.mark.django_db

Chan = tuple[Channel, str]


@pytest.fixture
def case(channel: Chan, agent: Staff) -> Case:
    deliver(channel[1], email())
    found = Case.objects.get()
    cases.claim_case(actor=agent, case_id=found.id)
    OutboundMessage.objects.all().delete()  # the acknowledgement: not under test here
    return found


def test_a_public_reply_is_sent_once_with_threading_headers(case: Case, agent: Staff) -> None:
    cases.add_message(actor=agent, case_id=case.id, kind="public", body="We are on it.")
    cases.add_message(actor=agent, case_id=case.id, kind="internal", body="Not for the customer.")
    row = OutboundMessage.objects.get()
    assert outbound.send(row.id) == "sent"
    assert outbound.send(row.id) == "skipped"  # a repeated task does not send again
    assert len(mail.outbox) == 1
    sent = mail.outbox[0].message()
    assert sent["Message-ID"] == row.message_id and sent["In-Reply-To"] and sent["References"]
    assert sent["Subject"] == f"[{case.reference}] Re: My order is late" and sent["Reply-To"] == CARE
    assert sent["From"] == f"Care <{CARE}>" and sent["Auto-Submitted"] is None


def test_hand_off_updates_from_cases_are_delivered(case: Case, agent: Staff, lead: Staff) -> None:
    cases.hand_off(actor=agent, case_id=case.id, to_user=lead.username, reason="Needs a lead")
    row = OutboundMessage.objects.get(kind="update:handed_off")
    assert row.automatic and row.source_type == "customer_update"
    outbound.send(row.id)
    assert CustomerUpdate.objects.get().status == "sent"
    assert mail.outbox[0].message()["Auto-Submitted"] == "auto-generated"
    # On the customer's timeline in the team's words, not the message's internal kind.
    entry = Interaction.objects.get(source_type="outbound_email", source_id=row.id)
    assert entry.summary == f"Emailed the customer (Hand-off update): {row.subject}"


def test_line_breaks_in_a_subject_are_refused(case: Case, agent: Staff) -> None:
    with pytest.raises(InvalidInput) as refused:
        outbound.send_case_email(actor=agent, case_id=case.id, subject="Hello\r\nBcc: everyone@example.com", body="Hi")
    assert "subject" in refused.value.errors
    assert not OutboundMessage.objects.exists()


def test_an_unreachable_server_is_retried_later(case: Case, agent: Staff) -> None:
    cases.add_message(actor=agent, case_id=case.id, kind="public", body="We are on it.")
    row = OutboundMessage.objects.get()
    closed = {
        "default": {
            "BACKEND": "django.core.mail.backends.smtp.EmailBackend",
            "OPTIONS": {"host": "127.0.0.1", "port": free_port(), "timeout": 5},
        }
    }
    with override_settings(MAILERS=closed):
        assert outbound.send(row.id) == "queued"
    row.refresh_from_db()
    assert row.status == "queued" and row.attempts == 1 and row.last_error


def test_a_permanent_refusal_fails_on_the_case_and_tells_the_owner(case: Case, agent: Staff) -> None:
    cases.add_message(actor=agent, case_id=case.id, kind="public", body="We are on it.")
    row = OutboundMessage.objects.get()
    server = sink(Capture(refuse="550 5.1.1 No such user"))
    server.start()
    try:
        with override_settings(
            MAILERS={
                "default": {
                    "BACKEND": "django.core.mail.backends.smtp.EmailBackend",
                    "OPTIONS": {"host": "127.0.0.1", "port": server.port},
                }
            }
        ):
            assert outbound.send(row.id) == "failed"
    finally:
        server.stop()
    assert CaseEvent.objects.filter(case=case, kind="email_failed").exists()
    assert Notification.objects.filter(recipient=agent, kind="email.failed").exists()


def test_a_row_stuck_in_sending_is_flagged_not_resent(case: Case, agent: Staff) -> None:
    cases.add_message(actor=agent, case_id=case.id, kind="public", body="We are on it.")
    row = OutboundMessage.objects.get()
    an_hour_ago = timezone.now() - timedelta(hours=1)
    OutboundMessage.objects.filter(id=row.id).update(status="sending", sending_since=an_hour_ago)
    assert outbound.reconcile_stuck() == 1
    row.refresh_from_db()
    assert row.status == "failed" and "Delivery unknown" in row.last_error and not mail.outbox
    outbound.resend(actor=agent, outbound_id=row.id)  # a person decides to send it again
    assert outbound.send(row.id) == "sent" and len(mail.outbox) == 1


def test_email_url_settings() -> None:
    assert _mailer("console:")["BACKEND"].endswith("console.EmailBackend")
    smtp = _mailer("smtp://user:p%40ss@mail.example.com:2525")
    assert smtp["OPTIONS"] | {} == {
        "host": "mail.example.com",
        "port": 2525,
        "use_ssl": False,
        "use_tls": False,
        "timeout": 30,
        "username": "user",
        "password": "p@ss",
    }
    assert _mailer("file:///var/mail/out")["OPTIONS"] == {"file_path": "/var/mail/out"}
    with pytest.raises(ValueError, match="unknown scheme"):
        _mailer("carrier-pigeon://coop")


class CountingSink(Capture):
    """Counts SMTP sessions; refuses (with 450, "try later") the recipients named in ``defer``."""

    def __init__(self, defer: set[str] | None = None) -> None:
        super().__init__()
        self.sessions = 0
        self.defer = defer or set()

    async def handle_EHLO(
        self, server: Any, session: Any, envelope: Any, hostname: str, responses: list[str]
    ) -> list[str]:
        self.sessions += 1
        session.host_name = hostname
        return responses

    async def handle_RCPT(self, server: Any, session: Any, envelope: Any, address: str, options: list[str]) -> str:
        if address in self.defer:
            return "450 4.2.1 Mailbox busy, try later"
        return await super().handle_RCPT(server, session, envelope, address, options)


def _queue_replies(case: Case, count: int) -> list[OutboundMessage]:
    rows = []
    for i in range(count):
        row = outbound.queue(
            case=case, to=f"reader{i}@example.org", subject=f"Update {i}", body="Hello", kind="reply", automatic=False
        )
        assert row is not None
        rows.append(row)
    return rows


def test_the_outbox_is_sent_in_batches_over_one_connection(case: Case) -> None:
    rows = _queue_replies(case, 7)
    handler = CountingSink(defer={"reader3@example.org"})
    server = sink(handler)
    server.start()
    try:
        with override_settings(MAILERS=mailers_for(server)):
            counts = outbound.send_outbox(batch_size=5)
    finally:
        server.stop()
    assert counts == {"sent": 6, "queued": 1}
    assert len(handler.messages) == 6
    # two batches; the deferred recipient costs the first batch a reconnect
    assert handler.sessions == 3
    deferred = OutboundMessage.objects.get(id=rows[3].id)
    assert deferred.status == "queued" and deferred.attempts == 1 and deferred.retry_at is not None
    assert outbound.send_outbox() == {}  # not due yet: the retry waits for its backoff
    OutboundMessage.objects.filter(id=deferred.id).update(retry_at=timezone.now() - timedelta(seconds=1))
    assert outbound.send_outbox() == {"sent": 1}  # locmem backend in tests


@pytest.mark.django_db(transaction=True)
def test_queued_mail_wakes_one_sender_task_per_burst(channel: Chan) -> None:
    from dj_queue.models import Job

    deliver(channel[1], email())  # commits: the acknowledgement wakes the sender once
    jobs = Job.objects.filter(task_path="rapport.channels.tasks.send_outbox")
    assert jobs.count() == 1
    case = Case.objects.get()
    with transaction.atomic():
        _queue_replies(case, 3)
    _queue_replies(case, 2)
    assert jobs.count() == 1  # the task has not started: it will find these too
    assert outbound.send_outbox() == {"sent": 6}
    _queue_replies(case, 1)  # after the task started, new mail queues the next one
    assert jobs.count() == 2
