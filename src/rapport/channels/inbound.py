"""The inbound pipeline shared by every door (HTTP, SMTP, IMAP): store the raw bytes first,
then turn the message into a case, a reply on a case, or just a timeline entry.

Storing and processing are separate transactions: a message that crashes the parser is
still kept (status "unprocessable", with the error) and can be reprocessed after a fix.
"""

from __future__ import annotations

import hashlib
import logging
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta
from email.message import EmailMessage
from email.parser import BytesHeaderParser
from email.policy import compat32
from email.utils import parseaddr
from functools import partial
from typing import Any, cast

from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from django.db import DatabaseError, IntegrityError, OperationalError, connection, transaction
from django.db.models import Count, Field, OuterRef, Subquery
from django.utils import timezone

from rapport.cases import services as cases
from rapport.cases.models import Case, CaseEvent, SlaClock, format_reference
from rapport.channels import email_templates, mime, outbound, webhooks
from rapport.channels.models import (
    Attachment,
    Channel,
    InboundMessage,
    InboundStatus,
    OutboundMessage,
)
from rapport.channels.wakeups import wake, woken
from rapport.core import audit, events
from rapport.core.errors import Conflict, InvalidInput, NotFound
from rapport.core.models import AuditEntry
from rapport.customers.events import CustomerCreated
from rapport.customers.models import Channel as Medium
from rapport.customers.models import (
    ContactPoint,
    ContactPointKind,
    Customer,
    CustomerStatus,
    Direction,
    Interaction,
    NameKey,
)
from rapport.customers.services import CustomerInput, create_customer, log_interaction, name_keys
from rapport.customers.validation import normalise_email

log = logging.getLogger(__name__)

MAX_RAW_BYTES = 45 * 1024 * 1024
MAX_FILE_BYTES = 10 * 1024 * 1024
MAX_MESSAGE_FILES_BYTES = 20 * 1024 * 1024
MAX_NEW_CASES_PER_SENDER_HOUR = 10
AUTO_HEADERS = ("X-Autoreply", "X-Autorespond")
BULK_PRECEDENCE = {"bulk", "junk", "list"}


@dataclass
class Outcome:
    inbound_id: int
    status: str
    case_reference: str | None = None
    reason: str = ""
    duplicate: bool = False

    def as_dict(self) -> dict[str, object]:
        return {
            "id": self.inbound_id,
            "status": self.status,
            "case": self.case_reference,
            "reason": self.reason,
            "duplicate": self.duplicate,
        }


def receive(raw: bytes, *, channel: Channel | None, source: str) -> Outcome:
    """Store the bytes and wake the worker; the door answers as soon as the message is safe.
    Idempotent: the same message again answers with the first one's state (and its case)."""
    stored, duplicate = store(raw, channel=channel, source=source)
    if not duplicate:
        transaction.on_commit(wake_worker)
    return _outcome(stored, duplicate=duplicate)


def store(raw: bytes, *, channel: Channel | None, source: str) -> tuple[InboundMessage, bool]:
    """Keep the bytes. Message-ID (or the content hash) is unique: of three concurrent
    deliveries one insert wins and the others find its row."""
    if len(raw) > MAX_RAW_BYTES:
        raise InvalidInput(f"A message can be at most {MAX_RAW_BYTES // (1024 * 1024)} MB.", "message")
    digest = hashlib.sha256(raw).hexdigest()
    message_id = _message_id(raw)
    try:
        with transaction.atomic():
            row = InboundMessage.objects.create(
                channel=channel,
                source=source,
                raw=raw,
                size=len(raw),
                content_hash=digest,
                message_id=message_id,
                received_at=timezone.now(),
            )
        return row, False
    except IntegrityError:
        existing = _stored(content_hash=digest)
        if existing is None and message_id:
            existing = _stored(message_id=message_id)
        if existing is None:
            raise
        return existing, True


