"""Inbound email through the HTTP door, and outbound email handed to an SMTP server, on
PostgreSQL. Prints one JSON document.

    .venv/bin/python bench/channels_bench.py --db rapport_chan_bench --seconds 20

Inbound: gunicorn (the server ``rapport serve`` runs) and the dj_queue worker (``rapport
worker``) in front of a fresh database with a 24/7 SLA policy; client threads POST raw
messages (``message/rfc822``) with a channel token. Every message is new (its own Message-ID)
from one of --senders addresses. The door answers 202 once the raw message is stored; the
worker then parses it, matches or creates the sender, opens a case with its SLA clocks and
timeline entry and queues the acknowledgement, in batches. Reported: the 202 latency (send
to last byte) and the rate into cases (processed messages over the time from the first POST
until the worker has emptied the backlog).
Outbound: --outbound queued rows sent by ``outbound.send_outbox`` (batches over one SMTP
connection, as the task does) to an aiosmtpd sink on loopback. Client, server, worker and
database share the machine.
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import random
import signal
import socket
import subprocess
import sys
import threading
import time
from email.message import EmailMessage
from pathlib import Path
from typing import Any

from django.db import models

sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import ROOT, Clock, database_url, ensure_database, percentile_ms, setup_django, start_server


def raw_message(n: int, senders: int, rng: random.Random) -> bytes:
    msg = EmailMessage()
    who = rng.randrange(senders)
    msg["From"] = f"Customer {who} <customer{who}@example.com>"
    msg["To"] = "care@example.com"
    msg["Subject"] = f"Order {100000 + n} has not arrived"
    msg["Message-ID"] = f"<bench-{n}-{rng.getrandbits(48):x}@example.com>"
    msg.set_content(f"Hello,\n\nmy order {100000 + n} is late. Can you help?\n\nThanks\n")
    return msg.as_bytes()


def inbound(port: int, token: str, seconds: float, connections: int, senders: int) -> dict[str, Any]:
    latencies: list[float] = []
    errors: list[int] = []
    lock = threading.Lock()
    counter = iter(range(10**9))
    deadline = time.perf_counter() + seconds

    def worker(seed: int) -> None:
        rng = random.Random(seed)
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
        mine: list[float] = []
        bad = 0
        headers = {"Authorization": f"Bearer {token}", "Content-Type": "message/rfc822"}
        while time.perf_counter() < deadline:
            with lock:
                n = next(counter)
            body = raw_message(n, senders, rng)
            start = time.perf_counter()
            conn.request("POST", "/api/v1/inbound/email", body=body, headers=headers)
            response = conn.getresponse()
            response.read()
            mine.append(time.perf_counter() - start)
            bad += response.status != 202
        with lock:
            latencies.extend(mine)
            errors.append(bad)

    began = time.perf_counter()
    threads = [threading.Thread(target=worker, args=(i,)) for i in range(connections)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    elapsed = time.perf_counter() - began
    latencies.sort()

    return {
        "messages": len(latencies),
        "errors": sum(errors),
        "msg_per_s": round(len(latencies) / elapsed, 1),
        "p50_ms": percentile_ms(latencies, 0.5),
        "p95_ms": percentile_ms(latencies, 0.95),
        "p99_ms": percentile_ms(latencies, 0.99),
        "connections": connections,
    }


def outbound_rate(count: int) -> dict[str, Any]:
    from aiosmtpd.controller import Controller
    from django.conf import settings

    from rapport.cases.models import Case
    from rapport.channels import outbound
    from rapport.channels.models import OutboundMessage

    received: list[int] = []

    class Sink:
        async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
            received.append(len(envelope.content))
            return "250 OK"

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    sink = Controller(Sink(), hostname="127.0.0.1", port=port)
    sink.start()
    settings.MAILERS = {
        "default": {
            "BACKEND": "django.core.mail.backends.smtp.EmailBackend",
            "OPTIONS": {"host": "127.0.0.1", "port": sink.port},
        }
    }
    OutboundMessage.objects.filter(status="queued").update(status="sent")  # the acknowledgements: not timed here
    case = Case.objects.order_by("id").first()
    for i in range(count):
        outbound.queue(
            case=case,
            to=f"customer{i}@example.com",
            subject=f"Update {i}",
            body="Your order shipped.",
            kind="reply",
            automatic=False,
        )
    began = time.perf_counter()
    cpu = time.process_time()
    counts = outbound.send_outbox()
    elapsed = time.perf_counter() - began
    cpu = time.process_time() - cpu
    sink.stop()
    return {
        "messages": count,
        "delivered": len(received),
        "statuses": counts,
        "msg_per_s": round(count / elapsed, 1),
        "cpu_ms_per_msg": round(1000 * cpu / count, 2),
        "mode": f"send_outbox: batches of {outbound.BATCH_SIZE} over one SMTP connection; sink in-process",
    }


def start_worker(db: str) -> subprocess.Popen[bytes]:
    """The dj_queue worker as `rapport worker` runs it (fork mode), recurring jobs off."""
    # The acknowledgements it sends go to files (one per message), not to the console.
    mail = ROOT / "var" / "bench" / "channels-mail"
    mail.mkdir(parents=True, exist_ok=True)
    env = {
        **os.environ,
        "DATABASE_URL": database_url(db),
        "DJANGO_SETTINGS_MODULE": "rapport.settings",
        "EMAIL_URL": f"file://{mail}",
    }
    argv = [sys.executable, "-m", "rapport.cli", "worker", "--skip-recurring"]
    return subprocess.Popen(  # noqa: S603 - fixed argv
        argv, env=env, cwd=ROOT, start_new_session=True, stdout=subprocess.DEVNULL
    )


def wait_for_backlog(began: float, timeout: float) -> dict[str, Any]:
    """Until the worker has taken every stored message: the rate into cases."""
    from rapport.channels.models import InboundMessage

    deadline = time.perf_counter() + timeout
    waiting = InboundMessage.objects.filter(status="received").count()
    while waiting and time.perf_counter() < deadline:
        time.sleep(0.25)
        waiting = InboundMessage.objects.filter(status="received").count()
    elapsed = time.perf_counter() - began
    statuses = dict(InboundMessage.objects.values_list("status").annotate(n=models.Count("id")))
    done = sum(n for status, n in statuses.items() if status != "received")
    return {
        "statuses": statuses,
        "left_waiting": waiting,
        "into_cases_msg_per_s": round(statuses.get("processed", 0) / elapsed, 1),
        "seconds_until_backlog_empty": round(elapsed, 1),
        "processed_or_set_aside": done,
    }


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--db", default="rapport_chan_bench")
    parser.add_argument("--seconds", type=float, default=20)
    parser.add_argument("--connections", type=int, default=8)
    parser.add_argument("--workers", type=int, default=4)
    parser.add_argument("--senders", type=int, default=5000)
    parser.add_argument("--outbound", type=int, default=2000)
    parser.add_argument("--port", type=int, default=8765)
    parser.add_argument("--drain-timeout", type=float, default=300)
    args = parser.parse_args()
    clock = Clock()
    ensure_database(args.db, fresh=True)
    setup_django(args.db)
    from django.core.management import call_command

    from rapport.channels import services
    from rapport.people.models import Role
    from rapport.people.services import create_staff

    call_command("migrate", verbosity=0)
    admin = create_staff(
        actor=None,
        username="bench-admin",
        role=Role.ADMIN,
        password="bench-password-x1",  # noqa: S106 - a throwaway benchmark database
        email="admin@example.com",
    )
    _, token = services.create_channel(actor=admin, kind="email", name="Care", address="care@example.com")
    add_policy(admin)
    clock.say("database ready; starting gunicorn and the worker")
    server = start_server(args.db, args.port, args.workers)
    worker = start_worker(args.db)
    try:
        clock.say(f"inbound for {args.seconds}s over {args.connections} connections")
        began = time.perf_counter()
        result_in = inbound(args.port, token, args.seconds, args.connections, args.senders)
        clock.say("waiting for the worker to empty the backlog")
        result_in |= wait_for_backlog(began, args.drain_timeout)
    finally:
        for child in (server, worker):
            os.killpg(child.pid, signal.SIGTERM)
        for child in (server, worker):
            child.wait(timeout=30)
    from rapport.cases.models import Case
    from rapport.customers.models import Interaction

    result_in |= {"cases": Case.objects.count(), "timeline_entries": Interaction.objects.count()}
    clock.say(f"outbound: {args.outbound} messages")
    result_out = outbound_rate(args.outbound)
    print(
        json.dumps(
            {
                "benchmark": "channels",
                "database": "postgresql",
                "db": args.db,
                "server": f"gunicorn, {args.workers} sync workers; dj_queue worker (fork mode)",
                "loadavg_after": Path("/proc/loadavg").read_text().split()[:3],
                "inbound_http": result_in,
                "outbound_smtp": result_out,
                "targets": {"inbound_msg_per_s": 150, "inbound_p95_ms": 50, "outbound_msg_per_s": 200},
            },
            indent=2,
        )
    )


def add_policy(admin: Any) -> None:
    """A 24/7 SLA policy, so every case starts its clocks (and schedules their tasks)."""
    from rapport.cases import services as cases

    week = {day: [["00:00", "24:00"]] for day in ("mon", "tue", "wed", "thu", "fri", "sat", "sun")}
    calendar = cases.create_calendar(actor=admin, name="24/7", timezone_name="UTC", weekly_hours=week)
    cases.create_sla_policy(
        actor=admin,
        name="All",
        calendar_id=calendar.id,
        first_response_minutes=240,
        next_response_minutes=240,
        resolution_minutes=2400,
    )


if __name__ == "__main__":
    main()
