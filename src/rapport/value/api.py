"""API v1 routes of the value app: orders, model fits and a customer's value. Adapters only."""

from __future__ import annotations

import io
from datetime import date, datetime
from decimal import Decimal
from typing import Any

from django.conf import settings
from django.http import HttpRequest, HttpResponse
from ninja import Field, Query, Router, Schema

from rapport.core.api import idempotent_create, json_response
from rapport.core.errors import InvalidInput
from rapport.core.pagination import clamp_limit
from rapport.customers.api import ImportReportOut, import_report_response
from rapport.people.models import Role
from rapport.people.permissions import require_role, require_staff
from rapport.value import imports, queries, segments, services
from rapport.value.models import FitStatus, Order, ValueFit

router = Router(tags=["value"])


class OrderLineIn(Schema):
    product: str
    quantity: int = 1
    revenue: Decimal = Decimal(0)


class OrderIn(Schema):
    reference: str
    customer: int | None = None
    customer_external_id: str | None = None
    ordered_at: datetime
    revenue: Decimal
    cost: Decimal = Decimal(0)
    currency: str
    promised_delivery_at: datetime | None = None
    delivered_at: datetime | None = None
    lines: list[OrderLineIn] = Field(default_factory=list)


class OrdersBulkIn(Schema):
    orders: list[OrderIn]
    create_missing_customers: bool = False


class OrderOut(Schema):
    id: int
    reference: str
    customer: int
    ordered_at: datetime
    revenue: Decimal
    cost: Decimal
    currency: str
    is_refund: bool
    promised_delivery_at: datetime | None
    delivered_at: datetime | None


class OrderPage(Schema):
    items: list[OrderOut]
    next_cursor: str | None


class BulkOut(Schema):
    created: int
    ids: list[int]


class FitIn(Schema):
    model: str
    calibration_end: date | None = None
    time_unit: str = "week"
    currency: str = ""
    max_iterations: int = services.MAX_ITERATIONS


class FitOut(Schema):
    id: int
    model: str
    status: str
    message: str
    params: dict[str, float]
    log_likelihood: float | None
    customers: int
    seconds: float
    calibration_end: date
    time_unit: str
    currency: str
    in_force: bool
    created_at: datetime


def order_out(order: Order) -> dict[str, Any]:
    return {
        "id": order.id,
        "reference": order.reference,
        "customer": order.customer_id,
        "ordered_at": order.ordered_at,
        "revenue": order.revenue,
        "cost": order.cost,
        "currency": order.currency,
        "is_refund": order.is_refund,
        "promised_delivery_at": order.promised_delivery_at,
        "delivered_at": order.delivered_at,
    }


def fit_out(fit: ValueFit) -> dict[str, Any]:
    return FitOut.model_validate(
        {
            "id": fit.id,
            "model": fit.model,
            "status": fit.status,
            "message": fit.message,
            "params": fit.params,
            "log_likelihood": fit.log_likelihood,
            "customers": fit.customers,
            "seconds": fit.seconds,
            "calibration_end": fit.calibration_end,
            "time_unit": fit.time_unit,
            "currency": fit.currency,
            "in_force": fit.in_force,
            "created_at": fit.created_at,
        }
    ).model_dump(mode="json")


def _plain(order: OrderIn) -> dict[str, Any]:
    data = order.dict()
    data["lines"] = [line for line in data.get("lines") or []]
    return data


@router.post(
    "/orders",
    response={201: OrderOut},
    summary="Record one order",
    description="A negative revenue records a refund. 409 when the reference exists. Team leads and above.",
)
def create_order(request: HttpRequest, payload: OrderIn, create_missing_customers: bool = False) -> HttpResponse:
    def create() -> tuple[int, dict[str, Any]]:
        made = imports.create_orders(
            actor=request.auth,  # type: ignore[attr-defined]
            orders=[_plain(payload)],
            create_missing_customers=create_missing_customers,
        )
        return 201, OrderOut.model_validate(order_out(made[0])).model_dump(mode="json")

    return idempotent_create(request, create)


@router.post(
    "/orders/bulk",
    response={201: BulkOut},
    summary="Record up to 10,000 orders, all or nothing",
    description=(
        "Every order is checked first; any bad one → 422 with errors keyed `orders[i].field`, a duplicate "
        "reference → 409; either way nothing is written. `create_missing_customers` creates a minimal "
        "customer for each unknown `customer_external_id`."
    ),
)
def create_orders_bulk(request: HttpRequest, payload: OrdersBulkIn) -> HttpResponse:
    def create() -> tuple[int, dict[str, Any]]:
        made = imports.create_orders(
            actor=request.auth,  # type: ignore[attr-defined]
            orders=[_plain(o) for o in payload.orders],
            create_missing_customers=payload.create_missing_customers,
        )
        return 201, {"created": len(made), "ids": [o.id for o in made]}

    return idempotent_create(request, create)


class OrderListQuery(Schema):
    customer: int | None = None
    from_: datetime | None = Field(None, alias="from")
    to: datetime | None = None
    limit: int | None = Field(None, description="1 to 200; default 50")
    cursor: str | None = None


