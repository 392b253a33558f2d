"""Build the cases benchmark database: 1M customers (bench/generate.py's generator), 3M cases
(60k open) over 10 teams and 50 agents, 15M case messages, and SLA clocks for the open cases
with real deadlines from 10 business calendars. Everything bulk is loaded with COPY.

    .venv/bin/python bench/cases_generate.py                       # rapport_cases_bench, full size
    .venv/bin/python bench/cases_generate.py --db cb_small --customers 10000 --cases 30000 \
        --open 600 --messages 150000 --fresh

Foreign-key triggers are off during the load (the generator writes consistent rows) and the
secondary indexes of the case tables are dropped first and rebuilt afterwards. Ends with
VACUUM ANALYZE and prints one JSON line.
"""

from __future__ import annotations

import argparse
import json
import random
import sys
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import Clock
from generate import _copy_lines, load_customers, make_staff, prepare_empty_database
from names import SUMMARIES

TEAMS = [
    "Billing",
    "Deliveries",
    "Returns",
    "Technical",
    "Accounts",
    "Complaints",
    "Retention",
    "Business",
    "Onboarding",
    "Escalations",
]
# (name, zone, holiday country, subdivision, weekly hours): one calendar per team.
WEEKDAYS_9_17 = {d: [["09:00", "17:00"]] for d in ("mon", "tue", "wed", "thu", "fri")}
CALENDARS = [
    ("London office", "Europe/London", "GB", "ENG", WEEKDAYS_9_17),
    ("Paris office", "Europe/Paris", "FR", "", {**WEEKDAYS_9_17, "sat": [["10:00", "13:00"]]}),
    (
        "Berlin office",
        "Europe/Berlin",
        "DE",
        "BE",
        {d: [["08:00", "12:00"], ["13:00", "17:00"]] for d in WEEKDAYS_9_17},
    ),
    ("New York office", "America/New_York", "US", "NY", WEEKDAYS_9_17),
    ("San Francisco office", "America/Los_Angeles", "US", "CA", {d: [["08:00", "18:00"]] for d in WEEKDAYS_9_17}),
    ("Tokyo office", "Asia/Tokyo", "JP", "", WEEKDAYS_9_17),
    ("Sydney office", "Australia/Sydney", "AU", "NSW", WEEKDAYS_9_17),
    (
        "Madrid office",
        "Europe/Madrid",
        "ES",
        "MD",
        {d: [["09:00", "14:00"], ["16:00", "19:00"]] for d in WEEKDAYS_9_17},
    ),
    ("Sao Paulo office", "America/Sao_Paulo", "BR", "", WEEKDAYS_9_17),
    ("24/7 desk", "UTC", "", "", {d: [["00:00", "24:00"]] for d in ("mon", "tue", "wed", "thu", "fri", "sat", "sun")}),
]

