"""Staff pages for cases: the queues, opening a case, the case page and its actions, the
approvals inbox, root causes and corrective actions, and the SLA set-up pages.

Adapters only: parse the form, call one service or query, render. Service errors come back
as messages next to the form that caused them, with the matching HTTP status."""

from __future__ import annotations

import functools
from collections import defaultdict
from collections.abc import Callable, Sequence
from datetime import timedelta
from html import escape
from typing import Any, cast

from django import forms as django_forms
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpRequest, HttpResponse
from django.middleware.csrf import get_token
from django.shortcuts import redirect, render
from django.template.loader import render_to_string
from django.templatetags.static import static
from django.urls import reverse
from django.utils import timezone
from django.utils.safestring import SafeString, mark_safe
from django.views.decorators.http import require_GET, require_http_methods, require_POST
from django_htmx.middleware import HtmxDetails

from rapport.cases import case_page, forms, queries, services
from rapport.cases.models import (
    OPEN_STATUSES,
    ActionStatus,
    Case,
    CaseType,
    Compensation,
    CompensationStatus,
    CorrectiveAction,
    PriorityRule,
    SlaPolicy,
    Status,
    parse_reference,
)
from rapport.core.errors import Conflict, InvalidInput, NotFound, PermissionDenied, PreconditionFailed
from rapport.core.models import Calendar
from rapport.core.pagination import Page
from rapport.customers.models import Customer
from rapport.people.models import Role, RoleAuthority, Staff
from rapport.people.permissions import require_role
from rapport.people.services import authority_for

QUEUE_PAGE = 50
TABS = (("mine", "My cases"), ("team", "My team's"), ("unassigned", "Unassigned"), ("all", "All"))
STALE = "This case changed since you opened it, so nothing was changed. Check the latest state below and try again."


class StaffRequest(HttpRequest):
    htmx: HtmxDetails
    user: Staff


def _case_or_404(reference: str) -> Case:
    try:
        return queries.get_case(reference)
    except NotFound as exc:
        raise Http404(exc.detail) from None


staff_choices, team_names = queries.staff_choices, queries.team_names


# --- queues -------------------------------------------------------------------------------


def _queue_page(request: StaffRequest, tab: str, form: forms.QueueFilterForm) -> Page[queries.QueueRow]:
    page = _queue_ids(request, tab, form)
    return Page(queries.queue_rows(list(page.items)), page.next_cursor)


def _queue_ids(request: StaffRequest, tab: str, form: forms.QueueFilterForm) -> Page[int]:
    data = form.cleaned_data
    filters = queries.CaseFilters(
        status=data["status"],
        type=data["type"],
        priority=data["priority"],
        owner=data["owner"],
        team=data["team"],
        customer=data["customer"],
        words=data["words"],
        breached=form.flag("breached"),
        at_risk=form.flag("at_risk"),
        open_only=tab != "all" and not data["status"],
    )
    cursor = request.GET.get("cursor") or None
    if tab == "mine":
        return queries.my_queue_ids(request.user.id, filters, cursor=cursor, limit=QUEUE_PAGE)
    if tab == "team":
        team = request.user.team.name if request.user.team_id else "\x00no team"  # type: ignore[union-attr]
        filters = queries.CaseFilters(**{**filters.__dict__, "team": team})
    elif tab == "unassigned":
        filters = queries.CaseFilters(**{**filters.__dict__, "owner": "none"})
    return queries.list_case_ids(filters, cursor=cursor, limit=QUEUE_PAGE)


@login_required
@require_GET
def queue(request: StaffRequest) -> HttpResponse:
    tab = request.GET.get("tab", "mine")
    tab = tab if tab in dict(TABS) else "mine"
    form = forms.QueueFilterForm(request.GET, staff=staff_choices(cached=True), teams=team_names(cached=True))
    if not form.is_valid() and {"owner", "team"} & form.errors.keys():  # perhaps new since cached
        form = forms.QueueFilterForm(request.GET, staff=staff_choices(), teams=team_names())
    page, status = None, 400
    if form.is_valid():
        try:
            page, status = _queue_page(request, tab, form), 200
        except InvalidInput as exc:
            forms.add_service_errors(form, exc)
    rows = queue_html(request, page.items) if page else ""
    context = {"form": form, "tab": tab, "tabs": TABS, "page": page, "rows": rows}
    template = "cases/queue.html#results" if request.htmx else "cases/queue.html"
    return render(request, template, context, status=status)


