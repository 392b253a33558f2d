"""RFM scores, named segments and care tiers, vectorised over all customers at once (NumPy)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
from numpy.typing import NDArray

Array = NDArray[np.float64]
Scores = NDArray[np.int64]

# The segment rule table on recency (r) and frequency (f) scores, 1-5 (5 = most recent / most
# frequent). Rules are tried in order and the first that holds names the segment; "lost" takes the rest.
SEGMENT_RULES: list[tuple[str, str, tuple[int, int], tuple[int, int]]] = [
    # (slug, label, r range, f range), inclusive
    ("champions", "Champions", (4, 5), (4, 5)),
    ("loyal", "Loyal", (3, 5), (3, 5)),
    ("new", "New", (4, 5), (1, 1)),
    ("potential", "Potential", (3, 5), (1, 2)),
    ("cant_lose", "Can't lose", (1, 1), (4, 5)),
    ("at_risk", "At risk", (1, 2), (3, 5)),
    ("hibernating", "Hibernating", (2, 2), (1, 2)),
    ("lost", "Lost", (1, 1), (1, 3)),
]
SEGMENT_LABELS = {slug: label for slug, label, _, _ in SEGMENT_RULES}

DEFAULT_TIER = "standard"
WHEN_CONDITIONS = {"negative_margin": "profitability (margin − cost to serve) to date below zero"}


def quintiles(values: Array) -> Scores:
    """Scores 1-5 by rank (5 = highest value); ties share their average rank, so equal values
    always get the same score."""
    if not len(values):
        return np.zeros(0, dtype=np.int64)
    # The average 1-based rank of each run of ties after one sort (scipy's rankdata is 5x slower at 1M).
    order = np.argsort(values)
    ordered = values[order]
    starts = np.concatenate(([0], np.flatnonzero(ordered[1:] != ordered[:-1]) + 1))
    ends = np.concatenate((starts[1:], [len(values)]))
    share = np.empty(len(values))
    share[order] = np.repeat((starts + ends + 1) / 2, ends - starts) / len(values)
    return np.clip(np.ceil(share * 5), 1, 5).astype(np.int64)


def rfm(recency: Array, frequency: Array, monetary: Array) -> tuple[Scores, Scores, Scores]:
    """``recency`` is the time since the last purchase (smaller is better, so it is ranked negated)."""
    return quintiles(-recency), quintiles(frequency), quintiles(monetary)


def name_segments(r: Scores, f: Scores) -> NDArray[np.str_]:
    # A 6 × 6 lookup table indexed by (r, f) beats evaluating the rules per customer (strings are slow in NumPy).
    table = np.full((6, 6), len(SEGMENT_RULES) - 1, dtype=np.int64)
    for code in reversed(range(len(SEGMENT_RULES))):
        _, _, (r0, r1), (f0, f1) = SEGMENT_RULES[code]
        table[r0 : r1 + 1, f0 : f1 + 1] = code  # earlier rules written last, so they win
    slugs = np.array([slug for slug, _, _, _ in SEGMENT_RULES])
    return slugs[table[r, f]]


# --- care tiers --------------------------------------------------------------------------------
def clean_rules(rules: Sequence[Mapping[str, Any]], default: str) -> tuple[list[dict[str, Any]], dict[str, list[str]]]:
    """Validate tier rules; (clean rules, errors by field)."""
    errors: dict[str, list[str]] = {}
    clean: list[dict[str, Any]] = []
    seen: set[str] = set()
    total = 0.0
    if not _is_tier_name(default):
        errors["default"] = ["The default tier is a short name of letters, digits, - or _ (up to 32)."]
    for i, rule in enumerate(rules):
        field = f"rules[{i}]"
        tier = str(rule.get("tier") or "").strip().lower()
        if not _is_tier_name(tier):
            errors[f"{field}.tier"] = ["A tier is a short name of letters, digits, - or _ (up to 32)."]
        elif tier in seen or tier == default:
            errors[f"{field}.tier"] = [f"The tier {tier} is named twice."]
        seen.add(tier)
        percent, when, team = rule.get("top_percent"), rule.get("when"), str(rule.get("team") or "").strip()
        if (percent is None) == (when is None):
            errors[field] = ["Give either top_percent or when."]
        elif percent is not None:
            if not isinstance(percent, int | float) or not 0 < percent <= 100:
                errors[f"{field}.top_percent"] = ["top_percent is a share of customers above 0 and up to 100."]
            else:
                total += float(percent)
                clean.append({"tier": tier, "top_percent": float(percent)})
        elif when not in WHEN_CONDITIONS:
            errors[f"{field}.when"] = [f"Choose one of {', '.join(WHEN_CONDITIONS)}."]
        else:
            clean.append({"tier": tier, "when": when})
        if team and clean and clean[-1]["tier"] == tier:
            clean[-1]["team"] = team  # new cases of this tier go to this team's queue (the dedicated helpline)
    if total > 100:
        errors["rules"] = ["The top_percent bands add up to more than 100."]
    return clean, errors


def _is_tier_name(name: str) -> bool:
    return 0 < len(name) <= 32 and all(c.isalnum() or c in "-_" for c in name)


def assign_tiers(rules: Sequence[Mapping[str, Any]], default: str, clv: Array, profit: Array) -> NDArray[np.str_]:
    """Rules are tried in order, the first that holds wins. ``top_percent`` bands stack by CLV:
    platinum 5 then gold 15 makes gold the next 15 % (ranks 5-20 %). ``when: negative_margin``
    holds where profitability to date is below zero."""
    n = len(clv)
    rank_share = np.empty(n)
    rank_share[np.argsort(-clv, kind="stable")] = np.arange(n) / max(n, 1) * 100  # 0 = the highest CLV
    names = [rule["tier"] for rule in rules] + [default]
    codes = np.full(n, len(rules), dtype=np.int64)  # integer codes, named at the end: strings are slow in NumPy
    for code in reversed(range(len(rules))):  # the earliest rule is written last, so it wins
        rule = rules[code]
        if "top_percent" in rule:
            start = sum(float(r["top_percent"]) for r in rules[:code] if "top_percent" in r)
            codes[(rank_share >= start) & (rank_share < start + float(rule["top_percent"]))] = code
        else:
            codes[profit < 0] = code
    return np.array(names)[codes]
