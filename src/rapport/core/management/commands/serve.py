"""``rapport serve``: everything a first run needs, then the web server and the worker.

Gunicorn and the dj_queue worker run as child processes started with this interpreter
(``sys.executable -m ...``), so they use the same virtual environment and settings. Both
install their own signal handlers and fork workers, which cannot share one process; as
children each keeps its own signals, and this command only has to forward SIGTERM, wait
and, as a last resort, kill.
"""

from __future__ import annotations

import os
import secrets
import signal
import socket
import subprocess
import sys
import threading
from argparse import ArgumentParser
from io import StringIO
from pathlib import Path
from types import FrameType
from typing import Any

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.management import call_command
from django.core.management.base import BaseCommand, CommandError
from django.db import connections

ADMIN_USERNAME = "admin"
STOP_TIMEOUT_S = 20  # gunicorn's graceful timeout (10 s) plus the worker's shutdown, with room


class Command(BaseCommand):
    help = (
        "Run Rapport: the web server (gunicorn) and the background worker, until Ctrl+C or SIGTERM. "
        "First applies migrations, collects static files, creates the first admin (password printed "
        "once, or taken from RAPPORT_ADMIN_PASSWORD) and, with --demo, loads demo data."
    )

    # The checks run in handle(), once var/ exists: some open the database, and SQLite
    # cannot create the folder its file lives in.
    requires_system_checks = ()

    def add_arguments(self, parser: ArgumentParser) -> None:
        parser.add_argument("--host", default="127.0.0.1", help="address to listen on (default: 127.0.0.1)")
        parser.add_argument("--port", type=int, default=8000, help="port to listen on (default: 8000)")
        parser.add_argument("--workers", type=int, default=2, help="web server worker processes (default: 2)")
        parser.add_argument("--demo", action="store_true", help="load demo data on the first start")

    def handle(self, *args: Any, **options: Any) -> None:
        host, port, workers = options["host"], options["port"], options["workers"]
        if workers < 1:
            raise CommandError("--workers must be at least 1.")
        _check_port_free(host, port)
        Path(settings.VAR_DIR).mkdir(parents=True, exist_ok=True)
        self.check()
        self._prepare(demo=options["demo"])
        connections.close_all()  # the children open their own; an idle SQLite handle here helps no one
        children = self._start_children(host, port, workers)
        self.stdout.write(self.style.SUCCESS(f"Rapport is running at http://{_url_host(host)}:{port}/"))
        self.stdout.write("Press Ctrl+C to stop.")
        self.stdout.flush()
        failed = _supervise(children)
        if failed:
            raise CommandError(f"The {failed} stopped unexpectedly; Rapport has been shut down.")
        self.stdout.write("Rapport stopped.")

    def _prepare(self, *, demo: bool) -> None:
        self.stdout.write("Preparing the database and static files…")
        call_command("migrate", interactive=False, verbosity=0)
        call_command("collectstatic", interactive=False, verbosity=0)
        self._ensure_admin()
        if demo:
            call_command("demo", stdout=self.stdout)

    def _ensure_admin(self) -> None:
        if get_user_model().objects.exists():
            return
        given = os.environ.get("RAPPORT_ADMIN_PASSWORD", "")
        password = given or secrets.token_urlsafe(18)
        # Through the createstaff command rather than people.services: core sits below people.
        call_command("createstaff", ADMIN_USERNAME, role="admin", password=password, stdout=StringIO())
        if given:
            self.stdout.write(
                f"Created the first admin '{ADMIN_USERNAME}' with the password in RAPPORT_ADMIN_PASSWORD."
            )
        else:
            self.stdout.write(f"Created the first admin. Sign in as '{ADMIN_USERNAME}' with password: {password}")
            self.stdout.write("(The password is shown only now. Change it after signing in.)")

    def _start_children(self, host: str, port: int, workers: int) -> dict[str, subprocess.Popen[bytes]]:
        env = {**os.environ, "RAPPORT_VAR_DIR": str(settings.VAR_DIR)}
        env.setdefault("DJANGO_SETTINGS_MODULE", "rapport.settings")
        web = [
            *(sys.executable, "-m", "gunicorn", "rapport.wsgi:application"),
            *("--bind", f"{host}:{port}", "--workers", str(workers)),
            *("--graceful-timeout", "10", "--access-logfile", "-", "--error-logfile", "-", "--no-control-socket"),
        ]
        worker = [sys.executable, "-m", "rapport.cli", "dj_queue", "--mode", "async"]
        children: dict[str, subprocess.Popen[bytes]] = {}
        try:
            children["web server"] = subprocess.Popen(web, env=env)  # noqa: S603 - fixed argv, no shell
            children["background worker"] = subprocess.Popen(worker, env=env)  # noqa: S603
        except BaseException:
            _stop(children)
            raise
        return children


def _check_port_free(host: str, port: int) -> None:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((host, port))
        except OSError as exc:
            raise CommandError(f"Cannot listen on {host}:{port} ({exc.strerror}); choose another --port.") from None


def _url_host(host: str) -> str:
    return f"[{host}]" if ":" in host else host


def _supervise(children: dict[str, subprocess.Popen[bytes]]) -> str:
    """Wait for SIGINT/SIGTERM or a child's exit; stop the rest. Returns the child that died, if any."""
    stop = threading.Event()

    def on_signal(signum: int, frame: FrameType | None) -> None:
        stop.set()

    previous = {sig: signal.signal(sig, on_signal) for sig in (signal.SIGINT, signal.SIGTERM)}
    failed = ""
    try:
        while not stop.is_set():
            failed = next((name for name, child in children.items() if child.poll() is not None), "")
            if failed:
                break
            stop.wait(0.5)
    finally:
        _stop(children)
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    return failed


def _stop(children: dict[str, subprocess.Popen[bytes]]) -> None:
    for child in children.values():
        if child.poll() is None:
            child.send_signal(signal.SIGTERM)
    for child in children.values():
        try:
            child.wait(timeout=STOP_TIMEOUT_S)
        except subprocess.TimeoutExpired:
            child.kill()
            child.wait()
