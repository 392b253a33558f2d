"""Outbound email: an outbox row per message, sent by a task, at most once.

States: queued → sending → sent | failed. The task claims a batch of queued rows (→ sending)
in its own transaction *before* talking to the SMTP server, hands them over one connection,
and records the results after. A worker that
dies between the server's "250 OK" and our "sent" leaves the row in "sending"; we cannot
know whether the server took it, and a duplicate to a customer is worse than a visible gap,
so ``reconcile_stuck`` never resends it: it marks it failed ("delivery unknown"), notes it on
the case and tells the owner, who can check and resend on purpose (``resend``).
"""

from __future__ import annotations

import contextlib
import smtplib
from collections.abc import Callable
from datetime import datetime, timedelta
from email.utils import make_msgid, parseaddr
from zoneinfo import ZoneInfo

from django.conf import settings
from django.core.mail import EmailMessage, mailers
from django.core.mail.backends.base import BaseEmailBackend
from django.db import IntegrityError, transaction
from django.db.models import Count, F, Q
from django.utils import timezone

from rapport.cases.models import Case, CaseEvent, CaseMessage, ClockKind, CustomerUpdate, MessageKind, SlaClock
from rapport.channels import email_templates
from rapport.channels.models import Channel, InboundMessage, OutboundMessage, OutboundStatus
from rapport.channels.wakeups import wake, woken
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
BATCH_SIZE = 50  # messages per claim: a worker dying mid-batch leaves at most this many "unknown"


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
    thread: list[str] | None = None,
) -> OutboundMessage | None:
    """Write the outbox row and send it after commit. ``source`` makes the queueing idempotent;
    ``thread`` (the case's Message-IDs so far) spares the lookup when the caller knows it."""
    subject = check_subject(subject)
    channel = _channel_for(case, channel)
    domain = (channel.address if channel else parseaddr(settings.DEFAULT_FROM_EMAIL)[1]).rsplit("@", 1)[-1]
    refs = thread if thread is not None else (_thread_ids(case) if case else [])
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
    if source is None:  # nothing to be idempotent about: no savepoint (a worker's batch queues many)
        row.save()
    else:
        try:
            with transaction.atomic():
                row.save()
        except IntegrityError:
            return OutboundMessage.objects.filter(source_type=source[0], source_id=source[1]).first()
    _once_on_commit(wake_sender)
    return row


def _once_on_commit(func: Callable[[], None]) -> None:
    """A batch queues many messages in one transaction; the sender needs waking once."""
    connection = transaction.get_connection()
    if not any(hook is func for _, hook, _ in connection.run_on_commit):
        transaction.on_commit(func)


def _automatic_allowed(to: str) -> bool:
    """A per-address limit on automatic mail: two auto-responders cannot ping-pong."""
    bouncing = ContactPoint.objects.filter(kind=ContactPointKind.EMAIL, value=to, bouncing=True).exists()
    return automatic_last_hour([to]).get(to, 0) < MAX_AUTOMATIC_PER_ADDRESS_HOUR and not bouncing


def automatic_last_hour(addresses: list[str]) -> dict[str, int]:
    """Automatic messages queued to each address in the last hour (one query for a batch)."""
    since = timezone.now() - timedelta(hours=1)
    counted = (
        OutboundMessage.objects.filter(to__in=addresses, automatic=True, created_at__gte=since)
        .values("to")
        .annotate(n=Count("id"))
    )
    return {r["to"]: r["n"] for r in counted}


def promised_by(case: Case, clocks: list[SlaClock] | None = None) -> str:
    """``clocks``: the case's clocks when the caller has them (it just opened the case)."""
    if clocks is None:
        clock = SlaClock.objects.filter(case=case, kind=ClockKind.FIRST_RESPONSE, stopped_at__isnull=True).first()
    else:
        clock = next((c for c in clocks if c.kind == ClockKind.FIRST_RESPONSE and c.stopped_at is None), None)
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
    first_message: bool = False,
    allowed: bool | None = None,
    clocks: list[SlaClock] | None = None,
) -> OutboundMessage | None:
    """A new case gets an acknowledgement naming its reference and the promised response time.
    ``first_message``: the case was opened by the email being answered (its only Message-ID);
    ``allowed``: the caller has already checked the automatic-mail limit (a batch does it at once);
    ``clocks``: the clocks the case started with, when the caller has them."""
    if not (_automatic_allowed(to) if allowed is None else allowed):
        CaseEvent.objects.create(
            case=case,
            kind="acknowledgement_skipped",
            at=timezone.now(),
            data={"to": to, "reason": "automatic-mail limit or bouncing address"},
        )
        return None
    text = email_templates.render(
        "acknowledgement", case.customer.language, _case_values(case) | {"promise": promised_by(case, clocks)}
    )
    return queue(
        case=case,
        to=to,
        subject=case_subject(case, text.subject),
        body=text.body,
        kind="acknowledgement",
        automatic=True,
        channel=channel,
        in_reply_to=in_reply_to,
        thread=([in_reply_to] if in_reply_to else []) if first_message else None,
    )


