"""Pages: the public answer page and testimonials, and the staff results, follow-ups,
wins wall, testimonial approvals and "capture as feedback". Adapters only."""

from __future__ import annotations

from collections.abc import Callable
from datetime import date, timedelta
from typing import Any

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied as DjangoPermissionDenied
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.template.loader import render_to_string
from django.utils import timezone
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from rapport.core.errors import InvalidInput, NotFound, PermissionDenied
from rapport.customers.models import Customer
from rapport.feedback import charts, queries, services
from rapport.feedback.models import FollowUp, Invitation, Response
from rapport.people.models import Role, Staff

GONE = {
    "used": "This survey has already been answered. Thank you — your first answer is the one we keep.",
    "expired": "This survey link has expired. Thank you for wanting to help.",
    "withdrawn": "This survey is closed. Thank you for wanting to help.",
}


def _gone(request: HttpRequest, why: str) -> HttpResponse:
    return render(request, "feedback/gone.html", {"message": GONE.get(why, GONE["withdrawn"])}, status=410)


def _not_found(request: HttpRequest) -> HttpResponse:
    return render(request, "feedback/gone.html", {"message": "This link does not lead to a survey."}, status=404)


def _form_context(inv: Invitation, values: dict[int, list[str]], errors: dict[str, list[str]]) -> dict[str, Any]:
    lang = inv.customer.language if inv.customer else "en"
    questions: list[dict[str, Any]] = []
    for q in inv.version.questions.all():
        chosen = values.get(q.id, [])
        options: list[Any] = list(range(q.scale_min or 0, (q.scale_max or 0) + 1)) if q.kind == "rating" else q.choices
        questions.append(
            {
                "q": q,
                "text": q.text(lang),
                "name": f"q{q.id}",
                "chosen": [str(c) for c in chosen],
                "options": [str(o) for o in options],
                "errors": errors.get(f"q{q.id}", []),
            }
        )
    return {
        "title": inv.version.text(lang, "title") or inv.version.survey.name,
        "intro": inv.version.text(lang, "intro"),
        "questions": questions,
        "lang": lang,
        "ask_quote": True,
        "error_count": len(errors),
    }


def _raw_answers(request: HttpRequest) -> dict[int, list[str]]:
    """Form fields are named q<question id>; the service checks them against the version."""
    raw: dict[int, list[str]] = {}
    for name in request.POST:
        if name.startswith("q") and name[1:].isdigit():
            raw[int(name[1:])] = request.POST.getlist(name)
    return raw


@never_cache
@require_http_methods(["GET", "POST"])
def answer(request: HttpRequest, token: str) -> HttpResponse:
    """GET shows the form and records nothing (mail scanners open links); POST answers."""
    try:
        if request.method == "POST":
            raw = _raw_answers(request)
            try:
                services.answer(token=token, raw=raw, quote_consent=request.POST.get("quote") == "yes")
            except InvalidInput as exc:
                inv = services.open_invitation(token)
                return render(request, "feedback/answer.html", _form_context(inv, raw, exc.errors), status=422)
            return render(request, "feedback/thanks.html", {})
        inv = services.open_invitation(token)
    except NotFound:
        return _not_found(request)
    except services.LinkGone as gone:
        return _gone(request, str(gone))
    return render(request, "feedback/answer.html", _form_context(inv, {}, {}))


@require_GET
def testimonials(request: HttpRequest) -> HttpResponse:
    return render(request, "feedback/testimonials.html", {"quotes": queries.public_testimonials()})


def _dates(request: HttpRequest) -> tuple[date, date]:
    today = timezone.now().date()
    try:
        start = date.fromisoformat(request.GET.get("from", ""))
    except ValueError:
        start = today - timedelta(days=365)
    try:
        end = date.fromisoformat(request.GET.get("to", ""))
    except ValueError:
        end = today
    return start, end


@login_required
@require_GET
def results(request: HttpRequest) -> HttpResponse:
    metric = request.GET.get("metric", "nps")
    if metric not in queries.METRICS:
        metric = "nps"
    start, end = _dates(request)
    by_month = queries.metric(metric, date_from=start, date_to=end, group_by="month")
    by_customer = request.GET.get("by") == "customer"
    context = {
        "metric": metric,
        "metrics": queries.METRICS,
        "start": start,
        "end": end,
        "overall": queries.metric(metric, date_from=start, date_to=end),
        "by_month": by_month,
        "by_team": queries.metric(metric, date_from=start, date_to=end, group_by="team"),
        "by_owner": queries.metric(metric, date_from=start, date_to=end, group_by="owner"),
        "by_survey": queries.metric(metric, date_from=start, date_to=end, group_by="survey"),
        # Counted from the responses, not the daily counts: seconds over millions, so on request.
        "by_customer": by_customer,
        "by_status": queries.metric(metric, date_from=start, date_to=end, group_by="status") if by_customer else [],
        "by_tag": queries.metric(metric, date_from=start, date_to=end, group_by="tag") if by_customer else [],
        "chart": charts.trend_svg(by_month, percent=metric != "ces"),
        "verbatims": queries.verbatims(kind=metric),
    }
    return render(request, "feedback/results.html", context)


