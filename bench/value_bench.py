"""Customer value benchmark: our BG/NBD + Gamma-Gamma (and Pareto/NBD) fits against lifetimes 0.11.3
on the same synthetic customers, scoring everyone, and the order import rate on PostgreSQL.
Prints one JSON document (progress goes to stderr).

    .venv/bin/python bench/value_bench.py --customers 1000000 --lifetimes-python /tmp/lt-venv/bin/python
    .venv/bin/python bench/value_bench.py --customers 100000 --orders 200000 --pareto

lifetimes is unmaintained and needs old NumPy/pandas, so it is never a project dependency: give the
Python of a throwaway venv that has it (``uv venv /tmp/lt-venv && uv pip install --python
/tmp/lt-venv/bin/python lifetimes==0.11.3 "numpy<2" "pandas<2.2" "scipy<1.12"``); it runs in a
subprocess on the very arrays we fit, and both parameter sets are scored with one log-likelihood.

Synthetic data follow the models' own story, at day resolution (as summaries from real orders
are): first purchases over a year, Poisson purchasing while alive (λ ~ Gamma(r, α) per day), drop-out
after each purchase with p ~ Beta(a, b); spend z ~ Gamma(p, ν) with ν ~ Gamma(q, γ). Time unit: week.
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

# As the app's settings do: one BLAS thread (spinning OpenBLAS threads slow both sides on a busy machine).
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("MKL_NUM_THREADS", "1")

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "src"))

from common import Clock, ensure_database, setup_django

from rapport.value import clv

TRUE_BGNBD = {"r": 0.25, "alpha": 30.0, "a": 0.8, "b": 2.5}  # α in days
TRUE_GG = {"p": 6.0, "q": 3.8, "gamma": 15.0}
CALIBRATION_DAYS = 546  # first purchases in days 0-364, calibration ends 78 weeks after day 0


def simulate(customers: int, seed: int) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)
    first = rng.integers(0, 365, customers)
    T_days = CALIBRATION_DAYS - first
    lam = rng.gamma(TRUE_BGNBD["r"], 1 / TRUE_BGNBD["alpha"], customers)
    p = rng.beta(TRUE_BGNBD["a"], TRUE_BGNBD["b"], customers)
    x = np.zeros(customers)
    last = np.zeros(customers)
    t = np.zeros(customers)
    active = np.arange(customers)
    while active.size:
        t[active] += rng.exponential(1 / lam[active])
        bought = t[active] < T_days[active]
        active = active[bought]
        # Purchases on one day are one occasion, as in the summaries made from orders.
        new_day = np.floor(t[active]) > last[active]
        x[active] += new_day
        last[active] = np.where(new_day, np.floor(t[active]), last[active])
        active = active[rng.random(active.size) >= p[active]]
    nu = rng.gamma(TRUE_GG["q"], 1 / TRUE_GG["gamma"], customers)
    zbar = np.where(x > 0, rng.gamma(TRUE_GG["p"] * np.maximum(x, 1), 1 / (nu * np.maximum(x, 1))), 0.0)
    return {"x": x, "t_x": last / 7, "T": T_days / 7, "zbar": np.round(zbar, 2)}


def timed(fn: Any, *args: Any) -> tuple[Any, float, float]:
    """(result, wall seconds, CPU seconds): CPU time shows the work when other jobs share the cores."""
    wall, cpu = time.perf_counter(), time.process_time()
    result = fn(*args)
    return result, time.perf_counter() - wall, time.process_time() - cpu


def ours(data: dict[str, np.ndarray], pareto: bool, clock: Clock) -> dict[str, Any]:
    out: dict[str, Any] = {}
    bg, wall, cpu = timed(clv.fit_bgnbd, data["x"], data["t_x"], data["T"])
    out["bgnbd"] = {"seconds": wall, "cpu_seconds": cpu, "params": bg.params, "ll": bg.log_likelihood}
    out["bgnbd"]["converged"], out["bgnbd"]["iterations"] = bg.converged, bg.iterations
    clock.say(f"ours: BG/NBD {out['bgnbd']['seconds']:.2f}s")
    gg, wall, cpu = timed(clv.fit_gammagamma, data["x"], data["zbar"])
    out["gammagamma"] = {"seconds": wall, "cpu_seconds": cpu, "params": gg.params, "ll": gg.log_likelihood}
    clock.say(f"ours: Gamma-Gamma {out['gammagamma']['seconds']:.2f}s")
    if pareto:
        pn, wall, cpu = timed(clv.fit_paretonbd, data["x"], data["t_x"], data["T"])
        out["paretonbd"] = {"seconds": wall, "cpu_seconds": cpu, "params": pn.params, "ll": pn.log_likelihood}
        out["paretonbd"]["converged"] = pn.converged
        clock.say(f"ours: Pareto/NBD {out['paretonbd']['seconds']:.2f}s")
    started, cpu_started = time.perf_counter(), time.process_time()
    scores = clv.score(
        "bgnbd",
        bg.params,
        gg.params,
        x=data["x"],
        t_x=data["t_x"],
        T=data["T"],
        zbar=data["zbar"],
        margin_ratio=0.3,
        horizon=52,
        steps=12,
        discount_per_unit=1.1 ** (1 / 52) - 1,
    )
    cut = np.quantile(scores.clv, [0.80, 0.95])  # tiers: top 5 % platinum, next 15 % gold
    tier = np.digitize(scores.clv, cut)
    seconds, cpu = time.perf_counter() - started, time.process_time() - cpu_started
    finite = all(np.isfinite(v).all() for v in (scores.p_alive, scores.expected_orders, scores.clv))
    out["scoring"] = {
        "seconds": seconds,
        "cpu_seconds": cpu,
        "customers": len(data["x"]),
        "what": "P(alive), expected orders and margin over 52 weeks, CLV (12 discounted 4-week steps), tier",
        "all_finite": bool(finite),
        "tiers": {name: int((tier == i).sum()) for i, name in enumerate(["standard", "gold", "platinum"])},
    }
    clock.say(f"ours: scoring {seconds:.2f}s")
    return out


LIFETIMES_SCRIPT = r"""
import json, sys, time, warnings
import numpy as np
warnings.filterwarnings("ignore")
from lifetimes import BetaGeoFitter, GammaGammaFitter, ParetoNBDFitter
d = np.load(sys.argv[1])
x, t_x, T, zbar = d["x"], d["t_x"], d["T"], d["zbar"]
out = {}
def timed(key, fit, *args):
    t, c = time.perf_counter(), time.process_time()
    model = fit(*args)
    params = {k: float(v) for k, v in model.params_.items()}
    out[key] = {"seconds": time.perf_counter() - t, "cpu_seconds": time.process_time() - c, "params": params}
    return model
