"""API v1: customers, their timeline and search. Adapters only: parse, call, shape."""

from __future__ import annotations

import io
from collections.abc import Iterator
from datetime import datetime
from typing import Any

from django.conf import settings
from django.http import HttpRequest, HttpResponse, StreamingHttpResponse
from ninja import Field, Query, Router, Schema

from rapport.core.api import idempotent_create, json_response, problem
from rapport.core.errors import InvalidInput
from rapport.core.pagination import clamp_limit
from rapport.customers import imports, queries, services
from rapport.customers.imports import COLUMNS
from rapport.customers.models import ContactPointKind, Customer, Interaction
from rapport.people.api import staff_of
from rapport.people.permissions import require_staff

router = Router(tags=["customers"])


class Consent(Schema):
    email: bool = False
    phone: bool = False
    post: bool = False
    marketing: bool = False


class CustomerOut(Schema):
    id: int
    reference: str
    kind: str
    name: str
    emails: list[str]
    phones: list[str]
    status: str
    account_manager: str | None
    external_id: str | None
    preferred_channel: str
    language: str
    timezone: str
    tags: list[str]
    consent: Consent
    notes: str
    merged_into: int | None
    version: int
    created_at: datetime
    updated_at: datetime


class CustomerIn(Schema):
    name: str
    kind: str = "person"
    status: str = "prospect"
    emails: list[str] = []
    phones: list[str] = []
    account_manager: str | None = None
    external_id: str | None = None
    preferred_channel: str = ""
    language: str = "en"
    timezone: str = "UTC"
    tags: list[str] = []
    consent: dict[str, bool] = {}
    notes: str = ""


class CustomerPatch(Schema):
    name: str | None = None
    kind: str | None = None
    status: str | None = None
    emails: list[str] | None = None
    phones: list[str] | None = None
    account_manager: str | None = None
    external_id: str | None = None
    preferred_channel: str | None = None
    language: str | None = None
    timezone: str | None = None
    tags: list[str] | None = None
    consent: dict[str, bool] | None = None
    notes: str | None = None


class CustomerPage(Schema):
    items: list[CustomerOut]
    next_cursor: str | None


class MergeIn(Schema):
    duplicate_id: int


class InteractionIn(Schema):
    channel: str
    direction: str
    summary: str
    body: str = ""
    occurred_at: datetime | None = None
    duration_seconds: int | None = None


class InteractionOut(Schema):
    id: int
    customer: int
    channel: str
    direction: str
    occurred_at: datetime
    summary: str
    body: str
    staff: str | None
    duration_seconds: int | None
    source_type: str
    source_id: int | None
    created_at: datetime


class TimelinePage(Schema):
    items: list[InteractionOut]
    next_cursor: str | None


class SearchCustomer(Schema):
    id: int
    reference: str
    name: str
    status: str


class SearchInteraction(Schema):
    id: int
    customer: int
    customer_name: str
    channel: str
    occurred_at: datetime
    summary: str


class SearchOut(Schema):
    customers: list[SearchCustomer]
    interactions: list[SearchInteraction]


def customer_out(customer: Customer) -> dict[str, Any]:
    points = list(customer.contact_points.all())
    return {
        "id": customer.id,
        "reference": customer.reference,
        "kind": customer.kind,
        "name": customer.name,
        "emails": [p.value for p in points if p.kind == ContactPointKind.EMAIL],
        "phones": [p.value for p in points if p.kind == ContactPointKind.PHONE],
        "status": customer.status,
        "account_manager": customer.account_manager.username if customer.account_manager else None,
        "external_id": customer.external_id,
        "preferred_channel": customer.preferred_channel,
        "language": customer.language,
        "timezone": customer.timezone,
        "tags": [t.name for t in customer.tags.all()],
        "consent": customer.consent,
        "notes": customer.notes,
        "merged_into": customer.merged_into_id,
        "version": customer.version,
        "created_at": customer.created_at,
        "updated_at": customer.updated_at,
    }


def interaction_out(interaction: Interaction) -> dict[str, Any]:
    return {
        "id": interaction.id,
        "customer": interaction.customer_id,
        "channel": interaction.channel,
        "direction": interaction.direction,
        "occurred_at": interaction.occurred_at,
        "summary": interaction.summary,
        "body": interaction.body,
        "staff": interaction.staff.username if interaction.staff else None,
        "duration_seconds": interaction.duration_seconds,
        "source_type": interaction.source_type,
        "source_id": interaction.source_id,
        "created_at": interaction.created_at,
    }


