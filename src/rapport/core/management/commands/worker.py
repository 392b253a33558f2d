"""``rapport worker``: the production background worker (dj_queue in fork mode)."""

from __future__ import annotations

from argparse import ArgumentParser
from typing import Any

from django.core.management import call_command
from django.core.management.base import BaseCommand


class Command(BaseCommand):
    help = (
        "Run the production background worker. It executes queued tasks, dispatches scheduled ones and "
        "runs recurring jobs. Start one per machine; several share the database queue safely on "
        "PostgreSQL. Stops cleanly on SIGINT/SIGTERM."
    )

    def add_arguments(self, parser: ArgumentParser) -> None:
        parser.add_argument("--skip-recurring", action="store_true", help="do not run the recurring-job scheduler")
        parser.add_argument("--config", help="a dj_queue TOML file overriding worker counts and queues")

    def handle(self, *args: Any, **options: Any) -> None:
        # Fork mode gives each worker its own process (and database connection), which is
        # what a long-running production worker wants; `rapport serve` uses async mode instead.
        extra: list[str] = ["--mode", "fork"]
        if options["skip_recurring"]:
            extra.append("--skip-recurring")
        if options["config"]:
            extra += ["--config", options["config"]]
        call_command("dj_queue", *extra)
