"""The customer page with its value panel and the value page at 1M customers (issue 6), served the
way the cases benchmark serves: gunicorn with 2 sync workers (DEBUG off) on PostgreSQL, ``wrk -t2
-c8 -d20s`` per page after a discarded 3 s warm-up, then again with one connection (service time
without queueing); wrk rotates over many customers (bench/cases_replay.lua). Prints one JSON document.

    .venv/bin/python bench/value_bench.py --snapshot     # once: rapport_value_snapshot_bench
    .venv/bin/python bench/value_pages.py                # then this (about 3 minutes)
    .venv/bin/python bench/value_pages.py --history 3    # first adds 3 older monthly snapshots

Pages are fetched as a team lead (the value page needs one), customers drawn at random from the
latest snapshot batch. Before the HTTP runs each page is also fetched in-process with the Django
test client: CPU time (time.process_time) and queries per request, the signal that the shared
machine's load does not blur. The 1-minute load average is recorded with every run.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import signal
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from cases_load import measure, worker_peak_rss_mib
from common import Clock, setup_django, start_server
from load import machine

DB = "rapport_value_snapshot_bench"
LEAD = "bench-value-lead"
TARGETS_MS = {"customer_page": 60}  # issue 6: the customer page with its value panel, p95 at 1M
OPS = ["customer_page", "value_page", "segments_api"]


def lead_session_and_token() -> tuple[str, str]:
    from django.test import Client

    from rapport.people import services
    from rapport.people.models import Role, Staff

    lead, _ = Staff.objects.get_or_create(username=LEAD, defaults={"role": Role.LEAD, "first_name": "Bench"})
    client = Client()
    client.force_login(lead, backend="rapport.people.auth.StaffBackend")  # the sign-in backend
    return client.cookies["sessionid"].value, services.issue_token(actor=None, staff=lead)


def valued_customers(count: int) -> list[int]:
    """Random customers of the latest snapshot batch."""
    from django.db import connection

    from rapport.value import queries

    key = queries.latest_snapshot_key()
    if key is None:
        sys.exit("no value snapshot: run bench/value_bench.py --snapshot first")
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT customer_id FROM value_customervalue TABLESAMPLE SYSTEM (1) WHERE as_of = %s AND fit_id = %s "
            "LIMIT %s",
            [key[0], key[1], count],
        )
        return [r[0] for r in cursor.fetchall()]


def add_history(months: int, clock: Clock) -> int:
    """Older snapshot batches for the chart: the latest batch copied ``months`` times, a month apart
    each, with values drifting a little (only the customer page's chart reads them)."""
    from django.db import connection, transaction

    from rapport.value import queries

    key = queries.latest_snapshot_key()
    if key is None:
        sys.exit("no value snapshot: run bench/value_bench.py --snapshot first")
    added = 0
    for month in range(1, months + 1):
        with transaction.atomic(), connection.cursor() as cursor:
            cursor.execute(
                "SELECT 1 FROM value_customervalue WHERE as_of = %s::date - %s * 30 AND fit_id = %s LIMIT 1",
                [key[0], month, key[1]],
            )
            if cursor.fetchone():
                continue
            cursor.execute(
                "INSERT INTO value_customervalue (customer_id, fit_id, as_of, p_alive, expected_orders_12m, "
                "expected_margin_12m, clv, currency, margin_to_date, revenue_to_date, cost_to_serve, "
                "recency_score, frequency_score, monetary_score, segment, tier, created_at) "
                "SELECT customer_id, fit_id, as_of - %s * 30, p_alive, expected_orders_12m, "
                "round(expected_margin_12m * %s, 2), round(clv * %s, 2), currency, margin_to_date, "
                "revenue_to_date, cost_to_serve, recency_score, frequency_score, monetary_score, segment, tier, now() "
                "FROM value_customervalue WHERE as_of = %s AND fit_id = %s",
                [month, 1 - 0.04 * month, 1 - 0.03 * month, key[0], key[1]],
            )
            added += cursor.rowcount
        clock.say(f"history: month -{month} added")
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE value_customervalue")
    return added


def data_sizes() -> dict[str, Any]:
    from django.db import connection

    from rapport.value import queries

    key = queries.latest_snapshot_key()
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT relname, reltuples::bigint FROM pg_class WHERE relname IN ('customers_customer', "
            "'value_order', 'value_customervalue', 'value_valuesummary')"
        )
        sizes: dict[str, Any] = dict(cursor.fetchall())
        batch_fit = key[1] if key else 0
        cursor.execute("SELECT count(DISTINCT as_of) FROM value_customervalue WHERE fit_id = %s", [batch_fit])
        sizes["snapshots_per_customer"] = cursor.fetchone()[0]
        cursor.execute("SELECT pg_size_pretty(pg_database_size(current_database())), version()")
        size, version = cursor.fetchone()
    return {**sizes, "latest_batch": [str(key[0]), key[1]] if key else None, "database_size": size,
            "postgresql": version.split(" on ")[0]}  # fmt: skip


def request_lines(cookie: str, token: str, customers: list[int]) -> dict[str, list[str]]:
    session, auth = f"Cookie: sessionid={cookie}", f"Authorization: Bearer {token}"
    return {
        "customer_page": [f"GET\t/customers/{c}/\t\t{session}" for c in customers],
        "value_page": [f"GET\t/value/\t\t{session}"],
        "segments_api": [f"GET\t/api/v1/value/segments\t\t{auth}"],
    }


def in_process(cookie: str, token: str, customers: list[int], rounds: int) -> dict[str, Any]:
    """CPU milliseconds (this process: Django + driver, not PostgreSQL) and queries per request."""
    from django.conf import settings
    from django.db import connection
    from django.test import Client
    from django.test.utils import CaptureQueriesContext

    settings.ALLOWED_HOSTS = [*settings.ALLOWED_HOSTS, "testserver"]
    client = Client()
    client.cookies["sessionid"] = cookie
    paths: dict[str, list[tuple[str, dict[str, str]]]] = {
        "customer_page": [(f"/customers/{c}/", {}) for c in customers[:rounds]],
        "value_page": [("/value/", {})] * rounds,
        "segments_api": [("/api/v1/value/segments", {"Authorization": f"Bearer {token}"})] * rounds,
    }
    out: dict[str, Any] = {}
    for name, requests in paths.items():
        cpu, wall, queries = [], [], []
        for i, (path, headers) in enumerate(requests):
            with CaptureQueriesContext(connection) as captured:
                started, started_cpu = time.perf_counter(), time.process_time()
                response = client.get(path, headers=headers)
                cpu_ms, wall_ms = (time.process_time() - started_cpu) * 1000, (time.perf_counter() - started) * 1000
            if response.status_code != 200:
                sys.exit(f"{path} answered {response.status_code}")
            if i:  # the first request warms caches (templates, the session)
                cpu.append(cpu_ms)
                wall.append(wall_ms)
                queries.append(len(captured))
        out[name] = {
            "requests": len(cpu),
            "cpu_ms_median": round(statistics.median(cpu), 2),
            "wall_ms_median": round(statistics.median(wall), 2),
            "queries": max(queries),
            "load_average_1m": round(os.getloadavg()[0], 2),
        }
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--db", default=DB)
    parser.add_argument("--seconds", type=float, default=20)
    parser.add_argument("--warmup", type=float, default=3)
    parser.add_argument("--port", type=int, default=8767)
    parser.add_argument("--connections", type=int, action="append", help="default: 8 then 1")
    parser.add_argument("--only", action="append", choices=OPS, help="run only these pages")
    parser.add_argument("--history", type=int, default=0, help="first add this many older monthly snapshots")
    parser.add_argument("--rounds", type=int, default=30, help="in-process requests per page")
    args = parser.parse_args()
    if not shutil.which("wrk"):
        sys.exit("wrk is missing: apt-get install -y wrk")
    random.seed(6)
    clock = Clock()
    setup_django(args.db)
    from django.core.management import call_command

    call_command("migrate", verbosity=0)  # the value summary table (and its backfill) since the data was loaded
    call_command("collectstatic", interactive=False, verbosity=0)  # the pages need the manifest
    history = add_history(args.history, clock) if args.history else 0
    cookie, token = lead_session_and_token()
    customers = valued_customers(2000)
    random.shuffle(customers)
    sizes = data_sizes()
    clock.say(f"data: {sizes}")
    measured = in_process(cookie, token, customers, args.rounds)
    clock.say(f"in-process: {measured}")
    lines = request_lines(cookie, token, customers)
    server = start_server(args.db, args.port, 2)
    runs: dict[str, Any] = {}
    try:
        with tempfile.TemporaryDirectory() as folder:
            for connections in args.connections or [8, 1]:
                for name in args.only or OPS:
                    request_file = Path(folder) / f"{name}.req"
                    request_file.write_text("\n".join(lines[name]) + "\n")
                    result = measure(args.port, request_file, 200, args.warmup, args.seconds, connections)
                    if name in TARGETS_MS:
                        result["target_p95_ms"] = TARGETS_MS[name]
                        result["target_met"] = result["errors"] == 0 and result["p95_ms"] < TARGETS_MS[name]
                    runs.setdefault(f"c{connections}", {})[name] = result
                    clock.say(f"-c{connections} {name}: {result}")
        rss = worker_peak_rss_mib(server.pid)
    finally:
        os.killpg(server.pid, signal.SIGTERM)
        server.wait(timeout=30)
    output = {
        "machine": machine(),
        "data": {**sizes, "history_rows_added_now": history},
        "server": "gunicorn, 2 sync workers, 127.0.0.1, DEBUG off; PostgreSQL",
        "client": f"wrk -t2 -cN -d{args.seconds:g}s after a {args.warmup:g} s warm-up; customer page rotating "
        f"over {len(customers)} random customers of the latest snapshot",
        "in_process": measured,
        "runs": runs,
        "worker_peak_rss_mib": rss,
    }
    print(json.dumps(output, indent=2))


if __name__ == "__main__":
    main()
