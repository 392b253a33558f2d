"""Cost to serve: the care effort spent on each customer, in money.

Care effort is the handling time staff log on timeline contacts (``Interaction.duration_seconds``,
"Duration (minutes)" on the log form) and on case work (``CaseMessage.handling_seconds``, "Time
spent" on a reply or note), each priced at the cost rate of the role of the staff member who did
it; granted compensation is added at its amount. Profitability = margin − cost to serve.

Everything is summed in the database, grouped by customer and role (three grouped queries
however many customers), then priced and laid out per customer with NumPy.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

import numpy as np
from django.db.models import QuerySet, Sum
from numpy.typing import NDArray

from rapport.cases.models import CaseMessage, Compensation, CompensationStatus
from rapport.customers.models import Interaction
from rapport.value.models import CostRate

Array = NDArray[np.float64]


@dataclass(frozen=True)
class Costs:
    """Aligned with the customer ids asked about: care effort (handling time × rate), granted
    compensation, their sum, and the handling hours behind the care part."""

    care: Array
    compensation: Array
    hours: Array
    unpriced_currency: str  # the rates' currency when it is not the values' (care then counts 0)

    @property
    def total(self) -> Array:
        return self.care + self.compensation


def rates(currency: str) -> tuple[dict[str, float], str]:
    """({role: money per hour} in ``currency``, the other currency the rates are in, if any)."""
    rows = list(CostRate.objects.values_list("role", "per_hour", "currency"))
    priced = {role: float(per_hour) for role, per_hour, cur in rows if cur == currency}
    other = next((cur for _, _, cur in rows if cur != currency), "")
    return priced, other


def _period(queryset: QuerySet, field: str, start: datetime | None, end: datetime) -> QuerySet:
    queryset = queryset.filter(**{f"{field}__lt": end})
    return queryset.filter(**{f"{field}__gte": start}) if start is not None else queryset


def cost_to_serve(
    customer_ids: NDArray[np.int64],
    *,
    currency: str,
    end: datetime,
    start: datetime | None = None,
    only: list[int] | None = None,
) -> Costs:
    """Cost to serve each of ``customer_ids`` (sorted) over [start, end). ``only`` narrows the
    queries to a few customers (the customer page), which the customer indexes then answer."""
    n = len(customer_ids)
    care, hours, compensation = np.zeros(n), np.zeros(n), np.zeros(n)
    if n == 0:
        return Costs(care, compensation, hours, "")
    per_hour, other = rates(currency)
    contacts = _period(
        Interaction.objects.filter(duration_seconds__gt=0, staff__isnull=False), "occurred_at", start, end
    )
    work = _period(CaseMessage.objects.filter(handling_seconds__gt=0, author__isnull=False), "created_at", start, end)
    granted = _period(
        Compensation.objects.filter(status=CompensationStatus.GRANTED, currency=currency, amount__isnull=False),
        "decided_at",
        start,
        end,
    )
    if only is not None:
        contacts, granted = contacts.filter(customer_id__in=only), granted.filter(customer_id__in=only)
        work = work.filter(case__customer_id__in=only)
    effort = [
        *contacts.values_list("customer_id", "staff__role").annotate(seconds=Sum("duration_seconds")).order_by(),
        *work.values_list("case__customer_id", "author__role").annotate(seconds=Sum("handling_seconds")).order_by(),
    ]
    if effort:
        ids = np.fromiter((row[0] for row in effort), dtype=np.int64, count=len(effort))
        spent = np.fromiter((row[2] or 0 for row in effort), dtype=np.float64, count=len(effort)) / 3600
        price = np.fromiter((per_hour.get(row[1], 0.0) for row in effort), dtype=np.float64, count=len(effort))
        _add(hours, customer_ids, ids, spent)
        _add(care, customer_ids, ids, spent * price)
    given = list(granted.values_list("customer_id").annotate(total=Sum("amount")).order_by())
    if given:
        ids = np.fromiter((row[0] for row in given), dtype=np.int64, count=len(given))
        _add(compensation, customer_ids, ids, np.fromiter((float(row[1]) for row in given), dtype=np.float64))
    return Costs(care, compensation, hours, other if not per_hour else "")


def _add(out: Array, customer_ids: NDArray[np.int64], ids: NDArray[np.int64], amounts: Array) -> None:
    """out[position of id] += amount, for the ids that are among ``customer_ids`` (sorted)."""
    at = np.minimum(np.searchsorted(customer_ids, ids), len(customer_ids) - 1)
    found = customer_ids[at] == ids
    out += np.bincount(at[found], weights=amounts[found], minlength=len(customer_ids))