@functools.cache
def _url_template(name: str, placeholder: str) -> tuple[str, str]:
    """One reverse() per URL name and process, not three per row: the parts around the argument."""
    before, _, after = reverse(name, args=[placeholder]).partition(placeholder)
    return before, after


def _url_with(name: str, placeholder: str, value: object) -> str:
    before, after = _url_template(name, placeholder)
    return f"{before}{value}{after}"


def queue_html(request: StaffRequest, rows: Sequence[queries.QueueRow]) -> SafeString:
    """The queue's table rows, written here rather than by a template loop: 50 rows of
    template tags and filters were most of the queue page's time (see bench/README.md).
    Every value from the database goes through ``escape``."""
    token = get_token(request)
    lines = []
    for row in rows:
        ref, cv = row.reference, row.nearest_clock()
        if row.owner_id:
            owner = escape(row.owner_name)
        else:
            claim_url = _url_with("case-claim", "C-000000", ref)
            owner = (
                f'<form method="post" action="{claim_url}">'
                f'<input type="hidden" name="csrfmiddlewaretoken" value="{token}">'
                f'<button type="submit" class="button button--small" aria-label="Claim {ref}">Claim</button></form>'
            )
        clock = '<span class="muted">No clock</span>'
        if cv:
            clock = f'<span class="badge clock-badge clock-badge--{cv.state}">{cv.state_label}</span> '
            clock += f'<span class="muted">{escape(cv.label)}</span>'
            if cv.due_at and cv.state != "met":
                clock += f' <time datetime="{case_page.iso(cv.due_at)}">{case_page.short(cv.due_at)}</time>'
        lines.append(
            f'<tr><td><a href="{_url_with("case", "C-000000", ref)}">{ref}</a></td>'
            f'<td class="case-table__subject">{escape(row.subject)}</td>'
            f'<td class="wide-only"><a href="{_url_with("customer", "999999999", row.customer_id)}">'
            f"{escape(row.customer_name)}</a></td>"
            f'<td><span class="priority priority--{escape(row.priority)}">{escape(row.priority_label)}</span></td>'
            f'<td class="wide-only">{escape(row.status_label)}</td><td>{owner}</td><td>{clock}</td></tr>\n'
        )
    return mark_safe("".join(lines))  # noqa: S308 - database values are escaped above


@login_required
@require_POST
def claim(request: StaffRequest, reference: str) -> HttpResponse:
    case = _case_or_404(reference)
    try:
        services.claim_case(actor=request.user, case_id=case.id)
    except Conflict as exc:
        messages.error(request, exc.detail)
        return redirect(f"{_url('cases')}?tab=unassigned")
    messages.success(request, f"{case.reference} is yours now.")
    return redirect("case", reference=case.reference)


_static_url = functools.cache(static)  # the manifest is read once per process anyway


def _url(name: str, **kwargs: Any) -> str:
    return reverse(name, kwargs=kwargs or None)


# --- opening a case ---------------------------------------------------------------------


@login_required
@require_http_methods(["GET", "POST"])
def case_new(request: StaffRequest) -> HttpResponse:
    staff, teams = staff_choices(), team_names()
    if request.method != "POST":
        raw = request.GET.get("customer", "")
        customer_id = int(raw) if raw.isdigit() else None
        initial = {"customer": customer_id, "owner": request.user.username}
        form = forms.CaseForm(staff=staff, teams=teams, initial=initial)
        return render(request, "cases/new.html", {"form": form, "customer": _customer(customer_id)})
    form = forms.CaseForm(request.POST, staff=staff, teams=teams)
    if form.is_valid():
        try:
            case = services.open_case(actor=request.user, data=form.to_input())
        except InvalidInput as exc:
            forms.add_service_errors(form, exc)
        else:
            messages.success(request, f"Opened {case.reference} ({case.get_priority_display().lower()} priority).")
            return redirect("case", reference=case.reference)
    customer = _customer(form.cleaned_data.get("customer") if hasattr(form, "cleaned_data") else None)
    return render(request, "cases/new.html", {"form": form, "customer": customer}, status=400)


def _customer(customer_id: int | None) -> Customer | None:
    return Customer.objects.filter(id=customer_id).first() if customer_id else None


# --- the case page -------------------------------------------------------------------------


