"""``rapport demo``: load the demo organisation, customers and two years of contacts."""

from __future__ import annotations

import time
from argparse import ArgumentParser
from typing import Any

from django.core.management.base import BaseCommand, CommandError

from rapport.core.errors import Conflict, InvalidInput
from rapport.customers import demo


class Command(BaseCommand):
    help = (
        "Load realistic demo data. Teams, staff of every role, customers (prospects, active and former; "
        "people and organisations), two years of contacts in every channel, and the last days of cases "
        "with service standards, root causes and compensation. The same seed gives the same data; "
        "running it again does nothing."
    )

    def add_arguments(self, parser: ArgumentParser) -> None:
        parser.add_argument("--customers", type=int, default=1000, help="how many customers (default: 1000)")
        parser.add_argument("--seed", type=int, default=2026, help="random seed (default: 2026)")
        parser.add_argument("--password", default="", help="password for the demo staff (default: generated)")

    def handle(self, *args: Any, **options: Any) -> None:
        if options["customers"] < 0:
            raise CommandError("--customers cannot be negative.")
        if demo.is_loaded():
            self.stdout.write("Demo data is already loaded; nothing to do.")
            return
        self.stdout.write(f"Loading demo data: {options['customers']} customers…")
        started = time.perf_counter()
        try:
            result = demo.load_demo(customers=options["customers"], seed=options["seed"], password=options["password"])
        except Conflict:  # another run finished first
            self.stdout.write("Demo data is already loaded; nothing to do.")
            return
        except InvalidInput as exc:
            raise CommandError(str(exc)) from None
        seconds = time.perf_counter() - started
        self.stdout.write(
            self.style.SUCCESS(
                f"Loaded {result.customers} customers and {result.interactions} contacts"
                + "".join(f", {loaded}" for loaded in result.also)
                + f" in {seconds:.1f} s."
            )
        )
        if result.staff:
            names = ", ".join(f"{username} ({role})" for username, role in result.staff)
            self.stdout.write(f"Demo staff: {names}.")
            if not options["password"]:
                self.stdout.write(f"They all sign in with the password: {result.password} (shown only now)")
