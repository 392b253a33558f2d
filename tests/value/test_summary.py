"""The per-snapshot summary the value page and the segments API read: equal to grouping the
snapshot rows, written with the snapshot and kept in step by tier changes and merges."""

from __future__ import annotations

import importlib
from decimal import Decimal
from typing import Any

import numpy as np
import pytest
from django.apps import apps
from django.db import connection
from django.test.utils import CaptureQueriesContext

from rapport.customers.services import merge_customers
from rapport.people.models import Staff
from rapport.value import queries, services, summaries
from rapport.value.models import CustomerValue, ValueSummary
from tests.conftest import api_for
from tests.value.conftest import put_json
from tests.value.test_pages import signed_in
from tests.value.test_segments import TIERS

pytestmark = pytest.mark.django_db


def stored(key: tuple[Any, int]) -> tuple[float, float, list[tuple[Any, ...]]]:
    rows = queries.batch_summary(key)
    groups = [(r.segment, r.tier, r.customers, r.revenue, r.margin, r.cost_to_serve, r.clv, r.clv_bands) for r in rows]
    return (rows[0].clv_low, rows[0].clv_high, groups) if rows else (0.0, 0.0, [])


def grouped(key: tuple[Any, int]) -> tuple[float, float, list[tuple[Any, ...]]]:
    s = queries.grouped_summary(key)
    groups = [(g.segment, g.tier, g.customers, g.revenue, g.margin, g.cost_to_serve, g.clv, g.bands) for g in s.groups]
    return s.low, s.high, groups


def latest() -> tuple[Any, int]:
    key = queries.latest_snapshot_key()
    assert key is not None
    return key


def test_the_arrays_are_summed_in_the_cents_the_snapshot_writes() -> None:
    clv = np.array([0.0, 10.004, 10.006, 100.0])  # written as 0.00, 10.00, 10.01, 100.00
    s = summaries.summarise(
        np.array(["loyal", "lost", "lost", "loyal"]),
        np.array(["gold", "standard", "standard", "gold"]),
        revenue=np.array([1.005, 2.0, 3.0, 0.1 + 0.2]),
        margin=np.array([1.0, -2.5, 3.0, 4.0]),
        cost_to_serve=np.zeros(4),
        clv=clv,
    )
    assert (s.low, s.high) == (0.0, 100.0)
    lost, loyal = s.groups
    assert (lost.segment, lost.tier, lost.customers) == ("lost", "standard", 2)
    assert (lost.clv, lost.margin) == (Decimal("20.01"), Decimal("0.50"))
    assert loyal.clv == Decimal("100.00") and loyal.revenue == Decimal(str(round(1.005, 2))) + Decimal("0.30")
    assert loyal.bands[0] == 1 and loyal.bands[-1] == 1  # the highest CLV falls in the last band
    assert lost.bands[2] == 2 and sum(lost.bands) == 2
    assert summaries.band(10.01, 0.0, 100.0) == 2 and summaries.summarise(
        np.array([], dtype=str), np.array([], dtype=str), revenue=np.zeros(0), margin=np.zeros(0),
        cost_to_serve=np.zeros(0), clv=np.zeros(0),
    ).groups == []  # fmt: skip


def test_the_snapshot_writes_a_summary_equal_to_grouping_its_rows(valued: Staff, admin: Staff) -> None:
    key = latest()
    written = stored(key)
    assert written == grouped(key)
    assert sum(g[2] for g in written[2]) == CustomerValue.objects.filter(as_of=key[0], fit_id=key[1]).count() == 150
    assert len({g[0] for g in written[2]}) >= 4
    put_json(api_for(admin), "/value/tiers", TIERS)  # re-tiers the batch: the summary is rebuilt
    retiered = stored(key)
    assert retiered == grouped(key) and {g[1] for g in retiered[2]} == {"platinum", "gold", "standard"}
    services.snapshot_values(actor=valued)  # the same day again replaces the batch and its summary
    assert stored(latest()) == grouped(latest()) and ValueSummary.objects.count() == len(retiered[2])


def test_a_manual_tier_and_a_merge_keep_the_summary_in_step(valued: Staff, lead: Staff, admin: Staff) -> None:
    put_json(api_for(admin), "/value/tiers", TIERS)
    key = latest()
    middle = list(CustomerValue.objects.filter(tier="standard").order_by("clv", "id"))
    moved, duplicate, survivor = middle[40], middle[41], middle[42]
    done = put_json(api_for(lead), f"/customers/{moved.customer_id}/tier", {"tier": "platinum", "reason": "Board"})
    assert done.status_code == 200
    assert stored(key) == grouped(key)
    put_json(api_for(lead), f"/customers/{moved.customer_id}/tier", {"tier": "", "reason": "Left the board"})
    assert stored(key) == grouped(key)
    merge_customers(actor=lead, survivor_id=survivor.customer_id, duplicate_id=duplicate.customer_id)
    assert stored(key) == grouped(key)
    assert sum(g[2] for g in stored(key)[2]) == 149


def test_the_value_page_and_segments_api_read_the_summary_not_the_snapshots(valued: Staff, lead: Staff) -> None:
    with CaptureQueriesContext(connection) as captured:
        body = api_for(lead).get("/value/segments").json()
        page = signed_in(lead).get("/value/")
    assert page.status_code == 200 and sum(r["customers"] for r in body["rows"]) == 150
    assert not [q["sql"] for q in captured if "value_customervalue" in q["sql"]]
    total = sum((v.clv for v in CustomerValue.objects.all()), Decimal(0))
    assert sum(Decimal(s["clv"]) for s in body["segments"]) == total
    period = api_for(lead).get("/value/segments", since="2025-01-01", until="2025-12-31").json()
    assert [(r["segment"], r["tier"], r["customers"], r["clv"]) for r in period["rows"]] == [
        (r["segment"], r["tier"], r["customers"], r["clv"]) for r in body["rows"]
    ]  # the whole year: the per-period computation groups the same customers


def test_the_migration_summarises_batches_taken_before_it(valued: Staff) -> None:
    key = latest()
    before = stored(key)
    ValueSummary.objects.all().delete()
    migration = importlib.import_module("rapport.value.migrations.0005_value_summary")
    migration.summarise_existing_batches(apps, None)
    assert stored(key) == before


def test_the_value_page_counts_unmanaged_top_tier_customers_up_to_a_cap(
    valued: Staff, lead: Staff, admin: Staff, monkeypatch: pytest.MonkeyPatch
) -> None:
    put_json(api_for(admin), "/value/tiers", TIERS)
    monkeypatch.setattr(queries, "UNMANAGED_COUNT_CAP", 10)
    html = signed_in(lead).get("/value/").content.decode()
    assert "More than 10 customers in platinum, gold" in html
    assert html.count("· platinum</span>") == 8 and html.count("· gold</span>") == 22
