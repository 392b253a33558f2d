"""Business-time deadlines with exact expected instants: weekends, holidays, DST both ways."""

from __future__ import annotations

from datetime import UTC, date, datetime

import numpy as np
import pytest

from rapport.core.business_time import BusinessCalendar, parse_weekly_hours
from rapport.core.errors import InvalidInput

OFFICE = {d: [["09:00", "17:00"]] for d in ("mon", "tue", "wed", "thu", "fri")}
ALWAYS = {d: [["00:00", "24:00"]] for d in ("mon", "tue", "wed", "thu", "fri", "sat", "sun")}


def cal(zone: str = "Europe/London", hours: dict = OFFICE, **kw: object) -> BusinessCalendar:
    return BusinessCalendar(timezone=zone, weekly_hours=parse_weekly_hours(hours), **kw)  # type: ignore[arg-type]


def utc(text: str) -> datetime:
    return datetime.fromisoformat(text).astimezone(UTC)


def test_same_day() -> None:
    assert cal().deadline(utc("2026-11-23T10:00:00+00:00"), 240) == utc("2026-11-23T14:00:00+00:00")


def test_rolls_over_the_weekend_into_summer_time() -> None:
    # Friday 16:00 GMT: 60 minutes left that day; Monday opens 09:00 BST (08:00 UTC) after the change.
    assert cal().deadline(utc("2026-03-27T16:00:00+00:00"), 120) == utc("2026-03-30T09:00:00+00:00")


def test_started_while_closed_counts_from_the_next_opening() -> None:
    assert cal().deadline(utc("2026-11-21T12:00:00+00:00"), 30) == utc("2026-11-23T09:30:00+00:00")  # a Saturday


def test_ends_exactly_at_close() -> None:
    assert cal().deadline(utc("2026-11-23T09:00:00+00:00"), 480) == utc("2026-11-23T17:00:00+00:00")


def test_spring_forward_counts_real_minutes() -> None:
    # 00:30 GMT + 60 real minutes is 01:30 UTC = 02:30 BST; 01:30 local never happened that night.
    assert cal(hours=ALWAYS).deadline(utc("2026-03-29T00:30:00+00:00"), 60) == utc("2026-03-29T01:30:00+00:00")


def test_fall_back_counts_real_minutes() -> None:
    # 00:30 BST (23:30 UTC) + 120 real minutes is 01:30 UTC = 01:30 GMT, not 02:30 local.
    start = datetime.fromisoformat("2026-10-25T00:30:00+01:00")
    assert cal(hours=ALWAYS).deadline(start, 120) == utc("2026-10-25T01:30:00+00:00")


def test_a_business_day_spanning_the_change_is_23_or_25_hours() -> None:
    c = cal(hours=ALWAYS)
    spring = c.open_seconds_between(
        utc("2026-03-29T00:00:00+00:00"), datetime.fromisoformat("2026-03-30T00:00:00+01:00")
    )
    autumn = c.open_seconds_between(
        datetime.fromisoformat("2026-10-25T00:00:00+01:00"), datetime.fromisoformat("2026-10-26T00:00:00+00:00")
    )
    assert (spring, autumn) == (23 * 3600, 25 * 3600)


def test_new_york_spring_forward_over_a_weekend() -> None:
    c = cal("America/New_York")
    # Friday 16:00 EST (21:00Z): 60 left; Monday 09:00 EDT = 13:00Z, +60 → 14:00Z.
    assert c.deadline(utc("2026-03-06T21:00:00+00:00"), 120) == utc("2026-03-09T14:00:00+00:00")


def test_public_holidays_and_substitute_days() -> None:
    c = cal(country="GB", subdivision="ENG")
    # Thu 24 Dec 16:30: 30 min; Fri 25 Christmas; weekend; Mon 28 Boxing Day (substitute); Tue 29 09:00 + 90.
    assert c.deadline(utc("2026-12-24T16:30:00+00:00"), 120) == utc("2026-12-29T10:30:00+00:00")


