"""API v1 routes of the channels app: channel set-up, the inbound email door, the
unprocessable list."""

from __future__ import annotations

from datetime import datetime

from django.http import HttpRequest, HttpResponse
from ninja import Router, Schema
from ninja.security import HttpBearer

from rapport.channels import email_templates, inbound, services, webhooks
from rapport.channels.models import Channel, InboundMessage, InboundStatus
from rapport.core.api import idempotent_create, json_response, problem
from rapport.core.errors import InvalidInput
from rapport.core.pagination import clamp_limit
from rapport.people.api import staff_of
from rapport.people.models import Role
from rapport.people.permissions import require_role

router = Router(tags=["channels"])


class ChannelToken(HttpBearer):
    """The inbound door's own credential: a channel token, never a staff token."""

    def authenticate(self, request: HttpRequest, token: str) -> Channel | None:
        return services.channel_for_token(token)


class ChannelIn(Schema):
    kind: str = "email"
    name: str
    address: str
    default_team: str | None = None


@router.post("/channels", response={201: dict})
def create_channel(request: HttpRequest, payload: ChannelIn) -> HttpResponse:
    def create() -> tuple[int, dict[str, object]]:
        channel, token = services.create_channel(
            actor=staff_of(request),
            kind=payload.kind,
            name=payload.name,
            address=payload.address,
            default_team=payload.default_team,
        )
        return 201, {
            "id": channel.id,
            "kind": channel.kind,
            "name": channel.name,
            "address": channel.address,
            "default_team": payload.default_team,
            "inbound_token": token,
        }

    return idempotent_create(request, create)


@router.post("/inbound/email", auth=ChannelToken(), response={202: dict})
def inbound_email(request: HttpRequest) -> HttpResponse:
    """The raw message as the body (Content-Type: message/rfc822). Answers 202 once the message
    is stored: `{"id", "status": "received", "case": null, "url"}`; the worker then opens a case
    or adds it to one (follow `url` for the case reference or the reason none was opened).
    The same message again answers `"duplicate": true` with the first one's state and case."""
    content_type = request.content_type or ""
    if content_type.lower() != "message/rfc822":
        return problem(415, "Unsupported media type", "Send the raw message with Content-Type: message/rfc822.")
    raw = request.body
    if not raw.strip():
        raise InvalidInput("The body is empty; send the raw message.", "message")
    channel = request.auth  # type: ignore[attr-defined]  # ChannelToken authenticates a channel, not staff
    outcome = inbound.receive(raw, channel=channel, source="http")
    return json_response(202, outcome.as_dict() | {"url": f"/api/v1/inbound/email/{outcome.inbound_id}"})


@router.get("/inbound/email/{inbound_id}", auth=ChannelToken(), response={200: dict})
def inbound_email_outcome(request: HttpRequest, inbound_id: int) -> HttpResponse:
    """Where a message this channel delivered stands: `status` is received (waiting for the
    worker), processed (with `case`), ignored or unprocessable (with `reason`)."""
    channel = request.auth  # type: ignore[attr-defined]
    return json_response(200, inbound.outcome_of(channel=channel, inbound_id=inbound_id).as_dict())


class InboundOut(Schema):
    id: int
    status: str
    sender: str
    subject: str
    error: str
    received_at: datetime
    size: int


@router.get("/inbound", response=list[InboundOut])
def list_inbound(
    request: HttpRequest,
    status: str = InboundStatus.UNPROCESSABLE,
    limit: int = 50,
) -> list[InboundMessage]:
    """What could not be processed (or any status): admins look, fix, reprocess."""
    require_role(staff_of(request), Role.ADMIN, "see inbound email")
    return list(
        InboundMessage.objects.filter(status=status).defer("raw").order_by("-received_at")[: clamp_limit(limit)]
    )


@router.post("/inbound/{inbound_id}/reprocess", response={200: dict})
def reprocess(request: HttpRequest, inbound_id: int) -> HttpResponse:
    outcome = inbound.reprocess(actor=staff_of(request), inbound_id=inbound_id)
    return json_response(200, outcome.as_dict())


class WebhookIn(Schema):
    url: str
    events: list[str]
    allow_private: bool = False


@router.post("/webhooks", response={201: dict})
def create_webhook(request: HttpRequest, payload: WebhookIn) -> HttpResponse:
    """Subscribe a URL to events; the signing secret is in this answer only."""

    def create() -> tuple[int, dict[str, object]]:
        subscription, secret = webhooks.create_subscription(
            actor=staff_of(request),
            url=payload.url,
            events=payload.events,
            allow_private=payload.allow_private,
        )
        return 201, {
            "id": subscription.id,
            "url": subscription.url,
            "events": subscription.events,
            "allow_private": subscription.allow_private,
            "secret": secret,
        }

    return idempotent_create(request, create)


class DeliveryOut(Schema):
    id: int
    event: str
    status: str
    attempts: int
    last_status_code: int | None
    last_error: str
    created_at: datetime
    delivered_at: datetime | None


@router.get("/webhooks/{webhook_id}/deliveries", response=list[DeliveryOut])
def webhook_deliveries(request: HttpRequest, webhook_id: int, limit: int = 50) -> list[object]:
    return list(
        webhooks.deliveries(
            actor=staff_of(request),
            subscription_id=webhook_id,
            limit=clamp_limit(limit),
        )
    )


# --- the automatic emails' wording, per language ------------------------------------------


class TemplateIn(Schema):
    subject: str
    body: str


def _template_out(kind: str, language: str) -> dict[str, object]:
    subject, body, source = email_templates.effective(kind, language)
    return {
        "kind": kind,
        "language": language,
        "subject": subject,
        "body": body,
        "source": source,  # this language, the default language, or "shipped" (the code's default)
        "values": sorted(email_templates.KINDS[kind].values),
    }


@router.get("/channels/templates", response={200: list[dict]})
def list_templates(request: HttpRequest) -> list[dict[str, object]]:
    """Every automatic email, the values its template may use, and the languages worded."""
    require_role(staff_of(request), Role.MANAGER, "see email templates")
    return email_templates.listing()


@router.get("/channels/templates/{kind}/{language}", response={200: dict})
def get_template(request: HttpRequest, kind: str, language: str) -> HttpResponse:
    """The wording a customer speaking `language` gets (with fallback), and where it comes from."""
    require_role(staff_of(request), Role.MANAGER, "see email templates")
    return json_response(200, _template_out(kind, language))


@router.put("/channels/templates/{kind}/{language}", response={200: dict})
def put_template(request: HttpRequest, kind: str, language: str, payload: TemplateIn) -> HttpResponse:
    """Word one email in one language (Django template syntax, sandboxed). A template that does
    not compile or uses a value the email does not offer is a 422 naming the field."""
    row = email_templates.save_template(
        actor=staff_of(request), kind=kind, language=language, subject=payload.subject, body=payload.body
    )
    return json_response(200, _template_out(row.kind, row.language))
