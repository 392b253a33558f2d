"""Orders through the API and the CSV import; bad input; fits on too little data or not converging."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta

import pytest

from rapport.core.errors import InvalidInput, PermissionDenied
from rapport.core.models import AuditEntry
from rapport.customers.models import Customer
from rapport.value.models import CustomerValue, Order, ValueFit
from tests.conftest import api_for
from tests.value.conftest import post_csv


def order(reference: str, external: str = "C1", **extra):
    return {
        "reference": reference,
        "customer_external_id": external,
        "ordered_at": "2025-03-01T10:00:00Z",
        "revenue": "19.99",
        "cost": "7.50",
        "currency": "EUR",
        **extra,
    }


@pytest.fixture
def known_customer(db):
    return Customer.objects.create(name="Known", external_id="C1")


def test_one_order_and_a_refund(lead, known_customer):
    api = api_for(lead)
    response = api.post("/orders", order("O-1", lines=[{"product": "Tea", "quantity": 2, "revenue": "19.99"}]))
    assert response.status_code == 201, response.content
    assert response.json()["is_refund"] is False and response.json()["customer"] == known_customer.id
    refund = api.post("/orders", order("O-1-R", revenue="-19.99", cost="-7.50"))
    assert refund.status_code == 201, refund.content
    assert refund.json()["is_refund"] is True and refund.json()["revenue"] == "-19.99"
    assert Order.objects.get(reference="O-1").lines.get().quantity == 2


@pytest.mark.parametrize(
    ("change", "field", "text"),
    [
        ({"ordered_at": (datetime.now(UTC) + timedelta(days=2)).isoformat()}, "ordered_at", "in the future"),
        ({"currency": "XYZ"}, "currency", "not an ISO 4217"),
        ({"revenue": "1.234"}, "revenue", "2 decimal places"),
        ({"customer_external_id": "NOPE"}, "customer_external_id", "No customer has the external id"),
    ],
)
def test_bad_orders_are_refused_by_field(lead, known_customer, change, field, text):
    response = api_for(lead).post("/orders/bulk", {"orders": [order("OK-1"), order("BAD-1", **change)]})
    assert response.status_code == 422, response.content
    errors = response.json()["errors"]
    assert list(errors) == [f"orders[1].{field}"] and text in errors[f"orders[1].{field}"][0]
    assert not Order.objects.exists()  # all or nothing


def test_duplicate_reference_is_409_and_nothing_is_imported(lead, known_customer):
    api = api_for(lead)
    assert api.post("/orders", order("DUP")).status_code == 201
    response = api.post("/orders/bulk", {"orders": [order("NEW-1"), order("DUP"), order("NEW-2")]})
    assert response.status_code == 409, response.content
    assert "orders[1].reference" in response.json()["errors"]
    assert list(Order.objects.values_list("reference", flat=True)) == ["DUP"]
    within = api.post("/orders/bulk", {"orders": [order("TWICE"), order("TWICE")]})
    assert within.status_code == 409 and not Order.objects.filter(reference="TWICE").exists()


def test_bulk_creates_missing_customers_and_lists_orders(lead, agent):
    api = api_for(lead)
    batch = [order(f"B-{i}", external=f"NEW-{i % 3}", ordered_at=f"2025-01-{i + 1:02d}T09:00:00Z") for i in range(7)]
    refused = api.post("/orders/bulk", {"orders": batch})
    assert refused.status_code == 422
    made = api.post("/orders/bulk", {"orders": batch, "create_missing_customers": True})
    assert made.status_code == 201, made.content
    assert made.json()["created"] == 7
    assert Customer.objects.filter(external_id__startswith="NEW-").count() == 3
    customer = Customer.objects.get(external_id="NEW-0")
    reader = api_for(agent)
    page = reader.get("/orders", customer=customer.id, limit=2).json()
    assert [o["reference"] for o in page["items"]] == ["B-6", "B-3"]
    rest = reader.get("/orders", customer=customer.id, limit=2, cursor=page["next_cursor"]).json()
    assert [o["reference"] for o in rest["items"]] == ["B-0"] and rest["next_cursor"] is None
    window = reader.get("/orders", **{"from": "2025-01-02T00:00:00Z", "to": "2025-01-04T00:00:00Z"}).json()
    assert [o["reference"] for o in window["items"]] == ["B-2", "B-1"]
    assert reader.post("/orders", order("AGENT-1", external="NEW-0")).status_code == 403


HEADER = "reference,customer_external_id,ordered_at,revenue,cost,currency\n"


def test_csv_dry_run_reports_every_bad_row_by_line(manager, known_customer):
    api = api_for(manager)
    text = (
        HEADER
        + "R1,C1,2025-01-01,10.00,2.00,EUR\n"
        + "R2,C1,2999-01-01,10.00,2.00,EUR\n"
        + "R3,C1,2025-01-02,ten,2.00,EUR\n"
        + "R1,C1,2025-01-03,5.00,0,EUR\n"
        + "R5,C1,2025-01-03,-5.00,0,ZZZ\n"
        + "R6,,2025-01-03,5.00,0,EUR\n"
    )
    response = post_csv(api, text, dry_run=False)
    assert response.status_code == 422
    errors = [(e["line"], e["field"]) for e in response.json()["errors"]]
    assert errors == [(3, "ordered_at"), (4, "revenue"), (5, "reference"), (6, "currency"), (7, "customer")]
    assert not Order.objects.exists()
    good = HEADER + "R1,C1,2025-01-01,10.00,2.00,EUR\nR2,C1,2025-01-01T18:00:00+02:00,-4.00,0,EUR\n"
    dry = post_csv(api, good, dry_run=True)
    assert dry.status_code == 200 and dry.json()["rows"] == 2 and not Order.objects.exists()
    real = post_csv(api, good, dry_run=False)
    assert real.status_code == 201 and real.json()["created"] == 2
    assert Order.objects.get(reference="R2").is_refund
    assert Order.objects.get(reference="R2").ordered_at == datetime(2025, 1, 1, 16, tzinfo=UTC)
    again = post_csv(api, good, dry_run=False)
    assert again.status_code == 422 and "already exists" in again.json()["errors"][0]["message"]
    assert AuditEntry.objects.filter(action="order.imported").count() == 1


def test_agents_may_not_import(agent):
    assert post_csv(api_for(agent), HEADER, dry_run=True).status_code == 403


def synthetic_orders(customers: int = 150, seed: int = 7) -> list[dict]:
    """Customers buying as the BG/NBD story says: Poisson purchases while alive, dropping out after one."""
    rng = random.Random(seed)
    start = datetime(2025, 1, 1, 12, tzinfo=UTC)
    out = []
    for c in range(customers):
        first = rng.randrange(60)
        rate, churn = rng.gammavariate(0.8, 1 / 30), rng.betavariate(1, 3)
        # Gamma-Gamma's story: each customer's own mean spend varies across customers (without
        # that variation q and γ run off to infinity and the fit rightly reports no optimum).
        mean_spend = rng.gammavariate(4, 10)
        days, t = {first}, float(first)
        while (t := t + rng.expovariate(rate)) < 364:
            days.add(int(t))
            if rng.random() < churn:
                break
        for d in sorted(days):
            when = (start + timedelta(days=d)).isoformat()
            revenue = f"{max(0.5, rng.gammavariate(6, mean_spend / 6)):.2f}"
            out.append(order(f"S-{c}-{d}", external=f"S{c}", ordered_at=when, revenue=revenue, cost="1.00"))
    return out


def test_fits_on_too_little_data_and_without_convergence(manager, lead):
    fits = api_for(manager)
    little = fits.post("/value/fits", {"model": "bgnbd", "calibration_end": "2025-12-31"})
    assert little.status_code == 422
    assert "at least 30 customers and 10 repeat buyers" in little.json()["detail"]
    assert (
        api_for(lead).post("/orders/bulk", {"orders": synthetic_orders(), "create_missing_customers": True}).status_code
        == 201
    )
    good = fits.post("/value/fits", {"model": "bgnbd", "calibration_end": "2025-12-31", "time_unit": "day"})
    assert good.status_code == 201 and good.json()["status"] == "done" and good.json()["in_force"]
    stuck = fits.post("/value/fits", {"model": "bgnbd", "calibration_end": "2025-12-31", "max_iterations": 1})
    assert stuck.status_code == 201
    assert stuck.json()["status"] == "failed" and "ITERATIONS" in stuck.json()["message"].upper()
    assert ValueFit.objects.get(in_force=True, model="bgnbd").id == good.json()["id"]
    assert api_for(lead).post("/value/fits", {"model": "bgnbd"}).status_code == 403
    assert fits.post("/value/fits", {"model": "nope"}).status_code == 422
    assert fits.post("/value/fits", {"model": "bgnbd", "calibration_end": "2999-01-01"}).status_code == 422


def test_one_time_buyer_is_valued(manager, lead):
    api_for(lead).post("/orders/bulk", {"orders": synthetic_orders(), "create_missing_customers": True})
    fits = api_for(manager)
    for model in ("bgnbd", "gammagamma"):
        assert fits.post("/value/fits", {"model": model, "calibration_end": "2025-12-31"}).json()["status"] == "done"
    one_timer = next(c for c in Customer.objects.all() if c.orders.count() == 1)
    body = fits.get(f"/customers/{one_timer.id}/value", horizon_days=365).json()
    assert body["p_alive"] == 1.0  # BG/NBD: nobody drops out before a repeat purchase
    assert body["expected_orders"] > 0 and float(body["clv"]) > 0 and body["history"] == []
    assert fits.get(f"/customers/{one_timer.id}/value", horizon_days=0).status_code == 422


def test_snapshots_give_the_value_history(manager, lead):
    from rapport.value import services

    api_for(lead).post("/orders/bulk", {"orders": synthetic_orders(), "create_missing_customers": True})
    fits = api_for(manager)
    with pytest.raises(InvalidInput):
        services.snapshot_values(actor=manager)
    for model in ("bgnbd", "gammagamma"):
        assert fits.post("/value/fits", {"model": model, "calibration_end": "2025-12-31"}).json()["status"] == "done"
    written = services.snapshot_values(actor=manager)
    assert written == Customer.objects.count() == 150
    assert services.snapshot_values(actor=manager) == 150  # a re-run replaces
    assert CustomerValue.objects.count() == 150
    customer = Customer.objects.order_by("id").first()
    assert customer is not None
    body = fits.get(f"/customers/{customer.id}/value").json()
    assert len(body["history"]) == 1 and body["history"][0]["as_of"] == "2025-12-31"
    assert body["history"][0]["clv"] == body["clv"]
    with pytest.raises(PermissionDenied):
        services.snapshot_values(actor=lead)


def test_merging_customers_moves_their_orders(lead, known_customer):
    api = api_for(lead)
    other = Customer.objects.create(name="Known too", external_id="C2")
    assert api.post("/orders", order("M-1")).status_code == 201
    assert api.post("/orders", order("M-2", external="C2")).status_code == 201
    assert api.post(f"/customers/{known_customer.id}/merge", {"duplicate_id": other.id}).status_code == 200
    assert set(Order.objects.values_list("customer_id", flat=True)) == {known_customer.id}
    assert api.post("/orders", order("M-3", external="C2")).json()["customer"] == known_customer.id
