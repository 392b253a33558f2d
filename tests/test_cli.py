"""The ``rapport`` command: createstaff, token, demo, the help listing, and ``rapport serve``
started for real (gunicorn and the worker) against a throwaway SQLite database."""

from __future__ import annotations

import contextlib
import json
import os
import re
import signal
import socket
import sqlite3
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import timedelta
from io import StringIO
from pathlib import Path
from typing import Any

import pytest
from django.core.management import ManagementUtility, call_command
from django.core.management.base import CommandError
from django.db import transaction
from django.test import Client
from django.utils import timezone

from rapport.cli import main
from rapport.core.models import AuditEntry
from rapport.core.search import fulltext_ids
from rapport.customers import services as customers
from rapport.customers.models import (
    Channel,
    ContactPoint,
    Customer,
    CustomerKind,
    CustomerStatus,
    Interaction,
    NameKey,
)
from rapport.customers.queries import INTERACTION_TABLE, INTERACTION_TEXT, search_customer_ids
from rapport.customers.validation import normalise_email, normalise_phone
from rapport.people.models import Role, Staff, Team

RAPPORT = str(Path(sys.executable).parent / "rapport")
STRONG = "tangerine-orbit-harbour-42"


def run(*args: str, **kwargs: Any) -> str:
    out = StringIO()
    call_command(*args, stdout=out, **kwargs)
    return out.getvalue()


# --- createstaff -----------------------------------------------------------------------


def test_createstaff_with_password(db: Any) -> None:
    output = run("createstaff", "jsmith", role="lead", password=STRONG, email="j@example.com", team="Complaints")
    staff = Staff.objects.get(username="jsmith")
    assert staff.role == Role.LEAD
    assert staff.team is not None and staff.team.name == "Complaints"
    assert staff.check_password(STRONG)
    assert "Created team lead 'jsmith' in team Complaints." in output
    assert STRONG not in output
    assert AuditEntry.objects.filter(action="staff.created", subject_id=staff.id).exists()


def test_createstaff_generates_and_prints_password_once(db: Any) -> None:
    output = run("createstaff", "newbie")
    match = re.search(r"Password \(shown only now\): (\S+)", output)
    assert match
    staff = Staff.objects.get(username="newbie")
    assert staff.role == Role.AGENT
    assert staff.check_password(match.group(1))


def test_createstaff_taken_username(db: Any) -> None:
    run("createstaff", "jsmith", password=STRONG)
    with pytest.raises(CommandError, match="The username 'jsmith' is taken"):
        run("createstaff", "jsmith", password=STRONG)


def test_createstaff_weak_password(db: Any) -> None:
    with pytest.raises(CommandError, match=r"password: .*too short"):
        run("createstaff", "weak", password="abc")
    assert not Staff.objects.filter(username="weak").exists()


def test_createstaff_rejects_unknown_role(db: Any) -> None:
    with pytest.raises(CommandError, match="invalid choice"):
        call_command("createstaff", "x", "--role", "boss")


# --- token -----------------------------------------------------------------------------


def test_token_prints_only_a_working_token(agent: Staff) -> None:
    output = run("token", agent.username)
    assert output.count("\n") == 1
    token = output.strip()
    assert token.startswith("rpt_")
    response = Client().get("/api/v1/customers", headers={"Authorization": f"Bearer {token}"})
    assert response.status_code == 200


def test_token_unknown_or_inactive_staff(agent: Staff) -> None:
    with pytest.raises(CommandError, match="No staff member is called 'nobody'"):
        run("token", "nobody")
    Staff.objects.filter(id=agent.id).update(is_active=False)
    with pytest.raises(CommandError, match="deactivated"):
        run("token", agent.username)


# --- demo ------------------------------------------------------------------------------


class _Rollback(Exception):
    pass


def _shape() -> list[tuple[Any, ...]]:
    return list(Customer.objects.order_by("id").values_list("name", "kind", "status", "external_id", "notes"))


def test_demo_is_deterministic_and_idempotent(db: Any) -> None:
    with pytest.raises(_Rollback), transaction.atomic():
        run("demo", customers=25, seed=7, password=STRONG)
        first = _shape()
        raise _Rollback
    output = run("demo", customers=25, seed=7, password=STRONG)
    assert "Loaded 25 customers" in output
    assert _shape() == first
    assert "already loaded" in run("demo", customers=25)
    assert Customer.objects.count() == 25


