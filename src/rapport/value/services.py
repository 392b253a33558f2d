"""Write use-cases of the value app: fitting the value models."""

from __future__ import annotations

import math
import time
from datetime import date

from django.db import transaction
from django.utils import timezone

from rapport.core import audit
from rapport.core.errors import InvalidInput
from rapport.people.models import Role, Staff
from rapport.people.permissions import require_role
from rapport.value import clv, queries
from rapport.value.models import FitStatus, TimeUnit, ValueFit, ValueModel

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
