"""Write use-cases of the value app: fitting the value models, snapshotting customer values."""

from __future__ import annotations

import math
import time
from datetime import date
from decimal import Decimal
from typing import Any

import numpy as np
from django.db import transaction
from django.utils import timezone
from numpy.typing import NDArray

from rapport.core import audit
from rapport.core.errors import InvalidInput, NotFound
from rapport.customers.models import Customer
from rapport.customers.services import set_care_tier
from rapport.people.models import Role, Staff
from rapport.people.permissions import require_role
from rapport.value import clv, queries, segments
from rapport.value.models import (
    DAYS_PER_UNIT,
    CustomerValue,
    FitStatus,
    Order,
    TierOverride,
    TierRules,
    TimeUnit,
    ValueFit,
    ValueModel,
)

MAX_ITERATIONS = 500


def run_fit(
    *,
    actor: Staff | None,
    model: str,
    calibration_end: date | None = None,
    time_unit: str = TimeUnit.WEEK,
    currency: str = "",
    max_iterations: int = MAX_ITERATIONS,
) -> ValueFit:
    """Fit ``model`` to the orders up to ``calibration_end`` (default today) and record it.

    A converged fit goes in force (replacing the model's previous one); a fit that does not
    converge is recorded as failed with the optimiser's message and the previous one stays.
    Too little data is an InvalidInput saying how much is needed (nothing recorded).
    """
    if actor is not None:
        require_role(actor, Role.MANAGER, "fit value models")
    if model not in ValueModel.values:
        raise InvalidInput(f"Choose one of {', '.join(ValueModel.values)}.", "model")
    if time_unit not in TimeUnit.values:
        raise InvalidInput(f"Choose one of {', '.join(TimeUnit.values)}.", "time_unit")
    if not 1 <= max_iterations <= 10_000:
        raise InvalidInput("max_iterations must be between 1 and 10000.", "max_iterations")
    today = timezone.now().date()
    end = calibration_end or today
    if end > today:
        raise InvalidInput("The calibration period cannot end in the future.", "calibration_end")
    started = time.perf_counter()
    currency = currency.strip().upper() or queries.main_currency(end)
    data = queries.summarise(calibration_end=end, time_unit=time_unit, currency=currency)
    try:
        if model == ValueModel.GAMMAGAMMA:
            result = clv.fit_gammagamma(data.x, data.zbar, max_iterations=max_iterations)
        else:
            fit = clv.fit_bgnbd if model == ValueModel.BGNBD else clv.fit_paretonbd
            result = fit(data.x, data.t_x, data.T, max_iterations=max_iterations)
    except clv.NotEnoughData as exc:
        raise InvalidInput(f"{exc} (orders up to {end.isoformat()}).", "calibration_end") from None
    seconds = time.perf_counter() - started
    return _record(actor, result, end, time_unit, currency, seconds)


@transaction.atomic
def _record(
    actor: Staff | None, result: clv.FitResult, end: date, time_unit: str, currency: str, seconds: float
) -> ValueFit:
    fit = ValueFit.objects.create(
        model=result.model,
        params=result.params,
        log_likelihood=result.log_likelihood if math.isfinite(result.log_likelihood) else None,
        customers=result.customers,
        calibration_end=end,
        time_unit=time_unit,
        currency=currency,
        seconds=round(seconds, 4),
        status=FitStatus.OK if result.converged else FitStatus.FAILED,
        message=result.message,
        created_by=actor,
    )
    if result.converged:
        # Lock the fit in force so two fits finishing together cannot both take its place.
        list(ValueFit.objects.select_for_update().filter(model=result.model, in_force=True))
        ValueFit.objects.filter(model=result.model, in_force=True).update(in_force=False)
        fit.in_force = True
        fit.save(update_fields=["in_force"])
    audit.record(
        actor=actor,
        action="value.fitted" if result.converged else "value.fit_failed",
        subject_type="value_fit",
        subject_id=fit.id,
        changes={
            "model": result.model,
            "params": result.params,
            "customers": result.customers,
            "message": result.message,
        },
    )
    return fit


SNAPSHOT_BATCH = 5000


