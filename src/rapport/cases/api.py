"""API v1: cases, SLA set-up, compensation, root causes and corrective actions."""

from __future__ import annotations

from datetime import date, datetime, timedelta
from decimal import Decimal
from typing import Any

from django.conf import settings
from django.http import HttpRequest, HttpResponse
from django.utils import timezone
from ninja import Query, Router, Schema, Status
from pydantic_core import to_json

from rapport.cases import queries, services
from rapport.cases.models import Case, Compensation, CorrectiveAction, RootCause, SlaClock, SlaPolicy
from rapport.core.api import idempotent_create, json_response
from rapport.core.errors import InvalidInput
from rapport.core.models import Calendar
from rapport.core.money import Money
from rapport.core.pagination import clamp_limit
from rapport.people.api import staff_of
from rapport.people.permissions import require_staff

router = Router(tags=["cases"])


class ClockOut(Schema):
    kind: str
    target_minutes: int
    due_at: datetime | None
    at_risk_at: datetime | None
    state: str
    breached_at: datetime | None


class MoneyOut(Schema):
    amount: Decimal
    currency: str


class CaseOut(Schema):
    reference: str
    customer: int
    type: str
    subject: str
    description: str
    channel: str
    priority: str
    status: str
    owner: str | None
    team: str | None
    watchers: list[str]
    opened_at: datetime
    created_at: datetime
    first_response_at: datetime | None
    resolved_at: datetime | None
    root_cause: int | None
    root_cause_statement: str
    sla_policy: str | None
    sla: list[ClockOut]
    compensation_total: list[MoneyOut]
    version: int


class CaseIn(Schema):
    customer: int
    type: str
    subject: str
    description: str = ""
    channel: str = "other"
    priority: str | None = None
    owner: str | None = None
    team: str | None = None
    status: str | None = None
    opened_at: datetime | None = None


class CasePatch(Schema):
    subject: str | None = None
    description: str | None = None
    type: str | None = None
    priority: str | None = None


class CasePage(Schema):
    items: list[CaseOut]
    next_cursor: str | None


def case_out(
    case: Case,
    totals: dict[str, Decimal] | None = None,
    *,
    clocks: list[SlaClock] | None = None,
    watchers: list[str] | None = None,
) -> dict[str, Any]:
    """``clocks`` and the watchers' usernames when the caller has them already (else they are read)."""
    now = timezone.now()
    return {
        "reference": case.reference,
        "customer": case.customer_id,
        "type": case.type,
        "subject": case.subject,
        "description": case.description,
        "channel": case.channel,
        "priority": case.priority,
        "status": case.status,
        "owner": case.owner.username if case.owner else None,
        "team": case.team.name if case.team else None,
        "watchers": [w.username for w in case.watchers.all()] if watchers is None else watchers,
        "opened_at": case.opened_at,
        "created_at": case.created_at,
        "first_response_at": case.first_response_at,
        "resolved_at": case.resolved_at,
        "root_cause": case.root_cause_id,
        "root_cause_statement": case.root_cause_statement,
        "sla_policy": case.sla_terms.get("policy"),
        "sla": [
            {
                "kind": c.kind,
                "target_minutes": c.target_minutes,
                "due_at": c.due_at,
                "at_risk_at": c.at_risk_at,
                "state": c.state(now),
                "breached_at": c.breached_at,
            }
            for c in (case.clocks.all() if clocks is None else clocks)
        ],
        "compensation_total": [{"amount": a, "currency": c} for c, a in sorted((totals or {}).items())],
        "version": case.version,
    }


def case_json(
    case: Case,
    totals: dict[str, Decimal] | None = None,
    *,
    clocks: list[SlaClock] | None = None,
    watchers: list[str] | None = None,
) -> bytes:
    """``case_out`` as JSON, serialised straight from the dict: it has CaseOut's shape (a test
    holds them equal), and validating it into CaseOut first cost ten times the serialising."""
    return to_json(case_out(case, totals, clocks=clocks, watchers=watchers))


