"""Write use-cases of the channels app: set up a channel, the public contact form."""

from __future__ import annotations

import hashlib
import secrets
import uuid
from dataclasses import dataclass

from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from django.db import IntegrityError, transaction

from rapport.cases import services as cases
from rapport.cases.models import OPEN_STATUSES, Case, CaseType
from rapport.channels import inbound, outbound
from rapport.channels.models import Attachment, Channel, ChannelKind
from rapport.core import audit
from rapport.core.errors import Conflict, InvalidInput
from rapport.customers.models import Channel as Medium
from rapport.customers.validation import normalise_email
from rapport.people.models import Role, Staff, Team
from rapport.people.permissions import require_role

TOKEN_PREFIX = "rci_"  # noqa: S105 - a marker, not a secret: "rapport channel inbound"


def token_digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


@transaction.atomic
def create_channel(
    *,
    actor: Staff,
    kind: str,
    name: str,
    address: str,
    default_team: str | None = None,
) -> tuple[Channel, str]:
    """A new email channel and its inbound token (returned once, stored as a digest)."""
    require_role(actor, Role.ADMIN, "configure channels")
    errors: dict[str, list[str]] = {}
    if kind not in ChannelKind.values:
        errors["kind"] = [f"'{kind}' is not one of: {', '.join(ChannelKind.values)}."]
    name = " ".join((name or "").split())
    if not name:
        errors["name"] = ["A channel needs a name."]
    try:
        address = normalise_email(address or "", "address")
    except InvalidInput as exc:
        errors.update(exc.errors)
    team = Team.objects.filter(name=default_team).first() if default_team else None
    if default_team and team is None:
        errors["default_team"] = [f"No team is called '{default_team}'."]
    if errors:
        raise InvalidInput(errors)
    token = TOKEN_PREFIX + secrets.token_urlsafe(32)
    try:
        with transaction.atomic():
            channel = Channel.objects.create(
                kind=kind, name=name, address=address, default_team=team, inbound_token_digest=token_digest(token)
            )
    except IntegrityError:
        raise Conflict(f"A channel for {address} already exists.", field="address") from None
    audit.record(
        actor=actor,
        action="channel.created",
        subject_type="channel",
        subject_id=channel.id,
        changes={"name": name, "address": address, "default_team": default_team},
    )
    return channel, token


def channel_for_token(token: str) -> Channel | None:
    if not token.startswith(TOKEN_PREFIX):
        return None
    return Channel.objects.filter(inbound_token_digest=token_digest(token), active=True).first()


# --- the public contact form -----------------------------------------------------------

TOPICS = {
    "question": ("Question", CaseType.QUESTION),
    "complaint": ("Complaint", CaseType.COMPLAINT),
    "request": ("Request", CaseType.REQUEST),
    "compliment": ("Compliment", CaseType.COMPLIMENT),
}
MAX_FORM_FILE = 5 * 1024 * 1024


@dataclass
class Upload:
    name: str
    content_type: str
    data: bytes


@dataclass
class ContactResult:
    case: Case
    new_case: bool


@transaction.atomic
def submit_contact_form(
    *,
    name: str,
    email: str,
    topic: str,
    message: str,
    upload: Upload | None = None,
) -> ContactResult:
    """A case from the public form, or a reply on the customer's open case on that topic."""
    errors: dict[str, list[str]] = {}
    name = " ".join((name or "").split())
    if not name:
        errors["name"] = ["Tell us your name."]
    try:
        email = normalise_email(email or "", "email")
    except InvalidInput as exc:
        errors.update(exc.errors)
    if topic not in TOPICS:
        errors["topic"] = ["Choose what your message is about."]
    if not (message or "").strip():
        errors["message"] = ["Write your message."]
    if upload is not None and len(upload.data) > MAX_FORM_FILE:
        errors["attachment"] = [f"A file can be at most {MAX_FORM_FILE // 1048576} MB."]
    if errors:
        raise InvalidInput(errors)
    label, case_type = TOPICS[topic]
    customer = inbound.customer_for(email, name, create=True)
    if customer is None:
        raise InvalidInput("We could not record your address.", "email")
    case = (
        Case.objects.filter(customer=customer, type=case_type, channel=Medium.WEB, status__in=OPEN_STATUSES)
        .order_by("-opened_at")
        .first()
    )
    new_case = case is None
    if case is not None:
        cases.record_customer_reply(actor=None, case_id=case.id, body=message, channel=Medium.WEB)
    else:
        first_line = message.strip().splitlines()[0]
        case = cases.open_case(
            actor=None,
            data=cases.CaseInput(
                customer_id=customer.id,
                type=case_type,
                subject=f"{label}: {first_line}"[:200],
                description=message,
                channel=Medium.WEB,
            ),
        )
    if upload is not None:
        stored = default_storage.save(f"attachments/{uuid.uuid4().hex}", ContentFile(upload.data))
        Attachment.objects.create(
            case=case,
            storage_name=stored,
            label=upload.name[:255] or "attachment",
            content_type=upload.content_type[:127] or "application/octet-stream",
            size=len(upload.data),
        )
    outbound.queue_acknowledgement(case=case, to=email, channel=None)
    return ContactResult(case=case, new_case=new_case)
