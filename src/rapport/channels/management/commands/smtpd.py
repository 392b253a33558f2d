"""``rapport smtpd``: receive mail for the configured channel addresses over SMTP."""

from __future__ import annotations

import signal
import threading
from typing import Any

from django.core.management.base import BaseCommand, CommandParser

from rapport.channels.smtpd import controller


class Command(BaseCommand):
    help = "Listen for SMTP mail to the configured channel addresses (others get 550)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--host", default="127.0.0.1")
        parser.add_argument("--port", type=int, default=2525)

    def handle(self, *args: Any, host: str, port: int, **options: Any) -> None:
        server = controller(host, port)
        server.start()
        self.stdout.write(f"rapport smtpd listening on {host}:{port}")
        stop = threading.Event()
        signal.signal(signal.SIGTERM, lambda *_: stop.set())
        try:
            stop.wait()
        except KeyboardInterrupt:
            pass
        finally:
            server.stop()