@router.get("/orders", response=OrderPage, summary="Orders, newest first (filters: customer, from, to)")
def list_orders(request: HttpRequest, params: Query[OrderListQuery]) -> dict[str, Any]:
    require_staff(request.auth)  # type: ignore[attr-defined]
    limit = clamp_limit(params.limit, settings.RAPPORT_API_DEFAULT_LIMIT, settings.RAPPORT_API_MAX_LIMIT)
    page = queries.orders_page(
        customer_id=params.customer, start=params.from_, end=params.to, cursor=params.cursor, limit=limit
    )
    return {"items": [order_out(o) for o in page.items], "next_cursor": page.next_cursor}


@router.post(
    "/orders/import",
    response={200: ImportReportOut, 201: ImportReportOut},
    summary="Import orders from CSV",
    description=(
        "The CSV is the request body (`Content-Type: text/csv`, UTF-8). Columns: "
        + ", ".join(f"`{c}`" for c in imports.COLUMNS)
        + ". `dry_run=true` (the default) checks every row and writes nothing (200); a real import answers 201. "
        "Any bad row → 422 listing every bad row by line; nothing is imported. Care managers and above."
    ),
    openapi_extra={"requestBody": {"content": {"text/csv": {"schema": {"type": "string"}}}, "required": True}},
)
def import_orders_csv(
    request: HttpRequest, dry_run: bool = True, create_missing_customers: bool = False
) -> HttpResponse:
    if request.content_type != "text/csv":
        raise InvalidInput("Send the file with Content-Type: text/csv.", "Content-Type")
    report = imports.import_orders(
        actor=request.auth,  # type: ignore[attr-defined]
        source=io.BytesIO(request.body),
        dry_run=dry_run,
        create_missing_customers=create_missing_customers,
    )
    return import_report_response(report)


@router.post(
    "/value/fits",
    response={201: FitOut, 202: FitOut},
    summary="Fit a value model to the order history",
    description=(
        "`model`: bgnbd | paretonbd | gammagamma; `calibration_end` (default today); `time_unit`: day | week | month. "
        "201 with the fit (`status` done or failed): a converged fit goes in force; one that does not converge has "
        "`status` failed, the optimiser's `message`, and the previous fit stays in force. Above "
        "`RAPPORT_VALUE_SYNC_FIT_MAX_ORDERS` orders (default 200,000) the fit runs in the background: 202 with its "
        "`id` and `status` queued; follow it with GET /value/fits/{id} (queued → running → done | failed). "
        "422 when the data are too few. Care managers."
    ),
)
def create_fit(request: HttpRequest, payload: FitIn) -> HttpResponse:
    fit = services.request_fit(actor=request.auth, **payload.dict())  # type: ignore[attr-defined]
    if fit.status == FitStatus.QUEUED:
        return json_response(202, fit_out(fit), {"Location": f"/api/v1/value/fits/{fit.id}"})
    return json_response(201, fit_out(fit))


@router.get(
    "/value/fits/{int:fit_id}",
    response=FitOut,
    summary="One value-model fit (status queued, running, done or failed, with the optimiser's message)",
)
def get_fit(request: HttpRequest, fit_id: int) -> HttpResponse:
    require_staff(request.auth)  # type: ignore[attr-defined]
    return json_response(200, fit_out(queries.get_fit(fit_id)))


class ValueOut(Schema):
    customer: int
    as_of: date
    horizon_days: int
    currency: str
    p_alive: float | None
    expected_orders: float
    expected_margin: Decimal
    clv: Decimal
    margin_to_date: Decimal
    cost_to_serve: Decimal = Field(description="care effort (handling time × cost rate of the role) + compensation")
    care_effort: Decimal
    compensation: Decimal
    handling_hours: float
    profitability: Decimal = Field(description="margin to date − cost to serve")
    tier: str
    care_hint: str = Field(description="for unprofitable tiers, the hint towards lower-cost channels; else empty")
    segment: str
    fits: dict[str, int]
    history: list[dict[str, Any]]


@router.get(
    "/customers/{int:customer_id}/value",
    response=ValueOut,
    summary="A customer's value (as of the fits in force)",
    description="CLV = expected margin over `horizon_days`, discounted; P(alive); expected orders; snapshots.",
)
def customer_value(request: HttpRequest, customer_id: int, horizon_days: int = 365) -> dict[str, Any]:
    require_staff(request.auth)  # type: ignore[attr-defined]
    return queries.customer_value(customer_id, horizon_days)


# --- segments and care tiers ---------------------------------------------------------------------
class TierRuleIn(Schema):
    tier: str
    top_percent: float | None = None
    when: str | None = None
    team: str | None = Field(None, description="a team's name: new cases of this tier go to its queue")


class TierRulesIn(Schema):
    rules: list[TierRuleIn]
    default: str = "standard"


class TierOverrideIn(Schema):
    tier: str = Field(description="A tier named in the rules (or the default); empty removes the override")
    reason: str


