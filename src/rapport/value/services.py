"""Write use-cases of the value app: fitting the value models, snapshotting customer values."""

from __future__ import annotations

import math
import time
from datetime import date
from decimal import Decimal
from typing import Any

import numpy as np
from django.conf import settings
from django.db import connection, transaction
from django.utils import timezone
from numpy.typing import NDArray

from rapport.core import audit
from rapport.core.errors import InvalidInput, NotFound
from rapport.core.money import validate_currency
from rapport.customers.models import Customer
from rapport.customers.services import set_care_tier, set_segments
from rapport.people.models import Role, Staff, Team
from rapport.people.permissions import require_role
from rapport.value import clv, costs, queries, segments, summaries
from rapport.value.models import (
    CLV_BANDS,
    DAYS_PER_UNIT,
    CostRate,
    CustomerValue,
    FitStatus,
    Order,
    TierOverride,
    TierRules,
    TimeUnit,
    ValueFit,
    ValueModel,
    ValueSummary,
)

MAX_ITERATIONS = 500
DEFAULT_SYNC_FIT_MAX_ORDERS = 200_000


def _check_fit(
    actor: Staff | None, model: str, calibration_end: date | None, time_unit: str, max_iterations: int
) -> date:
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
    return end


def request_fit(
    *,
    actor: Staff | None,
    model: str,
    calibration_end: date | None = None,
    time_unit: str = TimeUnit.WEEK,
    currency: str = "",
    max_iterations: int = MAX_ITERATIONS,
) -> ValueFit:
    """A fit on demand: small data are fitted at once (status done or failed); above
    ``RAPPORT_VALUE_SYNC_FIT_MAX_ORDERS`` orders the fit is queued for the worker (status queued)."""
    end = _check_fit(actor, model, calibration_end, time_unit, max_iterations)
    limit = int(getattr(settings, "RAPPORT_VALUE_SYNC_FIT_MAX_ORDERS", DEFAULT_SYNC_FIT_MAX_ORDERS))
    if queries.orders_up_to(end, limit + 1) <= limit:
        return run_fit(
            actor=actor,
            model=model,
            calibration_end=end,
            time_unit=time_unit,
            currency=currency,
            max_iterations=max_iterations,
        )
    with transaction.atomic():
        fit = ValueFit.objects.create(
            model=model,
            calibration_end=end,
            time_unit=time_unit,
            currency=currency.strip().upper(),
            max_iterations=max_iterations,
            status=FitStatus.QUEUED,
            created_by=actor,
        )
        audit.record(
            actor=actor,
            action="value.fit_queued",
            subject_type="value_fit",
            subject_id=fit.id,
            changes={"model": model, "calibration_end": end.isoformat()},
        )
        from rapport.value.tasks import run_queued_fit  # tasks import services

        transaction.on_commit(lambda: run_queued_fit.enqueue(fit.id))
    return fit


def run_queued_fit(fit_id: int) -> ValueFit | None:
    """The worker's side of a queued fit: queued → running → done or failed. A fit no longer
    queued is left alone, so a repeated delivery is harmless."""
    with transaction.atomic():
        fit = ValueFit.objects.select_for_update().filter(id=fit_id, status=FitStatus.QUEUED).first()
        if fit is None:
            return None
        fit.status = FitStatus.RUNNING
        fit.save(update_fields=["status"])
    try:
        return run_fit(
            actor=None,
            model=fit.model,
            calibration_end=fit.calibration_end,
            time_unit=fit.time_unit,
            currency=fit.currency,
            max_iterations=fit.max_iterations,
            into=fit,
        )
    except Exception as exc:  # any failure is reported on the fit; the previous fit stays in force
        detail = _messages(exc) if isinstance(exc, InvalidInput) else f"{type(exc).__name__}: {exc}"
        ValueFit.objects.filter(id=fit.id).update(status=FitStatus.FAILED, message=str(detail)[:2000])
        if not isinstance(exc, InvalidInput):
            raise
        fit.refresh_from_db()
        return fit


