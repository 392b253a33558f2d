"""Reads for the value app: per-customer purchase summaries (vectorised), orders, a customer's value."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal
from typing import Any

import numpy as np
from django.conf import settings
from django.db import connection
from django.db.models import (
    Count,
    DecimalField,
    F,
    FloatField,
    Max,
    Min,
    OuterRef,
    Q,
    QuerySet,
    Subquery,
    Sum,
)
from django.db.models.functions import Floor, TruncDate
from numpy.typing import NDArray

from rapport.core.errors import InvalidInput, NotFound
from rapport.core.pagination import Page, paginate_by_id, paginate_desc
from rapport.customers.models import Customer
from rapport.people.models import Team
from rapport.value import clv, costs, segments, summaries
from rapport.value.models import (
    CLV_BANDS,
    DAYS_PER_UNIT,
    CostRate,
    CustomerValue,
    FitStatus,
    Order,
    TierOverride,
    TierRules,
    ValueFit,
    ValueModel,
    ValueSummary,
)

Array = NDArray[np.float64]
DEFAULT_ANNUAL_DISCOUNT = 0.10
CENT = Decimal("0.01")


@dataclass(frozen=True)
class Summaries:
    """One entry per customer whose first purchase falls before the end of calibration.

    ``x`` counts repeat purchase *days* (orders on one UTC day are one occasion); ``t_x`` and ``T``
    are in the time unit, rounded to 2 decimals as in Fader & Hardie's published summaries (0.01 week
    is under 2 hours, far below the one-day resolution); ``zbar`` is the mean revenue of the repeat
    days in ``currency`` (0 when x = 0). Refunds are not purchase occasions.
    """

    customer_ids: NDArray[np.int64]
    x: Array
    t_x: Array
    T: Array
    zbar: Array
    currency: str


def calibration_cutoff(calibration_end: date) -> datetime:
    """Orders before this instant are in the calibration period (the end day is included)."""
    return datetime.combine(calibration_end + timedelta(days=1), time.min, tzinfo=UTC)


def period_start(since: date) -> datetime:
    """The first instant of the day ``since`` (periods are whole UTC days)."""
    return datetime.combine(since, time.min, tzinfo=UTC)


def main_currency(calibration_end: date) -> str:
    row = (
        Order.objects.filter(ordered_at__lt=calibration_cutoff(calibration_end))
        .values("currency")
        .annotate(n=Count("id"))
        .order_by("-n", "currency")
        .first()
    )
    return row["currency"] if row else ""


def summarise(
    *, calibration_end: date, time_unit: str, currency: str, customer_ids: list[int] | None = None
) -> Summaries:
    """(x, t_x, T, zbar) per customer from the order table: one grouped query, then NumPy."""
    orders = Order.objects.filter(is_refund=False, ordered_at__lt=calibration_cutoff(calibration_end))
    if customer_ids is not None:
        orders = orders.filter(customer_id__in=customer_ids)
    days = (
        orders.annotate(day=TruncDate("ordered_at", tzinfo=UTC))
        .values_list("customer_id", "day")
        .annotate(revenue=Sum("revenue", filter=Q(currency=currency)))
        .order_by("customer_id", "day")
    )
    rows = fetch_rows(days)
    if not rows:
        empty = np.zeros(0)
        return Summaries(np.zeros(0, dtype=np.int64), empty, empty, empty, empty, currency)
    ids = np.fromiter((r[0] for r in rows), dtype=np.int64, count=len(rows))
    day = np.fromiter((r[1].toordinal() for r in rows), dtype=np.float64, count=len(rows))
    revenue = np.fromiter((float(r[2] or 0) for r in rows), dtype=np.float64, count=len(rows))
    customers, first, counts = np.unique(ids, return_index=True, return_counts=True)
    last = first + counts - 1
    x = (counts - 1).astype(np.float64)
    unit = DAYS_PER_UNIT[time_unit]
    t_x = np.round((day[last] - day[first]) / unit, 2)
    T = np.round((calibration_end.toordinal() - day[first]) / unit, 2)
    repeat_revenue = np.add.reduceat(revenue, first) - revenue[first]
    zbar = np.divide(repeat_revenue, x, out=np.zeros_like(x), where=x > 0)
    keep = T > 0  # a first purchase on the last day carries no information yet
    return Summaries(customers[keep], x[keep], t_x[keep], T[keep], zbar[keep], currency)


def margins(
    customer_ids: NDArray[np.int64], as_of: date, currency: str, since: date | None = None
) -> tuple[Array, Array]:
    """(revenue, margin = revenue − cost) to date (or from ``since``) per customer, aligned with
    ``customer_ids`` (sorted), refunds included; one grouped query."""
    orders = Order.objects.filter(ordered_at__lt=calibration_cutoff(as_of), currency=currency)
    if since is not None:
        orders = orders.filter(ordered_at__gte=period_start(since))
    rows = (
        orders.values_list("customer_id")
        .annotate(
            total=Sum("revenue"),
            margin=Sum(F("revenue") - F("cost"), output_field=DecimalField(max_digits=18, decimal_places=4)),
        )
        .order_by("customer_id")
    )
    got = fetch_rows(rows)
    revenue, margin = np.zeros(len(customer_ids)), np.zeros(len(customer_ids))
    if not got or not len(customer_ids):
        return revenue, margin
    ids = np.fromiter((r[0] for r in got), dtype=np.int64, count=len(got))
    at = np.minimum(np.searchsorted(customer_ids, ids), len(customer_ids) - 1)
    found = customer_ids[at] == ids
    revenue[at[found]] = np.fromiter((float(r[1] or 0) for r in got), dtype=np.float64, count=len(got))[found]
    margin[at[found]] = np.fromiter((float(r[2] or 0) for r in got), dtype=np.float64, count=len(got))[found]
    return revenue, margin


def fetch_rows(queryset: QuerySet[Any]) -> list[tuple[Any, ...]]:
    """The rows of a values_list query. On PostgreSQL straight from the cursor: the driver already
    gives dates and Decimals, and Django's per-value converters cost more than the query itself
    at millions of rows."""
    if connection.vendor != "postgresql":
        return list(queryset)
    sql, params = queryset.query.sql_with_params()
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        return cursor.fetchall()


# --- orders ------------------------------------------------------------------------------------
def orders_page(
    *, customer_id: int | None, start: datetime | None, end: datetime | None, cursor: str | None, limit: int
) -> Page[Order]:
    queryset: QuerySet[Order] = Order.objects.all()
    if customer_id is not None:
        queryset = queryset.filter(customer_id=customer_id)
    if start is not None:
        queryset = queryset.filter(ordered_at__gte=start)
    if end is not None:
        queryset = queryset.filter(ordered_at__lt=end)
    if start and end and end <= start:
        raise InvalidInput("'to' must be after 'from'.", "to")
    return paginate_desc(queryset, key="ordered_at", cursor=cursor, limit=limit, parse_key=datetime.fromisoformat)


# --- fits and a customer's value ---------------------------------------------------------------
def get_fit(fit_id: int) -> ValueFit:
    fit = ValueFit.objects.filter(id=fit_id).first()
    if fit is None:
        raise NotFound(f"No value fit {fit_id}.")
    return fit


def fits_in_force() -> tuple[ValueFit | None, ValueFit | None]:
    """(the purchase-frequency fit, the spend fit) in force; BG/NBD is preferred to Pareto/NBD."""
    fits = {f.model: f for f in ValueFit.objects.filter(in_force=True, status=FitStatus.DONE)}
    return fits.get(ValueModel.BGNBD) or fits.get(ValueModel.PARETONBD), fits.get(ValueModel.GAMMAGAMMA)


def discount_per_unit(time_unit: str) -> float:
    annual = float(getattr(settings, "RAPPORT_VALUE_ANNUAL_DISCOUNT", DEFAULT_ANNUAL_DISCOUNT))
    return float((1 + annual) ** (DAYS_PER_UNIT[time_unit] / 365.25) - 1)


def _money(value: float | Decimal) -> Decimal:
    return Decimal(str(round(float(value), 2))).quantize(CENT)


def customer_value(customer_id: int, horizon_days: int) -> dict[str, Any]:
    """A customer's value as of the calibration end of the fits in force, plus their snapshots."""
    customer = Customer.objects.filter(id=customer_id).only("id", "merged_into_id").first()
    if customer is None:
        raise NotFound(f"No customer {customer_id}.")
    if not 1 <= horizon_days <= 3653:
        raise InvalidInput("horizon_days must be between 1 and 3653 (ten years).", "horizon_days")
    frequency, spend = fits_in_force()
    if frequency is None or spend is None:
        raise NotFound("No value model is in force yet: fit bgnbd (or paretonbd) and gammagamma first.")
    as_of, unit = frequency.calibration_end, frequency.time_unit
    currency = spend.currency or frequency.currency
    totals = Order.objects.filter(customer_id=customer.id, ordered_at__lt=calibration_cutoff(as_of), currency=currency)
    sums = totals.aggregate(
        total_revenue=Sum("revenue"),
        margin=Sum(F("revenue") - F("cost"), output_field=DecimalField(max_digits=18, decimal_places=4)),
    )
    revenue, margin = sums["total_revenue"] or Decimal(0), sums["margin"] or Decimal(0)
    ratio = float(margin / revenue) if revenue > 0 else 1.0
    s = summarise(calibration_end=as_of, time_unit=unit, currency=currency, customer_ids=[customer.id])
    latest = CustomerValue.objects.filter(customer_id=customer.id).order_by("-as_of", "-id").first()
    cost = costs.cost_to_serve(
        np.array([customer.id]), currency=currency, end=calibration_cutoff(as_of), only=[customer.id]
    )
    tier = latest.tier if latest else ""
    body: dict[str, Any] = {
        "customer": customer.id,
        "as_of": as_of,
        "horizon_days": horizon_days,
        "currency": currency,
        "p_alive": None,
        "expected_orders": 0.0,
        "expected_margin": Decimal("0.00"),
        "clv": Decimal("0.00"),
        "margin_to_date": _money(margin),
        "cost_to_serve": _money(cost.total[0]),
        "care_effort": _money(cost.care[0]),
        "compensation": _money(cost.compensation[0]),
        "handling_hours": round(float(cost.hours[0]), 2),
        "profitability": _money(float(margin) - float(cost.total[0])),
        "tier": tier,
        "care_hint": care_hint(tier),
        "segment": latest.segment if latest else "",
        "fits": {"frequency": frequency.id, "spend": spend.id},
        "history": history(customer.id),
    }
    if len(s.x):
        scores = clv.score(
            frequency.model,
            frequency.params,
            spend.params,
            x=s.x,
            t_x=s.t_x,
            T=s.T,
            zbar=s.zbar,
            margin_ratio=ratio,
            horizon=horizon_days / DAYS_PER_UNIT[unit],
            discount_per_unit=discount_per_unit(unit),
        )
        body.update(
            p_alive=round(float(scores.p_alive[0]), 6),
            expected_orders=round(float(scores.expected_orders[0]), 6),
            expected_margin=_money(scores.expected_margin[0]),
            clv=_money(scores.clv[0]),
        )
    return body


