"""RFM scores, named segments, care tiers (rules, overrides) and the tier reaching cases."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import numpy as np
import pytest

from rapport.cases import services as cases
from rapport.cases.models import Case
from rapport.core.models import AuditEntry
from rapport.customers.models import Customer
from rapport.value import segments, services
from rapport.value.models import CustomerValue
from tests.conftest import api_for
from tests.value.conftest import put_json

pytestmark = pytest.mark.django_db

RULES: list[dict[str, Any]] = [{"tier": "platinum", "top_percent": 5}, {"tier": "gold", "top_percent": 15},
                               {"tier": "basic", "when": "negative_margin"}]  # fmt: skip
TIERS = {"rules": RULES, "default": "standard"}


def test_quintiles_give_ties_one_score_and_the_best_five():
    scores = segments.quintiles(np.array([0, 0, 0, 0, 1, 2, 3, 4, 5, 6], dtype=float))
    assert scores.tolist() == [2, 2, 2, 2, 3, 3, 4, 4, 5, 5]
    r, f, _ = segments.rfm(np.array([1.0, 50.0]), np.array([9.0, 0.0]), np.array([10.0, 1.0]))
    assert r.tolist() == [5, 3] and f.tolist() == [5, 3]  # the recent buyer scores high on recency


@pytest.mark.parametrize(
    ("r", "f", "segment"),
    [(5, 5, "champions"), (3, 4, "loyal"), (5, 1, "new"), (4, 2, "potential"), (1, 5, "cant_lose"),
     (2, 4, "at_risk"), (2, 1, "hibernating"), (1, 2, "lost")],
)  # fmt: skip
def test_the_segment_rule_table(r, f, segment):
    assert segments.name_segments(np.array([r]), np.array([f])).tolist() == [segment]


def test_tier_bands_stack_and_negative_margin_is_basic():
    clv = np.arange(100, 0, -1, dtype=float)  # customer 0 has the highest CLV
    profit = np.where(np.arange(100) == 99, -1.0, 1.0)
    tiers = segments.assign_tiers(RULES, "standard", clv, profit)
    assert (tiers[:5] == "platinum").all() and (tiers[5:20] == "gold").all()
    assert (tiers[20:99] == "standard").all() and tiers[99] == "basic"


def test_snapshot_scores_segments_and_tiers(valued, lead, admin):
    rows = list(CustomerValue.objects.all())
    assert len(rows) == 150 and all(v.recency_score is not None and 1 <= v.recency_score <= 5 for v in rows)
    assert all(v.segment for v in rows)
    assert {v.segment for v in rows} <= set(segments.SEGMENT_LABELS) and len({v.segment for v in rows}) >= 4
    assert {v.tier for v in rows} == {"standard"}  # no rules yet: everyone gets the default
    assert set(Customer.objects.values_list("care_tier", flat=True)) == {"standard"}
    assert AuditEntry.objects.filter(action="customer.care_tiers_applied").count() == 1

    assert put_json(api_for(lead), "/value/tiers", TIERS).status_code == 403
    bad = put_json(api_for(admin), "/value/tiers", {"rules": [{"tier": "gold", "top_percent": 120}]})
    assert bad.status_code == 422 and "rules[0].top_percent" in bad.json()["errors"]
    saved = put_json(api_for(admin), "/value/tiers", TIERS)
    assert saved.status_code == 200 and saved.json()["rules"][1] == {"tier": "gold", "top_percent": 15.0}
    assert api_for(lead).get("/value/tiers").json()["default"] == "standard"
    tiers = dict(Customer.objects.values_list("id", "care_tier"))
    counts = {t: list(tiers.values()).count(t) for t in set(tiers.values())}
    assert counts["platinum"] == 8 and counts["gold"] == 22  # 5 % and the next 15 % of 150
    best = CustomerValue.objects.order_by("-clv").first()
    assert best is not None and tiers[best.customer_id] == "platinum"

    body = api_for(lead).get("/value/segments").json()
    assert sum(r["customers"] for r in body["rows"]) == 150
    total_clv = sum((v.clv for v in CustomerValue.objects.all()), Decimal(0))
    assert abs(sum(Decimal(s["clv"]) for s in body["segments"]) - total_clv) < Decimal("0.05")
    by_tier = {t["tier"]: t for t in body["tiers"]}
    assert by_tier["platinum"]["customers"] == 8
    assert Decimal(by_tier["platinum"]["average_clv"]) > Decimal(by_tier["standard"]["average_clv"])
    assert api_for(valued).get("/value/segments").status_code == 200


def test_manual_override_is_audited_and_survives_a_snapshot(valued, agent, lead, admin):
    put_json(api_for(admin), "/value/tiers", TIERS)
    customer = Customer.objects.filter(care_tier="standard").order_by("id").first()
    assert customer is not None
    path = f"/customers/{customer.id}/tier"
    assert put_json(api_for(agent), path, {"tier": "gold", "reason": "x"}).status_code == 403
    assert "reason" in put_json(api_for(lead), path, {"tier": "gold", "reason": " "}).json()["errors"]
    assert "tier" in put_json(api_for(lead), path, {"tier": "diamond", "reason": "x"}).json()["errors"]
    done = put_json(api_for(lead), path, {"tier": "platinum", "reason": "Board member's company"})
    assert done.status_code == 200 and done.json()["tier"] == "platinum"
    entry = AuditEntry.objects.get(action="customer.care_tier_set", subject_id=customer.id)
    assert entry.changes == {"care_tier": ["standard", "platinum"], "reason": "Board member's company"}
    services.snapshot_values(actor=valued)
    customer.refresh_from_db()
    assert customer.care_tier == "platinum"
    assert CustomerValue.objects.get(customer=customer).tier == "platinum"
    assert put_json(api_for(lead), path, {"tier": "", "reason": "Left the board"}).json()["tier"] == "standard"


def test_a_platinum_customer_gets_the_tier_priority_and_sla(valued, manager, admin, agent):
    put_json(api_for(admin), "/value/tiers", TIERS)
    calendar = cases.create_calendar(
        actor=manager, name="24/7", timezone_name="UTC", weekly_hours={d: [["00:00", "24:00"]] for d in
        ("mon", "tue", "wed", "thu", "fri", "sat", "sun")}
    )  # fmt: skip
    common = {"actor": manager, "calendar_id": calendar.id, "case_type": "complaint", "next_response_minutes": 240}
    cases.create_sla_policy(name="Complaints", first_response_minutes=480, resolution_minutes=2880, **common)
    cases.create_sla_policy(
        name="Platinum complaints", tier="platinum", first_response_minutes=30, resolution_minutes=480, **common
    )
    cases.create_priority_rule(actor=manager, conditions={"tier": "platinum"}, priority="high")
    platinum = Customer.objects.filter(care_tier="platinum").first()
    standard = Customer.objects.filter(care_tier="standard").first()
    assert platinum is not None and standard is not None
    opened = {}
    for customer in (platinum, standard):
        body = {"customer": customer.id, "type": "complaint", "subject": "Late again", "channel": "phone"}
        response = api_for(agent).post("/cases", body)
        assert response.status_code == 201, response.content
        opened[customer.care_tier] = Case.objects.get(customer=customer)
    assert opened["platinum"].priority == "high" and opened["standard"].priority == "normal"
    assert opened["platinum"].sla_terms["policy"] == "Platinum complaints"
    assert opened["standard"].sla_terms["policy"] == "Complaints"
