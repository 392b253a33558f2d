"""/healthz: 200 while the database answers, 503 when it cannot be reached."""

from __future__ import annotations

import socket
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
from django.db import connections
from django.test import Client


def test_healthy(db: Any) -> None:
    response = Client().get("/healthz")
    assert response.status_code == 200
    assert response["Content-Type"] == "application/json"
    assert response.json() == {"status": "ok", "database": "ok"}
    assert "no-store" in response["Cache-Control"]


def _closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])  # closed again when the block ends: nothing listens there


@contextmanager
def _unreachable_database(tmp_path: Path) -> Iterator[None]:
    """Swap the default connection for a real one of the same vendor pointed where no
    database is: a closed port for PostgreSQL, a file in a missing folder for SQLite."""
    real = connections["default"]
    settings = dict(real.settings_dict)
    if real.vendor == "postgresql":
        settings.update(HOST="127.0.0.1", PORT=str(_closed_port()), OPTIONS={"connect_timeout": 2})
    else:
        settings.update(NAME=str(tmp_path / "missing-folder" / "db.sqlite3"))
    broken = type(real)(settings, "default")
    connections["default"] = broken
    try:
        yield
    finally:
        broken.close()
        connections["default"] = real


def test_unreachable_database_is_503(db: Any, tmp_path: Path) -> None:
    with _unreachable_database(tmp_path):
        response = Client().get("/healthz")
    assert response.status_code == 503
    assert response.json() == {"status": "error", "database": "unreachable"}


@pytest.mark.parametrize("method", ["post", "put", "delete"])
def test_only_get(db: Any, method: str) -> None:
    assert getattr(Client(), method)("/healthz").status_code == 405