HISTORY_LIMIT = 120


def history(customer_id: int, limit: int = HISTORY_LIMIT) -> list[dict[str, Any]]:
    rows = CustomerValue.objects.filter(customer_id=customer_id).order_by("-as_of", "-id")[:limit]
    return [_snapshot_out(v) for v in reversed(rows)]


def _snapshot_out(v: CustomerValue) -> dict[str, Any]:
    return {
        "as_of": v.as_of,
        "clv": _money(v.clv),
        "p_alive": v.p_alive,
        "expected_orders_12m": v.expected_orders_12m,
        "expected_margin_12m": _money(v.expected_margin_12m),
        "margin_to_date": _money(v.margin_to_date),
        "cost_to_serve": _money(v.cost_to_serve),
        "profitability": _money(v.margin_to_date - v.cost_to_serve),
        "currency": v.currency,
        "tier": v.tier,
        "segment": v.segment,
        "segment_label": segments.SEGMENT_LABELS.get(v.segment, v.segment),
    }


# --- segments and tiers --------------------------------------------------------------------------
def tier_rules() -> TierRules:
    """The rules in force (the latest saved), or none (everyone gets the default tier)."""
    return TierRules.objects.order_by("-id").first() or TierRules(rules=[], default=segments.DEFAULT_TIER)