def _case_values(case: Case) -> dict[str, str]:
    return {"customer_name": case.customer.name, "reference": case.reference, "case_subject": case.subject}


def queue_survey_invitation(
    *, invitation_id: int, to: str, language: str, customer_name: str, survey_title: str, link: str
) -> OutboundMessage | None:
    """A survey invitation from feedback (wired in rapport.wiring). None when the address may
    not get automatic mail now (bouncing, or over the limit): the invitation stays listed."""
    if not _automatic_allowed(to):
        return None
    text = email_templates.render(
        "survey_invitation", language, {"customer_name": customer_name, "survey_title": survey_title, "link": link}
    )
    return queue(
        case=None,
        to=to,
        subject=text.subject,
        body=text.body,
        kind="survey_invitation",
        automatic=True,
        source=("survey_invitation", invitation_id),
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
    case = Case.objects.select_related("customer", "owner", "team").get(id=update.case_id)
    to = _recipient(case)
    if to is None or not _automatic_allowed(to):
        return None
    subject, body = update.subject, update.body  # cases' own wording, for kinds without a template
    if f"update:{update.kind}" in email_templates.KINDS:
        owner = case.owner
        values = _case_values(case) | {
            "owner_first_name": (owner.first_name or owner.display_name) if owner else "",
            "team": case.team.name if case.team else "",
            "handed_to": (owner.display_name if owner else "") or (case.team.name if case.team else ""),
        }
        text = email_templates.render(f"update:{update.kind}", case.customer.language, values)
        subject, body = text.subject, text.body
    return queue(
        case=case,
        to=to,
        subject=case_subject(case, subject),
        body=body,
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


def wake_sender() -> None:
    """After a commit that queued mail: make sure one send_outbox task is coming."""
    from rapport.channels.tasks import send_outbox

    if wake("outbound"):
        send_outbox.enqueue()


def send_outbox(batch_size: int = BATCH_SIZE) -> dict[str, int]:
    """The task: send every due queued message, batch by batch, each batch over one SMTP
    connection. Rows are claimed with SKIP LOCKED, so several workers share the outbox."""
    woken("outbound")
    counts: dict[str, int] = {}
    while True:
        rows = _claim_batch(batch_size)
        for status in _send_claimed(rows).values():
            counts[status] = counts.get(status, 0) + 1
        if len(rows) < batch_size:
            return counts


def send(outbound_id: int) -> str:
    """Send one queued message now. Returns the new status ("skipped" when it was not queued)."""
    row = _claim(outbound_id)
    if row is None:
        return "skipped"
    return _send_claimed([row])[row.id]


def _claim(outbound_id: int) -> OutboundMessage | None:
    with transaction.atomic():
        # of=self: the channel is a nullable join, which PostgreSQL cannot lock.
        rows = OutboundMessage.objects.select_for_update(of=("self",)).select_related("channel")
        row = rows.filter(id=outbound_id).first()
        if row is None or row.status != OutboundStatus.QUEUED:
            return None
        _mark_sending([row])
        return row


def _claim_batch(size: int) -> list[OutboundMessage]:
    """Record "sending" (and count the attempt) before any byte goes to the server."""
    now = timezone.now()
    with transaction.atomic():
        due = (
            OutboundMessage.objects.select_for_update(skip_locked=True, of=("self",))
            .select_related("channel")
            .filter(status=OutboundStatus.QUEUED)
            .filter(Q(retry_at__isnull=True) | Q(retry_at__lte=now))
            .order_by("created_at", "id")[:size]
        )
        rows = list(due)
        _mark_sending(rows)
    return rows


def _mark_sending(rows: list[OutboundMessage]) -> None:
    now = timezone.now()
    OutboundMessage.objects.filter(id__in=[r.id for r in rows]).update(
        status=OutboundStatus.SENDING, sending_since=now, attempts=F("attempts") + 1
    )
    for row in rows:
        row.status, row.sending_since, row.attempts = OutboundStatus.SENDING, now, row.attempts + 1


def _send_claimed(rows: list[OutboundMessage]) -> dict[int, str]:
    """Hand the claimed rows to the mail server over one connection, then record each result."""
    if not rows:
        return {}
    failures = _deliver_all(rows)
    sent = [r for r in rows if r.id not in failures]
    _sent(sent)
    statuses = {r.id: str(OutboundStatus.SENT) for r in sent}
    for row in rows:
        failure = failures.get(row.id)
        if isinstance(failure, TransientFailure):
            statuses[row.id] = _retry_or_fail(row, str(failure))
        elif failure is not None:  # anything else is permanent: retrying will not help
            _fail(row, f"{type(failure).__name__}: {failure}")
            statuses[row.id] = OutboundStatus.FAILED
    return statuses


def _deliver_all(rows: list[OutboundMessage]) -> dict[int, Exception]:
    """One connection for the batch; after a failure it is reopened for the next message."""
    failures: dict[int, Exception] = {}
    connection = mailers.default
    try:
        for row in rows:
            try:
                connection.open()
                connection.send_messages([build(row)])
            except Exception as exc:
                failures[row.id] = _classified(exc)
                _close_quietly(connection)
    finally:
        _close_quietly(connection)
    return failures


def _close_quietly(connection: BaseEmailBackend) -> None:
    # A dead connection cannot be closed politely; it is dropped anyway.
    with contextlib.suppress(Exception):
        connection.close()


def _classified(exc: Exception) -> Exception:
    """4xx answers and network trouble are worth a retry; everything else is permanent."""
    if isinstance(exc, smtplib.SMTPRecipientsRefused):
        codes = [code for code, _ in exc.recipients.values()]
        if codes and all(400 <= c < 500 for c in codes):
            return TransientFailure(f"recipient deferred: {exc.recipients}")
        return exc
    if isinstance(exc, smtplib.SMTPResponseException):
        if 400 <= exc.smtp_code < 500:
            return TransientFailure(f"{exc.smtp_code} {exc.smtp_error!r}")
        return exc
    if isinstance(exc, OSError):  # refused, reset, timed out, disconnected (SMTPException is an OSError)
        return TransientFailure(f"{type(exc).__name__}: {exc}")
    return exc


@transaction.atomic
def _sent(rows: list[OutboundMessage]) -> None:
    if not rows:
        return
    now = timezone.now()
    OutboundMessage.objects.filter(id__in=[r.id for r in rows], status=OutboundStatus.SENDING).update(
        status=OutboundStatus.SENT, sent_at=now, last_error="", retry_at=None
    )
    updates = [r.source_id for r in rows if r.source_type == "customer_update" and r.source_id is not None]
    if updates:
        CustomerUpdate.objects.filter(id__in=updates).update(status="sent", sent_at=now)
    automatic = [(r, r.case_id) for r in rows if r.automatic and r.case_id is not None]
    customers = dict(Case.objects.filter(id__in=[c for _, c in automatic]).values_list("id", "customer_id"))
    for row, case_id in automatic:
        log_interaction(
            actor=None,
            customer_id=customers[case_id],
            channel=Medium.EMAIL,
            direction=Direction.OUTBOUND,
            summary=f"Emailed the customer ({_kind_label(row.kind)}): {row.subject}"[:300],
            body=row.body,
            source_type="outbound_email",
            source_id=row.id,
        )


def _kind_label(kind: str) -> str:
    """What the timeline calls an automatic email: its template's label, in the team's words."""
    known = email_templates.KINDS.get(kind)
    return known.label if known else kind.replace("_", " ").capitalize()


def _retry_or_fail(row: OutboundMessage, error: str) -> str:
    if row.attempts >= MAX_ATTEMPTS:
        _fail(row, f"gave up after {row.attempts} attempts: {error}")
        return OutboundStatus.FAILED
    retry_at = timezone.now() + timedelta(seconds=BACKOFF_SECONDS * 2 ** (row.attempts - 1))
    OutboundMessage.objects.filter(id=row.id, status=OutboundStatus.SENDING).update(
        status=OutboundStatus.QUEUED, last_error=error[:2000], sending_since=None, retry_at=retry_at
    )
    _send_outbox_at(retry_at)
    return OutboundStatus.QUEUED


def _send_outbox_at(when: datetime) -> None:
    from rapport.channels.tasks import send_outbox

    send_outbox.using(run_after=when).enqueue()


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
    row.status, row.attempts, row.last_error, row.retry_at = OutboundStatus.QUEUED, 0, "", None
    row.save(update_fields=["status", "attempts", "last_error", "retry_at"])
    transaction.on_commit(wake_sender)
    return row


def on_case_message(message: CaseMessage) -> None:
    if message.kind == MessageKind.PUBLIC:
        queue_public_reply(message)