money_text = case_page.money_text


# Notes that apps above cases add to the case page (value: the customer's care tier and, for an
# unprofitable tier, the hint towards lower-cost channels). Each renders HTML, or "" for nothing.
CaseNote = Callable[[HttpRequest, Case], str]
_case_notes: dict[str, CaseNote] = {}


def register_case_note(name: str, render_note: CaseNote) -> None:
    _case_notes[name] = render_note


def _case_context(request: StaffRequest, case: Case | case_page.CasePage, **bound: Any) -> dict[str, Any]:
    """What cases/case.html (and handoff.html) show: the case read afresh in one statement
    (case_page.load), its lists written as HTML, and the unbound forms rendered once per
    worker and set of choices (forms.frozen); ``bound`` forms (with errors) replace those."""
    user, now = request.user, timezone.now()
    page = case if isinstance(case, case_page.CasePage) else case_page.load(case.id, now)
    if page is None:
        raise Http404(f"No case {case.reference}.")  # type: ignore[union-attr]
    case = page.case
    staff, teams = staff_choices(cached=True), team_names(cached=True)
    limit = _shown_authority(user)
    compensations = [row.compensation for row in page.compensations]
    paths = queries.root_cause_paths(cached=True) if case.is_open else {}
    token = get_token(request)
    ref = case.reference
    urls = {
        "claim": _url_with("case-claim", "C-000000", ref),
        "handoff": _url_with("case-handoff", "C-000000", ref),
        "status": _url_with("case-status", "C-000000", ref),
        "reopen": _url_with("case-reopen", "C-000000", ref),
        "reply": _url_with("case-reply", "C-000000", ref),
        "compensate": _url_with("case-compensate", "C-000000", ref),
        "resolve": _url_with("case-resolve", "C-000000", ref),
        "case": _url_with("case", "C-000000", ref),
        "script": _static_url("cases.js"),
    }
    # Renderers return template output, which is already escaped HTML.
    notes = "".join(html for note in _case_notes.values() if (html := note(request, case)))
    parts = {
        "head": case_page.render_head(case),
        "facts": case_page.render_facts(page, _url_with("customer", "999999999", case.customer_id)),
        "notes": SafeString(notes),
        "description": case_page.render_description(case),
        "actions": case_page.render_actions(case, urls, token),
        "conversation": case_page.render_conversation(page.messages),
        "history": case_page.render_history(page.events),
        "clocks": case_page.render_clocks(page.clocks, now),
        "compensations": case_page.render_compensations(
            page.compensations,
            queries.granted_totals(compensations),
            [services.can_decide(user, c, limit.max_compensation) for c in compensations],
            _url_template("compensation-approve", "999999999"),
            _url_template("compensation-reject", "999999999"),
            token,
        ),
    }
    version = case.version
    context: dict[str, Any] = {
        "case": case,
        "page": page,
        "parts": parts,
        "urls": urls,
        "limit": limit.max_compensation,
        "is_complaint": case.type == CaseType.COMPLAINT,
        "message_form": forms.frozen(forms.MessageForm, ()),
        "handoff_form": forms.frozen(
            forms.HandoffForm, (tuple(staff), tuple(teams)), version=version, staff=staff, teams=teams
        ),
        "compensation_form": forms.frozen(
            forms.CompensationForm,
            (limit.max_compensation_currency,),
            initial={"currency": limit.max_compensation_currency},
        ),
        "resolve_form": forms.frozen(forms.ResolveForm, (tuple(paths.items()),), version=version, paths=paths),
    }
    context.update(bound)
    return context


def _page_or_404(reference: str) -> case_page.CasePage:
    """The case page's data in one statement (case_page.load), or 404 as get_case would say."""
    case_id = parse_reference(reference)
    page = case_page.load(case_id) if case_id else None
    if page is None:
        raise Http404(f"No case {reference}.")
    return page


@login_required
@require_GET
def case_detail(request: StaffRequest, reference: str) -> HttpResponse:
    page = _page_or_404(reference)
    if page.case.reference != reference:
        return redirect("case", reference=page.case.reference)
    return render(request, "cases/case.html", _case_context(request, page))


