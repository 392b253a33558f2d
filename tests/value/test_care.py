"""Cost to serve, tier-driven care (dedicated team, unmanaged top tiers, the lower-cost hint),
fits in the background and on a schedule, and the segment and tier filters on customer lists."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any

import numpy as np
import pytest
from django.test import Client
from django.utils import timezone

from rapport.cases import services as cases
from rapport.cases.models import Case
from rapport.customers.models import Customer
from rapport.customers.services import log_interaction
from rapport.people.models import Role, Staff
from rapport.value import costs, services, tasks
from rapport.value.models import CustomerValue, ValueFit
from tests.conftest import api_for, make_staff
from tests.value.conftest import put_json
from tests.value.test_segments import RULES, TIERS

pytestmark = pytest.mark.django_db

RATES = {"currency": "EUR", "rates": [{"role": "agent", "per_hour": 30}, {"role": "lead", "per_hour": "45.50"}]}


def signed_in(staff: Staff) -> Client:
    client = Client()
    client.force_login(staff)
    return client


def _top_customer() -> Customer:
    top = CustomerValue.objects.order_by("-clv", "customer_id").first()
    assert top is not None
    return Customer.objects.get(id=top.customer_id)


def _serve(customer: Customer, agent: Staff, lead: Staff, admin: Staff, *, minutes: int = 90) -> None:
    """An agent's call, a lead's 30-minute internal note on a case, and a 12 EUR refund granted."""
    when = datetime(2025, 11, 2, 10, 0, tzinfo=UTC)
    log_interaction(
        actor=agent,
        customer_id=customer.id,
        channel="phone",
        direction="in",
        summary="Long call about a delivery",
        occurred_at=when,
        duration_seconds=minutes * 60,
    )
    case = cases.open_case(actor=lead, data=cases.CaseInput(customer_id=customer.id, type="complaint", subject="Late"))
    cases.add_message(
        actor=lead, case_id=case.id, kind="internal", body="Checked with the carrier", handling_seconds=1800
    )
    # Authority limits are in GBP here; an admin grants a EUR amount at once.
    cases.request_compensation(actor=admin, case_id=case.id, kind="refund", amount="12.00", currency="EUR")


def test_cost_rates_admins_set_leads_read(admin: Staff, lead: Staff) -> None:
    assert put_json(api_for(lead), "/value/cost-rates", RATES).status_code == 403
    bad = put_json(
        api_for(admin), "/value/cost-rates", {"currency": "XYZ", "rates": [{"role": "chef", "per_hour": -1}]}
    )
    assert bad.status_code == 422
    assert {"currency", "rates[0].role", "rates[0].per_hour"} <= set(bad.json()["errors"])
    assert put_json(api_for(admin), "/value/cost-rates", RATES).status_code == 200
    got = api_for(lead).get("/value/cost-rates").json()
    assert got["currency"] == "EUR"
    assert {r["role"]: r["per_hour"] for r in got["rates"]} == {"agent": "30.00", "lead": "45.50"}


def test_cost_to_serve_per_customer_segment_and_period(valued: Staff, agent: Staff, lead: Staff, admin: Staff) -> None:
    put_json(api_for(admin), "/value/cost-rates", RATES)
    customer = _top_customer()
    _serve(customer, agent, lead, admin)
    # The note and the refund are written today, after the calibration end (2025-12-31): the
    # snapshot counts the call (1.5 h × 30); up to now the note (0.5 h × 45.50) and the refund count too.
    services.snapshot_values(actor=valued)
    value = CustomerValue.objects.get(customer=customer, as_of=date(2025, 12, 31))
    assert value.cost_to_serve == Decimal("45.00")
    body = api_for(lead).get(f"/customers/{customer.id}/value").json()
    assert body["cost_to_serve"] == "45.00" and body["care_effort"] == "45.00" and body["handling_hours"] == 1.5
    assert Decimal(body["profitability"]) == Decimal(body["margin_to_date"]) - Decimal("45.00")
    now = costs.cost_to_serve(np.array([customer.id]), currency="EUR", end=timezone.now() + timedelta(days=1))
    assert (now.care[0], now.compensation[0], now.hours[0]) == (pytest.approx(67.75), 12.0, 2.0)
    segments = api_for(lead).get("/value/segments").json()
    assert sum(Decimal(t["cost_to_serve"]) for t in segments["tiers"]) == Decimal("45.00")
    # A period: November 2025 holds the call; December does not.
    november = api_for(lead).get("/value/segments", since="2025-11-01", until="2025-11-30").json()
    december = api_for(lead).get("/value/segments", since="2025-12-01", until="2025-12-31").json()
    assert sum(Decimal(t["cost_to_serve"]) for t in november["tiers"]) == Decimal("45.00")
    assert sum(Decimal(t["cost_to_serve"]) for t in december["tiers"]) == 0
    assert sum(t["customers"] for t in november["tiers"]) == CustomerValue.objects.filter(as_of="2025-12-31").count()
    backwards = api_for(lead).get("/value/segments", since="2025-12-01", until="2025-11-01")
    assert backwards.status_code == 422
    page = signed_in(lead).get("/value/", {"since": "2025-11-01", "until": "2025-11-30"}).content.decode()
    assert "Revenue, margin and cost to serve count from" in page


def test_unprofitable_customers_get_basic_tier_and_the_lower_cost_hint(
    valued: Staff, agent: Staff, lead: Staff, admin: Staff
) -> None:
    put_json(api_for(admin), "/value/tiers", TIERS)
    put_json(api_for(admin), "/value/cost-rates", {"currency": "EUR", "rates": [{"role": "agent", "per_hour": 600}]})
    # The least profitable customer outside the top bands: a long call makes them cost more than they earn.
    low = CustomerValue.objects.filter(tier="standard").order_by("margin_to_date", "customer_id").first()
    assert low is not None
    customer = Customer.objects.get(id=low.customer_id)
    log_interaction(
        actor=agent,
        customer_id=customer.id,
        channel="phone",
        direction="in",
        summary="Another long call",
        occurred_at=datetime(2025, 12, 1, 9, 0, tzinfo=UTC),
        duration_seconds=3600,
    )
    services.snapshot_values(actor=valued)
    customer.refresh_from_db()
    assert customer.care_tier == "basic"
    body = api_for(lead).get(f"/customers/{customer.id}/value").json()
    assert body["tier"] == "basic" and "help pages" in body["care_hint"]
    html = signed_in(lead).get(f"/customers/{customer.id}/").content.decode()
    assert "Lower-cost care:" in html
    case = cases.open_case(actor=lead, data=cases.CaseInput(customer_id=customer.id, type="question", subject="Hi"))
    page = signed_in(lead).get(f"/cases/{case.reference}/").content.decode()
    assert "Basic tier" in page and "Lower-cost care:" in page
    top = _top_customer()
    assert api_for(lead).get(f"/customers/{top.id}/value").json()["care_hint"] == ""


def test_platinum_cases_go_to_the_dedicated_team(valued: Staff, agent: Staff, lead: Staff, admin: Staff) -> None:
    make_staff("pat", Role.AGENT, team="Platinum helpline")
    rules = [{**RULES[0], "team": "Platinum helpline"}, *RULES[1:]]
    unknown = put_json(api_for(admin), "/value/tiers", {"rules": [{**RULES[0], "team": "Nobody"}]})
    assert unknown.status_code == 422 and "rules[0].team" in unknown.json()["errors"]
    assert put_json(api_for(admin), "/value/tiers", {"rules": rules, "default": "standard"}).status_code == 200
    platinum = _top_customer()
    platinum.refresh_from_db()
    assert platinum.care_tier == "platinum"
    case = cases.open_case(actor=agent, data=cases.CaseInput(customer_id=platinum.id, type="question", subject="Hi"))
    assert case.team is not None and case.team.name == "Platinum helpline"
    chosen = cases.open_case(
        actor=agent, data=cases.CaseInput(customer_id=platinum.id, type="question", subject="Hi", team="Front line")
    )
    assert chosen.team is not None and chosen.team.name == "Front line"  # an explicit team still wins
    standard = Customer.objects.filter(care_tier="standard").first()
    assert standard is not None
    other = cases.open_case(actor=agent, data=cases.CaseInput(customer_id=standard.id, type="question", subject="Hi"))
    assert other.team == agent.team
    assert Case.objects.filter(team__name="Platinum helpline").count() == 1
    page = signed_in(lead).get(f"/cases/{case.reference}/").content.decode()
    assert "Platinum tier" in page and "Lower-cost care:" not in page
    assert "Platinum helpline" in signed_in(lead).get("/value/settings/").content.decode()


def test_top_tier_customers_without_an_account_manager(valued: Staff, lead: Staff, admin: Staff) -> None:
    assert api_for(lead).get("/value/unmanaged-customers").json() == {"tiers": [], "items": [], "next_cursor": None}
    put_json(api_for(admin), "/value/tiers", TIERS)
    top = Customer.objects.filter(care_tier__in=["platinum", "gold"])
    managed = top.order_by("id").first()
    assert managed is not None
    Customer.objects.filter(id=managed.id).update(account_manager=lead)
    first = api_for(lead).get("/value/unmanaged-customers", limit=5).json()
    assert first["tiers"] == ["platinum", "gold"] and len(first["items"]) == 5 and first["next_cursor"]
    rest = api_for(lead).get("/value/unmanaged-customers", limit=200, cursor=first["next_cursor"]).json()
    listed = {c["id"] for c in first["items"] + rest["items"]}
    assert listed == set(top.exclude(id=managed.id).values_list("id", flat=True))
    only_platinum = api_for(lead).get("/value/unmanaged-customers", tier="platinum", limit=200).json()
    assert {c["care_tier"] for c in only_platinum["items"]} == {"platinum"}
    assert api_for(lead).get("/value/unmanaged-customers", tier="standard").status_code == 422
    html = signed_in(lead).get("/value/unmanaged/").content.decode()
    assert first["items"][0]["name"] in html and first["items"][0]["reference"] in html


def test_large_fits_run_in_the_worker(
    manager: Staff, lead: Staff, settings: Any, django_capture_on_commit_callbacks: Any
) -> None:
    from tests.value.test_orders import synthetic_orders

    api_for(lead).post("/orders/bulk", {"orders": synthetic_orders(), "create_missing_customers": True})
    settings.RAPPORT_VALUE_SYNC_FIT_MAX_ORDERS = 10
    api = api_for(manager)
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        queued = api.post("/value/fits", {"model": "bgnbd", "calibration_end": "2025-12-31"})
    assert queued.status_code == 202 and queued.json()["status"] == "queued" and len(callbacks) == 1
    fit_id = queued.json()["id"]
    assert queued["Location"] == f"/api/v1/value/fits/{fit_id}"
    assert api.get(f"/value/fits/{fit_id}").json()["status"] == "queued"
    assert tasks.run_queued_fit.call(fit_id) == "done"
    done = api.get(f"/value/fits/{fit_id}").json()
    assert done["status"] == "done" and done["in_force"] and set(done["params"]) == {"r", "alpha", "a", "b"}
    assert tasks.run_queued_fit.call(fit_id) == "skipped"  # a repeated delivery does nothing
    # A queued fit that does not converge is failed with the optimiser's message; the previous stays in force.
    with django_capture_on_commit_callbacks(execute=False):
        stuck = api.post("/value/fits", {"model": "bgnbd", "calibration_end": "2025-12-31", "max_iterations": 1})
    assert tasks.run_queued_fit.call(stuck.json()["id"]) == "failed"
    failed = api.get(f"/value/fits/{stuck.json()['id']}").json()
    assert failed["status"] == "failed" and failed["message"]
    assert ValueFit.objects.get(model="bgnbd", in_force=True).id == fit_id
    # Too little data for a queued fit: failed, saying how much is needed.
    settings.RAPPORT_VALUE_SYNC_FIT_MAX_ORDERS = 0
    with django_capture_on_commit_callbacks(execute=False):
        early = api.post("/value/fits", {"model": "bgnbd", "calibration_end": "2025-01-05"})
    assert tasks.run_queued_fit.call(early.json()["id"]) == "failed"
    assert "at least" in ValueFit.objects.get(id=early.json()["id"]).message
    settings.RAPPORT_VALUE_SYNC_FIT_MAX_ORDERS = 1_000_000
    small = api.post("/value/fits", {"model": "gammagamma", "calibration_end": "2025-12-31"})
    assert small.status_code == 201 and small.json()["status"] == "done"


def test_the_scheduled_refit_rescores_as_of_today(manager: Staff, lead: Staff, admin: Staff) -> None:
    from tests.value.test_orders import synthetic_orders

    api_for(lead).post("/orders/bulk", {"orders": synthetic_orders(), "create_missing_customers": True})
    put_json(api_for(admin), "/value/tiers", TIERS)
    result = tasks.refit_values.call()
    today = timezone.now().date()
    assert result["bgnbd"] == "done" and result["gammagamma"] == "done" and result["snapshot"] > 0
    assert set(ValueFit.objects.filter(in_force=True).values_list("calibration_end", flat=True)) == {today}
    assert CustomerValue.objects.filter(as_of=today).count() == result["snapshot"]
    assert Customer.objects.filter(care_tier="platinum").exists()


def test_the_scheduled_refit_without_data_changes_nothing(db: Any) -> None:
    result = tasks.refit_values.call()
    assert result["bgnbd"].startswith("skipped") and "snapshot" not in result
    assert not ValueFit.objects.exists()


def test_customer_lists_filter_by_segment_and_tier(valued: Staff, lead: Staff, admin: Staff) -> None:
    put_json(api_for(admin), "/value/tiers", TIERS)
    segment = CustomerValue.objects.values_list("segment", flat=True).order_by("segment").first()
    assert segment
    expected = set(CustomerValue.objects.filter(segment=segment).values_list("customer_id", flat=True))
    assert set(Customer.objects.filter(segment=segment).values_list("id", flat=True)) == expected
    listed = api_for(lead).get("/customers", segment=segment, limit=200).json()["items"]
    assert {c["id"] for c in listed} == expected
    platinum = api_for(lead).get("/customers", tier="platinum", limit=200).json()["items"]
    assert {c["id"] for c in platinum} == set(
        Customer.objects.filter(care_tier="platinum").values_list("id", flat=True)
    )
    assert platinum
    html = signed_in(lead).get("/customers/", {"segment": segment, "tier": "platinum"}).content.decode()
    assert 'name="segment"' in html and "Champions" in html and 'value="platinum"' in html


def test_value_settings_page_sets_cost_rates_for_admins(admin: Staff, lead: Staff) -> None:
    page = signed_in(lead).get("/value/settings/")
    assert page.status_code == 200 and "What an hour of care costs" in page.content.decode()
    assert signed_in(lead).post("/value/settings/", {"currency": "EUR", "rate_agent": "30"}).status_code == 403
    bad = signed_in(admin).post("/value/settings/", {"currency": "NOPE", "rate_agent": "30"})
    assert bad.status_code == 400
    saved = signed_in(admin).post("/value/settings/", {"currency": "eur", "rate_agent": "30", "rate_lead": "40"})
    assert saved.status_code == 302
    assert {r["role"] for r in api_for(admin).get("/value/cost-rates").json()["rates"]} == {"agent", "lead"}


def test_handling_time_on_case_messages_is_checked(agent: Staff, lead: Staff) -> None:
    customer = Customer.objects.create(name="Ann Example")
    case = cases.open_case(actor=lead, data=cases.CaseInput(customer_id=customer.id, type="question", subject="Hi"))
    reply = api_for(lead).post(
        f"/cases/{case.reference}/messages", {"kind": "public", "body": "Done", "handling_seconds": 600}
    )
    assert reply.status_code == 201 and reply.json()["handling_seconds"] == 600
    too_long = api_for(lead).post(
        f"/cases/{case.reference}/messages", {"kind": "internal", "body": "x", "handling_seconds": 10**6}
    )
    assert too_long.status_code == 422 and "handling_seconds" in too_long.json()["errors"]