def _stored(**key: str) -> InboundMessage | None:
    return InboundMessage.objects.filter(**key).only("id", "status", "error", "case_id").first()


def _message_id(raw: bytes) -> str:
    # Only the header block is needed; a parse failure just means "no Message-ID".
    # The door runs this for every message: the compat32 header parser reads the raw value
    # without building the modern policy's header objects (about 10x cheaper).
    try:
        head = raw.split(b"\r\n\r\n", 1)[0].split(b"\n\n", 1)[0]
        value = BytesHeaderParser(policy=compat32).parsebytes(head).get("Message-ID")
        ids = mime.message_ids(str(value or ""))
        return ids[0][:500] if ids else ""
    except Exception:
        return ""


def _outcome(row: InboundMessage, duplicate: bool = False) -> Outcome:
    # A case reference is derived from its id: no query needed.
    reference = format_reference(row.case_id) if row.case_id else None
    return Outcome(row.id, row.status, reference, row.error, duplicate)


def outcome_of(*, channel: Channel, inbound_id: int) -> Outcome:
    """Where a message the channel delivered stands (the door's 202 comes before processing)."""
    row = InboundMessage.objects.filter(id=inbound_id, channel=channel).only("id", "status", "error", "case_id").first()
    if row is None:
        raise NotFound("No such message from this channel.")
    return _outcome(row)


# --- the worker: stored messages in batches ---------------------------------------------

BATCH_SIZE = 50
INLINE_RAW_BYTES = 1024 * 1024  # smaller messages are read with the batch, larger ones one by one


def wake_worker() -> None:
    """Make sure a drain task is queued, without one task per message: the wake-up row says
    "a drain is already coming"; the drain clears it before it looks for messages, so a
    message stored after that look finds the flag clear and queues the next drain."""
    from rapport.channels.tasks import process_inbound

    if wake("inbound"):
        process_inbound.enqueue()


def drain(*, batch_size: int = BATCH_SIZE, max_batches: int | None = None, helper: bool = False) -> int:
    """The worker step: process stored messages batch by batch until none are left. A long
    backlog gets HELPERS more drains: the worker's threads then overlap one batch's database
    round trips with another's parsing (SKIP LOCKED keeps their batches apart)."""
    if not helper:
        woken("inbound")
    done = batches = 0
    while max_batches is None or batches < max_batches:
        taken = process_pending(batch_size)
        done, batches = done + taken, batches + 1
        if taken < batch_size:
            break
        if batches == 1 and not helper:
            _call_helpers(batch_size)
    return done


HELPERS = 2