bg = timed("bgnbd", BetaGeoFitter().fit, x, t_x, T)
keep = x > 0
timed("gammagamma", GammaGammaFitter().fit, x[keep], zbar[keep])
if sys.argv[2] == "1":
    timed("paretonbd", ParetoNBDFitter().fit, x, t_x, T)
t = time.perf_counter()
pa = bg.conditional_probability_alive(x, t_x, T)
ey = bg.conditional_expected_number_of_purchases_up_to_time(52, x, t_x, T)
out["scoring_p_alive_and_expected_orders_seconds"] = time.perf_counter() - t
out["scoring_nan"] = int(np.isnan(pa).sum() + np.isnan(ey).sum())
print(json.dumps(out))
"""

RENAME = {
    "bgnbd": {"r": "r", "alpha": "alpha", "a": "a", "b": "b"},
    "paretonbd": {"r": "r", "alpha": "alpha", "s": "s", "beta": "beta"},
    "gammagamma": {"p": "p", "q": "q", "v": "gamma"},
}


def lifetimes(python: str, data: dict[str, np.ndarray], pareto: bool, clock: Clock) -> dict[str, Any]:
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "data.npz"
        np.savez(path, **data)
        script = Path(tmp) / "run.py"
        script.write_text(LIFETIMES_SCRIPT)
        clock.say("lifetimes: fitting (subprocess)")
        done = subprocess.run(  # noqa: S603 (our own script, a Python the operator named)
            [python, str(script), str(path), "1" if pareto else "0"], capture_output=True, text=True, check=False
        )
    if done.returncode:
        return {"error": done.stderr[-2000:]}
    out: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    for model, names in RENAME.items():
        if model in out:
            out[model]["params"] = {names[k]: v for k, v in out[model]["params"].items()}
    return out


def same_likelihood(model: str, params: dict[str, float], data: dict[str, np.ndarray]) -> float:
    """Both parameter sets scored by one function (ours), so the log-likelihoods compare."""
    names = clv.PARAM_NAMES[model]
    vector = np.array([params[n] for n in names])
    if model == "gammagamma":
        keep = (data["x"] > 0) & (data["zbar"] > 0)
        return clv.gammagamma_log_likelihood(vector, data["x"][keep], data["zbar"][keep], np.ones(int(keep.sum())))[0]
    h = clv._histories(data["x"], data["t_x"], data["T"])
    fn = clv.bgnbd_log_likelihood if model == "bgnbd" else clv.paretonbd_log_likelihood
    return fn(vector, h)[0]


def import_rate(rows: int, clock: Clock) -> dict[str, Any]:
    """Orders CSV → PostgreSQL through ``rapport.value.imports.import_orders`` (COPY)."""
    db = "rapport_value_bench"
    ensure_database(db, fresh=True)
    setup_django(db)
    from django.core.management import call_command

    from rapport.value.imports import _create_customers, import_orders

    call_command("migrate", verbosity=0)
    customers = max(rows // 5, 1)
    from datetime import UTC, datetime

    _create_customers([f"X{i}" for i in range(customers)], datetime.now(UTC))
    rng = np.random.default_rng(1)
    who = rng.integers(0, customers, rows)
    days = rng.integers(0, 700, rows)
    cents = rng.integers(100, 20000, rows)
    with tempfile.NamedTemporaryFile("w", suffix=".csv", delete=False, newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["reference", "customer_external_id", "ordered_at", "revenue", "cost", "currency"])
        base = np.datetime64("2024-01-01T09:30:00")
        stamps = (base + days.astype("timedelta64[D]")).astype(str)
        for i in range(rows):
            writer.writerow([f"ORD-{i:09d}", f"X{who[i]}", stamps[i] + "Z", f"{cents[i] / 100:.2f}", "1.00", "EUR"])
        path = Path(handle.name)
    try:
        clock.say(f"import: {rows} orders for {customers} customers")
        started = time.perf_counter()
        dry = import_orders(actor=None, source=path, dry_run=True)
        dry_seconds = time.perf_counter() - started
        started = time.perf_counter()
        real = import_orders(actor=None, source=path, dry_run=False)
        seconds = time.perf_counter() - started
    finally:
        os.unlink(path)
    assert not dry.errors and real.created == rows, (dry.errors[:3], real.created)  # noqa: S101
    return {
        "rows": rows,
        "database": "postgresql",
        "dry_run_seconds": dry_seconds,
        "dry_run_rows_per_second": rows / dry_seconds,
        "import_seconds": seconds,
        "import_rows_per_second": rows / seconds,
    }


DAY0 = np.datetime64("2024-01-01T10:00:00")


def _copy(table: str, columns: list[str], lines: list[str]) -> None:
    from django.db import connection

    with connection.cursor() as cursor, cursor.copy(f"COPY {table} ({', '.join(columns)}) FROM STDIN") as copy:
        for start in range(0, len(lines), 50_000):
            copy.write("".join(lines[start : start + 50_000]).encode())


def orders_from(data: dict[str, np.ndarray], seed: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Order rows (customer index, day, revenue) that summarise back to about the simulated
    (x, t_x, T, zbar): a first order, x − 1 repeat days between it and the last, and the last."""
    rng = np.random.default_rng(seed)
    first = CALIBRATION_DAYS - np.round(data["T"] * 7)
    last = first + np.round(data["t_x"] * 7)
    x = data["x"].astype(np.int64)
    who_repeat = np.repeat(np.arange(len(x)), x)
    is_last = np.zeros(len(who_repeat), dtype=bool)
    is_last[np.cumsum(x)[x > 0] - 1] = True
    span = (last - first)[who_repeat]
    day = np.where(
        is_last,
        last[who_repeat],
        first[who_repeat] + 1 + np.floor(rng.random(len(who_repeat)) * np.maximum(span - 1, 1)),
    )
    spend = np.where(data["zbar"] > 0, data["zbar"], 20.0)
    who = np.concatenate([np.arange(len(x)), who_repeat])
    days = np.concatenate([first, np.minimum(day, last[who_repeat])])
    revenue = np.round(spend[who] * rng.gamma(20, 1 / 20, len(who)), 2) + 0.01
    return who, days, revenue


