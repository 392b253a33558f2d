"""Business time: deadlines and elapsed time counted only while a business is open.

A calendar is weekly opening hours in an IANA zone, minus public holidays (the ``holidays``
package) and custom closed days. All arithmetic runs on absolute time: each day's opening
intervals are turned into UTC instants first (so a day on which clocks change is 23 or 25
hours long where the hours say so), and minutes are then counted along those instants.
Local wall-clock times are never added to.

The calendar is compiled once into sorted arrays of interval starts/ends (epoch seconds) and
the open seconds before each interval, so one deadline is two binary searches and a million
are one vectorised call (``deadlines``). The scalar API uses the same arrays, so the two can
never disagree.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from functools import cached_property
from itertools import pairwise
from zoneinfo import ZoneInfo

import holidays as holiday_data
import numpy as np
import numpy.typing as npt

from rapport.core.errors import InvalidInput

WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
Interval = tuple[time, time]

# How far around "now" a compiled calendar reaches; it grows on demand.
_DEFAULT_SPAN_DAYS = 3 * 366


def parse_weekly_hours(raw: Mapping[str, Sequence[Sequence[str]]]) -> dict[int, list[Interval]]:
    """``{"mon": [["09:00", "17:00"]], ...}`` → {0: [(09:00, 17:00)]}; days left out are closed.

    "24:00" closes at midnight. Intervals must not overlap; a calendar with no hours is refused.
    """
    unknown = set(raw) - set(WEEKDAYS)
    if unknown:
        raise InvalidInput(f"Unknown day(s) {', '.join(sorted(unknown))}; use {', '.join(WEEKDAYS)}.", "weekly_hours")
    week: dict[int, list[Interval]] = {}
    for day, intervals in raw.items():
        parsed = sorted(_parse_interval(day, pair) for pair in intervals)
        for (_, end), (start, _) in pairwise(parsed):
            if start < end:
                raise InvalidInput(f"Opening hours on {day} overlap.", "weekly_hours")
        if parsed:
            week[WEEKDAYS.index(day)] = parsed
    if not week:
        raise InvalidInput("A calendar needs opening hours on at least one day.", "weekly_hours")
    return week


def _parse_interval(day: str, pair: Sequence[str]) -> Interval:
    if len(pair) != 2:
        raise InvalidInput(f'Each interval on {day} is [open, close], like ["09:00", "17:00"].', "weekly_hours")
    opens, closes = (_parse_time(day, value) for value in pair)
    if closes != time.max and closes <= opens:
        raise InvalidInput(f"On {day}, {pair[1]} is not after {pair[0]}.", "weekly_hours")
    return opens, closes


def _parse_time(day: str, value: str) -> time:
    if value == "24:00":
        return time.max  # end of day
    try:
        return time.fromisoformat(value)
    except (TypeError, ValueError):
        raise InvalidInput(f"'{value}' on {day} is not a time like 09:00.", "weekly_hours") from None


def holiday_dates(country: str | None, subdivision: str | None, years: Iterable[int]) -> set[date]:
    if not country:
        return set()
    try:
        table = holiday_data.country_holidays(country, subdiv=subdivision or None, years=list(years))
    except NotImplementedError:
        raise InvalidInput(f"No public holidays are known for country '{country}'.", "holidays.country") from None
    except ValueError as exc:  # an unknown subdivision
        raise InvalidInput(str(exc), "holidays.subdivision") from None
    return set(table)


def validate_zone(name: str, field_name: str = "timezone") -> ZoneInfo:
    try:
        return ZoneInfo(name)
    except (ValueError, KeyError, OSError):
        raise InvalidInput(f"'{name}' is not an IANA time zone (for example Europe/London).", field_name) from None


@dataclass
class BusinessCalendar:
    timezone: str
    weekly_hours: dict[int, list[Interval]]
    country: str | None = None
    subdivision: str | None = None
    closed_dates: frozenset[date] = frozenset()
    _compiled: _Compiled | None = field(default=None, init=False, repr=False)

    @cached_property
    def zone(self) -> ZoneInfo:
        return validate_zone(self.timezone)

    # --- compiling -----------------------------------------------------------
    def _local_instant(self, day: date, at: time) -> int:
        if at == time.max:
            moment = datetime.combine(day + timedelta(days=1), time(0), tzinfo=self.zone)
        else:
            moment = datetime.combine(day, at, tzinfo=self.zone)
            # A wall time skipped by a spring-forward gap opens at the first real instant after it.
            round_trip = moment.astimezone(UTC).astimezone(self.zone)
            if round_trip.replace(tzinfo=None) != moment.replace(tzinfo=None):
                moment = round_trip
        return int(moment.timestamp())

    def _compile(self, first: date, last: date) -> _Compiled:
        closed = set(self.closed_dates) | holiday_dates(
            self.country, self.subdivision, range(first.year, last.year + 1)
        )
        starts: list[int] = []
        ends: list[int] = []
        day = first
        while day <= last:
            if day not in closed:
                for opens, closes in self.weekly_hours.get(day.weekday(), ()):
                    start, end = self._local_instant(day, opens), self._local_instant(day, closes)
                    if end > start:
                        if starts and start <= ends[-1]:  # 24:00 meets the next day's 00:00
                            ends[-1] = max(ends[-1], end)
                        else:
                            starts.append(start)
                            ends.append(end)
            day += timedelta(days=1)
        s = np.array(starts, dtype=np.int64)
        e = np.array(ends, dtype=np.int64)
        before = np.concatenate(([0], np.cumsum(e - s)[:-1])) if len(s) else np.zeros(0, dtype=np.int64)
        return _Compiled(first, last, s, e, before.astype(np.int64))

    def compiled(self, lo: datetime, hi: datetime) -> _Compiled:
        """Arrays covering at least [lo, hi]; recompiled wider when asked beyond them."""
        lo_day = (lo.astimezone(self.zone).date()) - timedelta(days=1)
        hi_day = (hi.astimezone(self.zone).date()) + timedelta(days=1)
        c = self._compiled
        if c is None or lo_day < c.first or hi_day > c.last:
            first = min(lo_day, c.first) if c else lo_day
            last = max(hi_day, c.last) if c else hi_day
            self._compiled = c = self._compile(first, last)
        return c

    # --- arithmetic ----------------------------------------------------------
    def deadlines(self, starts: npt.NDArray[np.int64], minutes: npt.NDArray[np.int64]) -> npt.NDArray[np.int64]:
        """Vectorised: epoch seconds at which ``minutes`` of open time after each start are used."""
        return self.deadlines_in_seconds(starts, minutes.astype(np.int64) * 60)

    def deadlines_in_seconds(
        self, starts: npt.NDArray[np.int64], seconds: npt.NDArray[np.int64]
    ) -> npt.NDArray[np.int64]:
        if len(starts) == 0:
            return np.zeros(0, dtype=np.int64)
        lo = datetime.fromtimestamp(int(starts.min()), UTC)
        hi = datetime.fromtimestamp(int(starts.max()), UTC)
        # Reach far enough ahead that the longest target ends inside the compiled span.
        span = timedelta(days=max(_DEFAULT_SPAN_DAYS, int(seconds.max() // 86400) * 7 + 14))
        while True:
            c = self.compiled(lo, hi + span)
            if len(c.starts) == 0:
                raise InvalidInput("The calendar is never open.", "calendar")
            wanted = c.open_before(starts) + seconds.astype(np.int64)
            if wanted.max() <= c.before[-1] + (c.ends[-1] - c.starts[-1]):
                # A zero target is due at once, even when the business is closed.
                return np.maximum(c.instant_at(wanted), starts)
            hi += span

    def deadline(self, start: datetime, minutes: int) -> datetime:
        return self.after(start, minutes * 60)

    def after(self, start: datetime, seconds: int) -> datetime:
        """The instant at which ``seconds`` of open time after ``start`` have passed."""
        return self.each_after(start, [seconds])[0]

    def each_after(self, start: datetime, seconds: list[int]) -> list[datetime]:
        """``after`` for several amounts from one start, in one vectorised call (a case's
        clocks: NumPy's cost per call is most of the cost of one deadline)."""
        starts = np.full(len(seconds), int(start.timestamp()), dtype=np.int64)
        moments = self.deadlines_in_seconds(starts, np.array(seconds, dtype=np.int64))
        return [datetime.fromtimestamp(moment, UTC) for moment in moments.tolist()]

    def open_seconds_between(self, start: datetime, end: datetime) -> int:
        """Open time between two instants (0 when end is not after start)."""
        if end <= start:
            return 0
        c = self.compiled(start, end)
        points = np.array([int(start.timestamp()), int(end.timestamp())], dtype=np.int64)
        counted = c.open_before(points)
        return int(counted[1] - counted[0])

    def is_open(self, moment: datetime) -> bool:
        c = self.compiled(moment, moment)
        t = int(moment.timestamp())
        i = int(np.searchsorted(c.starts, t, side="right")) - 1
        return i >= 0 and t < c.ends[i]


@dataclass(frozen=True)
class _Compiled:
    first: date
    last: date
    starts: npt.NDArray[np.int64]
    ends: npt.NDArray[np.int64]
    before: npt.NDArray[np.int64]  # open seconds before each interval starts

    def open_before(self, t: npt.NDArray[np.int64]) -> npt.NDArray[np.int64]:
        """Open seconds from the first compiled instant up to each ``t``."""
        i = np.searchsorted(self.starts, t, side="right") - 1
        inside = np.clip(i, 0, None)
        counted = self.before[inside] + np.clip(t - self.starts[inside], 0, self.ends[inside] - self.starts[inside])
        return np.where(i < 0, 0, counted)

    def instant_at(self, open_seconds: npt.NDArray[np.int64]) -> npt.NDArray[np.int64]:
        """The instant at which the open-seconds count reaches each value.

        A count that lands exactly on an interval's end is that end (not the next opening),
        so "due at 17:00" reads as the close of the day it was due."""
        i = np.searchsorted(self.before, open_seconds, side="left") - 1
        i = np.clip(i, 0, len(self.starts) - 1)
        return self.starts[i] + (open_seconds - self.before[i])
