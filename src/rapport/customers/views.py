"""Staff pages for customers: home, search, list, the customer 360, forms and merge.

Adapters only: parse the request, call one query or service, render. An htmx request gets
a fragment of the same template (``page.html#partial``) instead of the whole page.
"""

from __future__ import annotations

from typing import Any

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_GET, require_http_methods, require_POST
from django_htmx.http import reswap, retarget
from django_htmx.middleware import HtmxDetails

from rapport.core.audit import trail
from rapport.core.errors import Conflict, InvalidInput, NotFound, PreconditionFailed
from rapport.core.views import bad_request
from rapport.customers import queries, services
from rapport.customers.forms import CustomerFilterForm, CustomerForm, InteractionForm, add_service_errors
from rapport.customers.models import Customer
from rapport.customers.panels import render_home_panels, render_panels
from rapport.people.models import Role, Staff
from rapport.people.permissions import can_see_audit, require_role

TIMELINE_PAGE = 20
LIST_PAGE = 50
SEARCH_LIMIT = 20


class StaffRequest(HttpRequest):
    """A request as these views see it: signed in (``login_required``), with htmx details."""

    htmx: HtmxDetails
    user: Staff


def _customer_or_404(customer_id: int) -> Customer:
    try:
        return queries.get_customer(customer_id)
    except NotFound as exc:
        raise Http404(exc.detail) from None


# --- home and search --------------------------------------------------------------------


@login_required
@require_GET
def home(request: StaffRequest) -> HttpResponse:
    context = {
        "panels": render_home_panels(request),
        "my_customers": queries.my_customers(request.user.id),
        "recent": queries.recent_activity(limit=20),
    }
    return render(request, "customers/home.html", context)


@login_required
@require_GET
def search(request: StaffRequest) -> HttpResponse:
    q = request.GET.get("q", "").strip()[:200]
    if request.htmx and not q:
        return HttpResponse("")  # the live box was cleared: close the drop-down
    context = {
        "q": q,
        "customers": queries.search_customers(q, limit=SEARCH_LIMIT) if q else [],
        "contacts": queries.search_interactions(q, limit=SEARCH_LIMIT) if q else [],
    }
    template = "customers/search.html#results" if request.htmx else "customers/search.html"
    return render(request, template, context)


# --- list -------------------------------------------------------------------------------


@login_required
@require_GET
def customer_list(request: StaffRequest) -> HttpResponse:
    form = CustomerFilterForm(request.GET, managers=queries.manager_choices())
    page = None
    if form.is_valid():
        filters = queries.CustomerFilters(
            **{k: form.cleaned_data[k].strip() for k in ("q", "status", "account_manager", "tag", "segment", "tier")}
        )
        try:
            page = queries.list_customers(filters, cursor=request.GET.get("cursor") or None, limit=LIST_PAGE)
        except InvalidInput as exc:
            add_service_errors(form, exc)
    template = "customers/list.html#results" if request.htmx else "customers/list.html"
    return render(request, template, {"form": form, "page": page}, status=200 if page else 400)


# --- the customer 360 -------------------------------------------------------------------


def audit_rows(entries: list[Any]) -> list[dict[str, Any]]:
    """Audit entries as who/when/action with (field, before, after) lines for the page."""
    rows = []
    for entry in entries:
        changes = []
        for field, value in (entry.changes or {}).items():
            if isinstance(value, list) and len(value) == 2 and entry.action.endswith("updated"):
                changes.append({"field": field, "before": value[0], "after": value[1], "diff": True})
            else:
                changes.append({"field": field, "after": value, "diff": False})
        rows.append({"entry": entry, "changes": changes})
    return rows


def _detail_context(
    request: StaffRequest, customer: Customer, log_form: InteractionForm | None = None
) -> dict[str, Any]:
    try:
        page = queries.timeline(customer.id, cursor=request.GET.get("cursor") or None, limit=TIMELINE_PAGE)
    except InvalidInput:
        page = queries.timeline(customer.id, cursor=None, limit=TIMELINE_PAGE)
    context: dict[str, Any] = {
        "customer": customer,
        "page": page,
        "log_form": log_form or InteractionForm.fresh(),
        "can_merge": request.user.has_role_at_least(Role.LEAD),
        "survivor": _customer_or_404(customer.merged_into_id) if customer.merged_into_id else None,
        "panels": render_panels(request, customer),
    }
    if can_see_audit(request.user):
        context["audit"] = audit_rows(trail("customer", customer.id, limit=50))
    return context


@login_required
@require_GET
def customer_detail(request: StaffRequest, customer_id: int) -> HttpResponse:
    customer = _customer_or_404(customer_id)
    if request.htmx and request.GET.get("cursor"):
        try:
            page = queries.timeline(customer.id, cursor=request.GET["cursor"], limit=TIMELINE_PAGE)
        except InvalidInput:
            return bad_request(request)
        return render(request, "customers/detail.html#timeline-page", {"customer": customer, "page": page})
    return render(request, "customers/detail.html", _detail_context(request, customer))


@login_required
@require_POST
def customer_log(request: StaffRequest, customer_id: int) -> HttpResponse:
    customer = _customer_or_404(customer_id)
    form = InteractionForm(request.POST)
    if form.is_valid():
        try:
            entry = services.log_interaction(actor=request.user, customer_id=customer.id, **form.service_kwargs())
        except InvalidInput as exc:
            add_service_errors(form, exc)
        else:
            if request.htmx:
                context = {"customer": customer, "entry": entry, "log_form": InteractionForm.fresh(), "oob": True}
                return render(request, "customers/detail.html#logged", context)
            messages.success(request, f"Logged: {entry.summary}")
            return redirect("customer", customer_id=entry.customer_id)
    if request.htmx:
        response = render(
            request, "customers/detail.html#log-form", {"customer": customer, "log_form": form}, status=422
        )
        return reswap(retarget(response, "#log-form"), "outerHTML")
    return render(request, "customers/detail.html", _detail_context(request, customer, form), status=400)


