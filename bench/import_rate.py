"""Time the customer CSV import (``rapport.customers.imports.import_customers``) on a fresh
PostgreSQL database, for files of the given sizes. Prints one JSON document.

    .venv/bin/python bench/import_rate.py --rows 100000 --rows 1000000
    .venv/bin/python bench/import_rate.py --rows 100000 --profile var/bench/import.prof

The CSV looks like a real export from another system: 1-2 emails (distinct), 0-2 phones in
national or international format (distinct), ~10% with an account manager, tags, consent.
"""

from __future__ import annotations

import argparse
import cProfile
import csv
import json
import os
import random
import resource
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import ROOT, Clock, ensure_database, setup_django
from names import COMPANY_WORDS, FIRST, LAST, TAGS

COLUMNS = [
    "name", "kind", "status", "emails", "phones", "account_manager", "external_id", "preferred_channel",
    "language", "timezone", "tags", "consent_email", "consent_phone", "consent_post", "consent_marketing", "notes",
]  # fmt: skip


def _phone(international: bool) -> str:
    """A valid, random UK mobile or London number: spread like a real customer base's."""
    import phonenumbers

    while True:
        if random.random() < 0.8:
            national = f"07{random.choice('12345789')}{random.randrange(10**8):08d}"
        else:
            national = f"020{random.choice('378')}{random.randrange(10**7):07d}"
        if phonenumbers.is_valid_number(phonenumbers.parse(national, "GB")):
            break
    if international:
        return f"+44 {national[1:5]} {national[5:]}"
    return f"{national[:5]} {national[5:]}"


def write_csv(path: Path, rows: int, managers: list[str]) -> None:
    random.seed(rows)
    rnd = random.random
    with path.open("w", encoding="utf-8", newline="") as out:
        writer = csv.writer(out)
        writer.writerow(COLUMNS)
        for i in range(1, rows + 1):
            first, last = random.choice(FIRST), random.choice(LAST)
            organisation = rnd() < 0.05
            name = f"{random.choice(COMPANY_WORDS)} {last} Ltd" if organisation else f"{first} {last}"
            local = f"{first}.{last}".lower().replace("'", "")
            emails = [f"{local}{i}@example.com"] + ([f"{first[0]}{last}{i}@Work.Example.org"] if rnd() < 0.3 else [])
            r = rnd()
            phones = [] if r < 0.3 else [_phone(False)] if r < 0.8 else [_phone(True), _phone(False)]
            writer.writerow([
                name, "organisation" if organisation else "person", random.choice(["active", "prospect", "former", ""]),
                ";".join(emails), ";".join(phones), random.choice(managers) if rnd() < 0.1 else "",
                f"IMP{i}" if rnd() < 0.5 else "", random.choice(["", "", "email", "phone"]),
                random.choice(["en", "en", "fr", ""]),
                random.choice(["Europe/London", "Europe/Paris", "UTC", ""]),
                ";".join(random.sample(TAGS, random.choice([0, 0, 1, 2]))),
                random.choice(["yes", "no", ""]), random.choice(["true", "false"]), "", "1" if rnd() < 0.3 else "0",
                "Moved from the old CRM" if rnd() < 0.1 else "",
            ])  # fmt: skip


class Meter:
    """Wall seconds, this process's CPU seconds and the PostgreSQL backend's CPU seconds (read
    from /proc: the database runs on this machine), plus the load average at the end."""

    def __init__(self) -> None:
        self.pid = _backend_pid()
        self.backend = _cpu_of(self.pid)
        self.cpu = time.process_time()
        self.wall = time.perf_counter()

    def stop(self, rows: int) -> dict[str, float | str]:
        wall = time.perf_counter() - self.wall
        backend = _cpu_of(self.pid) - self.backend if self.pid == _backend_pid() else float("nan")
        cpu = time.process_time() - self.cpu
        return {
            "seconds": round(wall, 2),
            "rows_per_s": round(rows / wall),
            "python_cpu_s": round(cpu, 2),
            "postgres_cpu_s": round(backend, 2),
            "rows_per_cpu_s": round(rows / (cpu + backend)),
            "loadavg": " ".join(Path("/proc/loadavg").read_text().split()[:3]),
        }


def _backend_pid() -> int:
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_backend_pid()")
        return int(cursor.fetchone()[0])  # type: ignore[index]


def _cpu_of(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def run_one(rows: int, db: str, clock: Clock, profile: str | None) -> dict[str, object]:
    from django.db import connection

    from rapport.customers.imports import import_customers
    from rapport.customers.models import ContactPoint, Customer, NameKey
    from rapport.people.models import Staff

    path = ROOT / "var" / "bench" / f"import-{rows}.csv"
    managers = [s.username for s in Staff.objects.all()[:50]]
    if not path.exists():
        partial = path.with_suffix(".partial")
        write_csv(partial, rows, managers)
        partial.rename(path)  # an interrupted run leaves no truncated file behind
    clock.say(f"{path.name}: {path.stat().st_size / 1e6:.0f} MB")
    meter = Meter()
    start = time.perf_counter()
    profiler = cProfile.Profile() if profile else None
    if profiler:
        profiler.enable()
    report = import_customers(
        actor=None,
        source=path,
        dry_run=False,
    )
    if profiler:
        profiler.disable()
        profiler.dump_stats(profile)
    elapsed = time.perf_counter() - start
    figures = meter.stop(rows)
    if report.errors:
        raise SystemExit(f"the generated file has errors: {report.errors[:5]}")
    clock.say(f"{rows:,} rows in {elapsed:.1f}s ({rows / elapsed:,.0f} rows/s)")
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_size_pretty(pg_database_size(current_database()))")
        size = cursor.fetchone()[0]  # type: ignore[index]
    return {
        "rows": rows,
        "file_mb": round(path.stat().st_size / 1e6, 1),
        "seconds": round(elapsed, 2),
        "rows_per_s": round(rows / elapsed),
        **{k: v for k, v in figures.items() if k not in ("seconds", "rows_per_s")},
        "customers": Customer.objects.count(),
        "contact_points": ContactPoint.objects.count(),
        "name_keys": NameKey.objects.count(),
        "db_size": size,
        "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024),
    }


def fresh_database(name: str) -> None:
    """Point Django at a new, empty database (dropping a leftover one of the same name)."""
    from django.core.management import call_command
    from django.db import connection

    from rapport.people.models import Staff

    connection.close()
    ensure_database(name, fresh=True)
    connection.settings_dict["NAME"] = name
    call_command("migrate", verbosity=0)
    Staff.objects.bulk_create(Staff(username=f"staff{i:03d}") for i in range(1, 51))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--db", default="rapport_bench_import", help="databases <db>_<rows> are (re)created")
    parser.add_argument("--rows", type=int, action="append", help="file sizes (repeatable); default 100k and 1M")
    parser.add_argument("--profile", help="write a cProfile dump of the (last) import here")
    args = parser.parse_args()
    clock = Clock()
    (ROOT / "var" / "bench").mkdir(parents=True, exist_ok=True)
    ensure_database(args.db)
    setup_django(args.db)
    results = []
    for rows in args.rows or [100_000, 1_000_000]:
        fresh_database(f"{args.db}_{rows}")  # each size on an empty database of its own
        results.append(run_one(rows, args.db, clock, args.profile))
    print(json.dumps({"scenario": "csv import (PostgreSQL, COPY)", "runs": results}, indent=2))


if __name__ == "__main__":
    main()
