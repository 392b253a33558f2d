"""The cases benchmark (issue 3), measured the way the django-helpdesk peer was: gunicorn with
2 sync workers on PostgreSQL, ``wrk -t2 -c8 -d20s`` per operation after a 3 s warm-up, wrk
rotating over many URLs (bench/cases_replay.lua). Prints one JSON document.

    .venv/bin/python bench/cases_generate.py      # once: rapport_cases_bench
    .venv/bin/python bench/cases_load.py          # then this (about 4 minutes)
    .venv/bin/python bench/cases_load.py --only case_page --only create_api --seconds 10

Pages are fetched as agents (each request line carries one of 50 agents' sessions, so "my
cases" and "my team's" differ per request); the API with a bearer token. Worker memory is
the peak resident set (VmHWM) of the gunicorn workers, read from /proc after the run.
wrk, the server and PostgreSQL share the machine; the 1-minute load average is recorded
with every operation, since other work on the machine skews every figure.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import urllib.parse
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import ROOT, Clock, setup_django, start_server
from generate import BENCH_USER
from load import cpu_probe_ms, cpu_steal, machine, steal_percent
from names import LAST, SUMMARIES

LUA = ROOT / "bench" / "cases_replay.lua"
# Targets from issue 3 (p95, ms) and the peer's figures on the same machine kind (1M tickets).
TARGETS_MS = {"my_queue": 60, "team_queue": 60, "case_page": 60, "create_api": 30}
PEER = {
    "case_page": {"op": "ticket detail", "req_per_s": 44.3, "p95_ms": 213},
    "create_api": {"op": "create through its API", "req_per_s": 78.5, "p95_ms": 139},
    "my_queue": {"op": "queue list data (DataTables JSON)", "req_per_s": 1.9, "p95_ms": 4500},
    "team_queue": {"op": "queue list data (DataTables JSON)", "req_per_s": 1.9, "p95_ms": 4500},
    "api_case_list": {"op": "queue list data (DataTables JSON)", "req_per_s": 1.9, "p95_ms": 4500},
    "search_page": {"op": "keyword search", "req_per_s": 0.13, "p95_ms": 9200},
    "case_search": {"op": "keyword search", "req_per_s": 0.13, "p95_ms": 9200},
    "search_api": {"op": "keyword search", "req_per_s": 0.13, "p95_ms": 9200},
    "home": {"op": "staff dashboard", "req_per_s": 1 / 24.1, "p95_ms": 24100},
}
PEER_WORKER_MIB = 1717
GENERATED_CASES = 3_000_000  # cases_generate.py's ids end here: anything above was opened by a run
OPS = [
    "my_queue",
    "team_queue",
    "case_page",
    "case_search",
    "create_api",
    "api_case_list",
    "search_page",
    "search_api",
    "home",
]


def sessions(count: int) -> list[str]:
    """Session cookies of ``count`` agents who own open cases (the generator's staffNNN)."""
    from django.test import Client

    from rapport.people.models import Staff

    cookies = []
    for staff in Staff.objects.filter(username__startswith="staff", team__isnull=False).order_by("id")[:count]:
        client = Client()
        client.force_login(staff, backend="rapport.people.auth.StaffBackend")
        cookies.append(client.cookies["sessionid"].value)
    return cookies


def bearer() -> str:
    from rapport.people import services
    from rapport.people.models import Staff

    return services.issue_token(actor=None, staff=Staff.objects.get(username=BENCH_USER))


def request_lines(count: int) -> dict[str, tuple[int, list[str]]]:
    """Per operation: the expected status and the wrk request lines (shuffled)."""
    from django.db import connection

    from rapport.people.models import Team

    cookies = [f"Cookie: sessionid={s}" for s in sessions(50)]
    auth = f"Authorization: Bearer {bearer()}"
    with connection.cursor() as cursor:
        cursor.execute("SELECT max(id) FROM cases_case")
        top_case = cursor.fetchone()[0]
        # Half open cases (the ones people work on), half any case of the three years.
        cursor.execute(
            "SELECT id FROM cases_case WHERE status IN ('new', 'open', 'waiting_customer', "
            "'waiting_third_party') ORDER BY random() LIMIT %s",
            [count // 2],
        )
        open_ids = [r[0] for r in cursor.fetchall()]
        cursor.execute("SELECT max(id) FROM customers_customer")
        top_customer = cursor.fetchone()[0]
        # Any case of the three years: ids drawn at random, kept if the case exists (the ids have gaps).
        drawn = random.sample(range(1, top_case + 1), 2 * (count - len(open_ids)))
        cursor.execute("SELECT id FROM cases_case WHERE id = ANY(%s)", [drawn])
        existing = {r[0] for r in cursor.fetchall()}
    case_ids = open_ids + [i for i in drawn if i in existing][: count - len(open_ids)]
    teams = list(Team.objects.values_list("name", flat=True))
    words = [w.lower() for w in LAST if w.isalpha()]
    q = urllib.parse.quote

    def pages(paths: list[str]) -> list[str]:
        return [f"GET\t{p}\t\t{random.choice(cookies)}" for p in paths]

    def create(_: int) -> str:
        body = json.dumps(
            {
                "customer": random.randint(1, top_customer),
                "type": random.choice(["question", "complaint"]),
                "subject": "Bench: parcel not delivered @N@",
                "channel": "email",
            }
        )
        return f"POST\t/api/v1/cases\t{body}\t{auth}\tContent-Type: application/json"

    def case_words(i: int) -> str:
        """A third each: one common subject word, two words of one subject, a word no case has."""
        summary = random.choice(SUMMARIES).split()
        if i % 3 == 0:
            return random.choice([w for w in summary if len(w) > 3])
        if i % 3 == 1:
            start = random.randrange(len(summary) - 1)
            return " ".join(summary[start : start + 2])
        return random.choice(words)

    return {
        "my_queue": (200, [f"GET\t/cases/?tab=mine\t\t{c}" for c in cookies]),
        "case_search": (200, pages([f"/cases/?tab=all&words={q(case_words(i))}" for i in range(count)])),
        "team_queue": (200, [f"GET\t/cases/?tab=team\t\t{c}" for c in cookies]),
        "case_page": (200, pages([f"/cases/C-{i:06d}/" for i in case_ids])),
        "create_api": (201, [create(i) for i in range(count)]),
        "api_case_list": (
            200,
            [f"GET\t/api/v1/cases?status=open&team={q(random.choice(teams))}\t\t{auth}" for _ in range(count)],
        ),
        "search_page": (200, pages([f"/search?q={q(random.choice(words)[:4])}" for _ in range(count)])),
        "search_api": (200, [f"GET\t/api/v1/search?q={q(random.choice(words)[:4])}\t\t{auth}" for _ in range(count)]),
        "home": (200, pages(["/"] * 50)),
    }


def wrk(port: int, request_file: Path, expect: int, seconds: float, connections: int) -> dict[str, Any]:
    argv = [
        "wrk",
        f"-t{min(2, connections)}",
        f"-c{connections}",
        f"-d{seconds:g}s",
        "--timeout",
        "60s",
        "-s",
        str(LUA),
        f"http://127.0.0.1:{port}",
        "--",
        str(request_file),
        str(expect),
    ]
    done = subprocess.run(argv, check=True, capture_output=True, text=True)  # noqa: S603 - fixed argv
    line = next(x for x in done.stdout.splitlines() if x.startswith("JSON "))
    return json.loads(line[5:])


def measure(
    port: int, request_file: Path, expect: int, warmup: float, seconds: float, connections: int
) -> dict[str, Any]:
    """One operation: a discarded wrk warm-up, then the measured run, as the JSON reports it."""
    wrk(port, request_file, expect, warmup, connections)
    steal_before = cpu_steal()
    raw = wrk(port, request_file, expect, seconds, connections)
    steal = steal_percent(steal_before, cpu_steal())
    return {
        "requests": raw["requests"],
        "req_per_s": round(raw["req_per_s"], 1),
        "p50_ms": raw["p50_ms"],
        "p95_ms": raw["p95_ms"],
        "p99_ms": raw["p99_ms"],
        "errors": raw["bad_status"] + raw["socket_errors"],
        "first_bad_status": raw["first_bad_status"],
        "load_average_1m": round(os.getloadavg()[0], 2),
        "cpu_steal_percent": steal,
    }


def last_case_id() -> int:
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("SELECT coalesce(max(id), 0) FROM cases_case")
        return int(cursor.fetchone()[0])


def remove_cases_after(case_id: int) -> int:
    """Delete the cases a run opened, with every row opening them wrote, so each run (and each
    operation after it) sees the generated data: the peer deleted its created tickets too."""
    from django.db import connection, transaction

    with transaction.atomic(), connection.cursor() as cursor:
        for table in ("cases_slaclock", "cases_caseevent", "cases_case_watchers", "cases_casemessage"):
            cursor.execute(f"DELETE FROM {table} WHERE case_id > %s", [case_id])  # noqa: S608 - fixed names
        cursor.execute("DELETE FROM customers_interaction WHERE source_type = 'case' AND source_id > %s", [case_id])
        cursor.execute("DELETE FROM core_auditentry WHERE subject_type = 'case' AND subject_id > %s", [case_id])
        cursor.execute("DELETE FROM cases_case WHERE id > %s", [case_id])
        removed = cursor.rowcount
    # The database runs without autovacuum here: every table the deletes touched, or their dead
    # rows pile up run after run.
    with connection.cursor() as cursor:
        cursor.execute(
            "VACUUM ANALYZE cases_case, cases_slaclock, cases_caseevent, cases_case_watchers, "
            "customers_interaction, core_auditentry"
        )
    return removed


def prewarm() -> str:
    """Read every table and index once into the OS page cache (pg_prewarm, 'read' mode): on a
    machine just started the first minutes would otherwise measure the disk, not the product."""
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("CREATE EXTENSION IF NOT EXISTS pg_prewarm")
        cursor.execute(
            "SELECT coalesce(sum(pg_prewarm(c.oid, 'read')), 0) FROM pg_class c "
            "JOIN pg_namespace n ON n.oid = c.relnamespace WHERE n.nspname = 'public' AND c.relkind IN ('r', 'i', 'm')"
        )
        blocks = int(cursor.fetchone()[0])
    return f"{blocks * 8 // 1024} MiB read into the page cache"


def worker_peak_rss_mib(master: int) -> float:
    """The largest VmHWM among the gunicorn master's children."""
    peak = 0
    for child in Path(f"/proc/{master}/task/{master}/children").read_text().split():
        for line in Path(f"/proc/{child}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                peak = max(peak, int(line.split()[1]))
    return round(peak / 1024, 1)


def data_sizes() -> dict[str, Any]:
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT relname, reltuples::bigint FROM pg_class WHERE relname IN ('customers_customer', "
            "'cases_case', 'cases_casemessage', 'cases_slaclock', 'customers_interaction')"
        )
        sizes: dict[str, Any] = dict(cursor.fetchall())
        cursor.execute(
            "SELECT count(*) FROM cases_case WHERE status IN ('new', 'open', 'waiting_customer', 'waiting_third_party')"
        )
        sizes["open_cases"] = cursor.fetchone()[0]
        cursor.execute("SELECT pg_size_pretty(pg_database_size(current_database())), version()")
        size, version = cursor.fetchone()
    return {**sizes, "database_size": size, "postgresql": version.split(" on ")[0]}


def compare(name: str, result: dict[str, Any]) -> dict[str, Any]:
    peer = PEER.get(name)
    out: dict[str, Any] = {}
    if name in TARGETS_MS:
        out["target_p95_ms"] = TARGETS_MS[name]
        out["target_met"] = result["requests"] > 0 and result["p95_ms"] < TARGETS_MS[name] and result["errors"] == 0
    if peer:
        out["peer"] = peer
        out["x_peer_req_per_s"] = round(result["req_per_s"] / peer["req_per_s"], 1)
        out["x_peer_p95"] = round(peer["p95_ms"] / max(result["p95_ms"], 0.01), 1)
        ok = result["requests"] > 0 and result["errors"] == 0
        out["five_times_peer"] = ok and out["x_peer_req_per_s"] >= 5 and out["x_peer_p95"] >= 5
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--db", default="rapport_cases_bench")
    parser.add_argument("--seconds", type=float, default=20)
    parser.add_argument("--warmup", type=float, default=3)
    parser.add_argument("--port", type=int, default=8766)
    parser.add_argument("--connections", type=int, default=8, help="1 gives the service time without queueing")
    parser.add_argument("--only", action="append", choices=OPS, help="run only these operations")
    args = parser.parse_args()
    if not shutil.which("wrk"):
        sys.exit("wrk is missing: apt-get install -y wrk")
    random.seed(11)
    clock = Clock()
    setup_django(args.db)
    remove_cases_after(GENERATED_CASES)  # left by an interrupted run
    clock.say(prewarm())
    from django.core.management import call_command

    call_command("migrate", verbosity=0)  # indexes added since the data was generated
    call_command("collectstatic", interactive=False, verbosity=0)  # the pages need the manifest
    lines = request_lines(2000)
    sizes = data_sizes()
    clock.say(f"data: {sizes}")
    probe_at_start = cpu_probe_ms()
    server = start_server(args.db, args.port, 2)
    results: dict[str, Any] = {}
    try:
        with tempfile.TemporaryDirectory() as folder:
            files = {}
            for name in args.only or OPS:
                expect, rows = lines[name]
                random.shuffle(rows)
                files[name] = Path(folder) / f"{name}.req"
                files[name].write_text("\n".join(rows) + "\n")
            # Every operation once, discarded, before any is measured: otherwise the first one
            # measured pays for the workers' and the database's first minutes (seen: -25 %).
            before = last_case_id()
            for name, request_file in files.items():
                wrk(args.port, request_file, lines[name][0], args.warmup, args.connections)
            time.sleep(2)
            clock.say(f"warm-up round done, {remove_cases_after(before)} cases it opened removed")
            for name, request_file in files.items():
                expect = lines[name][0]
                before = last_case_id()
                result = measure(args.port, request_file, expect, args.warmup, args.seconds, args.connections)
                if name == "create_api":
                    time.sleep(2)  # wrk has stopped; let the workers finish the requests in flight
                    result["cases_opened_then_removed"] = remove_cases_after(before)
                result.update(compare(name, result))
                results[name] = result
                clock.say(f"{name}: {result}")
        rss = worker_peak_rss_mib(server.pid)
    finally:
        os.killpg(server.pid, signal.SIGTERM)
        server.wait(timeout=30)
    output = {
        "machine": {**machine(), "cpu_probe_ms_at_start": probe_at_start},
        "data": sizes,
        "server": "gunicorn, 2 sync workers, 127.0.0.1; PostgreSQL",
        "client": f"wrk -t{min(2, args.connections)} -c{args.connections} -d{args.seconds:g}s after a "
        f"{args.warmup:g} s warm-up (and a first round of every operation), rotating over many URLs",
        "operations": results,
        "worker_peak_rss_mib": rss,
        "peer_worker_peak_rss_mib": PEER_WORKER_MIB,
        "x_peer_memory": round(PEER_WORKER_MIB / rss, 1) if rss else None,
    }
    print(json.dumps(output, indent=2))


if __name__ == "__main__":
    main()