def _etag(customer: Customer) -> str:
    return f'W/"{customer.id}-{customer.version}"'


def _expected_version(request: HttpRequest, customer_id: int) -> int | None:
    header = request.headers.get("If-Match", "").strip()
    if not header or header == "*":
        return None
    tag = header.removeprefix("W/").strip('"')
    ident, _, version = tag.partition("-")
    if ident != str(customer_id) or not version.isdigit():
        raise InvalidInput("If-Match must be an ETag this server sent for this customer.", "If-Match")
    return int(version)


def _with_etag(customer: Customer, status: int = 200) -> HttpResponse:
    body = CustomerOut.model_validate(customer_out(customer)).model_dump(mode="json")
    return json_response(status, body, {"ETag": _etag(customer)})


def _limit(limit: int | None) -> int:
    return clamp_limit(limit, settings.RAPPORT_API_DEFAULT_LIMIT, settings.RAPPORT_API_MAX_LIMIT)


class CustomerListQuery(Schema):
    q: str = ""
    status: str = ""
    account_manager: str = ""
    tag: str = ""
    external_id: str = ""
    segment: str = Field("", description="value segment, e.g. champions, at_risk")
    tier: str = Field("", description="care tier, e.g. platinum")
    limit: int | None = Field(None, description="1 to 200; default 50")
    cursor: str | None = None


@router.get("/customers", response=CustomerPage, summary="List and filter customers (cursor pages)")
def list_customers(request: HttpRequest, params: Query[CustomerListQuery]) -> dict[str, Any]:
    require_staff(staff_of(request))
    filters = queries.CustomerFilters(
        q=params.q,
        status=params.status,
        account_manager=params.account_manager,
        tag=params.tag,
        external_id=params.external_id,
        segment=params.segment,
        tier=params.tier,
    )
    page = queries.list_customers(filters, cursor=params.cursor, limit=_limit(params.limit))
    return {"items": [customer_out(c) for c in page.items], "next_cursor": page.next_cursor}


@router.post(
    "/customers",
    response={201: CustomerOut},
    summary="Create a customer",
    description=(
        "Send an `Idempotency-Key` header to make retries safe. 409 when an email already belongs to a customer."
    ),
)
def create_customer(request: HttpRequest, payload: CustomerIn) -> HttpResponse:
    def create() -> tuple[int, dict[str, Any]]:
        data = services.CustomerInput(**payload.dict())
        customer = services.create_customer(actor=staff_of(request), data=data)
        return 201, CustomerOut.model_validate(customer_out(queries.get_customer(customer.id))).model_dump(mode="json")

    return idempotent_create(request, create)


@router.get("/customers/{int:customer_id}", response=CustomerOut, summary="One customer (with an ETag)")
def get_customer(request: HttpRequest, customer_id: int) -> HttpResponse:
    require_staff(staff_of(request))
    return _with_etag(queries.get_customer(customer_id))


@router.patch(
    "/customers/{int:customer_id}",
    response=CustomerOut,
    summary="Change a customer",
    description="Send `If-Match` with the ETag you read to refuse a stale write (412).",
)
def patch_customer(request: HttpRequest, customer_id: int, payload: CustomerPatch) -> HttpResponse:
    given = payload.dict(exclude_unset=True)
    for clearable in ("account_manager", "external_id", "preferred_channel"):
        if clearable in given and given[clearable] is None:
            given[clearable] = ""  # an explicit null clears the field
    data = services.CustomerInput(**given)
    services.update_customer(
        actor=staff_of(request),
        customer_id=customer_id,
        data=data,
        expected_version=_expected_version(request, customer_id),
    )
    return _with_etag(queries.get_customer(customer_id))


@router.post("/customers/{customer_id}/merge", response=CustomerOut, summary="Merge a duplicate into this customer")
def merge_customer(request: HttpRequest, customer_id: int, payload: MergeIn) -> HttpResponse:
    services.merge_customers(actor=staff_of(request), survivor_id=customer_id, duplicate_id=payload.duplicate_id)
    return _with_etag(queries.get_customer(customer_id))


@router.post("/customers/{customer_id}/interactions", response={201: InteractionOut}, summary="Log a contact")
def log_interaction(request: HttpRequest, customer_id: int, payload: InteractionIn) -> HttpResponse:
    def create() -> tuple[int, dict[str, Any]]:
        interaction = services.log_interaction(actor=staff_of(request), customer_id=customer_id, **payload.dict())
        return 201, InteractionOut.model_validate(interaction_out(interaction)).model_dump(mode="json")

    return idempotent_create(request, create)


