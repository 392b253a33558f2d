"""Write use-cases of the value app: fitting the value models, snapshotting customer values."""

from __future__ import annotations

import math
import time
from datetime import date
from decimal import Decimal

import numpy as np
from django.db import transaction
from django.utils import timezone

from rapport.core import audit
from rapport.core.errors import InvalidInput
from rapport.people.models import Role, Staff
from rapport.people.permissions import require_role
from rapport.value import clv, queries
from rapport.value.models import DAYS_PER_UNIT, CustomerValue, FitStatus, Order, TimeUnit, ValueFit, ValueModel

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
    RFM scores, segments and tiers are left empty until their rules exist."""
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
    return len(data.customer_ids)


def _cents(value: float) -> Decimal:
    return Decimal(f"{float(value):.2f}")


def move_orders_on_merge(survivor_id: int, duplicate_id: int) -> None:
    """A merge step (inside the merge transaction): the duplicate's orders and value snapshots
    become the survivor's, so its purchase history is summarised as one customer's."""
    Order.objects.filter(customer_id=duplicate_id).update(customer_id=survivor_id)
    CustomerValue.objects.filter(customer_id=duplicate_id).delete()  # recomputed at the next snapshot