# --- create and edit ------------------------------------------------------------------


def _conflict_context(form: CustomerForm, exc: Conflict) -> dict[str, Any]:
    field = exc.extra.get("field")
    form.add_error(field if field in form.fields else None, exc.detail)
    owner = exc.extra.get("existing_customer")
    what = exc.detail.split(" already belongs to ")[0] if owner else ""
    return {"conflict": {"what": what, "owner": owner}} if owner else {}


def _form_status(extra: dict[str, Any]) -> int:
    return 409 if "conflict" in extra else 400


def _save_customer(
    request: StaffRequest, form: CustomerForm, customer: Customer | None
) -> HttpResponse | dict[str, Any]:
    """Call the service; a response on success, else extra context for re-rendering the form."""
    try:
        if customer is None:
            saved = services.create_customer(actor=request.user, data=form.to_input())
            messages.success(request, f"Created {saved.name} ({saved.reference}).")
        else:
            saved = services.update_customer(
                actor=request.user,
                customer_id=customer.id,
                data=form.to_input(),
                expected_version=form.cleaned_data.get("version"),
            )
            messages.success(request, f"Saved {saved.name}.")
    except InvalidInput as exc:
        add_service_errors(form, exc)
    except Conflict as exc:
        return _conflict_context(form, exc)
    except PreconditionFailed as exc:
        form.add_error(None, f"{exc.detail} Reload the page to see the latest details, then make your change again.")
    else:
        return redirect("customer", customer_id=saved.id)
    return {}


@login_required
@require_http_methods(["GET", "POST"])
def customer_new(request: StaffRequest) -> HttpResponse:
    managers = queries.manager_choices()
    if request.method != "POST":
        form = CustomerForm(managers=managers, initial={"account_manager": request.user.get_username()})
        return render(request, "customers/form.html", {"form": form})
    form = CustomerForm(request.POST, managers=managers)
    extra: dict[str, Any] = {}
    if form.is_valid():
        result = _save_customer(request, form, None)
        if isinstance(result, HttpResponse):
            return result
        extra = result
    return render(request, "customers/form.html", {"form": form, **extra}, status=_form_status(extra))


@login_required
@require_http_methods(["GET", "POST"])
def customer_edit(request: StaffRequest, customer_id: int) -> HttpResponse:
    customer = _customer_or_404(customer_id)
    if customer.merged_into_id:
        messages.info(request, f"{customer.reference} was merged; edit the surviving record instead.")
        return redirect("customer", customer_id=customer.merged_into_id)
    managers = queries.manager_choices()
    current = customer.account_manager
    if current is not None and not current.is_active:
        # Keep a departed manager visible rather than silently selecting "Nobody"; the service
        # then asks for an active one when the form is saved.
        managers.append((current.username, f"{current.display_name} (no longer active)"))
    if request.method != "POST":
        form = CustomerForm(managers=managers, initial=CustomerForm.initial_for(customer))
        return render(request, "customers/form.html", {"form": form, "customer": customer})
    form = CustomerForm(request.POST, managers=managers)
    extra: dict[str, Any] = {}
    if form.is_valid():
        result = _save_customer(request, form, customer)
        if isinstance(result, HttpResponse):
            return result
        extra = result
    return render(
        request, "customers/form.html", {"form": form, "customer": customer, **extra}, status=_form_status(extra)
    )


# --- merge ------------------------------------------------------------------------------


def _duplicate_id(raw: str | None) -> int | None:
    return int(raw) if raw and raw.isdigit() else None


@login_required
@require_http_methods(["GET", "POST"])
def customer_merge(request: StaffRequest, customer_id: int) -> HttpResponse:
    require_role(request.user, Role.LEAD, "merge customers")
    survivor = _customer_or_404(customer_id)
    if request.method == "POST":
        return _merge(request, survivor, _duplicate_id(request.POST.get("duplicate")))
    if survivor.merged_into_id:
        return redirect("customer", customer_id=survivor.merged_into_id)
    duplicate_id = _duplicate_id(request.GET.get("duplicate"))
    if duplicate_id is not None and duplicate_id != survivor.id:
        duplicate = _customer_or_404(duplicate_id)
        return render(request, "customers/merge.html", {"customer": survivor, "duplicate": duplicate})
    q = request.GET.get("q", "").strip()[:200]
    candidates = [c for c in queries.search_customers(q, limit=SEARCH_LIMIT) if c.id != survivor.id] if q else []
    return render(request, "customers/merge.html", {"customer": survivor, "q": q, "candidates": candidates})


def _merge(request: StaffRequest, survivor: Customer, duplicate_id: int | None) -> HttpResponse:
    if duplicate_id is None:
        messages.error(request, "Choose the duplicate to merge.")
        return redirect("customer-merge", customer_id=survivor.id)
    try:
        merged = services.merge_customers(actor=request.user, survivor_id=survivor.id, duplicate_id=duplicate_id)
    except (InvalidInput, Conflict, NotFound) as exc:
        detail = (
            exc.detail
            if isinstance(exc, Conflict | NotFound)
            else " ".join(m for ms in exc.errors.values() for m in ms)
        )
        messages.error(request, detail)
        return redirect("customer-merge", customer_id=survivor.id)
    messages.success(request, f"Merged {Customer(id=duplicate_id).reference} into {merged.name} ({merged.reference}).")
    return redirect("customer", customer_id=merged.id)