def run_fit(
    *,
    actor: Staff | None,
    model: str,
    calibration_end: date | None = None,
    time_unit: str = TimeUnit.WEEK,
    currency: str = "",
    max_iterations: int = MAX_ITERATIONS,
    into: ValueFit | None = None,
) -> ValueFit:
    """Fit ``model`` to the orders up to ``calibration_end`` (default today) and record it
    (in ``into`` when the fit was queued).

    A converged fit goes in force (replacing the model's previous one); a fit that does not
    converge is recorded as failed with the optimiser's message and the previous one stays.
    Too little data is an InvalidInput saying how much is needed (nothing recorded).
    """
    end = _check_fit(actor, model, calibration_end, time_unit, max_iterations)
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
    return _record(actor, result, end, time_unit, currency, seconds, into)


@transaction.atomic
def _record(
    actor: Staff | None,
    result: clv.FitResult,
    end: date,
    time_unit: str,
    currency: str,
    seconds: float,
    into: ValueFit | None = None,
) -> ValueFit:
    fit = into or ValueFit(created_by=actor)
    fit.model, fit.params, fit.customers = result.model, result.params, result.customers
    fit.log_likelihood = result.log_likelihood if math.isfinite(result.log_likelihood) else None
    fit.calibration_end, fit.time_unit, fit.currency = end, time_unit, currency
    fit.seconds = round(seconds, 4)
    fit.status = FitStatus.DONE if result.converged else FitStatus.FAILED
    fit.message = result.message
    fit.save()
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


def _messages(exc: InvalidInput) -> str:
    return " ".join(m for messages in exc.errors.values() for m in messages)


def refit_and_rescore() -> dict[str, Any]:
    """The scheduled run: refit BG/NBD and Gamma-Gamma to the orders up to today, then snapshot
    every customer's value (which applies the tiers and segments). A fit that fails or has too
    little data leaves the previous one in force; without a new frequency fit nothing is rescored."""
    done: dict[str, Any] = {}
    for model in (ValueModel.BGNBD, ValueModel.GAMMAGAMMA):
        try:
            fit = run_fit(actor=None, model=model)
            done[model] = fit.status
        except InvalidInput as exc:
            done[model] = f"skipped: {_messages(exc)}"
    if done.get(ValueModel.BGNBD) == FitStatus.DONE and queries.fits_in_force()[1] is not None:
        done["snapshot"] = snapshot_values(actor=None)
    return done


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
    served = costs.cost_to_serve(data.customer_ids, currency=currency, end=queries.calibration_cutoff(as_of))
    cost = served.total
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
    # Profitability = margin − cost to serve (the "basic" rule: negative profitability).
    tier = _with_overrides(
        data.customer_ids, segments.assign_tiers(rules.rules, rules.default, scores.clv, margin - cost)
    )
    with transaction.atomic():
        CustomerValue.objects.filter(as_of=as_of, fit=frequency).delete()  # a re-run replaces, never doubles
        _write_snapshots(
            frequency,
            as_of,
            currency,
            customer_id=data.customer_ids,
            p_alive=scores.p_alive,
            expected_orders_12m=scores.expected_orders,
            expected_margin_12m=scores.expected_margin,
            clv=scores.clv,
            margin_to_date=margin,
            revenue_to_date=revenue,
            cost_to_serve=cost,
            recency_score=r,
            frequency_score=f,
            monetary_score=m,
            segment=segment,
            tier=tier,
        )
        summary = summaries.summarise(segment, tier, revenue=revenue, margin=margin, cost_to_serve=cost, clv=scores.clv)
        _write_summary(frequency.id, as_of, currency, summary)
        audit.record(
            actor=actor,
            action="value.snapshot",
            subject_type="value_fit",
            subject_id=frequency.id,
            changes={
                "as_of": as_of.isoformat(),
                "customers": len(data.customer_ids),
                "horizon_days": horizon_days,
                # Cost rates in another currency than the values cannot price handling time (no FX).
                "unpriced_rates_currency": served.unpriced_currency,
            },
        )
        set_care_tier(actor=actor, customer_ids_by_tier=_ids_by_tier(data.customer_ids, tier))
        set_segments(actor=actor, customer_ids_by_segment=_ids_by_tier(data.customer_ids, segment))
    return len(data.customer_ids)


