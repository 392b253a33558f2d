"""Reads for pages and the API: metrics from the daily score counts, responses, follow-ups."""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

from django.db.models import Count, F, Q, QuerySet, Sum
from django.db.models.functions import TruncMonth

from rapport.core.errors import InvalidInput
from rapport.feedback.models import (
    FollowUp,
    Invitation,
    InvitationStatus,
    Response,
    ScoreDaily,
    Source,
    Survey,
    Testimonial,
    TestimonialStatus,
)
from rapport.people.models import Staff, Team

METRICS = ("nps", "csat", "ces")
GROUPS = ("month", "team", "owner", "survey", "status", "tag")
# The customer's status and tags are not in the daily counts (a tag would multiply its rows):
# these groupings count from the responses themselves, through the (kind, answered_at) index.
FROM_RESPONSES = {"status": "customer__status", "tag": "customer__tags__name"}
SMALL_SAMPLE = 30  # below this, the interval is wide: flagged, never hidden
Z95 = 1.959963984540054
COUNTS = [f"c{i}" for i in range(11)]


@dataclass(frozen=True)
class Result:
    key: str | int | None
    label: str
    n: int
    score: float | None
    low: float | None
    high: float | None
    bands: dict[str, int]
    small_sample: bool


def _nps(c: list[int], n: int) -> tuple[float, float, float, dict[str, int]]:
    promoters, detractors = c[9] + c[10], sum(c[0:7])
    bands = {"promoters": promoters, "passives": n - promoters - detractors, "detractors": detractors}
    p, d = promoters / n, detractors / n
    # The NPS is the mean of an indicator: +1 promoter, 0 passive, -1 detractor.
    variance = p + d - (p - d) ** 2
    half = Z95 * math.sqrt(variance / n) * 100
    score = (p - d) * 100
    return score, max(-100.0, score - half), min(100.0, score + half), bands


def _csat(c: list[int], n: int) -> tuple[float, float, float, dict[str, int]]:
    satisfied = c[4] + c[5]
    bands = {"satisfied": satisfied, "neutral": c[3], "dissatisfied": c[1] + c[2]}
    p = satisfied / n
    half = Z95 * math.sqrt(p * (1 - p) / n) * 100
    return p * 100, max(0.0, p * 100 - half), min(100.0, p * 100 + half), bands


def _ces(c: list[int], n: int, total: int, total_sq: int) -> tuple[float, float, float, dict[str, int]]:
    mean = total / n
    variance = (total_sq - n * mean * mean) / (n - 1) if n > 1 else 0.0
    half = Z95 * math.sqrt(max(variance, 0.0) / n)
    bands = {str(i): c[i] for i in range(1, 8)}
    return mean, mean - half, mean + half, bands


def metric(
    metric_name: str,
    *,
    survey_id: int | None = None,
    date_from: date | None = None,
    date_to: date | None = None,
    group_by: str | None = None,
) -> list[Result]:
    """NPS, CSAT or CES per group: from ScoreDaily (one row per day × survey × owner), or for
    customer status and tag from the responses (their customer's current status and tags)."""
    if metric_name not in METRICS:
        raise InvalidInput(f"Choose one of: {', '.join(METRICS)}.", "metric")
    if group_by is not None and group_by not in GROUPS:
        raise InvalidInput(f"group_by must be one of: {', '.join(GROUPS)}.", "group_by")
    if date_from and date_to and date_from > date_to:
        raise InvalidInput("'from' must not be after 'to'.", "from")
    if group_by in FROM_RESPONSES:
        rows = _rows_from_responses(metric_name, survey_id, date_from, date_to, FROM_RESPONSES[group_by])
    else:
        rows = _rows_from_daily(metric_name, survey_id, date_from, date_to, group_by)
    labels = _labels(group_by, [r["g"] for r in rows])
    out = []
    for r in rows:
        n = int(r["nn"] or 0)
        if not n:
            continue
        c = [int(r[f"s{col}"] or 0) for col in COUNTS]
        if metric_name == "nps":
            score, low, high, bands = _nps(c, n)
        elif metric_name == "csat":
            score, low, high, bands = _csat(c, n)
        else:
            score, low, high, bands = _ces(c, n, int(r["t"]), int(r["tsq"]))
        g = r["g"]
        key_out = g.strftime("%Y-%m") if group_by == "month" else (g or None) if group_by else None
        out.append(
            Result(
                key_out,
                labels.get(g, str(key_out or "All")),
                n,
                round(score, 2),
                round(low, 2),
                round(high, 2),
                bands,
                n < SMALL_SAMPLE,
            )
        )
    return out


def _rows_from_daily(
    metric_name: str, survey_id: int | None, date_from: date | None, date_to: date | None, group_by: str | None
) -> list[dict[str, Any]]:
    qs: QuerySet[Any] = ScoreDaily.objects.filter(kind=metric_name)
    if survey_id is not None:
        qs = qs.filter(survey_key=survey_id)
    if date_from:
        qs = qs.filter(day__gte=date_from)
    if date_to:
        qs = qs.filter(day__lte=date_to)
    key = {"month": TruncMonth("day"), "team": F("team_key"), "owner": F("owner_key"), "survey": F("survey_key")}
    if group_by:
        qs = qs.annotate(g=key[group_by]).values("g").order_by("g")
    else:
        qs = qs.annotate(g=F("kind")).values("g").order_by("g")  # one group: the kind filtered on
    return list(qs.annotate(nn=Sum("n"), t=Sum("total"), tsq=Sum("total_sq"), **{f"s{c}": Sum(c) for c in COUNTS}))