def _act(request: HttpRequest, action: Callable[[], Any], ok: str, back: str) -> HttpResponse:
    try:
        action()
    except (InvalidInput, NotFound, PermissionDenied) as exc:
        text = "; ".join(m for ms in exc.errors.values() for m in ms) if isinstance(exc, InvalidInput) else str(exc)
        messages.error(request, text)
    else:
        messages.success(request, ok)
    return redirect(back)


@login_required
@require_GET
def follow_ups(request: HttpRequest) -> HttpResponse:
    mine = request.GET.get("all") != "1"
    rows = queries.open_follow_ups(owner_id=request.user.id if mine else None)[:200]
    return render(request, "feedback/follow_ups.html", {"rows": rows, "mine": mine})


@login_required
@require_POST
def close_follow_up(request: HttpRequest, follow_up_id: int) -> HttpResponse:
    return _act(
        request,
        lambda: services.close_follow_up(
            actor=request.user,  # type: ignore[arg-type]
            follow_up_id=follow_up_id,
            outcome=request.POST.get("outcome", ""),
        ),
        "Outcome recorded; the loop is closed.",
        "feedback-follow-ups",
    )


@login_required
@require_GET
def listed(request: HttpRequest) -> HttpResponse:
    """Links to send by hand while no email channel delivers them (leads and above)."""
    if not (isinstance(request.user, Staff) and request.user.has_role_at_least(Role.LEAD)):
        raise DjangoPermissionDenied
    rows = [(inv, request.build_absolute_uri(services.survey_path(inv))) for inv in queries.listed_invitations()]
    return render(request, "feedback/listed.html", {"rows": rows})


@login_required
@require_POST
def mark_sent(request: HttpRequest, invitation_id: int) -> HttpResponse:
    return _act(
        request,
        lambda: services.mark_sent(actor=request.user, invitation_id=invitation_id),  # type: ignore[arg-type]
        "Marked as sent.",
        "feedback-listed",
    )


@login_required
@require_GET
def wins(request: HttpRequest) -> HttpResponse:
    return render(
        request, "feedback/wins.html", {"wall": queries.wins_wall(), "pending": queries.pending_testimonials()}
    )


@login_required
@require_POST
def decide(request: HttpRequest, testimonial_id: int) -> HttpResponse:
    approve = request.POST.get("verdict") == "approve"
    return _act(
        request,
        lambda: services.decide_testimonial(
            actor=request.user,  # type: ignore[arg-type]
            testimonial_id=testimonial_id,
            approve=approve,
            public=request.POST.get("public") == "yes",
        ),
        "Testimonial approved." if approve else "Testimonial rejected.",
        "feedback-wins",
    )


@login_required
@require_POST
def capture(request: HttpRequest, interaction_id: int) -> HttpResponse:
    """One click on a timeline entry; back to the customer it belongs to."""
    back = request.POST.get("next") or "feedback-results"
    if not back.startswith("/") or back.startswith("//"):
        back = "feedback-results"
    return _act(
        request,
        lambda: services.capture_interaction(actor=request.user, interaction_id=interaction_id),  # type: ignore[arg-type]
        "Captured as feedback.",
        back,
    )


def customer_panel(request: HttpRequest, customer: Customer) -> str:
    """Feedback on the customer page: latest responses, open follow-ups, and one-click capture
    of recent timeline entries (three queries)."""
    responses = list(Response.objects.filter(customer=customer).select_related("survey").order_by("-answered_at")[:5])
    open_loops = list(FollowUp.objects.filter(customer=customer, closed_at__isnull=True).order_by("due_at")[:5])
    captured = set(
        Response.objects.filter(customer=customer, interaction__isnull=False).values_list("interaction_id", flat=True)
    )
    recent = [
        i for i in customer.interactions.exclude(channel="survey").order_by("-occurred_at")[:5] if i.id not in captured
    ]
    return render_to_string(
        "feedback/_customer_panel.html",
        {
            "customer": customer,
            "responses": responses,
            "open_loops": open_loops,
            "recent": recent,
        },
        request=request,
    )