def latest_snapshot_key() -> tuple[date, int] | None:
    """(as_of, fit id) of the newest snapshot batch: from its summary (a small table; every batch
    with customers has one, written with it)."""
    row = ValueSummary.objects.order_by("-as_of", "-id").values_list("as_of", "fit_id").first()
    return (row[0], row[1]) if row else None


def batch_summary(key: tuple[date, int]) -> list[ValueSummary]:
    """The summary rows of one snapshot batch, by segment and tier."""
    return list(ValueSummary.objects.filter(as_of=key[0], fit_id=key[1]).order_by("segment", "tier"))


def grouped_summary(key: tuple[date, int]) -> summaries.BatchSummary:
    """The summary of one batch grouped from its snapshot rows (what the stored summary must equal;
    used to rebuild it after tier rules change): two queries over the whole batch."""
    batch = CustomerValue.objects.filter(as_of=key[0], fit_id=key[1])
    bounds = batch.aggregate(low=Min("clv"), high=Max("clv"))
    low, high = float(bounds["low"] or 0), float(bounds["high"] or 0)
    width = summaries.band_width(low, high)
    rows = (
        batch.annotate(band=Floor((F("clv") - low) / width, output_field=FloatField()))
        .values_list("segment", "tier", "band")
        .annotate(Count("id"), Sum("revenue_to_date"), Sum("margin_to_date"), Sum("cost_to_serve"), Sum("clv"))
        .order_by()
    )
    groups: dict[tuple[str, str], summaries.Group] = {}
    for segment, tier, band, n, *amounts in rows:
        group = groups.setdefault((segment, tier), summaries.Group(segment, tier))
        group.customers += n
        for name, amount in zip(summaries.AMOUNTS, amounts, strict=True):
            setattr(group, name, getattr(group, name) + (amount or 0))
        group.bands[min(int(band), CLV_BANDS - 1)] += n  # the top value falls on the last edge
    for group in groups.values():
        for name in summaries.AMOUNTS:
            setattr(group, name, Decimal(getattr(group, name)).quantize(CENT))
    return summaries.BatchSummary(low, high, [groups[k] for k in sorted(groups)])