@router.get("/customers/{customer_id}/timeline", response=TimelinePage, summary="A customer's contacts, newest first")
def customer_timeline(
    request: HttpRequest, customer_id: int, limit: int | None = None, cursor: str | None = None
) -> dict[str, Any]:
    require_staff(staff_of(request))
    page = queries.timeline(queries.surviving_id(customer_id), cursor=cursor, limit=_limit(limit))
    return {"items": [interaction_out(i) for i in page.items], "next_cursor": page.next_cursor}


@router.get("/search", response=SearchOut, summary="Search customers and contacts")
def search(request: HttpRequest, q: str, limit: int = 20) -> dict[str, Any]:
    require_staff(staff_of(request))
    limit = clamp_limit(limit, 20, 100)
    return {
        "customers": [
            {"id": c.id, "reference": c.reference, "name": c.name, "status": c.status}
            for c in queries.search_customers(q, limit=limit)
        ],
        "interactions": [
            {
                "id": i.id,
                "customer": i.customer_id,
                "customer_name": i.customer.name,
                "channel": i.channel,
                "occurred_at": i.occurred_at,
                "summary": i.summary,
            }
            for i in queries.search_interactions(q, limit=limit)
        ],
    }


# --- CSV import and export (rapport.customers.imports) -----------------------------------------
class ImportRowError(Schema):
    line: int
    field: str
    message: str


class ImportReportOut(Schema):
    dry_run: bool
    rows: int
    created: int
    errors: list[ImportRowError]


@router.post(
    "/customers/import",
    response={200: ImportReportOut, 201: ImportReportOut},
    summary="Import customers from CSV",
    description=(
        "Send the CSV as the request body with `Content-Type: text/csv` (UTF-8, up to 50 MB). Columns: "
        + ", ".join(f"`{c}`" for c in COLUMNS)
        + "; `emails`, `phones` and `tags` hold several values separated by `;`. With `dry_run=true` "
        "(the default) every row is checked and nothing is written (200). A real import answers 201. "
        "If any row is bad nothing is imported: 422 with `errors` listing every bad row by line "
        "(line 1 is the header). Care managers and above."
    ),
    openapi_extra={"requestBody": {"content": {"text/csv": {"schema": {"type": "string"}}}, "required": True}},
)
def import_customers_csv(request: HttpRequest, dry_run: bool = True) -> HttpResponse:
    if request.content_type != "text/csv":
        raise InvalidInput("Send the file with Content-Type: text/csv.", "Content-Type")
    report = imports.import_customers(actor=staff_of(request), source=io.BytesIO(request.body), dry_run=dry_run)
    return import_report_response(report)


def import_report_response(report: imports.ImportReport) -> HttpResponse:
    """A CSV import's report: 200 for a clean dry run, 201 after a real import, 422 listing
    every bad row (nothing imported). Shared by every CSV import endpoint."""
    body = {
        "dry_run": report.dry_run,
        "rows": report.rows,
        "created": report.created,
        "errors": [{"line": e.line, "field": e.field, "message": e.message} for e in report.errors],
    }
    if report.errors:
        return problem(
            422, "Invalid input", f"{len(report.errors)} problem(s) in the file; nothing was imported.", **body
        )
    return json_response(200 if report.dry_run else 201, body)


@router.get(
    "/customers/export",
    summary="Export customers as CSV",
    description=(
        "The same filters as the list (`q`, `status`, `account_manager`, `tag`, `segment`, `tier`); the CSV "
        "re-imports. Team leads and above."
    ),
    response={200: str},
    openapi_extra={"responses": {"200": {"content": {"text/csv": {"schema": {"type": "string"}}}}}},
)
def export_customers_csv(
    request: HttpRequest,
    q: str = "",
    status: str = "",
    account_manager: str = "",
    tag: str = "",
    segment: str = "",
    tier: str = "",
) -> StreamingHttpResponse:
    filters = queries.CustomerFilters(
        q=q, status=status, account_manager=account_manager, tag=tag, segment=segment, tier=tier
    )
    lines = imports.export_customers(actor=staff_of(request), filters=filters)
    return csv_download(lines)


def csv_download(lines: Iterator[str], filename: str = "customers.csv") -> StreamingHttpResponse:
    response = StreamingHttpResponse(lines, content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="{filename}"'
    return response