def _etag(case: Case) -> str:
    return f'W/"{case.reference}-{case.version}"'


def _expected_version(request: HttpRequest, case: Case) -> int | None:
    header = request.headers.get("If-Match", "").strip()
    if not header or header == "*":
        return None
    ref, _, version = header.removeprefix("W/").strip('"').rpartition("-")
    if ref != case.reference or not version.isdigit():
        raise InvalidInput("If-Match must be an ETag this server sent for this case.", "If-Match")
    return int(version)


def _respond(reference: str, status: int = 200) -> HttpResponse:
    case = queries.get_case(reference)
    totals = queries.compensation_totals([case.id]).get(case.id)
    return json_response(status, case_json(case, totals), {"ETag": _etag(case)})


class CaseListQuery(Schema):
    status: str = ""
    type: str = ""
    priority: str = ""
    owner: str = ""
    team: str = ""
    customer: int | None = None
    breached: bool | None = None
    at_risk: bool | None = None
    limit: int | None = None
    cursor: str | None = None


@router.get("/cases", response=CasePage, summary="List cases (filters as the queues; cursor pages)")
def list_cases(request: HttpRequest, params: Query[CaseListQuery]) -> HttpResponse:
    actor = require_staff(staff_of(request))
    owner = actor.username if params.owner == "me" else params.owner
    filters = queries.CaseFilters(
        status=params.status,
        type=params.type,
        priority=params.priority,
        owner=owner,
        team=params.team,
        customer=params.customer,
        breached=params.breached,
        at_risk=params.at_risk,
    )
    limit = clamp_limit(params.limit, settings.RAPPORT_API_DEFAULT_LIMIT, settings.RAPPORT_API_MAX_LIMIT)
    page = queries.list_cases(filters, cursor=params.cursor, limit=limit)
    totals = queries.compensation_totals([item.case.id for item in page.items])
    items = [
        case_out(item.case, totals.get(item.case.id), clocks=item.clocks, watchers=item.watchers) for item in page.items
    ]
    return json_response(200, to_json({"items": items, "next_cursor": page.next_cursor}))  # CasePage, as case_json


@router.post(
    "/cases",
    response={201: CaseOut},
    summary="Open a case",
    description="Leads and above may give `opened_at` in the past for cases migrated from another system.",
)
def open_case(request: HttpRequest, payload: CaseIn) -> HttpResponse:
    def create() -> tuple[int, bytes]:
        data = services.CaseInput(customer_id=payload.customer, **payload.dict(exclude={"customer"}))
        case, clocks = services.open_case_with_clocks(actor=staff_of(request), data=data)
        # Owner, team and clocks are in hand and a new case has no watchers: no second read.
        return 201, case_json(case, clocks=clocks, watchers=[])

    return idempotent_create(request, create)


@router.get("/cases/{ref}", response=CaseOut, summary="One case, with its clocks (and an ETag)")
def get_case(request: HttpRequest, ref: str) -> HttpResponse:
    require_staff(staff_of(request))
    return _respond(ref)


@router.patch("/cases/{ref}", response=CaseOut, summary="Edit a case (If-Match for safe concurrent edits)")
def patch_case(request: HttpRequest, ref: str, payload: CasePatch) -> HttpResponse:
    case = queries.get_case(ref)
    services.update_case(
        actor=staff_of(request),
        case_id=case.id,
        changes=payload.dict(exclude_unset=True),
        expected_version=_expected_version(request, case),
    )
    return _respond(ref)


@router.post("/cases/{ref}/claim", response=CaseOut, summary="Take an unassigned case (409 if someone has it)")
def claim(request: HttpRequest, ref: str) -> HttpResponse:
    services.claim_case(actor=staff_of(request), case_id=queries.get_case(ref).id)
    return _respond(ref)