def latest_snapshot_ids(customer_ids: list[int]) -> list[int]:
    key = latest_snapshot_key()
    if key is None:
        return []
    batch = CustomerValue.objects.filter(as_of=key[0], fit_id=key[1], customer_id__in=customer_ids)
    return list(batch.values_list("id", flat=True))


def snapshot_arrays(key: tuple[date, int]) -> tuple[NDArray[np.int64], Array, Array]:
    """(customer ids sorted, CLV, profitability = margin − cost to serve to date) of one snapshot batch."""
    rows = list(
        CustomerValue.objects.filter(as_of=key[0], fit_id=key[1])
        .order_by("customer_id")
        .values_list("customer_id", "clv", "margin_to_date", "cost_to_serve")
    )
    ids = np.fromiter((r[0] for r in rows), dtype=np.int64, count=len(rows))
    clv_ = np.fromiter((float(r[1]) for r in rows), dtype=np.float64, count=len(rows))
    profit = np.fromiter((float(r[2] - r[3]) for r in rows), dtype=np.float64, count=len(rows))
    return ids, clv_, profit


def orders_up_to(calibration_end: date, cap: int) -> int:
    """How many orders fall in the calibration period, counting no further than ``cap``."""
    return Order.objects.filter(ordered_at__lt=calibration_cutoff(calibration_end))[:cap].count()


def _money_or_zero(value: Decimal | float | None) -> Decimal:
    return _money(value or 0)