def _perform(
    request: StaffRequest,
    case: Case,
    action: Callable[[], Any],
    *,
    success: str | Callable[[Any], tuple[int, str]],
    form_name: str | None = None,
    form: django_forms.Form | None = None,
    template: str = "cases/case.html",
) -> HttpResponse:
    """Run one service call; on success flash and go back to the case (POST, redirect, GET),
    else show the page again with the error beside the form that caused it."""
    status, error = 400, ""
    try:
        result = action()
    except InvalidInput as exc:
        if form is not None:
            forms.add_service_errors(form, exc)
        error = " ".join(m for ms in exc.errors.values() for m in ms)
    except PreconditionFailed:
        status, error = 412, STALE
    except Conflict as exc:
        status, error = 409, exc.detail
    except PermissionDenied as exc:
        status, error = 403, str(exc) or "Your role does not allow this."
    else:
        level, text = success(result) if callable(success) else (messages.SUCCESS, success)
        messages.add_message(request, level, text)
        return redirect("case", reference=case.reference)
    # _case_context reads the case afresh: the current state, not the one the form saw.
    bound = {form_name: form} if form_name and form is not None and status == 400 else {}
    return render(request, template, {**_case_context(request, case, **bound), "error": error}, status=status)


@login_required
@require_POST
def reply(request: StaffRequest, reference: str) -> HttpResponse:
    case = _case_or_404(reference)
    form = forms.MessageForm(request.POST)
    if not form.is_valid():
        return render(request, "cases/case.html", _case_context(request, case, message_form=form), status=400)
    kind, body, minutes = form.cleaned_data["kind"], form.cleaned_data["body"], form.cleaned_data["minutes"]
    seconds = minutes * 60 if minutes is not None else None
    done = "Reply sent to the customer." if kind == "public" else "Internal note added."
    return _perform(
        request,
        case,
        lambda: services.add_message(
            actor=request.user, case_id=case.id, kind=kind, body=body, handling_seconds=seconds
        ),
        success=done,
        form_name="message_form",
        form=form,
    )


@login_required
@require_POST
def set_status(request: StaffRequest, reference: str) -> HttpResponse:
    case = _case_or_404(reference)
    form = forms.StatusForm(request.POST)
    if not form.is_valid():
        return render(
            request, "cases/case.html", {**_case_context(request, case), "error": "Choose a status."}, status=400
        )
    status, version = form.cleaned_data["status"], form.cleaned_data["version"]
    label = dict(Status.choices)[status].lower()
    return _perform(
        request,
        case,
        lambda: services.set_status(actor=request.user, case_id=case.id, status=status, expected_version=version),
        success=f"{case.reference} is {label}.",
    )


@login_required
@require_http_methods(["GET", "POST"])
def handoff(request: StaffRequest, reference: str) -> HttpResponse:
    """The hand-off dialog's own page, for browsers without JavaScript and for errors."""
    if request.method != "POST":
        return render(request, "cases/handoff.html", _case_context(request, _page_or_404(reference)))
    case = _case_or_404(reference)
    form = forms.HandoffForm(request.POST, staff=staff_choices(), teams=team_names())
    if not form.is_valid():
        return render(request, "cases/handoff.html", _case_context(request, case, handoff_form=form), status=400)
    data = form.cleaned_data

    def act() -> Case:
        return services.hand_off(
            actor=request.user,
            case_id=case.id,
            to_user=data["to_user"] or None,
            to_team=data["to_team"] or None,
            reason=data["reason"],
            expected_version=data["version"],
        )

    who = (
        dict(staff_choices()).get(data["to_user"])
        if data["to_user"]
        else f"the {data['to_team']} team"
        if data["to_team"]
        else "their team"
    )
    return _perform(
        request,
        case,
        act,
        success=f"Handed {case.reference} to {who}.",
        form_name="handoff_form",
        form=form,
        template="cases/handoff.html",
    )


@login_required
@require_POST
def compensate(request: StaffRequest, reference: str) -> HttpResponse:
    case = _case_or_404(reference)
    form = forms.CompensationForm(request.POST)
    if not form.is_valid():
        return render(request, "cases/case.html", _case_context(request, case, compensation_form=form), status=400)
    data = form.cleaned_data

    def act() -> Compensation:
        return services.request_compensation(
            actor=request.user,
            case_id=case.id,
            kind=data["kind"],
            amount=data["amount"] or None,
            currency=data["currency"],
            description=data["description"],
        )

    return _perform(request, case, act, success=_compensation_outcome, form_name="compensation_form", form=form)


