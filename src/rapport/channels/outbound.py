"""Outbound email: an outbox row per message, sent by a task, at most once.

States: queued → sending → sent | failed. The task claims a queued row (→ sending) in its own
transaction *before* talking to the SMTP server and records the result after. A worker that
dies between the server's "250 OK" and our "sent" leaves the row in "sending"; we cannot
know whether the server took it, and a duplicate to a customer is worse than a visible gap,
so ``reconcile_stuck`` never resends it: it marks it failed ("delivery unknown"), notes it on
the case and tells the owner, who can check and resend on purpose (``resend``).
"""

from __future__ import annotations

import smtplib
from datetime import datetime, timedelta
from email.utils import make_msgid, parseaddr
from zoneinfo import ZoneInfo

from django.conf import settings
from django.core.mail import EmailMessage
from django.db import IntegrityError, transaction
from django.utils import timezone

from rapport.cases.models import Case, CaseEvent, CaseMessage, ClockKind, CustomerUpdate, MessageKind, SlaClock
from rapport.channels.models import Channel, InboundMessage, OutboundMessage, OutboundStatus
from rapport.core.errors import InvalidInput, NotFound
from rapport.core.notifications import notify
from rapport.customers.models import Channel as Medium
from rapport.customers.models import ContactPoint, ContactPointKind, Direction
from rapport.customers.services import log_interaction
from rapport.people.models import Staff
from rapport.people.permissions import require_staff

MAX_ATTEMPTS = 6
BACKOFF_SECONDS = 30  # doubled after each failed attempt: 30 s, 1 min, 2 min, ... 16 min
STUCK_AFTER = timedelta(minutes=15)
MAX_AUTOMATIC_PER_ADDRESS_HOUR = 3
MAX_REFERENCES = 20


class TransientFailure(Exception):
    """The server said "try later" (4xx) or could not be reached."""


# --- queueing (inside the caller's transaction) ---------------------------------------


def _channel_for(case: Case | None, channel: Channel | None = None) -> Channel | None:
    if channel is not None:
        return channel
    if case is not None:
        last = InboundMessage.objects.filter(case=case, channel__isnull=False).order_by("-received_at").first()
        if last is not None:
            return last.channel
    return Channel.objects.filter(active=True).order_by("id").first()


def _recipient(case: Case) -> str | None:
    """Whoever last wrote to us on the case, else the customer's primary working address."""
    last = InboundMessage.objects.filter(case=case).exclude(sender="").order_by("-received_at").first()
    if last is not None:
        return last.sender
    point = ContactPoint.objects.filter(
        customer_id=case.customer_id, kind=ContactPointKind.EMAIL, bouncing=False
    ).first()
    return point.value if point else None


def _thread_ids(case: Case) -> list[str]:
    inbound = InboundMessage.objects.filter(case=case).exclude(message_id="").values_list("received_at", "message_id")
    outbound = OutboundMessage.objects.filter(case=case).values_list("created_at", "message_id")
    ids = [mid for _, mid in sorted([*inbound, *outbound])]
    return ids[-MAX_REFERENCES:]


def _last_inbound_id(case: Case) -> str:
    last = InboundMessage.objects.filter(case=case).exclude(message_id="").order_by("-received_at").first()
    return last.message_id if last else ""


def check_subject(subject: str) -> str:
    if "\r" in subject or "\n" in subject:
        raise InvalidInput("A subject cannot contain line breaks.", "subject")
    return " ".join(subject.split())


def case_subject(case: Case, subject: str | None = None) -> str:
    text = check_subject(subject if subject is not None else case.subject)
    return text if f"[{case.reference}]" in text else f"[{case.reference}] {text}"[:300]