MONEY_COLUMNS = ("expected_margin_12m", "clv", "margin_to_date", "revenue_to_date", "cost_to_serve")


def _write_snapshots(fit: ValueFit, as_of: date, currency: str, **columns: NDArray[Any]) -> None:
    """One CustomerValue row per customer. PostgreSQL: COPY of lines formatted straight from the
    arrays (building a million model instances costs ~25 µs each; a line ~2 µs); others: bulk_create."""
    names = list(columns)
    values = [np.round(v, 2).tolist() if k in MONEY_COLUMNS else v.tolist() for k, v in columns.items()]
    rows = zip(*values, strict=True)
    if connection.vendor != "postgresql":
        CustomerValue.objects.bulk_create(
            (
                CustomerValue(fit=fit, as_of=as_of, currency=currency, **dict(zip(names, row, strict=True)))
                for row in rows
            ),
            batch_size=SNAPSHOT_BATCH,
        )
        return
    fixed = f"{fit.id}\t{as_of.isoformat()}\t{currency}\t{timezone.now().isoformat()}"
    # Segment and tier names are short slugs (letters, digits, - and _): nothing to escape.
    fields = "\t".join("{:.2f}" if k in MONEY_COLUMNS else "{}" for k in names)
    line = f"{fields}\t{fixed}\n"
    with connection.cursor() as cursor:
        table, columns_sql = (
            CustomerValue._meta.db_table,
            ", ".join([*names, "fit_id", "as_of", "currency", "created_at"]),
        )
        with cursor.copy(f"COPY {table} ({columns_sql}) FROM STDIN") as copy:
            batch: list[str] = []
            for row in rows:
                batch.append(line.format(*row))
                if len(batch) == 50_000:
                    copy.write("".join(batch).encode())
                    batch.clear()
            copy.write("".join(batch).encode())


def _write_summary(fit_id: int, as_of: date, currency: str, summary: summaries.BatchSummary) -> None:
    """Replace the stored summary of one snapshot batch."""
    ValueSummary.objects.filter(fit_id=fit_id, as_of=as_of).delete()
    ValueSummary.objects.bulk_create(
        ValueSummary(
            fit_id=fit_id,
            as_of=as_of,
            currency=currency,
            segment=g.segment,
            tier=g.tier,
            customers=g.customers,
            revenue=g.revenue,
            margin=g.margin,
            cost_to_serve=g.cost_to_serve,
            clv=g.clv,
            clv_low=summary.low,
            clv_high=summary.high,
            clv_bands=g.bands,
        )
        for g in summary.groups
    )


def _count_in_summary(value: CustomerValue, tier: str, sign: int) -> None:
    """Add (sign 1) or take out (sign -1) one snapshot from its batch's summary, under ``tier``.
    The batch's CLV range stays as written (a merge may take out its highest value)."""
    batch = list(ValueSummary.objects.select_for_update().filter(fit_id=value.fit_id, as_of=value.as_of))
    if not batch:
        return
    row = next((s for s in batch if s.segment == value.segment and s.tier == tier), None)
    if row is None:
        first = batch[0]
        row = ValueSummary(fit_id=value.fit_id, as_of=value.as_of, segment=value.segment, tier=tier)
        row.currency, row.clv_low, row.clv_high, row.clv_bands = (
            first.currency,
            first.clv_low,
            first.clv_high,
            [0] * CLV_BANDS,
        )
    row.customers += sign
    row.revenue += sign * value.revenue_to_date
    row.margin += sign * value.margin_to_date
    row.cost_to_serve += sign * value.cost_to_serve
    row.clv += sign * value.clv
    row.clv_bands[summaries.band(float(value.clv), row.clv_low, row.clv_high)] += sign
    if row.customers > 0:
        row.save()
    elif row.pk is not None:
        row.delete()


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
    teams = {r["team"] for r in clean if "team" in r}
    known = set(Team.objects.filter(name__in=teams).values_list("name", flat=True))
    for i, rule in enumerate(clean):
        if rule.get("team") and rule["team"] not in known:
            errors[f"rules[{i}].team"] = [f"No team is called '{rule['team']}'."]
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
    ids, clv_, profit = queries.snapshot_arrays(latest)
    rules = queries.tier_rules()
    tiers = _with_overrides(ids, segments.assign_tiers(rules.rules, rules.default, clv_, profit))
    by_tier = _ids_by_tier(ids, tiers)
    for tier, customer_ids in by_tier.items():
        rows.filter(customer_id__in=customer_ids).exclude(tier=tier).update(tier=tier)
    currency = ValueSummary.objects.filter(as_of=latest[0], fit_id=latest[1]).values_list("currency", flat=True)
    _write_summary(latest[1], latest[0], currency.first() or "", queries.grouped_summary(latest))
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
    for value in CustomerValue.objects.select_for_update().filter(id__in=queries.latest_snapshot_ids([customer.id])):
        if value.tier != tier:  # the value page's summary follows the customer to the new tier
            _count_in_summary(value, value.tier, -1)
            _count_in_summary(value, tier, 1)
            value.tier = tier
            value.save(update_fields=["tier"])
    customer.refresh_from_db(fields=["care_tier"])
    return customer