class HandoffIn(Schema):
    to_user: str | None = None
    to_team: str | None = None
    reason: str = ""


@router.post("/cases/{ref}/handoff", response=CaseOut, summary="Hand a case to a person or team")
def handoff(request: HttpRequest, ref: str, payload: HandoffIn) -> HttpResponse:
    case = queries.get_case(ref)
    services.hand_off(
        actor=staff_of(request),
        case_id=case.id,
        expected_version=_expected_version(request, case),
        **payload.dict(),
    )
    return _respond(ref)


class MessageIn(Schema):
    kind: str
    body: str
    handling_seconds: int | None = None  # staff time the work took


class MessageOut(Schema):
    id: int
    kind: str
    body: str
    author: str | None
    created_at: datetime
    handling_seconds: int | None = None


@router.post("/cases/{ref}/messages", response={201: MessageOut}, summary="Reply to the customer or add a note")
def add_message(request: HttpRequest, ref: str, payload: MessageIn) -> Status:
    message = services.add_message(
        actor=staff_of(request),
        case_id=queries.get_case(ref).id,
        kind=payload.kind,
        body=payload.body,
        handling_seconds=payload.handling_seconds,
    )
    return Status(
        201,
        {
            "id": message.id,
            "kind": message.kind,
            "body": message.body,
            "author": message.author.username if message.author else None,
            "created_at": message.created_at,
            "handling_seconds": message.handling_seconds,
        },
    )


class StatusIn(Schema):
    status: str


@router.post("/cases/{ref}/status", response=CaseOut, summary="Change status (waiting on customer pauses clocks)")
def set_status(request: HttpRequest, ref: str, payload: StatusIn) -> HttpResponse:
    case = queries.get_case(ref)
    services.set_status(
        actor=staff_of(request),
        case_id=case.id,
        status=payload.status,
        expected_version=_expected_version(request, case),
    )
    return _respond(ref)


class ResolveIn(Schema):
    root_cause: int | None = None
    statement: str = ""


@router.post("/cases/{ref}/resolve", response=CaseOut, summary="Resolve (complaints need a root cause)")
def resolve(request: HttpRequest, ref: str, payload: ResolveIn) -> HttpResponse:
    case = queries.get_case(ref)
    services.resolve_case(
        actor=staff_of(request),
        case_id=case.id,
        root_cause_id=payload.root_cause,
        statement=payload.statement,
        expected_version=_expected_version(request, case),
    )
    return _respond(ref)


class ReopenIn(Schema):
    reason: str = ""


@router.post("/cases/{ref}/reopen", response=CaseOut, summary="Reopen a resolved or closed case")
def reopen(request: HttpRequest, ref: str, payload: ReopenIn) -> HttpResponse:
    services.reopen_case(actor=staff_of(request), case_id=queries.get_case(ref).id, reason=payload.reason)
    return _respond(ref)


class CompensationIn(Schema):
    kind: str
    amount: str | None = None
    currency: str = ""
    description: str = ""


class CompensationOut(Schema):
    id: int
    case: str
    kind: str
    amount: Decimal | None
    currency: str
    description: str
    status: str
    requested_by: str
    decided_by: str | None
    decision_reason: str


def compensation_out(c: Compensation) -> dict[str, Any]:
    amount = Money.of(c.amount, c.currency).amount if c.amount is not None else None
    return {
        "id": c.id,
        "case": c.case.reference,
        "kind": c.kind,
        "amount": amount,
        "currency": c.currency,
        "description": c.description,
        "status": c.status,
        "requested_by": c.requested_by.username,
        "decided_by": c.decided_by.username if c.decided_by else None,
        "decision_reason": c.decision_reason,
    }


@router.post(
    "/cases/{ref}/compensations",
    response={201: CompensationOut, 202: CompensationOut},
    summary="Grant compensation (201) or ask for approval above your authority (202)",
)
def compensate(request: HttpRequest, ref: str, payload: CompensationIn) -> Status:
    c = services.request_compensation(actor=staff_of(request), case_id=queries.get_case(ref).id, **payload.dict())
    return Status(201 if c.status == "granted" else 202, compensation_out(c))