def test_custom_closed_days() -> None:
    c = cal(country="GB", subdivision="ENG", closed_dates=frozenset({date(2026, 12, 24)}))
    assert c.deadline(utc("2026-12-23T16:00:00+00:00"), 120) == utc("2026-12-29T10:00:00+00:00")


def test_split_days_and_lunch() -> None:
    c = cal(hours={"mon": [["13:00", "17:00"], ["09:00", "12:00"]]})
    assert c.deadline(utc("2026-11-23T11:00:00+00:00"), 120) == utc("2026-11-23T14:00:00+00:00")
    # Only Mondays are open: the next Monday.
    assert c.deadline(utc("2026-11-23T16:00:00+00:00"), 120) == utc("2026-11-30T10:00:00+00:00")


def test_long_targets_cross_many_weeks_and_years() -> None:
    c = cal(hours={"mon": [["09:00", "10:00"]]})
    start = utc("2026-11-23T09:00:00+00:00")
    # The 200th one-hour Monday ends 199 weeks on at 10:00 BST, far past the first compiled span.
    assert c.deadline(start, 200 * 60) == utc("2030-09-16T09:00:00+00:00")
    assert c.open_seconds_between(start, c.deadline(start, 200 * 60)) == 200 * 3600


def test_vectorised_equals_scalar() -> None:
    c = cal("Europe/Berlin", country="DE", subdivision="BY")
    rng = np.random.default_rng(7)
    base = int(utc("2026-01-01T00:00:00+00:00").timestamp())
    starts = base + rng.integers(0, 365 * 86400, size=500)
    minutes = rng.integers(1, 5000, size=500)
    many = c.deadlines(starts.astype(np.int64), minutes.astype(np.int64))
    for s, m, d in zip(starts[:60], minutes[:60], many[:60], strict=True):
        one = c.deadline(datetime.fromtimestamp(int(s), UTC), int(m))
        assert int(one.timestamp()) == int(d)
        assert c.open_seconds_between(datetime.fromtimestamp(int(s), UTC), one) == int(m) * 60


def test_several_amounts_from_one_start_equal_one_at_a_time() -> None:
    """each_after (a case's due and at-risk instants in one call) across the autumn change."""
    c, start = cal(), utc("2026-10-23T15:00:00+01:00")
    amounts = [0, 3600, 7200, 8 * 3600, 20 * 3600]
    assert c.each_after(start, amounts) == [c.after(start, seconds) for seconds in amounts]
    assert c.each_after(start, [7200, 10800]) == [utc("2026-10-23T17:00:00+01:00"), utc("2026-10-26T10:00:00+00:00")]


def test_is_open() -> None:
    c = cal(country="GB", subdivision="ENG")
    assert c.is_open(utc("2026-11-23T09:00:00+00:00"))
    assert not c.is_open(utc("2026-11-23T17:00:00+00:00"))
    assert not c.is_open(utc("2026-12-25T12:00:00+00:00"))


@pytest.mark.parametrize(
    "hours",
    [
        {},
        {"mon": []},
        {"funday": [["09:00", "17:00"]]},
        {"mon": [["17:00", "09:00"]]},
        {"mon": [["09:00", "13:00"], ["12:00", "17:00"]]},
        {"mon": [["9am", "5pm"]]},
        {"mon": [["09:00"]]},
    ],
)
def test_bad_hours_are_refused(hours: dict) -> None:
    with pytest.raises(InvalidInput) as exc:
        parse_weekly_hours(hours)
    assert "weekly_hours" in exc.value.errors


def test_unknown_zone_and_country_are_refused() -> None:
    with pytest.raises(InvalidInput):
        cal("Mars/Olympus").deadline(utc("2026-11-23T09:00:00+00:00"), 10)
    with pytest.raises(InvalidInput):
        cal(country="XX").deadline(utc("2026-11-23T09:00:00+00:00"), 10)