def queue(
    *,
    case: Case | None,
    to: str,
    subject: str,
    body: str,
    kind: str,
    automatic: bool,
    channel: Channel | None = None,
    in_reply_to: str = "",
    source: tuple[str, int] | None = None,
) -> OutboundMessage | None:
    """Write the outbox row and send it after commit. ``source`` makes the queueing idempotent."""
    subject = check_subject(subject)
    channel = _channel_for(case, channel)
    domain = (channel.address if channel else parseaddr(settings.DEFAULT_FROM_EMAIL)[1]).rsplit("@", 1)[-1]
    refs = _thread_ids(case) if case else []
    # We answer what the customer last wrote; References carries the whole thread.
    in_reply_to = in_reply_to or (_last_inbound_id(case) if case else "") or (refs[-1] if refs else "")
    row = OutboundMessage(
        case=case,
        channel=channel,
        kind=kind,
        automatic=automatic,
        to=to,
        subject=subject,
        body=body,
        message_id=make_msgid(domain=domain),
        in_reply_to=in_reply_to,
        references=" ".join(dict.fromkeys([*refs, in_reply_to]) if in_reply_to else refs),
        source_type=source[0] if source else "",
        source_id=source[1] if source else None,
    )
    try:
        with transaction.atomic():
            row.save()
    except IntegrityError:
        if source is None:
            raise
        return OutboundMessage.objects.filter(source_type=source[0], source_id=source[1]).first()
    transaction.on_commit(lambda: enqueue(row.id))
    return row


def enqueue(outbound_id: int, delay_seconds: int = 0) -> None:
    from rapport.channels.tasks import send_outbound

    task = (
        send_outbound.using(run_after=timezone.now() + timedelta(seconds=delay_seconds))
        if delay_seconds
        else send_outbound
    )
    task.enqueue(outbound_id)


def _automatic_allowed(to: str) -> bool:
    """A per-address limit on automatic mail: two auto-responders cannot ping-pong."""
    since = timezone.now() - timedelta(hours=1)
    count = OutboundMessage.objects.filter(to=to, automatic=True, created_at__gte=since).count()
    bouncing = ContactPoint.objects.filter(kind=ContactPointKind.EMAIL, value=to, bouncing=True).exists()
    return count < MAX_AUTOMATIC_PER_ADDRESS_HOUR and not bouncing


def promised_by(case: Case) -> str:
    clock = SlaClock.objects.filter(case=case, kind=ClockKind.FIRST_RESPONSE, stopped_at__isnull=True).first()
    if clock is None or clock.due_at is None:
        return "We will answer as soon as we can."
    zone = ZoneInfo(case.customer.timezone or "UTC")
    local = clock.due_at.astimezone(zone)
    return f"We will answer by {local:%A %d %B %Y, %H:%M} ({zone.key})."


def queue_acknowledgement(
    *,
    case: Case,
    to: str,
    channel: Channel | None,
    in_reply_to: str = "",
) -> OutboundMessage | None:
    """A new case gets an acknowledgement naming its reference and the promised response time."""
    if not _automatic_allowed(to):
        CaseEvent.objects.create(
            case=case,
            kind="acknowledgement_skipped",
            at=timezone.now(),
            data={"to": to, "reason": "automatic-mail limit or bouncing address"},
        )
        return None
    body = (
        f"Thank you for contacting us. Your reference is {case.reference}; keep it in the subject "
        f"if you write again about this.\n\n{promised_by(case)}\n"
    )
    return queue(
        case=case,
        to=to,
        subject=case_subject(case, f"Re: {case.subject}"),
        body=body,
        kind="acknowledgement",
        automatic=True,
        channel=channel,
        in_reply_to=in_reply_to,
    )


def queue_public_reply(message: CaseMessage) -> OutboundMessage | None:
    case = Case.objects.select_related("customer").get(id=message.case_id)
    to = _recipient(case)
    if to is None:
        CaseEvent.objects.create(
            case=case,
            kind="email_not_sent",
            at=timezone.now(),
            data={"reason": "the customer has no working email address"},
        )
        return None
    return queue(
        case=case,
        to=to,
        subject=case_subject(case, f"Re: {case.subject}"),
        body=message.body,
        kind="reply",
        automatic=False,
        source=("case_message", message.id),
    )