TYPES = (["question", "request", "complaint", "incident", "compliment"], [0.35, 0.30, 0.20, 0.10, 0.05])
PRIORITIES = (["low", "normal", "high", "urgent"], [0.15, 0.60, 0.20, 0.05])
CHANNELS = (["email", "phone", "web", "chat", "portal", "letter", "sms"], [0.40, 0.25, 0.12, 0.10, 0.08, 0.03, 0.02])
OPEN_STATUSES = (["new", "open", "waiting_customer", "waiting_third_party"], [0.15, 0.55, 0.20, 0.10])
# Business minutes by priority: first response, resolution.
TARGETS = {"low": (960, 7200), "normal": (480, 2880), "high": (240, 1440), "urgent": (60, 480)}
AT_RISK = 0.8
BODIES = [
    "Hello, my order has not arrived yet and the tracking page has not changed for a week.",
    "Thank you for getting back to me so quickly, that solves it.",
    "I was charged twice for the same invoice, please refund the duplicate payment.",
    "We have passed this to the warehouse and will update you within two working days.",
    "Customer called again, still waiting for the replacement part. Chased the supplier.",
    "The parcel arrived damaged; photos attached. I would like a replacement rather than a refund.",
    "Sorry for the trouble. I have issued a credit note and the refund will show in 3-5 days.",
    "Internal: courier confirms the delivery failed at the depot, rebooked for Thursday.",
    "Can you confirm the new billing address is used from the next invoice?",
    "The app crashes when I open the statements page on my phone.",
    "Engineering reproduced the crash; a fix ships in the next release.",
    "I would like to cancel my subscription at the end of this month.",
    "Offered a loyalty discount; customer will think about it and call back.",
    "Your colleague Sam was very helpful on the phone today, please pass on my thanks.",
    "Please send me a copy of the contract and the terms for the premium plan.",
    "Escalated to the team lead because the compensation is above my limit.",
]
SUBJECT_EXTRA = ["", "", " (again)", " - urgent", " on order", " for my account", " since Monday"]
CASE_COLUMNS = (
    "id, customer_id, type, subject, description, channel, priority, status, owner_id, team_id, opened_at, "
    "first_response_at, resolved_at, closed_at, root_cause_id, root_cause_statement, sla_terms, created_by_id, "
    "version, created_at, updated_at"
)
CLOCK_COLUMNS = (
    "case_id, kind, target_minutes, at_risk_ratio, calendar_id, started_at, resumed_at, used_seconds, due_at, "
    "at_risk_at, paused_at, stopped_at, breached_at, at_risk_notified_at, generation"
)
SPAN_DAYS = 3 * 365
BATCH = 500_000


def iso(epoch: int) -> str:
    return datetime.fromtimestamp(epoch, UTC).isoformat()


def pick(rng: np.random.Generator, choices: tuple[list[str], list[float]], size: int) -> np.ndarray:
    return rng.choice(len(choices[0]), size=size, p=choices[1])


def setup_org(staff_ids: list[int]) -> tuple[list[int], list[int], dict[int, int]]:
    """Ten teams each with its calendar; agents spread over the teams. Returns team ids,
    calendar ids (same order) and each agent's team."""
    from rapport.cases.models import SlaPolicy
    from rapport.core.models import Calendar
    from rapport.people.models import Staff, Team

    calendars = []
    for name, zone, country, subdivision, hours in CALENDARS:
        calendar, _ = Calendar.objects.update_or_create(
            name=name,
            defaults={
                "timezone": zone,
                "weekly_hours": hours,
                "holiday_country": country,
                "holiday_subdivision": subdivision,
            },
        )
        calendars.append(calendar)
    teams = [Team.objects.get_or_create(name=name)[0] for name in TEAMS]
    agent_team = {}
    for index, staff_id in enumerate(staff_ids):
        team = teams[index % len(teams)]
        Staff.objects.filter(id=staff_id).update(team=team)
        agent_team[staff_id] = team.id
    for priority, (first, resolution) in TARGETS.items():
        SlaPolicy.objects.get_or_create(
            name=f"Standard {priority}",
            defaults={
                "calendar": calendars[0],
                "priority": priority,
                "first_response_minutes": first,
                "next_response_minutes": first,
                "resolution_minutes": resolution,
            },
        )
    return [t.id for t in teams], [c.id for c in calendars], agent_team