def segments_summary(
    since: date | None = None, until: date | None = None, key: tuple[date, int] | None = None
) -> dict[str, Any]:
    """Counts, revenue, margin, cost to serve, profit and CLV by segment and tier of the latest
    snapshot batch (or ``key``'s). To date: the batch's stored summary. For a period [since, until]
    (whole days): revenue, margin and cost to serve within it, per customer in bulk, then
    grouped by the customers' segment and tier with NumPy."""
    key = key or latest_snapshot_key()
    body: dict[str, Any] = {"as_of": None, "currency": "", "since": since, "until": until, "rows": []}
    body |= {"segments": [], "tiers": []}
    if key is None:
        return body
    if since is not None and until is not None and until < since:
        raise InvalidInput("'until' must not be before 'since'.", "until")
    stored = batch_summary(key)
    currency = stored[0].currency if stored else ""
    if since is None and until is None:
        rows = [_row(s.segment, s.tier, s.customers, **{k: getattr(s, k) for k in summaries.AMOUNTS}) for s in stored]
    else:
        batch = CustomerValue.objects.filter(as_of=key[0], fit_id=key[1])
        rows = _rows_for_period(batch, currency, since, until or key[0])
    body.update(
        as_of=key[0], currency=currency, rows=rows, segments=_totals(rows, "segment"), tiers=_totals(rows, "tier")
    )
    return body


def _row(segment: str, tier: str, customers: int, **amounts: float | Decimal | None) -> dict[str, Any]:
    money = {k: _money_or_zero(v) for k, v in amounts.items()}
    return {
        "segment": segment,
        "segment_label": segments.SEGMENT_LABELS.get(segment, segment),
        "tier": tier,
        "customers": customers,
        **money,
        "profit": money["margin"] - money["cost_to_serve"],
    }


