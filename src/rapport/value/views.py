"""Pages of the value app: the customer page's value panel, the value page, the top-tier customers
without an account manager, and the value settings (tier rules, cost rates). Adapters only."""

from __future__ import annotations

from datetime import date
from typing import Any

from django import forms
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.template.loader import render_to_string
from django.views.decorators.http import require_GET, require_http_methods

from rapport.cases.models import Case
from rapport.core.errors import InvalidInput
from rapport.customers.models import Customer
from rapport.people.models import Role, Staff
from rapport.people.permissions import require_role
from rapport.value import queries, segments, services

UNMANAGED_PAGE = 50


def customer_panel(request: HttpRequest, customer: Customer) -> str:
    """Tier, CLV, P(alive), the next 12 months, cost to serve and the value over time, from the
    snapshots; for unprofitable tiers the hint towards lower-cost channels."""
    context = {"customer": customer, **queries.customer_panel(customer.id, customer.care_tier)}
    return render_to_string("value/_customer_panel.html", context, request=request)


def case_note(request: HttpRequest, case: Case) -> str:
    """On the case page: the customer's care tier and, for an unprofitable tier, the hint towards
    lower-cost channels (nothing for customers without a tier, so no query for them)."""
    tier = case.customer.care_tier
    if not tier:
        return ""
    context = {"tier": tier, "care_hint": queries.care_hint(tier)}
    return render_to_string("value/_case_note.html", context, request=request)


class PeriodForm(forms.Form):
    since = forms.DateField(label="From", required=False, widget=forms.DateInput(attrs={"type": "date"}))
    until = forms.DateField(label="To", required=False, widget=forms.DateInput(attrs={"type": "date"}))

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("label_suffix", "")
        super().__init__(*args, **kwargs)


@login_required
@require_GET
def value_page(request: HttpRequest) -> HttpResponse:
    require_role(request.user, Role.LEAD, "see the value of customers")
    period = PeriodForm(request.GET)
    since: date | None = None
    until: date | None = None
    if period.is_valid():
        since, until = period.cleaned_data["since"], period.cleaned_data["until"]
    try:
        context = queries.value_page(since, until)
    except InvalidInput as exc:
        period.add_error("until", " ".join(m for ms in exc.errors.values() for m in ms))
        context = queries.value_page()
    return render(request, "value/value.html", {**context, "period": period})


@login_required
@require_GET
def unmanaged_page(request: HttpRequest) -> HttpResponse:
    """Top-tier customers without a named account manager, a page at a time."""
    require_role(request.user, Role.LEAD, "see unmanaged top-tier customers")
    tiers, page = queries.unmanaged_page(cursor=request.GET.get("cursor") or None, limit=UNMANAGED_PAGE)
    return render(request, "value/unmanaged.html", {"tiers": tiers, "page": page})


class CostRatesForm(forms.Form):
    currency = forms.CharField(max_length=3)

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("label_suffix", "")
        super().__init__(*args, **kwargs)
        for role, label in Role.choices:
            self.fields[f"rate_{role}"] = forms.DecimalField(
                label=f"{label}, per hour", required=False, min_value=0, decimal_places=2
            )

    def rates(self) -> list[dict[str, Any]]:
        data = self.cleaned_data
        return [
            {"role": role, "per_hour": data[f"rate_{role}"]}
            for role in Role.values
            if data.get(f"rate_{role}") is not None
        ]


@login_required
@require_http_methods(["GET", "POST"])
def settings_page(request: HttpRequest) -> HttpResponse:
    """The care-tier rules (with their dedicated teams) and the cost of an hour of care per role."""
    require_role(request.user, Role.LEAD, "see the value settings")
    current = queries.cost_rates()
    initial = {"currency": current["currency"], **{f"rate_{r['role']}": r["per_hour"] for r in current["rates"]}}
    form = CostRatesForm(request.POST or None, initial=initial)
    if request.method == "POST" and form.is_valid():
        user: Staff = request.user  # type: ignore[assignment]
        try:
            services.set_cost_rates(actor=user, currency=form.cleaned_data["currency"], rates=form.rates())
        except InvalidInput as exc:
            for field, errors in exc.errors.items():
                form.add_error(field if field in form.fields else None, errors)
        else:
            messages.success(request, "Cost rates saved: the next value snapshot counts with them.")
            return redirect("value-settings")
    status = 400 if request.method == "POST" else 200
    rules = queries.tier_rules()
    return render(
        request,
        "value/settings.html",
        {"form": form, "rules": rules, "conditions": segments.WHEN_CONDITIONS},
        status=status,
    )