def _rows_from_responses(
    metric_name: str, survey_id: int | None, date_from: date | None, date_to: date | None, key: str
) -> list[dict[str, Any]]:
    """The same sums as the daily counts, over the scored survey answers in the period. Days
    are UTC days, as in ScoreDaily; a response counts once under each of its customer's tags."""
    qs: QuerySet[Any] = Response.objects.filter(source=Source.SURVEY, kind=metric_name, score__isnull=False)
    if survey_id is not None:
        qs = qs.filter(survey_id=survey_id)
    if date_from:
        qs = qs.filter(answered_at__gte=datetime.combine(date_from, time.min, tzinfo=UTC))
    if date_to:
        qs = qs.filter(answered_at__lt=datetime.combine(date_to + timedelta(days=1), time.min, tzinfo=UTC))
    counts = {f"s{c}": Count("id", filter=Q(score=i)) for i, c in enumerate(COUNTS)}
    rows = (
        qs.values(g=F(key))
        .order_by(F("g").asc(nulls_first=True))
        .annotate(nn=Count("id"), t=Sum("score"), tsq=Sum(F("score") * F("score")), **counts)
    )
    return list(rows)


def _labels(group_by: str | None, keys: list[Any]) -> dict[Any, str]:
    if group_by == "team":
        names = dict(Team.objects.filter(id__in=keys).values_list("id", "name"))
    elif group_by == "owner":
        names = {s.id: s.display_name for s in Staff.objects.filter(id__in=keys)}
    elif group_by == "survey":
        names = dict(Survey.objects.filter(id__in=keys).values_list("id", "name"))
    elif group_by == "month":
        return {k: k.strftime("%b %Y") for k in keys}
    elif group_by == "status":
        from rapport.customers.models import CustomerStatus

        labels = dict(CustomerStatus.choices)
        return {k: str(labels.get(k, k)) if k else "No customer (public link)" for k in keys}
    elif group_by == "tag":
        return {k: k or "No tag" for k in keys}
    else:
        return {}
    return {k: names.get(k, "None") for k in keys}


def responses(
    *,
    survey_id: int | None = None,
    customer_id: int | None = None,
    date_from: date | None = None,
    date_to: date | None = None,
) -> QuerySet[Response]:
    qs = Response.objects.all()
    if survey_id is not None:
        qs = qs.filter(survey_id=survey_id)
    if customer_id is not None:
        qs = qs.filter(customer_id=customer_id)
    if date_from:
        qs = qs.filter(answered_at__date__gte=date_from)
    if date_to:
        qs = qs.filter(answered_at__date__lte=date_to)
    return qs


def verbatims(*, kind: str | None = None, survey_id: int | None = None, limit: int = 20) -> list[Response]:
    """The latest comments, each with its score, so one voice is read next to the numbers."""
    qs = Response.objects.exclude(text="").select_related("customer", "owner", "survey")
    if kind:
        qs = qs.filter(kind=kind)
    if survey_id:
        qs = qs.filter(survey_id=survey_id)
    return list(qs.order_by("-answered_at", "-id")[:limit])


def open_follow_ups(*, owner_id: int | None = None) -> QuerySet[FollowUp]:
    qs = FollowUp.objects.filter(closed_at__isnull=True).select_related("customer", "owner", "response")
    if owner_id is not None:
        qs = qs.filter(Q(owner_id=owner_id) | Q(owner__isnull=True))
    return qs.order_by("due_at", "id")


def public_testimonials() -> list[Testimonial]:
    return list(
        Testimonial.objects.filter(status=TestimonialStatus.APPROVED, public=True).order_by("-approved_at")[:100]
    )


def wins_wall() -> dict[str, dict[str, list[Testimonial]]]:
    """Approved quotes per team, then per person."""
    wall: dict[str, dict[str, list[Testimonial]]] = {}
    rows = Testimonial.objects.filter(status=TestimonialStatus.APPROVED).select_related("team", "owner")
    for t in rows.order_by("-approved_at")[:500]:
        team = t.team.name if t.team else "No team"
        person = t.owner.display_name if t.owner else "Everyone"
        wall.setdefault(team, {}).setdefault(person, []).append(t)
    return wall


def pending_testimonials() -> list[Testimonial]:
    return list(
        Testimonial.objects.filter(status=TestimonialStatus.PENDING)
        .select_related("customer")
        .order_by("created_at")[:100]
    )


def listed_invitations(limit: int = 500) -> list[Invitation]:
    """Invitations no sender took, still answerable: staff send these links by hand."""
    from django.utils import timezone

    return list(
        Invitation.objects.filter(status=InvitationStatus.LISTED, customer__isnull=False, expires_at__gt=timezone.now())
        .select_related("customer", "version__survey")
        .order_by("created_at", "id")[:limit]
    )


def survey_list() -> list[Survey]:
    """Surveys with their current version number (one query; ``current`` is None once withdrawn)."""
    from django.db.models import Max

    return list(
        Survey.objects.annotate(current=Max("versions__number", filter=Q(versions__deleted_at__isnull=True))).order_by(
            "-active", "name", "id"
        )[:500]
    )


def send_choices() -> dict[str, Any]:
    """What the send page offers to build an audience from (two queries)."""
    from rapport.customers.models import CustomerStatus, Tag

    return {
        "statuses": CustomerStatus.choices,
        "tags": list(Tag.objects.order_by("name").values_list("name", flat=True)[:500]),
        "managers": list(Staff.objects.filter(is_active=True).order_by("username")[:500]),
    }


def customer_names(ids: list[int]) -> dict[int, str]:
    from rapport.customers.models import Customer

    return dict(Customer.objects.filter(id__in=ids).values_list("id", "name"))