def _rule_tier(value: CustomerValue) -> str:
    """The tier the rules give one snapshot, ranked against its whole snapshot batch."""
    rules = queries.tier_rules()
    ids, clv_, profit = queries.snapshot_arrays((value.as_of, value.fit_id))
    tiers = segments.assign_tiers(rules.rules, rules.default, clv_, profit)
    return str(tiers[int(np.searchsorted(ids, value.customer_id))])


def move_orders_on_merge(survivor_id: int, duplicate_id: int) -> None:
    """A merge step (inside the merge transaction): the duplicate's orders and value snapshots
    become the survivor's, so its purchase history is summarised as one customer's."""
    Order.objects.filter(customer_id=duplicate_id).update(customer_id=survivor_id)
    snapshots = CustomerValue.objects.select_for_update().filter(customer_id=duplicate_id)
    for value in snapshots:  # the batches' summaries no longer count the duplicate
        _count_in_summary(value, value.tier, -1)
    snapshots.delete()  # recomputed at the next snapshot
    TierOverride.objects.filter(customer_id=duplicate_id).delete()


# --- cost rates ----------------------------------------------------------------------------------
@transaction.atomic
def set_cost_rates(*, actor: Staff, currency: str, rates: list[dict[str, Any]]) -> list[CostRate]:
    """Replace the cost of an hour of care per role (admins), all in one currency. The next
    snapshot prices handling time with them."""
    require_role(actor, Role.ADMIN, "set cost rates")
    errors: dict[str, list[str]] = {}
    try:
        currency = validate_currency(currency)
    except InvalidInput as exc:
        errors |= exc.errors
    clean: dict[str, Decimal] = {}
    for i, rate in enumerate(rates):
        role, amount = str(rate.get("role") or ""), rate.get("per_hour")
        if role not in Role.values:
            errors[f"rates[{i}].role"] = [f"Choose one of {', '.join(Role.values)}."]
        elif role in clean:
            errors[f"rates[{i}].role"] = [f"The role {role} is named twice."]
        try:
            value = Decimal(str(amount))
            if not value.is_finite() or value < 0 or value >= Decimal(10) ** 10:
                raise ValueError
            clean[role] = value.quantize(Decimal("0.01"))
        except (ArithmeticError, ValueError):
            errors[f"rates[{i}].per_hour"] = ["An hourly cost is a number from 0 upwards."]
    if errors:
        raise InvalidInput(errors)
    before = {r.role: f"{r.per_hour} {r.currency}" for r in CostRate.objects.all()}
    CostRate.objects.all().delete()
    saved = CostRate.objects.bulk_create(
        CostRate(role=role, per_hour=amount, currency=currency, updated_by=actor) for role, amount in clean.items()
    )
    audit.record(
        actor=actor,
        action="value.cost_rates_set",
        subject_type="value_cost_rates",
        subject_id=0,
        changes={"before": before, "after": {role: f"{amount} {currency}" for role, amount in clean.items()}},
    )
    return saved
