"""A snapshot batch summed up by segment × tier (customers, revenue, margin, cost to serve, CLV and
customers per CLV band), from the snapshot's arrays with NumPy.

Amounts are summed in whole cents of the values the snapshot writes (rounded to 2 decimals), so the
sums are exact and equal to the database's SUM over the written rows."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from decimal import Decimal

import numpy as np
from numpy.typing import NDArray

from rapport.value.models import CLV_BANDS

Array = NDArray[np.float64]
AMOUNTS = ("revenue", "margin", "cost_to_serve", "clv")


@dataclass
class Group:
    """One segment × tier of a batch."""

    segment: str
    tier: str
    customers: int = 0
    revenue: Decimal = Decimal("0.00")
    margin: Decimal = Decimal("0.00")
    cost_to_serve: Decimal = Decimal("0.00")
    clv: Decimal = Decimal("0.00")
    bands: list[int] = field(default_factory=lambda: [0] * CLV_BANDS)


@dataclass
class BatchSummary:
    low: float  # the batch's lowest and highest CLV: the histogram's range
    high: float
    groups: list[Group]  # by segment, then tier


def band_width(low: float, high: float) -> float:
    return (high - low) / CLV_BANDS or 1.0


def bands(clv: Array, low: float, high: float) -> NDArray[np.int64]:
    """The band of each CLV: floor((clv − low) / width), the highest value in the last band."""
    return np.clip(np.floor((clv - low) / band_width(low, high)), 0, CLV_BANDS - 1).astype(np.int64)


def band(clv: float, low: float, high: float) -> int:
    """The band of one CLV, computed as ``bands`` does."""
    return min(max(math.floor((clv - low) / band_width(low, high)), 0), CLV_BANDS - 1)


def cents(values: Array) -> NDArray[np.int64]:
    """Amounts as the snapshot writes them (rounded to cents), in whole cents."""
    return np.rint(np.round(values, 2) * 100).astype(np.int64)


def summarise(
    segment: NDArray[np.str_],
    tier: NDArray[np.str_],
    *,
    revenue: Array,
    margin: Array,
    cost_to_serve: Array,
    clv: Array,
) -> BatchSummary:
    """Group the customers of one snapshot by segment × tier (arrays aligned per customer)."""
    written_clv = np.round(clv, 2)
    if not len(written_clv):
        return BatchSummary(0.0, 0.0, [])
    low, high = float(written_clv.min()), float(written_clv.max())
    segment_names, segment_code = np.unique(segment, return_inverse=True)
    tier_names, tier_code = np.unique(tier, return_inverse=True)
    group = segment_code * len(tier_names) + tier_code
    size = len(segment_names) * len(tier_names)
    counts = np.bincount(group, minlength=size)
    # Integer cents summed as float64 stay exact below 2**53 cents (9e13 in the currency).
    totals = {
        name: np.rint(np.bincount(group, weights=cents(values).astype(np.float64), minlength=size)).astype(np.int64)
        for name, values in zip(AMOUNTS, (revenue, margin, cost_to_serve, clv), strict=True)
    }
    flat = np.bincount(group * CLV_BANDS + bands(written_clv, low, high), minlength=size * CLV_BANDS)
    band_counts = flat.reshape(size, CLV_BANDS)

    def money(name: str, g: int) -> Decimal:
        return Decimal(int(totals[name][g])).scaleb(-2)

    groups = [
        Group(
            segment=str(segment_names[g // len(tier_names)]),
            tier=str(tier_names[g % len(tier_names)]),
            customers=int(counts[g]),
            revenue=money("revenue", int(g)),
            margin=money("margin", int(g)),
            cost_to_serve=money("cost_to_serve", int(g)),
            clv=money("clv", int(g)),
            bands=band_counts[g].tolist(),
        )
        for g in np.flatnonzero(counts)
    ]
    return BatchSummary(low, high, groups)