def test_demo_data_is_varied_and_consistent(db: Any) -> None:
    output = run("demo", customers=150, password=STRONG)
    assert "Demo staff: sam (manager)" in output
    assert STRONG not in output  # a given password is not echoed
    staff = Staff.objects.all()
    assert {s.role for s in staff} == set(Role.values)
    assert Team.objects.count() >= 3
    assert staff.filter(username="amara").get().check_password(STRONG)

    live = Customer.objects.all()
    assert live.count() == 150
    assert set(live.values_list("status", flat=True)) == set(CustomerStatus.values)
    assert set(live.values_list("kind", flat=True)) == set(CustomerKind.values)
    assert live.filter(account_manager__isnull=False).exists()
    assert live.filter(consent_email=True).exists() and live.filter(consent_email=False).exists()
    assert live.filter(tags__isnull=False).distinct().count() > 30

    # Every customer has the rows the services would have written: email, name keys, audit.
    emails = ContactPoint.objects.filter(kind="email")
    assert emails.values("customer").distinct().count() == 150
    assert emails.filter(is_primary=True).count() == 150
    assert NameKey.objects.values("customer").distinct().count() == 150
    assert AuditEntry.objects.filter(action="customer.created").count() == 150
    for point in emails.order_by("id")[:40]:
        assert normalise_email(point.value) == point.value
    for point in ContactPoint.objects.filter(kind="phone").order_by("id")[:40]:
        assert normalise_phone(point.value) == point.value

    someone = Customer.objects.filter(kind=CustomerKind.PERSON).order_by("id").last()
    assert someone is not None
    assert someone.id in search_customer_ids(someone.name.split()[-1], limit=200)

    contacts = Interaction.objects.all()
    assert contacts.count() > 150
    assert len(set(contacts.values_list("channel", flat=True))) >= 8
    now = timezone.now()
    assert not contacts.filter(occurred_at__gt=now).exists()
    assert not contacts.filter(occurred_at__lt=now - timedelta(days=731)).exists()
    assert contacts.filter(occurred_at__lt=now - timedelta(days=365)).exists()
    assert fulltext_ids(INTERACTION_TABLE, INTERACTION_TEXT, "order", limit=5)


def test_demo_keeps_fulltext_search_live(db: Any) -> None:
    run("demo", customers=10, password=STRONG)
    customer = Customer.objects.order_by("id").first()
    assert customer is not None
    logged = customers.log_interaction(
        actor=None, customer_id=customer.id, channel=Channel.PHONE, direction="in", summary="Asked about zanzibar"
    )
    assert fulltext_ids(INTERACTION_TABLE, INTERACTION_TEXT, "zanzibar", limit=5) == [logged.id]


def test_demo_rejects_weak_password(db: Any) -> None:
    with pytest.raises(CommandError, match="password"):
        run("demo", customers=3, password="short")
    assert not Customer.objects.exists()


# --- help ------------------------------------------------------------------------------


def test_help_lists_rapport_commands(capsys: pytest.CaptureFixture[str]) -> None:
    main(["--help"])
    head, rest = capsys.readouterr().out.split("Django's commands, by app, follow.", 1)
    assert "[django]" in rest
    assert head.startswith("Rapport's commands")
    for name in ("serve", "worker", "createstaff", "token", "demo"):
        assert re.search(rf"^    {name} +[A-Z].+\.$", head, re.MULTILINE), name
    text = ManagementUtility(["rapport", "help"]).main_help_text()
    for app, names in {"core": ["serve", "worker"], "people": ["createstaff", "token"], "customers": ["demo"]}.items():
        section = text.split(f"[{app}]", 1)[1].split("[", 1)[0]
        for name in names:
            assert f"    {name}\n" in section


# --- rapport serve, for real -------------------------------------------------------------


@dataclass
class Served:
    process: subprocess.Popen[bytes]
    url: str
    env: dict[str, str]
    var_dir: Path
    log: Path

    def output(self) -> str:
        return self.log.read_text(errors="replace")


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _get(url: str, headers: dict[str, str] | None = None) -> tuple[int, dict[str, str], bytes]:
    request = urllib.request.Request(url, headers=headers or {})
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, dict(response.headers), response.read()
    except urllib.error.HTTPError as exc:
        return exc.code, dict(exc.headers), exc.read()


