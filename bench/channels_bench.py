"""Inbound email through the HTTP door, and outbound email handed to an SMTP server, on
PostgreSQL. Prints one JSON document.

    .venv/bin/python bench/channels_bench.py --db rapport_chan_bench --seconds 20

Inbound: gunicorn (the server ``rapport serve`` runs) in front of a fresh database; client
threads POST raw messages (``message/rfc822``) with a channel token. Every message is new
(its own Message-ID) from one of --senders addresses, so each answer means: raw stored,
parsed, sender matched or created, a case opened with its SLA clocks and timeline entry,
and the acknowledgement queued. Latency is measured from send to last byte of the 202.
Outbound: --outbound queued rows sent by ``outbound.send`` (one SMTP session per message, as
the task does) to an aiosmtpd sink on loopback. Client, server and database share the machine.
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import random
import signal
import socket
import sys
import threading
import time
from email.message import EmailMessage
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import Clock, ensure_database, percentile_ms, setup_django, start_server


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
    ids = [
        outbound.queue(
            case=case,
            to=f"customer{i}@example.com",
            subject=f"Update {i}",
            body="Your order shipped.",
            kind="reply",
            automatic=False,
        ).id
        for i in range(count)
    ]  # type: ignore[union-attr]
    began = time.perf_counter()
    for row_id in ids:
        outbound.send(row_id)
    elapsed = time.perf_counter() - began
    sink.stop()
    return {
        "messages": count,
        "delivered": len(received),
        "msg_per_s": round(count / elapsed, 1),
        "mode": "sequential, one SMTP session per message",
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
    clock.say("database ready; starting gunicorn")
    server = start_server(args.db, args.port, args.workers)
    try:
        clock.say(f"inbound for {args.seconds}s over {args.connections} connections")
        result_in = inbound(args.port, token, args.seconds, args.connections, args.senders)
    finally:
        os.killpg(server.pid, signal.SIGTERM)
        server.wait(timeout=30)
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
                "server": f"gunicorn, {args.workers} sync workers",
                "inbound_http": result_in,
                "outbound_smtp": result_out,
                "targets": {"inbound_msg_per_s": 150, "inbound_p95_ms": 50, "outbound_msg_per_s": 200},
            },
            indent=2,
        )
    )


if __name__ == "__main__":
    main()
