"""Pages of the value app: the customer page's value panel and the value page. Adapters only."""

from __future__ import annotations

from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.template.loader import render_to_string
from django.views.decorators.http import require_GET

from rapport.customers.models import Customer
from rapport.people.models import Role
from rapport.people.permissions import require_role
from rapport.value import queries


def customer_panel(request: HttpRequest, customer: Customer) -> str:
    """Tier, CLV, P(alive), the next 12 months and the value over time, from the snapshots."""
    context = {"customer": customer, **queries.customer_panel(customer.id)}
    return render_to_string("value/_customer_panel.html", context, request=request)


@login_required
@require_GET
def value_page(request: HttpRequest) -> HttpResponse:
    require_role(request.user, Role.LEAD, "see the value of customers")
    return render(request, "value/value.html", queries.value_page())