class DecisionIn(Schema):
    reason: str = ""


@router.post("/compensations/{compensation_id}/approve", response=CompensationOut, summary="Approve a request")
def approve(request: HttpRequest, compensation_id: int, payload: DecisionIn) -> dict[str, Any]:
    return compensation_out(
        services.approve_compensation(
            actor=staff_of(request),
            compensation_id=compensation_id,
            reason=payload.reason,
        )
    )


@router.post(
    "/compensations/{compensation_id}/reject", response=CompensationOut, summary="Reject a request, with a reason"
)
def reject(request: HttpRequest, compensation_id: int, payload: DecisionIn) -> dict[str, Any]:
    return compensation_out(
        services.reject_compensation(
            actor=staff_of(request),
            compensation_id=compensation_id,
            reason=payload.reason,
        )
    )


class HolidaysIn(Schema):
    country: str = ""
    subdivision: str = ""


class CalendarIn(Schema):
    name: str
    timezone: str
    weekly_hours: dict[str, list[list[str]]]
    holidays: HolidaysIn | None = None
    closed_dates: list[str] = []


class CalendarOut(Schema):
    id: int
    name: str
    timezone: str
    weekly_hours: dict[str, list[list[str]]]
    holidays: HolidaysIn
    closed_dates: list[str]


def calendar_out(c: Calendar) -> dict[str, Any]:
    return {
        "id": c.id,
        "name": c.name,
        "timezone": c.timezone,
        "weekly_hours": c.weekly_hours,
        "holidays": {"country": c.holiday_country, "subdivision": c.holiday_subdivision},
        "closed_dates": c.closed_dates,
    }


@router.get("/calendars", response=list[CalendarOut], summary="Business calendars")
def list_calendars(request: HttpRequest) -> list[dict[str, Any]]:
    require_staff(staff_of(request))
    return [calendar_out(c) for c in Calendar.objects.all()]


@router.post("/calendars", response={201: CalendarOut}, summary="Add a business calendar (care managers, admins)")
def create_calendar(request: HttpRequest, payload: CalendarIn) -> Status:
    calendar = services.create_calendar(
        actor=staff_of(request),
        name=payload.name,
        timezone_name=payload.timezone,
        weekly_hours=payload.weekly_hours,
        holidays=payload.holidays.dict() if payload.holidays else None,
        closed_dates=payload.closed_dates,
    )
    return Status(201, calendar_out(calendar))


class PolicyIn(Schema):
    name: str
    calendar: int
    case_type: str = ""
    priority: str = ""
    first_response_minutes: int
    next_response_minutes: int
    resolution_minutes: int
    at_risk_ratio: Decimal = Decimal("0.8")


class PolicyOut(PolicyIn):
    id: int
    active: bool


def policy_out(p: SlaPolicy) -> dict[str, Any]:
    return {
        "id": p.id,
        "name": p.name,
        "calendar": p.calendar_id,
        "case_type": p.case_type,
        "priority": p.priority,
        "first_response_minutes": p.first_response_minutes,
        "next_response_minutes": p.next_response_minutes,
        "resolution_minutes": p.resolution_minutes,
        "at_risk_ratio": p.at_risk_ratio,
        "active": p.active,
    }


@router.get("/sla-policies", response=list[PolicyOut], summary="Service-level policies")
def list_policies(request: HttpRequest) -> list[dict[str, Any]]:
    require_staff(staff_of(request))
    return [policy_out(p) for p in SlaPolicy.objects.all()]


@router.post("/sla-policies", response={201: PolicyOut}, summary="Add an SLA policy (applies to new cases)")
def create_policy(request: HttpRequest, payload: PolicyIn) -> Status:
    data = payload.dict()
    policy = services.create_sla_policy(actor=staff_of(request), calendar_id=data.pop("calendar"), **data)
    return Status(201, policy_out(policy))


