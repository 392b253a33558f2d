"""Opening a case through the API, in-process: CPU time per request, database round trips and
where the time goes. The HTTP figure (gunicorn, wrk) comes from cases_load.py:

    .venv/bin/python bench/cases_create.py --db rapport_cases_bench --requests 300
    .venv/bin/python bench/cases_create.py --db rapport_cases_bench --profile create.prof
    .venv/bin/python bench/cases_load.py --only create_api      # wrk -t2 -c8, 2 gunicorn workers

Each request is ``POST /api/v1/cases`` through Django's test client with a bearer token and
the full middleware stack, so it measures what a gunicorn worker spends on one create, minus
the socket. The database is used as it is (the cases it opens stay; subjects say "Bench").
CPU time (``time.process_time``) is this process only: the database's own work shows in the
wall time and the round-trip count. Prints one JSON document.
"""

from __future__ import annotations

import argparse
import cProfile
import json
import os
import random
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import Clock, setup_django


def _percentile(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return round(ordered[min(len(ordered) - 1, int(p * len(ordered)))], 2)


def _backend_cpu_reader(connection: Any) -> Callable[[], float | None]:
    """Milliseconds of CPU used so far by this connection's PostgreSQL backend (read from /proc:
    the database runs on this machine); a reader of None when it cannot be read."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_backend_pid()")
        stat = Path(f"/proc/{cursor.fetchone()[0]}/stat")
    ticks = os.sysconf("SC_CLK_TCK")

    def read() -> float | None:
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            return None
        return (int(fields[11]) + int(fields[12])) * 1000 / ticks  # utime + stime

    return read


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--db", default="rapport_cases_bench")
    parser.add_argument("--requests", type=int, default=300)
    parser.add_argument("--warmup", type=int, default=20)
    parser.add_argument("--profile", help="write a cProfile (CPU time) of the timed requests to this file")
    parser.add_argument("--get", action="store_true", help="also time GET /api/v1/cases/<ref> of the new cases")
    args = parser.parse_args()
    clock = Clock()
    setup_django(args.db)

    from django.db import connection
    from django.test import Client
    from django.test.utils import CaptureQueriesContext
    from generate import BENCH_USER

    from rapport.customers.models import Customer
    from rapport.people import services
    from rapport.people.models import Staff

    staff = Staff.objects.get(username=BENCH_USER)
    token = services.issue_token(actor=None, staff=staff)
    top_customer = Customer.objects.order_by("-id").values_list("id", flat=True).first() or 1
    client = Client(HTTP_AUTHORIZATION=f"Bearer {token}")

    def body(i: int) -> str:
        return json.dumps(
            {
                "customer": random.randint(1, top_customer),
                "type": random.choice(["question", "complaint"]),
                "subject": f"Bench: parcel not delivered {os.getpid()}-{i}",
                "channel": "email",
            }
        )

    def create(i: int) -> str:
        response = client.post("/api/v1/cases", body(i), content_type="application/json")
        if response.status_code != 201:
            raise SystemExit(f"create answered {response.status_code}: {response.content[:300]!r}")
        return str(response.json()["reference"])

    for i in range(args.warmup):
        create(-i - 1)
    clock.say(f"warm-up: {args.warmup} creates")

    backend = _backend_cpu_reader(connection)
    backend_before = backend()
    cpu_ms: list[float] = []
    wall_ms: list[float] = []
    queries: list[int] = []
    sql_ms: list[float] = []
    refs: list[str] = []
    # CPU time, not wall time: on a shared machine the waits would drown the work.
    profiler = cProfile.Profile(time.process_time) if args.profile else None
    for i in range(args.requests):
        with CaptureQueriesContext(connection) as captured:
            cpu0, wall0 = time.process_time(), time.perf_counter()
            if profiler:
                profiler.enable()
            refs.append(create(i))
            if profiler:
                profiler.disable()
            cpu_ms.append((time.process_time() - cpu0) * 1000)
            wall_ms.append((time.perf_counter() - wall0) * 1000)
        queries.append(len(captured.captured_queries))
        sql_ms.append(sum(float(q["time"]) for q in captured.captured_queries) * 1000)
    backend_ms = (backend() - backend_before) / args.requests if backend_before is not None else None
    clock.say(f"timed: {args.requests} creates")
    if profiler:
        profiler.dump_stats(args.profile)

    last_sql = [q["sql"][:160] for q in captured.captured_queries]
    result: dict[str, Any] = {
        "db": args.db,
        "customers": top_customer,
        "requests": args.requests,
        "create": {
            "cpu_ms_median": round(statistics.median(cpu_ms), 2),
            "cpu_ms_p95": _percentile(cpu_ms, 0.95),
            "wall_ms_median": round(statistics.median(wall_ms), 2),
            "wall_ms_p95": _percentile(wall_ms, 0.95),
            "queries": max(set(queries), key=queries.count),
            "sql_ms_median": round(statistics.median(sql_ms), 2),
            # the PostgreSQL backend serving this process (same machine): CPU it spent per create
            "db_backend_cpu_ms_mean": round(backend_ms, 2) if backend_ms is not None else None,
            "queries_of_last_request": last_sql,
        },
        "load_average_1m": float(Path("/proc/loadavg").read_text().split()[0]),
    }
    if args.get:
        get_cpu = []
        for ref in refs:
            cpu0 = time.process_time()
            client.get(f"/api/v1/cases/{ref}")
            get_cpu.append((time.process_time() - cpu0) * 1000)
        result["get"] = {
            "cpu_ms_median": round(statistics.median(get_cpu), 2),
            "cpu_ms_p95": _percentile(get_cpu, 0.95),
        }
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
