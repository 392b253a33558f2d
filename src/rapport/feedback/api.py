"""API v1: surveys, invitations, responses, unsolicited feedback, metrics and follow-ups."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from django.conf import settings
from django.http import HttpRequest, HttpResponse
from ninja import Field, Query, Router, Schema, Status

from rapport.core.api import idempotent_create
from rapport.core.errors import NotFound
from rapport.core.pagination import clamp_limit, paginate_desc
from rapport.feedback import queries, services
from rapport.feedback.models import FollowUp, Response, Survey
from rapport.people.api import staff_of
from rapport.people.permissions import require_staff

router = Router(tags=["feedback"])


class QuestionIn(Schema):
    kind: str
    texts: dict[str, str]
    required: bool = False
    scale_min: int | None = None
    scale_max: int | None = None
    choices: list[str] = []


class SurveyIn(Schema):
    name: str
    kind: str
    trigger: str = "manual"
    cadence_days: int | None = None
    audience: dict[str, Any] = {}
    anonymous: bool = False
    texts: dict[str, dict[str, str]] | None = None
    questions: list[QuestionIn] = []


class QuestionOut(Schema):
    id: int
    kind: str
    texts: dict[str, str]
    required: bool
    scale_min: int | None
    scale_max: int | None
    choices: list[str]


class SurveyOut(Schema):
    id: int
    name: str
    kind: str
    trigger: str
    active: bool
    anonymous: bool
    cadence_days: int | None
    version: int | None
    questions: list[QuestionOut]


def survey_out(survey: Survey) -> dict[str, Any]:
    version = survey.current_version()
    questions = list(version.questions.all()) if version else []
    return {
        "id": survey.id,
        "name": survey.name,
        "kind": survey.kind,
        "trigger": survey.trigger,
        "active": survey.active,
        "anonymous": survey.anonymous,
        "cadence_days": survey.cadence_days,
        "version": version.number if version else None,
        "questions": [QuestionOut.from_orm(q).dict() for q in questions],
    }


@router.get("/surveys", response=list[SurveyOut], summary="Surveys")
def list_surveys(request: HttpRequest) -> list[dict[str, Any]]:
    require_staff(staff_of(request))
    return [survey_out(s) for s in Survey.objects.order_by("id")[:500]]


@router.post("/surveys", response={201: SurveyOut}, summary="Define a survey (nps, csat, ces or custom)")
def create_survey(request: HttpRequest, payload: SurveyIn) -> HttpResponse:
    def create() -> tuple[int, dict[str, Any]]:
        survey = services.create_survey(
            actor=staff_of(request),
            name=payload.name,
            kind=payload.kind,
            trigger=payload.trigger,
            cadence_days=payload.cadence_days,
            audience=payload.audience,
            anonymous=payload.anonymous,
            texts=payload.texts,
            questions=[services.QuestionInput(**q.dict()) for q in payload.questions],
        )
        return 201, SurveyOut.model_validate(survey_out(survey)).model_dump(mode="json")

    return idempotent_create(request, create)


class InviteIn(Schema):
    customers: list[int] = []
    public: bool = False


class InvitationOut(Schema):
    customer: int | None
    url: str
    status: str


class RefusedOut(Schema):
    customer: int
    reason: str


class InviteOut(Schema):
    invitations: list[InvitationOut]
    refused: list[RefusedOut]


@router.post(
    "/surveys/{survey_id}/invitations",
    response={201: InviteOut},
    summary="Invite customers (consent and the quiet period apply) or make a public link",
)
def invite(request: HttpRequest, survey_id: int, payload: InviteIn) -> Status:
    result = services.invite(
        actor=staff_of(request),
        survey_id=survey_id,
        customer_ids=payload.customers,
        public=payload.public,
    )
    return Status(
        201,
        {
            "invitations": [
                {"customer": inv.customer_id, "url": request.build_absolute_uri(path), "status": inv.status}
                for inv, path in result.invitations
            ],
            "refused": [{"customer": c, "reason": r} for c, r in result.refused],
        },
    )


class ResponseOut(Schema):
    id: int
    source: str
    kind: str
    survey: int | None = Field(None, alias="survey_id")
    version: int | None
    customer: int | None = Field(None, alias="customer_id")
    score: int | None
    text: str
    sentiment: float | None
    sentiment_label: str
    keywords: list[str]
    channel: str
    answered_at: datetime


class ResponsePage(Schema):
    items: list[ResponseOut]
    next_cursor: str | None


class ResponseQuery(Schema):
    survey: int | None = None
    customer: int | None = None
    date_from: date | None = Field(None, alias="from")
    date_to: date | None = Field(None, alias="to")
    limit: int | None = None
    cursor: str | None = None


def response_out(r: Response) -> dict[str, Any]:
    return {
        "id": r.id,
        "source": r.source,
        "kind": r.kind,
        "survey_id": r.survey_id,
        "version": r.version.number if r.version else None,
        "customer_id": r.customer_id,
        "score": r.score,
        "text": r.text,
        "sentiment": r.sentiment,
        "sentiment_label": r.sentiment_label,
        "keywords": r.keywords,
        "channel": r.channel,
        "answered_at": r.answered_at,
    }


@router.get("/responses", response=ResponsePage, summary="Responses, newest first (cursor pages)")
def list_responses(request: HttpRequest, params: Query[ResponseQuery]) -> dict[str, Any]:
    require_staff(staff_of(request))
    limit = clamp_limit(params.limit, settings.RAPPORT_API_DEFAULT_LIMIT, settings.RAPPORT_API_MAX_LIMIT)
    qs = queries.responses(
        survey_id=params.survey, customer_id=params.customer, date_from=params.date_from, date_to=params.date_to
    ).select_related("version")
    page = paginate_desc(qs, key="answered_at", cursor=params.cursor, limit=limit, parse_key=datetime.fromisoformat)
    return {"items": [response_out(r) for r in page.items], "next_cursor": page.next_cursor}


class FeedbackIn(Schema):
    customer: int
    text: str
    channel: str
    rating: int | None = None
    quote_consent: bool = False
    consent_how: str = ""


@router.post("/feedback", response={201: ResponseOut}, summary="Capture unsolicited feedback (rating 1–5 optional)")
def capture(request: HttpRequest, payload: FeedbackIn) -> HttpResponse:
    def create() -> tuple[int, dict[str, Any]]:
        r = services.record_feedback(
            actor=staff_of(request),
            customer_id=payload.customer,
            text=payload.text,
            channel=payload.channel,
            rating=payload.rating,
            quote_consent=payload.quote_consent,
            consent_how=payload.consent_how,
        )
        return 201, ResponseOut.model_validate(response_out(r)).model_dump(mode="json")

    return idempotent_create(request, create)


class Interval(Schema):
    low: float | None
    high: float | None


class MetricGroup(Schema):
    key: str | int | None
    label: str
    n: int
    score: float | None
    interval: Interval
    bands: dict[str, int]
    small_sample: bool


class MetricOut(Schema):
    metric: str
    group_by: str | None
    groups: list[MetricGroup]


class MetricQuery(Schema):
    survey: int | None = None
    date_from: date | None = Field(None, alias="from")
    date_to: date | None = Field(None, alias="to")
    group_by: str | None = None


@router.get(
    "/metrics/{name}",
    response=MetricOut,
    summary="NPS, CSAT or CES with counts per band and a 95% interval (n < 30 flagged)",
    description="group_by: month, team, owner, survey, status (the customer's current status) or tag "
    "(an answer counts under each of its customer's current tags).",
)
def metrics(request: HttpRequest, name: str, params: Query[MetricQuery]) -> dict[str, Any]:
    require_staff(staff_of(request))
    if name not in queries.METRICS:
        raise NotFound(f"No metric '{name}'; use nps, csat or ces.")
    rows = queries.metric(
        name, survey_id=params.survey, date_from=params.date_from, date_to=params.date_to, group_by=params.group_by
    )
    return {
        "metric": name,
        "group_by": params.group_by,
        "groups": [
            {
                "key": r.key,
                "label": r.label,
                "n": r.n,
                "score": r.score,
                "interval": {"low": r.low, "high": r.high},
                "bands": r.bands,
                "small_sample": r.small_sample,
            }
            for r in rows
        ],
    }


class FollowUpOut(Schema):
    id: int
    customer: int
    owner: str | None
    due_at: datetime
    reason: str
    response: int | None
    outcome: str
    closed_at: datetime | None


def follow_up_out(f: FollowUp) -> dict[str, Any]:
    return {
        "id": f.id,
        "customer": f.customer_id,
        "owner": f.owner.username if f.owner else None,
        "due_at": f.due_at,
        "reason": f.reason,
        "response": f.response_id,
        "outcome": f.outcome,
        "closed_at": f.closed_at,
    }


@router.get("/follow-ups", response=list[FollowUpOut], summary="Open closed-loop follow-ups, soonest due first")
def list_follow_ups(request: HttpRequest, mine: bool = False) -> list[dict[str, Any]]:
    actor = require_staff(staff_of(request))
    return [follow_up_out(f) for f in queries.open_follow_ups(owner_id=actor.id if mine else None)[:500]]


class OutcomeIn(Schema):
    outcome: str


@router.post("/follow-ups/{follow_up_id}/close", response=FollowUpOut, summary="Record the outcome; closes the loop")
def close_follow_up(request: HttpRequest, follow_up_id: int, payload: OutcomeIn) -> dict[str, Any]:
    fu = services.close_follow_up(actor=staff_of(request), follow_up_id=follow_up_id, outcome=payload.outcome)
    return follow_up_out(FollowUp.objects.select_related("owner").get(id=fu.id))