def _compensation_outcome(compensation: Compensation) -> tuple[int, str]:
    if compensation.status == CompensationStatus.GRANTED:
        return messages.SUCCESS, "Compensation granted."
    return messages.WARNING, "Above your authority: the request is pending approval by someone whose limit covers it."


@login_required
@require_POST
def decide(request: StaffRequest, compensation_id: int, verdict: str) -> HttpResponse:
    compensation = Compensation.objects.select_related("case").filter(id=compensation_id).first()
    if compensation is None:
        raise Http404("No such compensation request.")
    form = forms.DecisionForm(request.POST)
    reason = form.cleaned_data["reason"] if form.is_valid() else ""
    service = services.approve_compensation if verdict == "approve" else services.reject_compensation
    case = _case_or_404(compensation.case.reference)
    done = "Compensation approved and granted." if verdict == "approve" else "Compensation request rejected."
    response = _perform(
        request, case, lambda: service(actor=request.user, compensation_id=compensation_id, reason=reason), success=done
    )
    back = request.POST.get("back")
    if back == "approvals" and response.status_code == 302:
        return redirect("case-approvals")
    return response


@login_required
@require_POST
def resolve(request: StaffRequest, reference: str) -> HttpResponse:
    case = _case_or_404(reference)
    form = forms.ResolveForm(request.POST, paths=queries.root_cause_paths())
    if not form.is_valid():
        return render(request, "cases/case.html", _case_context(request, case, resolve_form=form), status=400)
    data = form.cleaned_data
    return _perform(
        request,
        case,
        lambda: services.resolve_case(
            actor=request.user,
            case_id=case.id,
            root_cause_id=data["root_cause"],
            statement=data["statement"],
            expected_version=data["version"],
        ),
        success=f"{case.reference} is resolved.",
        form_name="resolve_form",
        form=form,
    )


@login_required
@require_POST
def reopen(request: StaffRequest, reference: str) -> HttpResponse:
    case = _case_or_404(reference)
    form = forms.ReopenForm(request.POST)
    reason = form.cleaned_data["reason"] if form.is_valid() else ""
    return _perform(
        request,
        case,
        lambda: services.reopen_case(actor=request.user, case_id=case.id, reason=reason),
        success=f"{case.reference} is open again.",
    )


# --- approvals inbox ---------------------------------------------------------------------


def _shown_authority(staff: Staff) -> RoleAuthority:
    """A role's compensation limit for what a page shows (read at most every 30 s per worker);
    the services check the current limit when someone acts."""
    return queries.remembered(f"authority-{staff.role}", lambda: authority_for(staff))


@login_required
@require_GET
def approvals(request: StaffRequest) -> HttpResponse:
    limit = authority_for(request.user)
    pending = queries.pending_approvals(request.user, limit)
    rows = [(c, money_text(c)) for c in pending]
    return render(request, "cases/approvals.html", {"rows": rows, "limit": limit.max_compensation})


# --- the customer page's cases panel (registered in apps.py) ------------------------------


def customer_panel(request: HttpRequest, customer: Customer) -> str:
    """This customer's cases, open first, and the compensation granted to them: two queries."""
    cases = list(Case.objects.filter(customer=customer).select_related("owner").order_by("-opened_at")[:20])
    cases.sort(key=lambda c: c.status not in OPEN_STATUSES)
    context = {"customer": customer, "cases": cases, "compensation": queries.customer_compensation_total(customer.id)}
    return render_to_string("cases/_customer_panel.html", context, request=request)


# --- the home page's cases panel (registered in apps.py) ----------------------------------

HOME_CASES = 5


def home_panel(request: HttpRequest) -> str:
    """The member's own open cases: how many, how many at risk or breached, the five with the
    soonest deadline (the My cases queue's first rows), and the compensation waiting for them
    to decide. Four statements, each on an index."""
    request = cast(StaffRequest, request)  # the home page is for signed-in members only
    me = request.user
    page = queries.my_queue_ids(me.id, queries.CaseFilters(), cursor=None, limit=HOME_CASES)
    context = {
        "counts": queries.my_case_counts(me.id),
        "rows": queue_html(request, queries.queue_rows(list(page.items))),
        "more": page.next_cursor is not None,
        "approvals": queries.pending_approval_count(me, _shown_authority(me)),
    }
    return render_to_string("cases/_home_panel.html", context, request=request)