def tiers_out() -> dict[str, Any]:
    rules = queries.tier_rules()
    return {
        "rules": rules.rules,
        "default": rules.default,
        "conditions": segments.WHEN_CONDITIONS,
        "updated_at": rules.updated_at,
    }


@router.get(
    "/value/segments",
    summary="Counts, revenue, margin, cost to serve, profit and CLV by segment and tier (latest snapshot)",
    description="`rows` are segment × tier; `segments` and `tiers` roll them up (with the average CLV); "
    "profit = margin − cost to serve. To date by default; with `since` and/or `until` (dates, inclusive) "
    "revenue, margin and cost to serve count within that period. Team leads and above.",
)
def value_segments(request: HttpRequest, since: date | None = None, until: date | None = None) -> HttpResponse:
    require_role(request.auth, Role.LEAD, "see profitability by segment")  # type: ignore[attr-defined]
    return json_response(200, queries.segments_summary(since, until))


@router.get("/value/tiers", summary="The care-tier rules")
def get_tiers(request: HttpRequest) -> HttpResponse:
    require_staff(request.auth)  # type: ignore[attr-defined]
    return json_response(200, tiers_out())


@router.put(
    "/value/tiers",
    summary="Set the care-tier rules (admins); applied at once to the latest snapshot",
    description=(
        'Rules in order, the first that holds wins: `{"tier": "platinum", "top_percent": 5}` (bands stack by CLV: '
        'a following `{"tier": "gold", "top_percent": 15}` is the next 15 %), `{"tier": "basic", "when": '
        '"negative_margin"}`; everyone else gets `default`.'
    ),
)
def put_tiers(request: HttpRequest, payload: TierRulesIn) -> HttpResponse:
    rules = [{k: v for k, v in r.dict().items() if v is not None} for r in payload.rules]
    services.set_tier_rules(actor=request.auth, rules=rules, default=payload.default)  # type: ignore[attr-defined]
    return json_response(200, tiers_out())


@router.put(
    "/customers/{int:customer_id}/tier",
    summary="Set a customer's care tier by hand (team leads and above), with a reason; audited",
)
def put_customer_tier(request: HttpRequest, customer_id: int, payload: TierOverrideIn) -> HttpResponse:
    customer = services.override_tier(
        actor=request.auth,  # type: ignore[attr-defined]
        customer_id=customer_id,
        tier=payload.tier,
        reason=payload.reason,
    )
    return json_response(200, {"customer": customer.id, "tier": customer.care_tier, "manual": bool(payload.tier)})


# --- cost rates and tier-driven care -------------------------------------------------------------
class CostRateIn(Schema):
    role: str
    per_hour: Decimal


class CostRatesIn(Schema):
    currency: str
    rates: list[CostRateIn]


@router.get("/value/cost-rates", summary="What an hour of care costs, per role")
def get_cost_rates(request: HttpRequest) -> HttpResponse:
    require_role(request.auth, Role.LEAD, "see cost rates")  # type: ignore[attr-defined]
    return json_response(200, queries.cost_rates())


@router.put(
    "/value/cost-rates",
    summary="Set the cost of an hour of care per role (admins), in one currency",
    description=(
        'Body: `{"currency": "GBP", "rates": [{"role": "agent", "per_hour": 30}, ...]}` replaces every rate. '
        "Handling time logged on contacts and case work × the rate of the staff member's role, plus granted "
        "compensation, is the cost to serve, counted from the next value snapshot."
    ),
)
def put_cost_rates(request: HttpRequest, payload: CostRatesIn) -> HttpResponse:
    services.set_cost_rates(
        actor=request.auth,  # type: ignore[attr-defined]
        currency=payload.currency,
        rates=[r.dict() for r in payload.rates],
    )
    return json_response(200, queries.cost_rates())


class UnmanagedOut(Schema):
    id: int
    reference: str
    name: str
    care_tier: str


class UnmanagedPage(Schema):
    tiers: list[str]
    items: list[UnmanagedOut]
    next_cursor: str | None


@router.get(
    "/value/unmanaged-customers",
    response=UnmanagedPage,
    summary="Top-tier customers without a named account manager (cursor pages, by id)",
    description="Top tiers are the `top_percent` tier rules; `tier` narrows to one of them. Team leads and above.",
)
def unmanaged_customers(
    request: HttpRequest, tier: str = "", limit: int | None = None, cursor: str | None = None
) -> dict[str, Any]:
    require_role(request.auth, Role.LEAD, "see unmanaged top-tier customers")  # type: ignore[attr-defined]
    limit = clamp_limit(limit, settings.RAPPORT_API_DEFAULT_LIMIT, settings.RAPPORT_API_MAX_LIMIT)
    tiers, page = queries.unmanaged_page(tier=tier.strip().lower(), cursor=cursor, limit=limit)
    items = [{"id": c.id, "reference": c.reference, "name": c.name, "care_tier": c.care_tier} for c in page.items]
    return {"tiers": tiers, "items": items, "next_cursor": page.next_cursor}