class CasePlan:
    """Every case's columns as arrays (id = index + 1), decided up front so that messages and
    clocks can be generated from them."""

    def __init__(
        self,
        n: int,
        n_open: int,
        customers: int,
        staff_ids: list[int],
        teams: list[int],
        agent_team: dict[int, int],
        rng: np.random.Generator,
    ) -> None:
        now = int(time.time())
        self.n = n
        # Ids follow time: opened uniformly over three years, sorted.
        self.opened = np.sort(rng.integers(now - SPAN_DAYS * 86400, now - 600, n))
        self.customer = (customers * rng.random(n) ** 2).astype(np.int64) + 1
        self.type = pick(rng, TYPES, n)
        self.priority = pick(rng, PRIORITIES, n)
        self.channel = pick(rng, CHANNELS, n)
        self.subject = rng.integers(0, len(SUMMARIES) * len(SUBJECT_EXTRA), n)
        self.team = np.asarray(teams)[rng.integers(0, len(teams), n)]
        self.owner = np.asarray(staff_ids)[rng.integers(0, len(staff_ids), n)]
        # Open cases are recent: drawn from the newest 2.5x their number.
        recent = rng.choice(np.arange(max(0, n - int(n_open * 2.5)), n), size=n_open, replace=False)
        self.is_open = np.zeros(n, dtype=bool)
        self.is_open[recent] = True
        # Closed: 20 % resolved, 80 % closed. Open: the realistic mix of states.
        self.status = np.where(rng.random(n) < 0.2, "resolved", "closed").astype(object)
        open_ids = np.sort(recent)
        self.status[open_ids] = np.asarray(OPEN_STATUSES[0], dtype=object)[pick(rng, OPEN_STATUSES, n_open)]
        # Each agent owns 100-300 open cases in their own team; the rest wait in team queues.
        self.owner[open_ids] = -1
        shuffled = rng.permutation(open_ids)
        at = 0
        for staff_id in staff_ids:
            take = int(rng.integers(100, 301))
            mine = shuffled[at : at + take]
            self.owner[mine] = staff_id
            self.team[mine] = agent_team[staff_id]
            at += take
        self.first_response = self.opened + rng.integers(600, 2 * 86400, n)
        self.first_response[open_ids[self.status[open_ids] == "new"]] = -1
        self.resolved = self.opened + rng.integers(3600, 20 * 86400, n)
        self.open_ids = open_ids

    def lines(self, start: int, stop: int) -> Iterator[str]:
        now = int(time.time())
        extras = SUBJECT_EXTRA
        types, priorities, channels = TYPES[0], PRIORITIES[0], CHANNELS[0]
        for i in range(start, stop):
            opened = int(self.opened[i])
            status = self.status[i]
            done = status in ("resolved", "closed")
            first = int(self.first_response[i])
            resolved = min(int(self.resolved[i]), now - 60)
            owner = int(self.owner[i])
            s = int(self.subject[i])
            subject = SUMMARIES[s % len(SUMMARIES)] + extras[s // len(SUMMARIES)]
            yield (
                f"{i + 1}\t{self.customer[i]}\t{types[self.type[i]]}\t{subject}\t\t{channels[self.channel[i]]}\t"
                f"{priorities[self.priority[i]]}\t{status}\t{owner if owner > 0 else '\\N'}\t{self.team[i]}\t"
                f"{iso(opened)}\t{iso(min(first, now - 60)) if first > 0 else '\\N'}\t"
                f"{iso(resolved) if done else '\\N'}\t{iso(resolved + 86400) if status == 'closed' else '\\N'}\t"
                f"\\N\t\t{{}}\t\\N\t1\t{iso(opened)}\t{iso(resolved if done else opened)}\n"
            )


def message_lines(plan: CasePlan, total: int, staff_ids: list[int], rng: np.random.Generator) -> Iterator[str]:
    """``total`` messages over the cases (1 + Poisson, scaled): the customer writes first, then
    replies, customer answers and internal notes alternate, minutes to days apart."""
    counts = rng.poisson(total / plan.n - 1, plan.n) + 1
    counts[-1] += total - int(counts.sum())  # exact total (the last case takes the remainder)
    if counts[-1] < 1:
        counts[-1] = 1
    case_of = np.repeat(np.arange(plan.n), counts)
    position = np.arange(len(case_of)) - np.repeat(np.cumsum(counts) - counts, counts)
    now = int(time.time())
    staff = np.asarray(staff_ids)
    kinds = ["customer", "public", "internal"]
    for lo in range(0, len(case_of), BATCH):
        cases = case_of[lo : lo + BATCH]
        pos = position[lo : lo + BATCH]
        size = len(cases)
        stamps = np.minimum(plan.opened[cases] + pos * rng.integers(300, 86400, size), now - 30)
        kind = np.where(pos == 0, 0, np.where(rng.random(size) < 0.2, 2, 1 + (pos % 2 == 0)))
        kind = np.where((pos > 0) & (kind == 2) & (rng.random(size) < 0.5), 0, kind)
        body = rng.integers(0, len(BODIES), size)
        author = staff[rng.integers(0, len(staff), size)]
        yield from (
            f"{c + 1}\t{kinds[k]}\t{BODIES[b]}\t{a if k else '\\N'}\t\\N\t{iso(t)}\n"
            for c, k, b, a, t in zip(
                cases.tolist(), kind.tolist(), body.tolist(), author.tolist(), stamps.tolist(), strict=True
            )
        )


def clock_lines(plan: CasePlan, team_calendar: dict[int, int], clock: Clock) -> list[str]:
    """Open cases: a resolution clock (paused while waiting on the customer), and a first-response
    clock, running for new cases and stopped (met or breached) for answered ones. Running clocks
    get their deadlines from the team's calendar, vectorised per calendar. A list, not a
    generator: the calendars are read before the COPY takes the connection."""
    from rapport.core.models import Calendar

    ids = plan.open_ids
    priorities = np.asarray(PRIORITIES[0])[plan.priority[ids]]
    first_target = np.asarray([TARGETS[p][0] for p in priorities], dtype=np.int64)
    resolution_target = np.asarray([TARGETS[p][1] for p in priorities], dtype=np.int64)
    calendar_of = np.asarray([team_calendar[int(t)] for t in plan.team[ids]])
    starts = plan.opened[ids].astype(np.int64)
    due = {"first": np.zeros(len(ids), np.int64), "resolution": np.zeros(len(ids), np.int64)}
    risk = {"first": np.zeros(len(ids), np.int64), "resolution": np.zeros(len(ids), np.int64)}
    began = time.perf_counter()
    for calendar in Calendar.objects.filter(id__in=set(team_calendar.values())):
        hours = calendar.as_business_hours()
        rows = calendar_of == calendar.id
        for key, target in (("first", first_target), ("resolution", resolution_target)):
            due[key][rows] = hours.deadlines(starts[rows], target[rows])
            risk[key][rows] = hours.deadlines_in_seconds(starts[rows], (target[rows] * 60 * AT_RISK).astype(np.int64))
    clock.say(f"deadlines for {2 * len(ids):,} clocks in {time.perf_counter() - began:.2f} s")
    now = int(time.time())
    lines: list[str] = []
    add = lines.append
    for j, case_index in enumerate(ids.tolist()):
        case_id, status, cal, start = case_index + 1, plan.status[case_index], int(calendar_of[j]), int(starts[j])
        first = int(plan.first_response[case_index])
        head = f"{case_id}\tfirst_response\t{first_target[j]}\t0.800\t{cal}\t{iso(start)}\t\\N\t"
        if first > 0:
            answered = min(first, now - 60)
            late = iso(int(due["first"][j])) if answered > due["first"][j] else "\\N"
            add(f"{head}0\t\\N\t\\N\t\\N\t{iso(answered)}\t{late}\t\\N\t2\n")
        else:
            add(f"{head}0\t{iso(int(due['first'][j]))}\t{iso(int(risk['first'][j]))}\t\\N\t\\N\t\\N\t\\N\t1\n")
        head = f"{case_id}\tresolution\t{resolution_target[j]}\t0.800\t{cal}\t{iso(start)}\t"
        if status == "waiting_customer":
            used = int(min(resolution_target[j] * 60 - 60, (now - start) // 4))
            add(f"{head}\\N\t{max(used, 0)}\t\\N\t\\N\t{iso(now - 3600)}\t\\N\t\\N\t\\N\t2\n")
        else:
            add(
                f"{head}\\N\t0\t{iso(int(due['resolution'][j]))}\t{iso(int(risk['resolution'][j]))}\t\\N\t\\N\t\\N\t\\N\t1\n"
            )
    return lines


def drop_indexes(tables: list[str]) -> list[tuple[str, str]]:
    """Secondary indexes (not constraints) of ``tables``, dropped; returns their definitions."""
    from django.db import connection

    found: list[tuple[str, str]] = []
    with connection.cursor() as cursor:
        for table in tables:
            cursor.execute(
                "SELECT indexname, indexdef FROM pg_indexes WHERE tablename = %s AND indexname NOT IN "
                "(SELECT conname FROM pg_constraint WHERE conrelid = %s::regclass)",
                [table, table],
            )
            found.extend(cursor.fetchall())
        for name, _ in found:
            cursor.execute(f'DROP INDEX "{name}"')
    return found


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--db", default="rapport_cases_bench")
    parser.add_argument("--customers", type=int, default=1_000_000)
    parser.add_argument("--cases", type=int, default=3_000_000)
    parser.add_argument("--open", type=int, default=60_000)
    parser.add_argument("--messages", type=int, default=15_000_000)
    parser.add_argument("--staff", type=int, default=50)
    parser.add_argument("--fresh", action="store_true", help="drop and recreate the database first")
    args = parser.parse_args()
    random.seed(42)
    rng = np.random.default_rng(42)
    clock = Clock()
    prepare_empty_database(args.db, args.fresh, clock)
    from django.db import connection

    staff_ids = make_staff(args.staff)
    teams, calendars, agent_team = setup_org(staff_ids)
    load_customers(args.customers, staff_ids, clock)
    indexes = drop_indexes(["cases_case", "cases_casemessage", "cases_slaclock"])
    clock.say(f"dropped {len(indexes)} case indexes for the load")
    plan = CasePlan(args.cases, args.open, args.customers, staff_ids, teams, agent_team, rng)
    clock.say("planned cases")
    _copy_lines("cases_case", CASE_COLUMNS, plan.lines(0, plan.n), clock, "cases")
    _copy_lines(
        "cases_casemessage",
        "case_id, kind, body, author_id, interaction_id, created_at",
        message_lines(plan, args.messages, staff_ids, rng),
        clock,
        "case messages",
    )
    team_calendar = dict(zip(teams, calendars, strict=True))
    _copy_lines("cases_slaclock", CLOCK_COLUMNS, iter(clock_lines(plan, team_calendar, clock)), clock, "SLA clocks")
    with connection.cursor() as cursor:
        cursor.execute("SET maintenance_work_mem = '1GB'")
        cursor.execute("SET max_parallel_maintenance_workers = 2")
        for name, definition in indexes:
            cursor.execute(definition)
            clock.say(f"rebuilt index {name}")
        cursor.execute("SET session_replication_role = origin")
        for table in ("customers_customer", "cases_case", "cases_casemessage", "cases_slaclock"):
            cursor.execute(f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), (SELECT max(id) FROM {table}))")  # noqa: S608 - fixed names
        cursor.execute("VACUUM ANALYZE")
        clock.say("vacuum analyze done")
        cursor.execute("SELECT pg_size_pretty(pg_database_size(current_database()))")
        size = cursor.fetchone()[0]
    print(
        json.dumps(
            {
                "db": args.db,
                "customers": args.customers,
                "cases": args.cases,
                "open_cases": args.open,
                "messages": args.messages,
                "clocks": 2 * args.open,
                "staff": args.staff + 1,
                "teams": len(teams),
                "calendars": len(calendars),
                "size": size,
                "seconds": round(time.perf_counter() - clock.start, 1),
            }
        )
    )


if __name__ == "__main__":
    main()