# --- root causes and corrective actions -------------------------------------------------


def _chart_data(rows: list[queries.RootCauseRow]) -> dict[str, Any]:
    """Complaints per month stacked by top-level cause, and compensation cost per currency."""
    months = sorted({r.month for r in rows})
    counts: dict[str, dict[str, int]] = defaultdict(lambda: defaultdict(int))
    money: dict[str, dict[str, float]] = defaultdict(lambda: defaultdict(float))
    for r in rows:
        counts[r.path.split(" > ")[0]][r.month] += r.complaints
        for currency, amount in r.compensation.items():
            money[currency][r.month] += float(amount)  # chart drawing only; totals shown as Decimal
    return {
        "months": months,
        "causes": [
            {"label": top, "data": [by_month.get(m, 0) for m in months]} for top, by_month in sorted(counts.items())
        ],
        "cost": [
            {"label": cur, "data": [round(by_month.get(m, 0), 2) for m in months]}
            for cur, by_month in sorted(money.items())
        ],
    }


def _root_cause_context(request: StaffRequest, **bound: Any) -> dict[str, Any]:
    paths = queries.root_cause_paths()
    rows = queries.root_cause_report(since=timezone.now() - timedelta(days=365))
    actions = (
        CorrectiveAction.objects.filter(status__in=[ActionStatus.OPEN, ActionStatus.IN_PROGRESS])
        .select_related("owner", "root_cause")
        .prefetch_related("cases")
    )
    tree = [
        {"id": cid, "name": path.split(" > ")[-1], "depth": path.count(" > "), "path": path}
        for cid, path in sorted(paths.items(), key=lambda item: item[1].casefold())
    ]
    user = request.user
    context: dict[str, Any] = {
        "tree": tree,
        "rows": rows,
        "chart": _chart_data(rows),
        "actions": [(a, a.owner_id == user.id or user.has_role_at_least(Role.LEAD)) for a in actions],
        "can_add_cause": user.has_role_at_least(Role.MANAGER),
        "can_plan": user.has_role_at_least(Role.LEAD),
        "cause_form": forms.RootCauseForm(paths=paths),
        "action_form": forms.ActionForm(staff=staff_choices(), paths=paths),
        "status_choices": ActionStatus.choices,
    }
    context.update(bound)
    return context


@login_required
@require_GET
def root_causes(request: StaffRequest) -> HttpResponse:
    return render(request, "cases/root_causes.html", _root_cause_context(request))


def _perform_on_page(
    request: StaffRequest,
    action: Callable[[], Any],
    *,
    success: str,
    redirect_to: str,
    render_page: Callable[..., HttpResponse],
    form_name: str,
    form: django_forms.Form,
) -> HttpResponse:
    """Like _perform, for the pages that are not a case."""
    try:
        action()
    except InvalidInput as exc:
        forms.add_service_errors(form, exc)
        status = 400
    except Conflict as exc:
        form.add_error(None, exc.detail)
        status = 409
    except (PermissionDenied, NotFound) as exc:
        form.add_error(None, str(exc.detail if isinstance(exc, NotFound) else exc))
        status = 403 if isinstance(exc, PermissionDenied) else 404
    else:
        messages.success(request, success)
        return redirect(redirect_to)
    return render_page(status=status, **{form_name: form})


@login_required
@require_POST
def root_cause_create(request: StaffRequest) -> HttpResponse:
    form = forms.RootCauseForm(request.POST, paths=queries.root_cause_paths())

    def page(status: int, **bound: Any) -> HttpResponse:
        return render(request, "cases/root_causes.html", _root_cause_context(request, **bound), status=status)

    if not form.is_valid():
        return page(400, cause_form=form)
    data = form.cleaned_data
    return _perform_on_page(
        request,
        lambda: services.create_root_cause(actor=request.user, name=data["name"], parent_id=data["parent"]),
        success=f"Added the root cause {data['name']}.",
        redirect_to="root-causes",
        render_page=page,
        form_name="cause_form",
        form=form,
    )


