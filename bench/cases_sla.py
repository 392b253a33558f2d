"""SLA deadlines for 1,000,000 open cases across 10 business calendars, on one core.

    .venv/bin/python bench/cases_sla.py                  # 1M clocks, prints one JSON line
    .venv/bin/python bench/cases_sla.py --clocks 100000

Pure computation (no database): the calendars are cases_generate.py's ten (zones on four
continents, public holidays, split days, a 24/7 desk). Each clock has a start in the last 60
days and a business-minute target by priority; both the deadline and the at-risk instant are
computed with ``BusinessCalendar.deadlines`` / ``deadlines_in_seconds``, grouped by calendar.
The timing includes compiling each calendar (holidays, DST changes). Target: under 20 s.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from datetime import date
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "src"))
sys.path.insert(0, str(ROOT / "bench"))

from rapport.core.business_time import BusinessCalendar, parse_weekly_hours  # noqa: E402

TARGET_SECONDS = 20.0


def calendars() -> list[BusinessCalendar]:
    from cases_generate import CALENDARS

    return [
        BusinessCalendar(
            timezone=zone,
            weekly_hours=parse_weekly_hours(hours),
            country=country or None,
            subdivision=subdivision or None,
            closed_dates=frozenset({date(2026, 12, 24), date(2026, 12, 31)}),
        )
        for _, zone, country, subdivision, hours in CALENDARS
    ]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--clocks", type=int, default=1_000_000)
    args = parser.parse_args()
    if hasattr(os, "sched_setaffinity"):
        os.sched_setaffinity(0, {min(os.sched_getaffinity(0))})  # one core, as the target says
    rng = np.random.default_rng(3)
    now = int(time.time())
    starts = rng.integers(now - 60 * 86400, now, args.clocks).astype(np.int64)
    minutes = rng.choice(np.asarray([60, 240, 480, 960, 1440, 2880, 7200], dtype=np.int64), args.clocks)
    which = rng.integers(0, 10, args.clocks)
    began = time.perf_counter()
    cals = calendars()
    due = np.zeros(args.clocks, np.int64)
    risk = np.zeros(args.clocks, np.int64)
    for index, calendar in enumerate(cals):
        rows = which == index
        due[rows] = calendar.deadlines(starts[rows], minutes[rows])
        risk[rows] = calendar.deadlines_in_seconds(starts[rows], (minutes[rows] * 48).astype(np.int64))  # 80 %
    elapsed = time.perf_counter() - began
    # A sanity check: every deadline lies after its start, the at-risk instant before it.
    if not ((due > starts).all() and (risk <= due).all()):
        sys.exit("a deadline came out before its start")
    print(
        json.dumps(
            {
                "clocks": args.clocks,
                "calendars": len(cals),
                "deadlines_computed": 2 * args.clocks,
                "seconds": round(elapsed, 2),
                "clocks_per_s": round(args.clocks / elapsed),
                "target_seconds": TARGET_SECONDS,
                "met": elapsed < TARGET_SECONDS,
                "cores": 1,
                "load_average_1m": round(os.getloadavg()[0], 2),
            }
        )
    )


if __name__ == "__main__":
    main()