def snapshot_bench(
    customers: int, data: dict[str, np.ndarray], seed: int, clock: Clock, reuse: bool = False
) -> dict[str, Any]:
    """The nightly path on PostgreSQL at full size: customers and orders COPY-loaded, then the
    services the scheduled job runs: BG/NBD and Gamma-Gamma fits from the order table, and
    ``snapshot_values`` (summaries, margins, cost to serve, scores, RFM, segments, tiers, the
    CustomerValue rows, care_tier and segment on the customers)."""
    db = "rapport_value_snapshot_bench"
    ensure_database(db, fresh=not reuse)
    setup_django(db)
    from datetime import date

    from django.core.management import call_command
    from django.db import connection

    from rapport.value import services

    call_command("migrate", verbosity=0)
    end = date(2024, 1, 1).fromordinal(date(2024, 1, 1).toordinal() + CALIBRATION_DAYS - 1)
    from rapport.customers.models import Customer

    if reuse and Customer.objects.exists():
        return _snapshot_runs(services, end, {"customers": customers, "reused": True}, clock)
    clock.say(f"snapshot bench: loading {customers} customers")
    now = "2026-01-01 00:00:00+00"
    lines = [
        f"Customer {i}\tperson\tactive\tX{i}\t\ten\tUTC\tf\tf\tf\tf\t\t{now}\t{now}\t1\n" for i in range(customers)
    ]
    _copy(
        "customers_customer",
        ["name", "kind", "status", "external_id", "preferred_channel", "language", "timezone", "consent_email",
         "consent_phone", "consent_post", "consent_marketing", "notes", "created_at", "updated_at", "version"],
        lines,
    )  # fmt: skip
    with connection.cursor() as cursor:
        cursor.execute("SELECT min(id) FROM customers_customer")
        base = cursor.fetchone()[0]
    who, days, revenue = orders_from(data, seed)
    stamps = (DAY0 + days.astype("timedelta64[D]")).astype(str)
    clock.say(f"snapshot bench: loading {len(who)} orders")
    lines = [
        f"S-{i}\t{base + who[i]}\t{stamps[i]}Z\t{revenue[i]:.2f}\t{revenue[i] * 0.6:.2f}\tEUR\tf\t{now}\n"
        for i in range(len(who))
    ]
    _copy(
        "value_order",
        ["reference", "customer_id", "ordered_at", "revenue", "cost", "currency", "is_refund", "created_at"],
        lines,
    )
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE customers_customer; ANALYZE value_order")
    from rapport.value.models import TierRules

    TierRules.objects.create(
        rules=[{"tier": "platinum", "top_percent": 5.0}, {"tier": "gold", "top_percent": 15.0},
               {"tier": "basic", "when": "negative_margin"}],
        default="standard",
    )  # fmt: skip
    return _snapshot_runs(services, end, {"customers": customers, "orders": len(who)}, clock)