def queue_customer_update(update: CustomerUpdate) -> OutboundMessage | None:
    case = Case.objects.select_related("customer").get(id=update.case_id)
    to = _recipient(case)
    if to is None or not _automatic_allowed(to):
        return None
    return queue(
        case=case,
        to=to,
        subject=case_subject(case, update.subject),
        body=update.body,
        kind=f"update:{update.kind}"[:32],
        automatic=True,
        source=("customer_update", update.id),
    )


@transaction.atomic
def send_case_email(*, actor: Staff, case_id: int, subject: str, body: str) -> OutboundMessage:
    """Staff write to the customer with their own subject line (checked for header injection)."""
    require_staff(actor)
    case = Case.objects.select_related("customer").filter(id=case_id).first()
    if case is None:
        raise NotFound("No such case.")
    subject = case_subject(case, subject)
    if not body.strip():
        raise InvalidInput("Write the message.", "body")
    to = _recipient(case)
    if to is None:
        raise InvalidInput("The customer has no working email address.", "to")
    row = queue(case=case, to=to, subject=subject, body=body, kind="reply", automatic=False)
    if row is None:  # only a repeated source is ever None
        raise InvalidInput("This email was already queued.", "body")
    return row


# --- sending (the task) -----------------------------------------------------------------


def build(row: OutboundMessage) -> EmailMessage:
    channel = row.channel
    sender = f"{channel.name} <{channel.address}>" if channel else settings.DEFAULT_FROM_EMAIL
    headers = {"Message-ID": row.message_id}
    if row.in_reply_to:
        headers["In-Reply-To"] = row.in_reply_to
    if row.references:
        headers["References"] = row.references
    if row.automatic:
        headers["Auto-Submitted"] = "auto-generated"
    return EmailMessage(
        subject=check_subject(row.subject),
        body=row.body,
        from_email=sender,
        to=[row.to],
        reply_to=[channel.address] if channel else [],
        headers=headers,
    )


def _claim(outbound_id: int) -> OutboundMessage | None:
    with transaction.atomic():
        # of=self: the channel is a nullable join, which PostgreSQL cannot lock.
        rows = OutboundMessage.objects.select_for_update(of=("self",)).select_related("channel")
        row = rows.filter(id=outbound_id).first()
        if row is None or row.status != OutboundStatus.QUEUED:
            return None
        row.status, row.sending_since, row.attempts = OutboundStatus.SENDING, timezone.now(), row.attempts + 1
        row.save(update_fields=["status", "sending_since", "attempts"])
        return row


def send(outbound_id: int) -> str:
    """Send one queued message. Returns the new status; schedules a retry on a transient error."""
    row = _claim(outbound_id)
    if row is None:
        return "skipped"
    try:
        _deliver(row)
    except TransientFailure as exc:
        return _retry_or_fail(row, str(exc))
    except Exception as exc:  # anything else is permanent: retrying will not help
        _fail(row, f"{type(exc).__name__}: {exc}")
        return OutboundStatus.FAILED
    _sent(row)
    return OutboundStatus.SENT


def _deliver(row: OutboundMessage) -> None:
    message = build(row)
    try:
        message.send()
    except smtplib.SMTPRecipientsRefused as exc:
        codes = [code for code, _ in exc.recipients.values()]
        if codes and all(400 <= c < 500 for c in codes):
            raise TransientFailure(f"recipient deferred: {exc.recipients}") from exc
        raise
    except smtplib.SMTPResponseException as exc:
        if 400 <= exc.smtp_code < 500:
            raise TransientFailure(f"{exc.smtp_code} {exc.smtp_error!r}") from exc
        raise
    except OSError as exc:  # refused, reset, timed out, disconnected (SMTPException is an OSError)
        raise TransientFailure(f"{type(exc).__name__}: {exc}") from exc