def _wait_until_up(served: Served, deadline_s: float) -> None:
    deadline = time.monotonic() + deadline_s
    while time.monotonic() < deadline:
        if served.process.poll() is not None:
            pytest.fail(f"rapport serve exited early ({served.process.returncode}):\n{served.output()}")
        try:
            if _get(served.url + "healthz")[0] == 200:
                return
        except OSError:
            pass
        time.sleep(0.5)
    pytest.fail(f"rapport serve did not answer within {deadline_s} s:\n{served.output()}")


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    root = tmp_path_factory.mktemp("serve")
    env = {k: v for k, v in os.environ.items() if k not in {"DATABASE_URL", "RAPPORT_ADMIN_PASSWORD"}}
    env.update(DJANGO_SETTINGS_MODULE="rapport.settings", RAPPORT_VAR_DIR=str(root / "var"), PYTHONUNBUFFERED="1")
    port = _free_port()
    log = root / "serve.log"
    with log.open("wb") as sink:
        process = subprocess.Popen(
            [RAPPORT, "serve", "--port", str(port), "--workers", "1"],
            env=env,
            cwd=root,
            stdout=sink,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # its own process group, so cleanup reaches gunicorn and the worker
        )
    served = Served(process, f"http://127.0.0.1:{port}/", env, root / "var", log)
    try:
        _wait_until_up(served, deadline_s=180)  # migrations + collectstatic on a busy CI box
        yield served
    finally:
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
            with contextlib.suppress(subprocess.TimeoutExpired):
                process.wait(timeout=30)
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)  # whatever is left of the group
        process.wait(timeout=10)


def test_serve_answers_health_and_login(served: Served) -> None:
    status, _, body = _get(served.url + "healthz")
    assert status == 200
    assert json.loads(body) == {"status": "ok", "database": "ok"}
    assert _get(served.url + "login/")[0] == 200
    assert f"Rapport is running at {served.url}" in served.output()


def test_serve_prints_the_first_admin_password_once(served: Served) -> None:
    output = served.output()
    assert len(re.findall(r"Sign in as 'admin' with password: (\S+)", output)) == 1


def test_serve_serves_static_files_with_far_future_cache(served: Served) -> None:
    manifest = json.loads((served.var_dir / "static" / "staticfiles.json").read_text())["paths"]
    hashed = manifest.get("vendor/htmx.min.js") or next(iter(manifest.values()))
    status, headers, body = _get(served.url + "static/" + hashed)
    assert status == 200 and body
    max_age = int(re.search(r"max-age=(\d+)", headers["Cache-Control"]).group(1))  # type: ignore[union-attr]
    assert max_age >= 365 * 24 * 3600
    assert "immutable" in headers["Cache-Control"]


def test_token_console_script_prints_one_working_token(served: Served) -> None:
    result = subprocess.run([RAPPORT, "token", "admin"], env=served.env, capture_output=True, timeout=60, check=True)
    lines = result.stdout.decode().splitlines()
    assert len(lines) == 1 and re.fullmatch(r"rpt_[\w-]{20,}", lines[0])
    status, _, body = _get(served.url + "api/v1/customers", {"Authorization": f"Bearer {lines[0]}"})
    assert status == 200
    assert "items" in json.loads(body)
    assert _get(served.url + "api/v1/customers", {"Authorization": "Bearer rpt_wrong"})[0] == 401


def test_createstaff_console_script_fails_cleanly(served: Served) -> None:
    result = subprocess.run(
        [RAPPORT, "createstaff", "admin", "--password", STRONG], env=served.env, capture_output=True, timeout=60
    )
    assert result.returncode == 1
    stderr = result.stderr.decode()
    assert "The username 'admin' is taken" in stderr
    assert "Traceback" not in stderr


def _wait_for_queue_process(served: Served, worker: subprocess.Popen[bytes], deadline_s: float) -> None:
    """Until the worker's supervisor has registered itself in dj_queue's process table."""
    database = sqlite3.connect(served.var_dir / "rapport.sqlite3", timeout=20)
    try:
        deadline = time.monotonic() + deadline_s
        while time.monotonic() < deadline and worker.poll() is None:
            query = "SELECT count(*) FROM dj_queue_processes WHERE pid = ?"
            if database.execute(query, (worker.pid,)).fetchone()[0]:
                return
            time.sleep(0.5)
    finally:
        database.close()
    pytest.fail(f"the worker did not register (exit {worker.poll()})")


def test_worker_runs_until_sigterm(served: Served) -> None:
    log = served.log.with_name("worker.log")
    with log.open("wb") as sink:
        worker = subprocess.Popen([RAPPORT, "worker"], env=served.env, stdout=sink, stderr=subprocess.STDOUT)
    try:
        _wait_for_queue_process(served, worker, deadline_s=60)
        worker.send_signal(signal.SIGTERM)
        assert worker.wait(timeout=30) == 0, log.read_text()
        assert "Traceback" not in log.read_text()
    finally:
        if worker.poll() is None:
            worker.kill()
            worker.wait()


def test_serve_stops_cleanly_on_sigterm(served: Served) -> None:
    served.process.send_signal(signal.SIGTERM)
    assert served.process.wait(timeout=40) == 0
    assert "Rapport stopped." in served.output()
    with pytest.raises(OSError):
        _get(served.url + "healthz")