def _rows_for_period(
    batch: QuerySet[CustomerValue], currency: str, since: date | None, until: date
) -> list[dict[str, Any]]:
    rows = list(batch.order_by("customer_id").values_list("customer_id", "segment", "tier", "clv"))
    if not rows:
        return []
    ids = np.fromiter((r[0] for r in rows), dtype=np.int64, count=len(rows))
    clv_ = np.fromiter((float(r[3]) for r in rows), dtype=np.float64, count=len(rows))
    segment_names, segment_code = np.unique(np.array([r[1] for r in rows]), return_inverse=True)
    tier_names, tier_code = np.unique(np.array([r[2] for r in rows]), return_inverse=True)
    revenue, margin = margins(ids, until, currency, since)
    start = period_start(since) if since is not None else None
    cost = costs.cost_to_serve(ids, currency=currency, end=calibration_cutoff(until), start=start).total
    group = segment_code * len(tier_names) + tier_code
    size = len(segment_names) * len(tier_names)

    def total(values: Array) -> Array:
        return np.bincount(group, weights=values, minlength=size)

    counts = np.bincount(group, minlength=size)
    sums = {"revenue": total(revenue), "margin": total(margin), "cost_to_serve": total(cost), "clv": total(clv_)}
    return [
        _row(
            str(segment_names[g // len(tier_names)]),
            str(tier_names[g % len(tier_names)]),
            int(counts[g]),
            **{k: float(v[g]) for k, v in sums.items()},
        )
        for g in np.flatnonzero(counts)
    ]


def _totals(rows: list[dict[str, Any]], by: str) -> list[dict[str, Any]]:
    """Roll the segment × tier rows up by one of the two; with the average CLV per customer."""
    out: dict[str, dict[str, Any]] = {}
    for row in rows:
        total = out.setdefault(
            row[by],
            {
                by: row[by],
                "customers": 0,
                **{k: Decimal(0) for k in ("revenue", "margin", "cost_to_serve", "profit", "clv")},
            },
        )
        total["customers"] += row["customers"]
        for k in ("revenue", "margin", "cost_to_serve", "profit", "clv"):
            total[k] += row[k]
    for total in out.values():
        total["average_clv"] = _money(total["clv"] / total["customers"]) if total["customers"] else Decimal("0.00")
        if by == "segment":
            total["label"] = segments.SEGMENT_LABELS.get(total["segment"], total["segment"])
    order = [slug for slug, *_ in segments.SEGMENT_RULES] if by == "segment" else None
    if order:
        return sorted(out.values(), key=lambda t: order.index(t["segment"]) if t["segment"] in order else 99)
    return sorted(out.values(), key=lambda t: -t["average_clv"])


# --- the customer panel and the value page -------------------------------------------------------
PANEL_COLUMNS = (
    *("as_of", "clv", "p_alive", "expected_orders_12m", "expected_margin_12m", "margin_to_date"),
    *("cost_to_serve", "currency", "tier", "segment"),
)


def customer_panel(customer_id: int, tier: str) -> dict[str, Any]:
    """What the customer page shows from the snapshots (no model is run): one read of the
    (customer, -as_of, -id) index, the manual tier's reason and the tier rules (for the care
    hint) riding along as subqueries; plain rows, and only the latest one formatted in full (the
    rest feed the chart)."""
    reason = TierOverride.objects.filter(customer_id=OuterRef("customer_id")).values("reason")[:1]
    rules = TierRules.objects.order_by("-id").values("rules")[:1]
    rows = list(
        CustomerValue.objects.filter(customer_id=customer_id)
        .annotate(override_reason=Subquery(reason), rules=Subquery(rules))
        .order_by("-as_of", "-id")
        .values(*PANEL_COLUMNS, "override_reason", "rules")[:HISTORY_LIMIT]
    )
    rows.reverse()
    latest = rows[-1] if rows else None
    return {
        "latest": _panel_latest(latest) if latest else None,
        "override_reason": latest["override_reason"] if latest else None,
        # Without snapshots (a tier set by hand before any) the rules are read on their own.
        "care_hint": care_hint(tier, (latest["rules"] or []) if latest else None),
        "chart": {
            "labels": [r["as_of"].isoformat() for r in rows],
            "clv": [round(float(r["clv"]), 2) for r in rows],
            "margin": [round(float(r["expected_margin_12m"]), 2) for r in rows],
            "p_alive": [round(r["p_alive"], 4) for r in rows],
        },
    }


def _panel_latest(row: dict[str, Any]) -> dict[str, Any]:
    money = {k: _money(row[k]) for k in ("clv", "expected_margin_12m", "margin_to_date", "cost_to_serve")}
    return {
        **row,
        **money,
        "profitability": money["margin_to_date"] - money["cost_to_serve"],
        "segment_label": segments.SEGMENT_LABELS.get(row["segment"], row["segment"]),
    }


def clv_histogram(stored: list[ValueSummary]) -> dict[str, Any]:
    """Customers per CLV band in one snapshot batch (equal widths), from its summary rows."""
    counts = [sum(band) for band in zip(*(s.clv_bands for s in stored), strict=True)] or [0] * CLV_BANDS
    low = stored[0].clv_low if stored else 0.0
    width = summaries.band_width(low, stored[0].clv_high if stored else 0.0)
    labels = [f"{low + i * width:,.0f}–{low + (i + 1) * width:,.0f}" for i in range(CLV_BANDS)]
    return {"labels": labels, "counts": counts, "bands": list(zip(labels, counts, strict=True))}


UNMANAGED_COUNT_CAP = 10_000


def top_tiers_without_manager(limit: int = 50) -> tuple[list[str], list[Customer], int]:
    """(the top tiers, their first ``limit`` customers without an account manager, the top tier's
    first, by id, how many up to UNMANAGED_COUNT_CAP + 1). Each read walks the (care_tier, id)
    index and stops early: at 1M customers a fifth are top-tier, too many to sort or count."""
    top = top_tiers()
    listed: list[Customer] = []
    for tier in top:
        if len(listed) < limit:
            unmanaged = Customer.objects.live().filter(care_tier=tier, account_manager__isnull=True)
            listed += unmanaged.order_by("id")[: limit - len(listed)]
    if not top:
        return top, listed, 0
    every = Customer.objects.live().filter(care_tier__in=top, account_manager__isnull=True).order_by()
    return top, listed, every[: UNMANAGED_COUNT_CAP + 1].count()


def latest_fits(limit: int = 10) -> list[ValueFit]:
    return list(ValueFit.objects.order_by("-created_at", "-id")[:limit])


def value_page(since: date | None = None, until: date | None = None) -> dict[str, Any]:
    key = latest_snapshot_key()
    summary = segments_summary(since, until, key)
    top, unmanaged, unmanaged_count = top_tiers_without_manager()
    return {
        "summary": summary,
        "histogram": clv_histogram(batch_summary(key)) if key else None,
        "top_tiers": top,
        "unmanaged": unmanaged,
        "unmanaged_count": unmanaged_count,
        "unmanaged_cap": UNMANAGED_COUNT_CAP,
        "fits": latest_fits(),
        "chart": {
            "segments": [s["label"] for s in summary["segments"]],
            "segment_margin": [float(s["profit"]) for s in summary["segments"]],
            "segment_clv": [float(s["clv"]) for s in summary["segments"]],
            "tiers": [t["tier"] for t in summary["tiers"]],
            "tier_margin": [float(t["profit"]) for t in summary["tiers"]],
            "tier_clv": [float(t["clv"]) for t in summary["tiers"]],
        },
    }


# --- tier-driven care ----------------------------------------------------------------------------
LOWER_COST_HINT = (
    "Costs more to serve than it earns so far: answer by email or point to the help pages rather than "
    "calling back, and prefer gestures in kind to money."
)


def care_hint(tier: str, rules: list[dict[str, Any]] | None = None) -> str:
    """For customers in a tier given by unprofitability (a ``when: negative_margin`` rule), the
    hint towards lower-cost channels; otherwise empty. ``rules``: the tier rules in force, when
    the caller has read them already."""
    if not tier:
        return ""
    rules = tier_rules().rules if rules is None else rules
    unprofitable = {r["tier"] for r in rules if r.get("when") == "negative_margin"}
    return LOWER_COST_HINT if tier in unprofitable else ""


def dedicated_team(customer: Customer) -> Team | None:
    """The team a tier rule names for its customers' new cases (the dedicated helpline); a case
    route registered with cases.services.register_team_route."""
    if not customer.care_tier:
        return None
    rule = next((r for r in tier_rules().rules if r["tier"] == customer.care_tier and r.get("team")), None)
    return Team.objects.filter(name=rule["team"]).first() if rule else None


def top_tiers() -> list[str]:
    return [r["tier"] for r in tier_rules().rules if "top_percent" in r]


def unmanaged_page(*, tier: str = "", cursor: str | None, limit: int) -> tuple[list[str], Page[Customer]]:
    """(the top tiers, a page of their live customers without an account manager, by id);
    the (care_tier, id) index answers it."""
    tiers = top_tiers()
    if tier:
        if tier not in tiers:
            raise InvalidInput(f"Choose one of the top tiers: {', '.join(tiers) or 'none are set'}.", "tier")
        tiers = [tier]
    if not tiers:
        return tiers, Page([], None)
    unmanaged = Customer.objects.live().filter(care_tier__in=tiers, account_manager__isnull=True)
    return tiers, paginate_by_id(unmanaged, cursor=cursor, limit=limit)


def segment_choices() -> list[tuple[str, str]]:
    return [(slug, label) for slug, label, _, _ in segments.SEGMENT_RULES]


def tier_choices() -> list[tuple[str, str]]:
    rules = tier_rules()
    names = [r["tier"] for r in rules.rules] + [rules.default]
    return [(name, name.capitalize()) for name in names]


def cost_rates() -> dict[str, Any]:
    rows = list(CostRate.objects.order_by("role"))
    return {
        "currency": rows[0].currency if rows else "",
        "rates": [{"role": r.role, "per_hour": _money(r.per_hour)} for r in rows],
        "updated_at": max((r.updated_at for r in rows), default=None),
    }