def snapshot_values(*, actor: Staff | None, horizon_days: int = 365) -> int:
    """Write every valued customer's snapshot as of the fits in force (one CustomerValue row each):
    P(alive), expected orders and margin over ``horizon_days``, CLV, margin to date. Vectorised:
    one grouped query for the purchase summaries, one for the margins, then NumPy and bulk inserts.
    RFM scores (quintiles of recency, repeat purchases, revenue to date), the named segment and
    the care tier (rules, then manual overrides) are set with each snapshot; the tiers go on to the
    customers (``care_tier``) for cases to read."""
    if actor is not None:
        require_role(actor, Role.MANAGER, "snapshot customer values")
    frequency, spend = queries.fits_in_force()
    if frequency is None or spend is None:
        raise InvalidInput("Fit bgnbd (or paretonbd) and gammagamma first.", "model")
    as_of, unit = frequency.calibration_end, frequency.time_unit
    currency = spend.currency or frequency.currency
    data = queries.summarise(calibration_end=as_of, time_unit=unit, currency=currency)
    revenue, margin = queries.margins(data.customer_ids, as_of, currency)
    ratio = np.divide(margin, revenue, out=np.ones_like(revenue), where=revenue > 0)
    scores = clv.score(
        frequency.model,
        frequency.params,
        spend.params,
        x=data.x,
        t_x=data.t_x,
        T=data.T,
        zbar=data.zbar,
        margin_ratio=np.clip(ratio, 0.0, 1.0),
        horizon=horizon_days / DAYS_PER_UNIT[unit],
        discount_per_unit=queries.discount_per_unit(unit),
    )
    r, f, m = segments.rfm(data.T - data.t_x, data.x, revenue)
    segment = segments.name_segments(r, f)
    rules = queries.tier_rules()
    tier = _with_overrides(
        data.customer_ids, segments.assign_tiers(rules.rules, rules.default, scores.clv, margin)
    )  # profitability = margin − cost to serve, and cost to serve is 0 until cost rates exist
    with transaction.atomic():
        CustomerValue.objects.filter(as_of=as_of, fit=frequency).delete()  # a re-run replaces, never doubles
        CustomerValue.objects.bulk_create(
            (
                CustomerValue(
                    customer_id=int(cid),
                    fit=frequency,
                    as_of=as_of,
                    p_alive=float(scores.p_alive[i]),
                    expected_orders_12m=float(scores.expected_orders[i]),
                    expected_margin_12m=_cents(scores.expected_margin[i]),
                    clv=_cents(scores.clv[i]),
                    currency=currency,
                    margin_to_date=_cents(margin[i]),
                    revenue_to_date=_cents(revenue[i]),
                    recency_score=int(r[i]),
                    frequency_score=int(f[i]),
                    monetary_score=int(m[i]),
                    segment=str(segment[i]),
                    tier=str(tier[i]),
                )
                for i, cid in enumerate(data.customer_ids)
            ),
            batch_size=SNAPSHOT_BATCH,
        )
        audit.record(
            actor=actor,
            action="value.snapshot",
            subject_type="value_fit",
            subject_id=frequency.id,
            changes={"as_of": as_of.isoformat(), "customers": len(data.customer_ids), "horizon_days": horizon_days},
        )
        set_care_tier(actor=actor, customer_ids_by_tier=_ids_by_tier(data.customer_ids, tier))
    return len(data.customer_ids)


def _ids_by_tier(customer_ids: NDArray[np.int64], tiers: NDArray[np.str_]) -> dict[str, list[int]]:
    names, which = np.unique(tiers, return_inverse=True)
    return {str(name): customer_ids[which == i].tolist() for i, name in enumerate(names)}


def _with_overrides(customer_ids: NDArray[np.int64], tiers: NDArray[np.str_]) -> NDArray[np.str_]:
    """Manual tiers win over the rules."""
    overrides = dict(TierOverride.objects.values_list("customer_id", "tier"))
    if not overrides:
        return tiers
    tiers = tiers.astype(object)
    at = np.searchsorted(customer_ids, np.fromiter(overrides, dtype=np.int64, count=len(overrides)))
    for position, (cid, tier) in zip(at, overrides.items(), strict=True):
        if position < len(customer_ids) and customer_ids[position] == cid:
            tiers[position] = tier
    return tiers.astype(np.str_)