@login_required
@require_POST
def action_create(request: StaffRequest) -> HttpResponse:
    paths = queries.root_cause_paths()
    form = forms.ActionForm(request.POST, staff=staff_choices(), paths=paths)

    def page(status: int, **bound: Any) -> HttpResponse:
        return render(request, "cases/root_causes.html", _root_cause_context(request, **bound), status=status)

    if not form.is_valid():
        return page(400, action_form=form)
    data = form.cleaned_data

    def act() -> CorrectiveAction:
        ids = []
        for ref in form.references():
            try:
                ids.append(queries.get_case(ref).id)
            except NotFound:
                raise InvalidInput(f"No case {ref}.", "cases") from None
        return services.create_corrective_action(
            actor=request.user,
            title=data["title"],
            owner=data["owner"],
            due_date=data["due_date"],
            description=data["description"],
            case_ids=ids,
            root_cause_id=data["root_cause"],
        )

    return _perform_on_page(
        request,
        act,
        success=f"Planned: {data['title']}.",
        redirect_to="root-causes",
        render_page=page,
        form_name="action_form",
        form=form,
    )


@login_required
@require_POST
def action_status(request: StaffRequest, action_id: int) -> HttpResponse:
    form = forms.ActionStatusForm(request.POST)
    if not form.is_valid():
        messages.error(request, "Choose a status from the list.")
        return redirect("root-causes")
    try:
        services.set_corrective_action_status(
            actor=request.user, action_id=action_id, status=form.cleaned_data["status"]
        )
    except (PermissionDenied, NotFound, InvalidInput) as exc:
        messages.error(request, getattr(exc, "detail", None) or str(exc))
    else:
        messages.success(request, "Corrective action updated.")
    return redirect("root-causes")


# --- SLA set-up (care managers) ----------------------------------------------------------


def _calendar_choices() -> list[tuple[int, str]]:
    return list(Calendar.objects.order_by("name").values_list("id", "name"))


def _settings_context(**bound: Any) -> dict[str, Any]:
    context: dict[str, Any] = {
        "calendars": Calendar.objects.order_by("name"),
        "policies": SlaPolicy.objects.select_related("calendar").order_by("name"),
        "rules": PriorityRule.objects.order_by("position", "id"),
        "calendar_form": forms.CalendarForm(),
        "policy_form": forms.PolicyForm(calendars=_calendar_choices()),
        "rule_form": forms.RuleForm(),
    }
    context.update(bound)
    return context


@login_required
@require_GET
def sla_settings(request: StaffRequest) -> HttpResponse:
    require_role(request.user, Role.MANAGER, "set service standards")
    return render(request, "cases/settings.html", _settings_context())


def _settings_post(
    request: StaffRequest, form: django_forms.Form, form_name: str, action: Callable[[], Any], success: str
) -> HttpResponse:
    require_role(request.user, Role.MANAGER, "set service standards")

    def page(status: int, **bound: Any) -> HttpResponse:
        return render(request, "cases/settings.html", _settings_context(**bound), status=status)

    if not form.is_valid():
        return page(400, **{form_name: form})
    return _perform_on_page(
        request, action, success=success, redirect_to="case-settings", render_page=page, form_name=form_name, form=form
    )


@login_required
@require_POST
def calendar_create(request: StaffRequest) -> HttpResponse:
    form = forms.CalendarForm(request.POST)

    def act() -> Calendar:
        data = form.cleaned_data
        return services.create_calendar(
            actor=request.user,
            name=data["name"],
            timezone_name=data["timezone"],
            weekly_hours=form.weekly_hours(),
            holidays={"country": data["holiday_country"], "subdivision": data["holiday_subdivision"]},
            closed_dates=form.closed_date_list(),
        )

    return _settings_post(request, form, "calendar_form", act, success="Calendar added.")


@login_required
@require_POST
def policy_create(request: StaffRequest) -> HttpResponse:
    form = forms.PolicyForm(request.POST, calendars=_calendar_choices())

    def act() -> SlaPolicy:
        data = dict(form.cleaned_data)
        return services.create_sla_policy(actor=request.user, calendar_id=data.pop("calendar"), **data)

    return _settings_post(request, form, "policy_form", act, success="SLA policy added; it applies to new cases.")


@login_required
@require_POST
def rule_create(request: StaffRequest) -> HttpResponse:
    form = forms.RuleForm(request.POST)

    def act() -> PriorityRule:
        data = form.cleaned_data
        return services.create_priority_rule(
            actor=request.user, conditions=form.conditions(), priority=data["priority"], position=data["position"]
        )

    return _settings_post(request, form, "rule_form", act, success="Priority rule added.")
