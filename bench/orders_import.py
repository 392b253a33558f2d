"""Time the order import (``rapport.value.imports.import_orders``) on a fresh PostgreSQL database:
a dry run, then the real import of the same CSV. Prints one JSON document (progress on stderr).

    .venv/bin/python bench/orders_import.py --orders 1000000 --customers 100000

Each order names its customer by ``customer_external_id`` (customers are created first with the
import's own writer); amounts with two decimals in EUR, times in UTC with a zone. Besides wall time
it reports the CPU seconds of this process and of the PostgreSQL backend doing the work, which
are what to compare when other jobs share the machine, and the load average.
"""

from __future__ import annotations

import argparse
import csv
import json
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import ROOT, Clock, ensure_database, setup_django
from import_rate import Meter


def write_csv(path: Path, orders: int, customers: int) -> None:
    rng = np.random.default_rng(1)
    who = rng.integers(0, customers, orders)
    days = rng.integers(0, 700, orders)
    seconds = rng.integers(0, 86_400, orders)
    cents = rng.integers(100, 20_000, orders)
    base = np.datetime64("2024-01-01T00:00:00")
    stamps = (base + days.astype("timedelta64[D]") + seconds.astype("timedelta64[s]")).astype(str)
    with path.open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["reference", "customer_external_id", "ordered_at", "revenue", "cost", "currency"])
        for i in range(orders):
            cost = cents[i] * 2 // 5
            writer.writerow(
                [f"ORD-{i:09d}", f"X{who[i]}", stamps[i] + "Z", f"{cents[i] / 100:.2f}", f"{cost / 100:.2f}", "EUR"]
            )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--db", default="rapport_import_bench_orders", help="(re)created for the run")
    parser.add_argument("--orders", type=int, default=1_000_000)
    parser.add_argument("--customers", type=int, default=100_000)
    args = parser.parse_args()
    clock = Clock()
    ensure_database(args.db, fresh=True)
    setup_django(args.db)
    from django.core.management import call_command

    from rapport.value.imports import _create_customers, import_orders
    from rapport.value.models import Order

    call_command("migrate", verbosity=0)
    _create_customers([f"X{i}" for i in range(args.customers)], datetime.now(UTC))
    path = ROOT / "var" / "bench" / f"orders-{args.orders}-{args.customers}.csv"
    path.parent.mkdir(parents=True, exist_ok=True)
    if not path.exists():
        partial = path.with_suffix(".partial")
        write_csv(partial, args.orders, args.customers)
        partial.rename(path)
    clock.say(
        f"{path.name}: {path.stat().st_size / 1e6:.0f} MB, {args.orders:,} orders for {args.customers:,} customers"
    )
    runs: dict[str, Any] = {}
    for name, dry_run in (("dry_run", True), ("import", False)):
        meter = Meter()
        report = import_orders(actor=None, source=path, dry_run=dry_run)
        figures = meter.stop(args.orders)
        if report.errors:
            raise SystemExit(f"the generated file has errors: {report.errors[:5]}")
        runs[name] = figures
        clock.say(f"{name}: {figures}")
    assert Order.objects.count() == args.orders  # noqa: S101
    size = round(path.stat().st_size / 1e6, 1)
    result = {"scenario": "order csv import (PostgreSQL)", "orders": args.orders, "customers": args.customers}
    print(json.dumps({**result, "file_mb": size, **runs}, indent=2))


if __name__ == "__main__":
    main()