def _call_helpers(batch_size: int) -> None:
    from rapport.channels.tasks import process_inbound

    waiting = InboundMessage.objects.filter(status=InboundStatus.RECEIVED).values("id")[: batch_size * (HELPERS + 1)]
    for _ in range(min(HELPERS, len(waiting) // batch_size - 1)):
        process_inbound.enqueue(helper=True)


def process_pending(batch_size: int = BATCH_SIZE) -> int:
    """One batch in one transaction. Rows are locked with SKIP LOCKED, so several workers
    share the backlog; a worker that dies mid-batch rolls back and the rows stay "received".
    Each message runs in its own savepoint: a poison message is marked unprocessable and the
    rest of the batch goes on."""
    # The active webhook subscriptions are read once for the events the batch publishes.
    with webhooks.remembered(), transaction.atomic():
        pending = (
            InboundMessage.objects.select_for_update(skip_locked=True, of=("self",))
            .filter(status=InboundStatus.RECEIVED)
            .select_related("channel__default_team")
            .defer("raw")
            .order_by("received_at", "id")[:batch_size]
        )
        rows = list(pending)
        if not rows:
            return 0
        batch = Batch(rows)
        with email_templates.remembered():  # each acknowledgement's wording read once per batch
            for row in sorted(rows, key=batch.sender_of):  # one lock order for new senders across workers
                _process_one(row, batch)
            _open_waiting_cases(batch)
        _link_opening_entries(batch.opened)
    return len(rows)


def _link_opening_entries(inbound_ids: list[int]) -> None:
    """A message that opened a case points at the case's opening timeline entry (written by
    open_case): one UPDATE for the batch instead of a look-up per message."""
    if not inbound_ids:
        return
    opening = Interaction.objects.filter(source_type="case", source_id=OuterRef("case_id")).order_by("id")
    InboundMessage.objects.filter(id__in=inbound_ids, interaction__isnull=True).update(
        interaction=Subquery(opening.values("id")[:1])
    )


def _process_one(row: InboundMessage, batch: Batch) -> None:
    _guarded(row, batch, lambda: _process(row, batch))


def _guarded(row: InboundMessage, batch: Batch, step: Callable[[], None]) -> None:
    """Run one message's step in its own savepoint and record the result; a message that opens
    a case is left to the batch (_open_waiting_cases), which records it."""
    try:
        with transaction.atomic():
            step()
            if batch.is_waiting(row):
                return
            row.processed_at = timezone.now()
            row.save(update_fields=PROCESSED_FIELDS)
        if row.case_id and row.status == InboundStatus.PROCESSED:
            batch.count_case(row.sender)
            if row.interaction_id is None:
                batch.opened.append(row.id)
    except OperationalError:  # a deadlock with another drain, say: not the message's fault
        # Left "received": the next batch or the every-minute drain takes it again.
        batch.forget(row)
        log.warning("inbound message %s left for the next drain", row.id, exc_info=True)
    except Exception as exc:  # one poison message must not stop the batch
        batch.forget(row)
        log.exception("inbound message %s is unprocessable", row.id)
        row.status, row.error = InboundStatus.UNPROCESSABLE, f"{type(exc).__name__}: {exc}"[:2000]
        row.case_id = row.interaction_id = None
        row.processed_at = timezone.now()
        InboundMessage.objects.filter(id=row.id).update(
            status=row.status, error=row.error, case=None, interaction=None, processed_at=row.processed_at
        )


def _open_waiting_cases(batch: Batch) -> None:
    """Open the batch's new cases together (cases.open_cases: one INSERT per table instead of
    ~15 queries per case), then finish each message. If anything in that fails, the savepoint
    undoes it all and each message is opened and finished alone, so a poison message is still
    set aside by itself."""
    waiting, batch.waiting = batch.waiting, {}
    if not waiting:
        return
    automatic_before = dict(batch.automatic_last_hour)
    try:
        with transaction.atomic():
            opened = cases.open_cases_with_clocks(actor=None, inputs=[w.data for w in waiting.values()])
            for new, (case, clocks) in zip(waiting.values(), opened, strict=True):
                _finish_new_case(new, case, clocks, batch)
            _save_processed([w.row for w in waiting.values()])
    except Exception:
        log.warning("opening %s cases together failed; opening them one by one", len(waiting), exc_info=True)
        batch.automatic_last_hour = automatic_before
        for new in waiting.values():
            batch.count_case(new.row.sender, -1)  # counted again as each one opens
            new.row.case, new.row.error = None, new.flagged
            _guarded(new.row, batch, partial(_open_alone, new, batch))
        return
    batch.opened.extend(waiting)


def _save_processed(rows: list[InboundMessage]) -> None:
    """row.save(update_fields=PROCESSED_FIELDS) for many rows as one UPDATE run with executemany
    (one round trip in psycopg's pipeline); bulk_update's CASE expressions cost ~3 ms of CPU
    per batch row to build."""
    now = timezone.now()
    fields = [cast("Field[Any, Any]", InboundMessage._meta.get_field(name)) for name in PROCESSED_FIELDS]
    quote = connection.ops.quote_name
    sets = ", ".join(f"{quote(str(f.column))} = %s" for f in fields)
    sql = f"UPDATE {quote(InboundMessage._meta.db_table)} SET {sets} WHERE {quote('id')} = %s"  # noqa: S608 - our own columns
    params = []
    for row in rows:
        row.processed_at = now
        params.append([f.get_db_prep_save(getattr(row, f.attname), connection) for f in fields] + [row.id])
    with connection.cursor() as cursor:
        cursor.executemany(sql, params)


def _open_alone(new: NewCase, batch: Batch) -> None:
    _finish_new_case(new, *cases.open_case_with_clocks(actor=None, data=new.data), batch)


PROCESSED_FIELDS = [
    "subject",
    "body_text",
    "new_text",
    "body_html",
    "auth_results",
    "sender",
    "status",
    "error",
    "case",
    "interaction",
    "processed_at",
]


def process(inbound_id: int) -> Outcome:
    """Process one stored message now (reprocessing); same steps as a batch of one."""
    with transaction.atomic():
        row = InboundMessage.objects.select_for_update(of=("self",)).defer("raw").filter(id=inbound_id).first()
        if row is None:
            raise NotFound("No such message.")
        if row.status != InboundStatus.RECEIVED:
            return _outcome(row, duplicate=True)
        batch = Batch([row])
        _process_one(row, batch)
        _open_waiting_cases(batch)
        _link_opening_entries(batch.opened)
    return _outcome(row)


@transaction.atomic
def reprocess(*, actor: object, inbound_id: int) -> Outcome:
    """An admin retries an unprocessable message after a fix."""
    from rapport.people.models import Role
    from rapport.people.permissions import require_role

    require_role(actor, Role.ADMIN, "reprocess inbound email")  # type: ignore[arg-type]
    InboundMessage.objects.filter(id=inbound_id, status=InboundStatus.UNPROCESSABLE).update(
        status=InboundStatus.RECEIVED, error=""
    )
    return process(inbound_id)


class Batch:
    """What a batch shares: the raw bytes (read together), the parsed messages, our own
    addresses, and every sender's customer, found in one query for the whole batch."""

    def __init__(self, rows: list[InboundMessage]) -> None:
        small = [r.id for r in rows if r.size <= INLINE_RAW_BYTES]
        self.raw: dict[int, bytes] = {
            i: bytes(raw) for i, raw in InboundMessage.objects.filter(id__in=small).values_list("id", "raw")
        }
        self.parsed: dict[int, EmailMessage | None] = {r.id: self._parse(r.id) for r in rows}
        self.ours = _our_addresses()
        self.senders: dict[int, str] = {}
        self.machine: dict[int, str] = {}  # why a message is machine-written ('' when it is not)
        self.opened: list[int] = []  # messages that opened a case, for _link_opening_entries
        self.waiting: dict[int, NewCase] = {}  # messages whose case the batch opens together, in order
        names: dict[str, str] = {}  # senders who may become prospects, with their display names
        for row in rows:
            name, self.senders[row.id] = self._sender(row.id)
            if self._may_become_prospect(row.id):
                names.setdefault(self.senders[row.id], name)
        senders = set(self.senders.values()) - {""}
        points = list(
            ContactPoint.objects.select_related("customer").filter(kind=ContactPointKind.EMAIL, value__in=senders)
        )
        self.customers: dict[str, Customer] = {p.value: p.customer for p in points}
        missing = {sender: name for sender, name in names.items() if sender not in self.customers}
        self.customers |= _create_prospects(missing)
        since = timezone.now() - timedelta(hours=1)
        recent = (
            InboundMessage.objects.filter(
                sender__in=senders, received_at__gte=since, case__isnull=False, status=InboundStatus.PROCESSED
            )
            .values("sender")
            .annotate(n=Count("id"))
        )
        # Messages with a case per sender in the last hour, kept current as the batch goes on.
        self.cases_last_hour: dict[str, int] = {r["sender"]: r["n"] for r in recent}
        # The automatic-mail limit (outbound._automatic_allowed) for every sender at once.
        self.automatic_last_hour = outbound.automatic_last_hour(sorted(senders))
        self.bouncing = {p.value for p in points if p.bouncing}

    def is_waiting(self, row: InboundMessage) -> bool:
        return row.id in self.waiting

    def count_case(self, sender: str, n: int = 1) -> None:
        """Messages with a case per sender in the last hour (the new-case limit)."""
        self.cases_last_hour[sender] = self.cases_last_hour.get(sender, 0) + n

    def forget(self, row: InboundMessage) -> None:
        """A waiting message failed after all: it opens no case."""
        if self.waiting.pop(row.id, None) is not None:
            self.count_case(row.sender, -1)

    def automatic_allowed(self, address: str) -> bool:
        """Counted as allowed: the acknowledgement about to be queued is the next one."""
        count = self.automatic_last_hour.get(address, 0)
        if count >= outbound.MAX_AUTOMATIC_PER_ADDRESS_HOUR or address in self.bouncing:
            return False
        self.automatic_last_hour[address] = count + 1
        return True

    def raw_of(self, row_id: int) -> bytes:
        if row_id not in self.raw:
            self.raw[row_id] = bytes(InboundMessage.objects.values_list("raw", flat=True).get(id=row_id))
        return self.raw[row_id]

    def _parse(self, row_id: int) -> EmailMessage | None:
        if row_id not in self.raw:
            return None  # a large message: parsed when its turn comes
        try:
            return mime.parse(self.raw[row_id])
        except Exception:  # the message's own step will fail again and record why
            return None

    def message(self, row_id: int) -> EmailMessage:
        msg = self.parsed.get(row_id)
        return msg if msg is not None else mime.parse(self.raw_of(row_id))

    def sender_of(self, row: InboundMessage) -> str:
        return self.senders.get(row.id, "")

    def _may_become_prospect(self, row_id: int) -> bool:
        msg, sender = self.parsed[row_id], self.senders[row_id]
        try:
            if not sender or msg is None or _is_dsn(msg):
                return False
            self.machine[row_id] = _machine_written(msg, sender, self.ours)
            return not self.machine[row_id]
        except Exception:  # decided again, and any error recorded, when the message's turn comes
            return False

    def _sender(self, row_id: int) -> tuple[str, str]:
        msg = self.parsed.get(row_id)
        try:
            found = mime.addresses(msg, "From") if msg is not None else []
            return (found[0][0], normalise_email(found[0][1], "from")) if found else ("", "")
        except Exception:
            return "", ""


def _create_prospects(names: dict[str, str]) -> dict[str, Customer]:
    """New senders become prospect customers with one insert per table for the whole batch
    (create_customer's rows: customer, primary email, name keys, audit; CustomerCreated after
    commit). If another worker or the contact form created one of them meanwhile, the unique
    email index refuses the insert; the savepoint undoes it and each message then finds or
    creates its customer one by one."""
    if not names:
        return {}
    made: list[Customer] = []
    try:
        with transaction.atomic():
            senders = sorted(names)
            made = Customer.objects.bulk_create(
                Customer(name=_display_name(names[s], s), status=CustomerStatus.PROSPECT) for s in senders
            )
            ContactPoint.objects.bulk_create(
                ContactPoint(customer=c, kind=ContactPointKind.EMAIL, value=s, is_primary=True)
                for c, s in zip(made, senders, strict=True)
            )
            NameKey.objects.bulk_create(NameKey(customer=c, key=k) for c in made for k in name_keys(c.name))
            audit.record_many(
                AuditEntry(
                    at=c.created_at,
                    action="customer.created",
                    subject_type="customer",
                    subject_id=c.id,
                    changes={"name": c.name, "status": c.status, "emails": [s], "source": "inbound email"},
                )
                for c, s in zip(made, senders, strict=True)
            )
    except DatabaseError:  # IntegrityError above all; any other refusal also falls back
        return {}
    for customer in made:
        events.publish(CustomerCreated(customer_id=customer.id, at=customer.created_at))
    return {s: c for c, s in zip(made, sorted(names), strict=True)}


def _display_name(name: str, address: str) -> str:
    return " ".join(name.split())[:200] or address.split("@", 1)[0]


# --- the steps --------------------------------------------------------------------------


def _process(row: InboundMessage, batch: Batch) -> None:
    msg = batch.message(row.id)
    if msg.defects and not msg.keys():
        raise ValueError(f"not an email message ({msg.defects[0].__class__.__name__})")
    row.subject = mime.header(msg, "Subject")[:300]
    body = mime.body_of(msg)
    row.body_text, row.body_html = body.text, body.html
    row.new_text = mime.split_reply(body.text)
    row.auth_results = "\n".join(
        filter(None, (mime.header(msg, "Authentication-Results"), mime.header(msg, "Received-SPF")))
    )[:2000]
    senders = mime.addresses(msg, "From")
    if not senders:
        _set(row, InboundStatus.UNPROCESSABLE, "The message has no From address.")
        return
    name, address = senders[0]
    try:
        row.sender = normalise_email(address, "from")
    except InvalidInput:
        _set(row, InboundStatus.UNPROCESSABLE, f"The From address '{address[:100]}' is not valid.")
        return
    if _is_dsn(msg):
        _bounce(row, msg)
        return
    machine = batch.machine.get(row.id)  # decided by the batch's look-ahead for the same sender
    if machine is None or batch.sender_of(row) != row.sender:
        machine = _machine_written(msg, row.sender, batch.ours)
    customer = batch.customers.get(row.sender)
    if customer is None:
        customer = customer_for(row.sender, name, create=not machine)
        if customer is not None:
            batch.customers[row.sender] = customer
    elif customer.merged_into_id:
        customer = Customer.objects.get(id=customer.merged_into_id)
    if machine or customer is None:
        _set(row, InboundStatus.IGNORED, machine)
        if customer is not None:
            row.interaction = _timeline(row, customer.id, f"Automatic email (no case): {row.subject or '(no subject)'}")
        return
    case = _thread(row, msg, customer)
    if case is not None:
        _reply_on(row, case, customer, batch)
    else:
        _new_case(row, msg, customer, batch)


def _set(row: InboundMessage, status: str, reason: str) -> None:
    row.status, row.error = status, reason


def _is_dsn(msg: EmailMessage) -> bool:
    return msg.get_content_type() == "multipart/report"


def _machine_written(msg: EmailMessage, sender: str, ours: set[str]) -> str:
    """Why this mail is machine-written (RFC 3834 and common practice), or ''."""
    auto = mime.header(msg, "Auto-Submitted").lower()
    if auto and auto != "no":
        return f"Auto-Submitted: {auto}"
    for name in AUTO_HEADERS:
        if mime.header(msg, name):
            return f"{name} header"
    if sender in ours:
        return "sent from one of our own addresses"
    local = sender.split("@", 1)[0]
    if local in ("mailer-daemon", "postmaster"):
        return "sent by a mail system"
    return ""


def _our_addresses() -> set[str]:
    from django.conf import settings

    ours = set(Channel.objects.values_list("address", flat=True))
    ours.add(parseaddr(settings.DEFAULT_FROM_EMAIL)[1].lower())
    return ours


def _bulk(msg: EmailMessage) -> bool:
    return mime.header(msg, "Precedence").lower() in BULK_PRECEDENCE or bool(mime.header(msg, "List-Id"))


def _bounce(row: InboundMessage, msg: EmailMessage) -> None:
    """A delivery report: mark the failed addresses bouncing, note it on their timelines."""
    failed = mime.dsn_failed_recipients(msg)
    points = list(ContactPoint.objects.filter(kind=ContactPointKind.EMAIL, value__in=failed))
    ContactPoint.objects.filter(id__in=[p.id for p in points]).update(bouncing=True)
    for point in points:
        row.interaction = _timeline(row, point.customer_id, f"Email to {point.value} bounced")
    _set(row, InboundStatus.IGNORED, f"Delivery report; bouncing: {', '.join(failed) or 'none recognised'}")


def customer_for(address: str, name: str, *, create: bool) -> Customer | None:
    point = ContactPoint.objects.select_related("customer").filter(kind=ContactPointKind.EMAIL, value=address).first()
    if point is not None:
        customer = point.customer
        return Customer.objects.get(id=customer.merged_into_id) if customer.merged_into_id else customer
    if not create:
        return None
    display = _display_name(name, address)
    try:
        return create_customer(
            actor=None, data=CustomerInput(name=display, emails=[address], status=CustomerStatus.PROSPECT)
        )
    except Conflict:  # another message from this new sender won the race
        return ContactPoint.objects.select_related("customer").get(kind=ContactPointKind.EMAIL, value=address).customer


def _timeline(row: InboundMessage, customer_id: int, summary: str) -> Interaction:
    return log_interaction(
        actor=None,
        customer_id=customer_id,
        channel=Medium.EMAIL,
        direction=Direction.INBOUND,
        summary=summary[:300],
        body=row.new_text,
        source_type="inbound_email",
        source_id=row.id,
    )


def _thread(row: InboundMessage, msg: EmailMessage, customer: Customer) -> Case | None:
    """Our own Message-IDs in In-Reply-To/References first; then a [C-000123] token, but only
    from someone already on that case. Never by subject text alone."""
    refs = mime.message_ids(mime.header(msg, "In-Reply-To")) + mime.message_ids(mime.header(msg, "References"))
    if refs:
        ours = OutboundMessage.objects.filter(message_id__in=refs, case__isnull=False).order_by("-created_at").first()
        if ours is not None and ours.case_id is not None:
            return Case.objects.get(id=ours.case_id)
    match = mime.TOKEN_RE.search(row.subject)
    if match is None:
        return None
    case = Case.objects.filter(id=int(match.group(1))).first()
    if case is None:
        return None
    if _participant(case, customer, row.sender):
        return case
    row.error = f"Quoted {case.reference} but is not a participant of it; opened a new case."
    return None


def _participant(case: Case, customer: Customer, address: str) -> bool:
    return (
        case.customer_id == customer.id
        or InboundMessage.objects.filter(case=case, sender=address).exists()
        or OutboundMessage.objects.filter(case=case, to=address).exists()
    )


def _reply_on(row: InboundMessage, case: Case, customer: Customer, batch: Batch) -> None:
    row.interaction = _timeline(row, customer.id, f"Email on {case.reference}: {row.subject or '(no subject)'}")
    row.case = case
    files = _attachments(row, case, batch)
    cases.record_customer_reply(
        actor=None, case_id=case.id, body=_with_notes(row.new_text, files), interaction_id=row.interaction.id
    )
    _note_verdict(row, case)
    _set(row, InboundStatus.PROCESSED, "")


@dataclass
class NewCase:
    """A message that opens a case, waiting for the batch to open its cases together."""

    row: InboundMessage
    msg: EmailMessage
    data: cases.CaseInput
    flagged: str  # why the message is flagged (a stranger quoting someone else's reference), or ''


def _new_case(row: InboundMessage, msg: EmailMessage, customer: Customer, batch: Batch) -> None:
    if batch.cases_last_hour.get(row.sender, 0) >= MAX_NEW_CASES_PER_SENDER_HOUR:
        row.interaction = _timeline(row, customer.id, f"Email (sender over the new-case limit): {row.subject}")
        _set(row, InboundStatus.IGNORED, "Too many new cases from this sender in the last hour.")
        return
    team = row.channel.default_team.name if row.channel and row.channel.default_team else None
    data = cases.CaseInput(
        customer_id=customer.id,
        type="question",
        subject=(" ".join(row.subject.split()) or "(no subject)")[:200],
        description=row.new_text[:100_000],
        channel=Medium.EMAIL,
        team=team,
    )
    batch.waiting[row.id] = NewCase(row, msg, data, flagged=row.error)
    batch.count_case(row.sender)  # the limit holds for this sender's next message in the batch


def _finish_new_case(new: NewCase, case: Case, clocks: list[SlaClock], batch: Batch) -> None:
    """What follows the opening: attachments, flags, the verdict, the acknowledgement."""
    row, flagged = new.row, new.flagged
    row.case = case  # its opening timeline entry is linked for the whole batch at the end
    files = _attachments(row, case, batch)
    if flagged:
        CaseEvent.objects.create(case=case, kind="flagged", data={"reason": flagged}, at=timezone.now())
    if files:  # the case says which attachments were refused, and why
        notes = "\n\n".join(f"[{note}]" for note in files)
        Case.objects.filter(id=case.id).update(description=f"{case.description}\n\n{notes}".strip())
    _note_verdict(row, case)
    _set(row, InboundStatus.PROCESSED, flagged)
    if not _bulk(new.msg):
        outbound.queue_acknowledgement(
            case=case,
            to=row.sender,
            channel=row.channel,
            in_reply_to=row.message_id,
            first_message=True,
            allowed=batch.automatic_allowed(row.sender),
            clocks=clocks,  # the promise needs no second read of them
        )


def _note_verdict(row: InboundMessage, case: Case) -> None:
    """The provider's SPF/DKIM verdict goes on the case, so a spoofed address is visible."""
    verdict = row.auth_results.lower()
    if not verdict:
        return
    failed = [name for name in ("spf", "dkim", "dmarc") if f"{name}=fail" in verdict or f"{name}=softfail" in verdict]
    if row.auth_results.lower().startswith("fail") or "received-spf: fail" in verdict:
        failed.append("spf")
    CaseEvent.objects.create(
        case=case,
        kind="sender_verdict",
        at=timezone.now(),
        data={"inbound_id": row.id, "failed": sorted(set(failed)), "headers": row.auth_results[:1000]},
    )


def _attachments(row: InboundMessage, case: Case, batch: Batch) -> list[str]:
    """Store files under generated names; refuse (and say why) what is over the limits."""
    walk = mime.walk_files(batch.message(row.id))
    notes: list[str] = []
    if walk.too_deep:
        notes.append(f"Nested messages deeper than {mime.MAX_DEPTH} levels were not opened.")
    if walk.too_many:
        notes.append(f"Only the first {mime.MAX_PARTS} parts were read.")
    total = 0
    for part in walk.files:
        size = len(part.payload)
        reason = ""
        if size > MAX_FILE_BYTES:
            reason = f"{size / 1048576:.1f} MB is over the {MAX_FILE_BYTES // 1048576} MB limit per file"
        elif total + size > MAX_MESSAGE_FILES_BYTES:
            reason = f"the message's files are over the {MAX_MESSAGE_FILES_BYTES // 1048576} MB limit"
        name = ""
        if not reason:
            total += size
            name = default_storage.save(f"attachments/{uuid.uuid4().hex}", ContentFile(part.payload))
        else:
            notes.append(f"Attachment '{part.filename}' refused: {reason}.")
        Attachment.objects.create(
            message=row,
            case=case,
            storage_name=name,
            label=part.filename,
            content_type=part.content_type[:127],
            size=size,
            refused_reason=reason,
        )
    if notes:
        CaseEvent.objects.create(case=case, kind="attachments_refused", data={"notes": notes}, at=timezone.now())
    return notes


def _with_notes(text: str, notes: list[str]) -> str:
    return "\n\n".join(filter(None, [text, *(f"[{n}]" for n in notes)])) or "(empty message)"