def _snapshot_runs(services: Any, end: Any, out: dict[str, Any], clock: Clock) -> dict[str, Any]:
    from datetime import date

    out["calibration_end"] = end.isoformat()
    for model in ("bgnbd", "gammagamma"):
        fit, wall, cpu = timed(lambda m=model: services.run_fit(actor=None, model=m, calibration_end=end))
        out[f"{model}_fit_from_orders"] = {
            "seconds": wall,
            "cpu_seconds": cpu,
            "status": fit.status,
            "params": fit.params,
        }
        clock.say(f"snapshot bench: {model} fit from the order table {wall:.1f}s")
    for run in ("first", "second"):  # the second replaces the first (same as_of): the nightly re-run
        count, wall, cpu = timed(lambda: services.snapshot_values(actor=None))
        out[f"snapshot_{run}"] = {"seconds": wall, "cpu_seconds": cpu, "customers": count}
        clock.say(f"snapshot bench: snapshot_values ({run}) {wall:.1f}s for {count}")
    from rapport.value import queries

    reads = {
        "segments_to_date": lambda: queries.segments_summary(),
        "segments_for_a_quarter": lambda: queries.segments_summary(date(2025, 4, 1), end),
        "value_page": lambda: queries.value_page(),
        "unmanaged_first_page": lambda: queries.unmanaged_page(cursor=None, limit=50),
    }
    for name, read in reads.items():
        _, wall, cpu = timed(read)
        out[name] = {"seconds": wall, "cpu_seconds": cpu}
        clock.say(f"snapshot bench: {name} {wall:.2f}s")
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--customers", type=int, default=1_000_000)
    parser.add_argument("--orders", type=int, default=500_000, help="rows for the import rate (0: skip)")
    parser.add_argument("--lifetimes-python", default="", help="a Python with lifetimes 0.11.3 (empty: skip)")
    parser.add_argument("--pareto", action="store_true", help="also Pareto/NBD (lifetimes takes minutes at 1M)")
    parser.add_argument("--seed", type=int, default=2026)
    parser.add_argument("--snapshot", action="store_true", help="time fits from orders + snapshot_values on PostgreSQL")
    parser.add_argument("--reuse", action="store_true", help="--snapshot on the database a previous run loaded")
    parser.add_argument("--no-fits", action="store_true", help="skip the in-memory fit comparison")
    args = parser.parse_args()
    clock = Clock()
    clock.say(f"simulating {args.customers} customers")
    data = simulate(args.customers, args.seed)
    result: dict[str, Any] = {
        "machine": {"cpus": os.cpu_count(), "python": platform.python_version(), "numpy": np.__version__},
        "customers": args.customers,
        "repeat_buyers": int((data["x"] > 0).sum()),
        "distinct_histories": len(np.unique(np.column_stack([data["x"], data["t_x"], data["T"]]), axis=0)),
        "time_unit": "week",
        "true_params": {"bgnbd (alpha per day)": TRUE_BGNBD, "gammagamma": TRUE_GG},
    }
    if not args.no_fits:
        result["ours"] = ours(data, args.pareto, clock)
    if args.lifetimes_python and not args.no_fits:
        theirs = lifetimes(args.lifetimes_python, data, args.pareto, clock)
        result["lifetimes_0_11_3"] = theirs
        side: dict[str, Any] = {}
        for model in ("bgnbd", "gammagamma", "paretonbd"):
            if model in theirs and model in result["ours"]:
                ours_fit, their_fit = result["ours"][model], theirs[model]
                side[model] = {
                    "ours_seconds": ours_fit["seconds"],
                    "lifetimes_seconds": their_fit["seconds"],
                    "speedup": their_fit["seconds"] / ours_fit["seconds"],
                    "ours_cpu_seconds": ours_fit["cpu_seconds"],
                    "lifetimes_cpu_seconds": their_fit["cpu_seconds"],
                    "cpu_speedup": their_fit["cpu_seconds"] / ours_fit["cpu_seconds"],
                    "ours_log_likelihood": same_likelihood(model, ours_fit["params"], data),
                    "lifetimes_log_likelihood": same_likelihood(model, their_fit["params"], data),
                }
        if "bgnbd" in side and "gammagamma" in side:
            total_ours = side["bgnbd"]["ours_seconds"] + side["gammagamma"]["ours_seconds"]
            total_theirs = side["bgnbd"]["lifetimes_seconds"] + side["gammagamma"]["lifetimes_seconds"]
            side["bgnbd_plus_gammagamma_speedup"] = total_theirs / total_ours
            cpu_ours = side["bgnbd"]["ours_cpu_seconds"] + side["gammagamma"]["ours_cpu_seconds"]
            cpu_theirs = side["bgnbd"]["lifetimes_cpu_seconds"] + side["gammagamma"]["lifetimes_cpu_seconds"]
            side["bgnbd_plus_gammagamma_cpu_speedup"] = cpu_theirs / cpu_ours
        result["side_by_side"] = side
    if args.orders:
        result["order_import"] = import_rate(args.orders, clock)
    if args.snapshot:
        result["snapshot"] = snapshot_bench(args.customers, data, args.seed, clock, args.reuse)
    result["load_average_at_end"] = Path("/proc/loadavg").read_text().split()[:3]
    print(json.dumps(result, indent=2, default=float))


if __name__ == "__main__":
    main()