class RootCauseIn(Schema):
    name: str
    parent: int | None = None


class RootCauseOut(Schema):
    id: int
    name: str
    parent: int | None
    path: str


@router.get("/root-causes", response=list[RootCauseOut], summary="The root-cause tree, flattened")
def list_root_causes(request: HttpRequest) -> list[dict[str, Any]]:
    require_staff(staff_of(request))
    paths = queries.root_cause_paths()
    active = RootCause.objects.filter(active=True)
    return sorted(
        ({"id": c.id, "name": c.name, "parent": c.parent_id, "path": paths[c.id]} for c in active),
        key=lambda row: row["path"],
    )


class RootCauseReportRow(Schema):
    root_cause: int | None
    path: str
    month: str
    complaints: int
    compensation: list[MoneyOut]


@router.get(
    "/root-causes/report",
    response=list[RootCauseReportRow],
    summary="Resolved complaints and compensation cost by root cause and month",
)
def root_cause_report(request: HttpRequest, months: int = 12) -> list[dict[str, Any]]:
    require_staff(staff_of(request))
    if not 1 <= months <= 60:
        raise InvalidInput("months must be between 1 and 60.", "months")
    since = (timezone.now() - timedelta(days=31 * months)).replace(day=1, hour=0, minute=0, second=0, microsecond=0)
    return [
        {
            "root_cause": r.root_cause_id,
            "path": r.path,
            "month": r.month,
            "complaints": r.complaints,
            "compensation": [{"amount": a, "currency": c} for c, a in sorted(r.compensation.items())],
        }
        for r in queries.root_cause_report(since=since)
    ]


@router.post("/root-causes", response={201: RootCauseOut}, summary="Add a root cause (care managers, admins)")
def create_root_cause(request: HttpRequest, payload: RootCauseIn) -> Status:
    cause = services.create_root_cause(actor=staff_of(request), name=payload.name, parent_id=payload.parent)
    parent_path = cause.parent.name + " > " if cause.parent else ""
    return Status(
        201, {"id": cause.id, "name": cause.name, "parent": cause.parent_id, "path": parent_path + cause.name}
    )


class ActionIn(Schema):
    title: str
    owner: str
    due_date: date
    description: str = ""
    cases: list[str] = []
    root_cause: int | None = None


class ActionOut(Schema):
    id: int
    title: str
    description: str
    owner: str
    due_date: date
    status: str
    root_cause: int | None
    cases: list[str]


def action_out(a: CorrectiveAction) -> dict[str, Any]:
    return {
        "id": a.id,
        "title": a.title,
        "description": a.description,
        "owner": a.owner.username,
        "due_date": a.due_date,
        "status": a.status,
        "root_cause": a.root_cause_id,
        "cases": [c.reference for c in a.cases.all()],
    }


@router.get("/corrective-actions", response=list[ActionOut], summary="Corrective actions (open first)")
def list_actions(request: HttpRequest, status: str = "") -> list[dict[str, Any]]:
    require_staff(staff_of(request))
    actions = CorrectiveAction.objects.select_related("owner").prefetch_related("cases")
    if status:
        actions = actions.filter(status=status)
    return [action_out(a) for a in actions.order_by("status", "due_date")[:500]]


@router.post("/corrective-actions", response={201: ActionOut}, summary="Plan a corrective action")
def create_action(request: HttpRequest, payload: ActionIn) -> Status:
    case_ids = [queries.get_case(ref).id for ref in payload.cases]
    action = services.create_corrective_action(
        actor=staff_of(request),
        title=payload.title,
        owner=payload.owner,
        due_date=payload.due_date,
        description=payload.description,
        case_ids=case_ids,
        root_cause_id=payload.root_cause,
    )
    return Status(201, action_out(action))