@transaction.atomic
def _sent(row: OutboundMessage) -> None:
    now = timezone.now()
    OutboundMessage.objects.filter(id=row.id, status=OutboundStatus.SENDING).update(
        status=OutboundStatus.SENT, sent_at=now, last_error=""
    )
    if row.source_type == "customer_update" and row.source_id is not None:
        CustomerUpdate.objects.filter(id=row.source_id).update(status="sent", sent_at=now)
    if row.automatic and row.case_id:
        case = Case.objects.only("id", "customer_id").get(id=row.case_id)
        log_interaction(
            actor=None,
            customer_id=case.customer_id,
            channel=Medium.EMAIL,
            direction=Direction.OUTBOUND,
            summary=f"Sent ({row.kind}): {row.subject}"[:300],
            body=row.body,
            source_type="outbound_email",
            source_id=row.id,
        )


def _retry_or_fail(row: OutboundMessage, error: str) -> str:
    if row.attempts >= MAX_ATTEMPTS:
        _fail(row, f"gave up after {row.attempts} attempts: {error}")
        return OutboundStatus.FAILED
    OutboundMessage.objects.filter(id=row.id, status=OutboundStatus.SENDING).update(
        status=OutboundStatus.QUEUED, last_error=error[:2000], sending_since=None
    )
    enqueue(row.id, BACKOFF_SECONDS * 2 ** (row.attempts - 1))
    return OutboundStatus.QUEUED


@transaction.atomic
def _fail(row: OutboundMessage, error: str) -> None:
    """A permanent failure shows on the case and tells its owner."""
    OutboundMessage.objects.filter(id=row.id).update(status=OutboundStatus.FAILED, last_error=error[:2000])
    if row.source_type == "customer_update" and row.source_id is not None:
        CustomerUpdate.objects.filter(id=row.source_id).update(status="failed")
    if not row.case_id:
        return
    case = Case.objects.select_related("owner").get(id=row.case_id)
    CaseEvent.objects.create(
        case=case,
        kind="email_failed",
        at=timezone.now(),
        data={"outbound_id": row.id, "to": row.to, "error": error[:500]},
    )
    notify(
        recipients=[case.owner],
        kind="email.failed",
        title=f"{case.reference}: email to {row.to} failed",
        link=f"/cases/{case.reference}/",
    )


def reconcile_stuck(now: datetime | None = None) -> int:
    """Rows left in "sending" by a dead worker: flag them, never resend blindly (see module doc)."""
    cutoff = (now or timezone.now()) - STUCK_AFTER
    stuck = list(OutboundMessage.objects.filter(status=OutboundStatus.SENDING, sending_since__lt=cutoff))
    for row in stuck:
        _fail(
            row,
            "Delivery unknown: the sender stopped while handing this to the mail server. "
            "Not resent automatically to avoid a duplicate; check and resend if needed.",
        )
    return len(stuck)


@transaction.atomic
def resend(*, actor: Staff, outbound_id: int) -> OutboundMessage:
    """Staff decide to send a failed message again (same Message-ID, so threading holds)."""
    require_staff(actor)
    row = OutboundMessage.objects.select_for_update().filter(id=outbound_id).first()
    if row is None:
        raise NotFound("No such email.")
    if row.status != OutboundStatus.FAILED:
        raise InvalidInput(f"Only a failed email can be resent; this one is {row.status}.", "status")
    row.status, row.attempts, row.last_error = OutboundStatus.QUEUED, 0, ""
    row.save(update_fields=["status", "attempts", "last_error"])
    transaction.on_commit(lambda: enqueue(row.id))
    return row


def on_case_message(message: CaseMessage) -> None:
    if message.kind == MessageKind.PUBLIC:
        queue_public_reply(message)