# --- care tiers ----------------------------------------------------------------------------------
@transaction.atomic
def set_tier_rules(*, actor: Staff, rules: list[dict[str, Any]], default: str = segments.DEFAULT_TIER) -> TierRules:
    """Replace the care-tier rules (admins) and apply them at once to the latest snapshot."""
    require_role(actor, Role.ADMIN, "set care-tier rules")
    default = (default or "").strip().lower()
    clean, errors = segments.clean_rules(rules, default)
    if errors:
        raise InvalidInput(errors)
    saved = TierRules.objects.create(rules=clean, default=default, updated_by=actor)
    audit.record(
        actor=actor,
        action="value.tier_rules_set",
        subject_type="value_tier_rules",
        subject_id=saved.id,
        changes={"rules": clean, "default": default},
    )
    apply_tiers(actor=actor)
    return saved


@transaction.atomic
def apply_tiers(*, actor: Staff | None) -> int:
    """Re-tier the customers of the latest snapshot with the rules in force (and the overrides)."""
    if actor is not None:
        require_role(actor, Role.MANAGER, "apply care tiers")
    latest = queries.latest_snapshot_key()
    if latest is None:
        return 0
    rows = CustomerValue.objects.filter(as_of=latest[0], fit_id=latest[1])
    ids, clv_, margin = queries.snapshot_arrays(latest)
    rules = queries.tier_rules()
    tiers = _with_overrides(ids, segments.assign_tiers(rules.rules, rules.default, clv_, margin))
    by_tier = _ids_by_tier(ids, tiers)
    for tier, customer_ids in by_tier.items():
        rows.filter(customer_id__in=customer_ids).exclude(tier=tier).update(tier=tier)
    return set_care_tier(actor=actor, customer_ids_by_tier=by_tier)


@transaction.atomic
def override_tier(*, actor: Staff, customer_id: int, tier: str, reason: str) -> Customer:
    """A manual care tier (team leads and above), audited with its reason. An empty ``tier``
    removes the override and the rules decide again."""
    require_role(actor, Role.LEAD, "override a care tier")
    customer = Customer.objects.live().filter(id=customer_id).first()
    if customer is None:
        raise NotFound(f"No customer {customer_id}.")
    tier, reason = (tier or "").strip().lower(), (reason or "").strip()
    rules = queries.tier_rules()
    allowed = [r["tier"] for r in rules.rules] + [rules.default]
    errors: dict[str, list[str]] = {}
    if tier and tier not in allowed:
        errors["tier"] = [f"Choose one of {', '.join(allowed)} (or empty to let the rules decide)."]
    if not reason:
        errors["reason"] = ["Say why this customer's tier is set by hand."]
    if errors:
        raise InvalidInput(errors)
    if not tier:
        TierOverride.objects.filter(customer=customer).delete()
        latest = queries.latest_snapshot_key()
        value = (
            CustomerValue.objects.filter(customer=customer, as_of=latest[0], fit_id=latest[1]).first()
            if latest
            else None
        )
        tier = _rule_tier(value) if value else ""
    else:
        TierOverride.objects.update_or_create(
            customer=customer, defaults={"tier": tier, "reason": reason, "set_by": actor}
        )
    set_care_tier(actor=actor, customer_ids_by_tier={tier: [customer.id]}, reason=reason)
    CustomerValue.objects.filter(id__in=queries.latest_snapshot_ids([customer.id])).update(tier=tier)
    customer.refresh_from_db(fields=["care_tier"])
    return customer


def _rule_tier(value: CustomerValue) -> str:
    """The tier the rules give one snapshot, ranked against its whole snapshot batch."""
    rules = queries.tier_rules()
    ids, clv_, margin = queries.snapshot_arrays((value.as_of, value.fit_id))
    tiers = segments.assign_tiers(rules.rules, rules.default, clv_, margin)
    return str(tiers[int(np.searchsorted(ids, value.customer_id))])


def _cents(value: float) -> Decimal:
    return Decimal(f"{float(value):.2f}")


def move_orders_on_merge(survivor_id: int, duplicate_id: int) -> None:
    """A merge step (inside the merge transaction): the duplicate's orders and value snapshots
    become the survivor's, so its purchase history is summarised as one customer's."""
    Order.objects.filter(customer_id=duplicate_id).update(customer_id=survivor_id)
    CustomerValue.objects.filter(customer_id=duplicate_id).delete()  # recomputed at the next snapshot
    TierOverride.objects.filter(customer_id=duplicate_id).delete()
