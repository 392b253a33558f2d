"""Shared set-up for the benchmark scripts: point Django at a PostgreSQL database."""

from __future__ import annotations

import http.client
import os
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PG_BASE = os.environ.get("BENCH_PG", "postgres://postgres@127.0.0.1:5432")


def database_url(db: str) -> str:
    return f"{PG_BASE}/{db}"


def ensure_database(db: str, *, fresh: bool = False) -> None:
    import psycopg

    with psycopg.connect(f"{PG_BASE}/postgres", autocommit=True) as conn:
        exists = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", [db]).fetchone()
        if exists and fresh:
            conn.execute(f'DROP DATABASE "{db}" WITH (FORCE)')
            exists = None
        if not exists:
            conn.execute(f'CREATE DATABASE "{db}"')


def setup_django(db: str) -> None:
    os.environ["DATABASE_URL"] = database_url(db)
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "rapport.settings")
    os.environ.setdefault("RAPPORT_VAR_DIR", str(ROOT / "var" / "bench"))
    sys.path.insert(0, str(ROOT / "src"))
    import django

    django.setup()


class Clock:
    """Prints what is happening and how long it took, to stderr (stdout carries the JSON)."""

    def __init__(self) -> None:
        self.start = time.perf_counter()

    def say(self, text: str) -> None:
        print(f"[{time.perf_counter() - self.start:8.1f}s] {text}", file=sys.stderr, flush=True)


def start_server(db: str, port: int, workers: int) -> subprocess.Popen[bytes]:
    """gunicorn (as `rapport serve` runs it) on 127.0.0.1, returned once /healthz answers."""
    env = {**os.environ, "DATABASE_URL": database_url(db), "DJANGO_SETTINGS_MODULE": "rapport.settings"}
    argv = [
        sys.executable,
        "-m",
        "gunicorn",
        "rapport.wsgi:application",
        "--bind",
        f"127.0.0.1:{port}",
        "--workers",
        str(workers),
    ]
    server = subprocess.Popen(argv, env=env, cwd=ROOT, start_new_session=True)  # noqa: S603 - fixed argv
    for _ in range(100):
        try:
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=2)
            conn.request("GET", "/healthz")
            if conn.getresponse().status == 200:
                return server
        except OSError:
            time.sleep(0.2)
    server.terminate()
    raise SystemExit("gunicorn did not start")


def percentile_ms(latencies: list[float], p: float) -> float:
    """The p-th fraction of sorted latencies (seconds), in milliseconds."""
    return round(latencies[min(len(latencies) - 1, int(p * len(latencies)))] * 1000, 1) if latencies else 0.0
