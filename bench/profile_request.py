"""Where one request's time goes: runs an operation in-process (Django's test client, the same
middleware and views as gunicorn) N times on a bench database, and prints the wall time per
request, the SQL statements per request and, with --profile, the top functions by own time.

    .venv/bin/python bench/profile_request.py --op create_api --requests 500 --profile
    .venv/bin/python bench/profile_request.py --op case_page --requests 500
    .venv/bin/python bench/profile_request.py --op my_queue --requests 300   # or team_queue

Not a load test (no HTTP parsing, no queueing): it answers "what does the server do per
request" so the wrk figures of cases_load.py can be explained.
"""

from __future__ import annotations

import argparse
import cProfile
import json
import os
import pstats
import random
import re
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import setup_django


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--db", default="rapport_cases_bench")
    parser.add_argument("--op", choices=["create_api", "case_page", "my_queue", "team_queue"], required=True)
    parser.add_argument("--requests", type=int, default=300)
    parser.add_argument("--profile", action="store_true")
    parser.add_argument("--top", type=int, default=40)
    parser.add_argument("--sort", default="tottime")
    parser.add_argument("--dump", help="also write the raw profile here (for pstats' callers view)")
    args = parser.parse_args()
    setup_django(args.db)
    from cases_load import bearer, sessions
    from django.core.management import call_command
    from django.db import connection
    from django.test import Client

    call_command("collectstatic", interactive=False, verbosity=0)  # the pages need the manifest
    random.seed(5)
    client = Client(HTTP_HOST="127.0.0.1")
    with connection.cursor() as cursor:
        cursor.execute("SELECT max(id) FROM customers_customer")
        top_customer = cursor.fetchone()[0]
        cursor.execute("SELECT id FROM cases_case ORDER BY random() LIMIT %s", [args.requests])
        case_ids = [r[0] for r in cursor.fetchall()]
    if args.op == "create_api":
        token = bearer()

        def call(i: int) -> int:
            body = {
                "customer": random.randint(1, top_customer),
                "type": random.choice(["question", "complaint"]),
                "subject": f"Bench: parcel not delivered {i}",
                "channel": "email",
            }
            return client.post(
                "/api/v1/cases", json.dumps(body), content_type="application/json", HTTP_AUTHORIZATION=f"Bearer {token}"
            ).status_code
    elif args.op == "case_page":
        client.cookies["sessionid"] = sessions(1)[0]

        def call(i: int) -> int:
            return client.get(f"/cases/C-{case_ids[i % len(case_ids)]:06d}/").status_code
    else:
        cookies = sessions(8)  # as cases_load.py: agents who own open cases, in turn
        tab = args.op.removesuffix("_queue")

        def call(i: int) -> int:
            client.cookies["sessionid"] = cookies[i % len(cookies)]
            return client.get(f"/cases/?tab={tab}").status_code

    for i in range(20):  # warm caches and connections
        call(i)
    profiler = cProfile.Profile() if args.profile else None
    captured: list[tuple[str, float]] = []

    def timed(execute: Any, sql: str, params: Any, many: bool, context: Any) -> Any:
        started = time.perf_counter()
        try:
            return execute(sql, params, many, context)
        finally:
            captured.append((sql, time.perf_counter() - started))

    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_backend_pid()")
        backend = cursor.fetchone()[0]
    with connection.execute_wrapper(timed):
        start, cpu_start, db_cpu_start = time.perf_counter(), time.process_time(), cpu_seconds(backend)
        if profiler:
            profiler.enable()
        statuses = [call(i) for i in range(args.requests)]
        if profiler:
            profiler.disable()
        elapsed = time.perf_counter() - start
        cpu, db_cpu = time.process_time() - cpu_start, cpu_seconds(backend) - db_cpu_start
    by_start: dict[str, list[float]] = {}
    for sql, seconds in captured:
        key = re.sub(r"\d+", "N", sql[:70])
        count_ms = by_start.setdefault(key, [0, 0.0])
        count_ms[0] += 1
        count_ms[1] += seconds * 1000
    print(
        json.dumps(
            {
                "op": args.op,
                "requests": args.requests,
                "statuses": sorted(set(statuses)),
                "ms_per_request": round(elapsed / args.requests * 1000, 2),
                # CPU, not wall time: what decides throughput on a saturated machine, and far
                # steadier than wall time on a shared one (A/B comparisons).
                "cpu_ms_per_request": round(cpu / args.requests * 1000, 2),
                "db_cpu_ms_per_request": round(db_cpu / args.requests * 1000, 2),
                "sql_per_request": round(len(captured) / args.requests, 2),
                "sql_ms_per_request": round(sum(s for _, s in captured) / args.requests * 1000, 2),
                "statements_count_and_ms_per_request": {
                    key: [round(n / args.requests, 2), round(ms / args.requests, 3)]
                    for key, (n, ms) in sorted(by_start.items(), key=lambda kv: -kv[1][1])[:30]
                },
            },
            indent=2,
        )
    )
    if profiler:
        pstats.Stats(profiler, stream=sys.stderr).sort_stats(args.sort).print_stats(args.top)
        if args.dump:
            profiler.dump_stats(args.dump)


def cpu_seconds(pid: int) -> float:
    """User + system CPU of a local process (the PostgreSQL backend), from /proc."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


if __name__ == "__main__":
    main()
