"""core.rows: hand-written statements that must give what the ORM gives."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from django.db import connection

from rapport.core import rows
from rapport.core.models import AuditEntry
from rapport.people.models import Staff

pytestmark = pytest.mark.django_db


def test_insert_writes_what_bulk_create_writes(agent: Staff) -> None:
    at = datetime(2026, 3, 29, 0, 30, tzinfo=UTC)
    changes = {"amount": "12.50", "tags": ["a", "ü"], "nested": {"n": None}}

    def entry(action: str) -> AuditEntry:
        return AuditEntry(actor_id=agent.pk, at=at, action=action, subject_type="case", subject_id=7, changes=changes)

    ours = rows.insert([entry("ours.one"), entry("ours.two")])
    AuditEntry.objects.bulk_create([entry("theirs")])
    assert [e.pk for e in ours] == sorted(e.pk for e in ours) and all(not e._state.adding for e in ours)
    stored = {e.action: e for e in AuditEntry.objects.filter(subject_id=7)}
    for mine in ("ours.one", "ours.two"):
        assert (stored[mine].at, stored[mine].changes, stored[mine].actor_id) == (at, changes, agent.pk)
    assert stored["theirs"].changes == stored["ours.one"].changes


def test_insert_splits_what_one_statement_cannot_carry(monkeypatch: pytest.MonkeyPatch, agent: Staff) -> None:
    monkeypatch.setattr(rows, "MAX_PARAMETERS", 14)  # two audit rows per statement
    entries = [
        AuditEntry(actor_id=agent.pk, at=datetime.now(UTC), action=f"a{i}", subject_type="x", subject_id=i, changes={})
        for i in range(5)
    ]
    rows.insert(entries)
    assert sorted(AuditEntry.objects.filter(subject_type="x").values_list("subject_id", flat=True)) == [0, 1, 2, 3, 4]
    assert len({e.pk for e in entries}) == 5


def test_load_converts_like_the_orm(agent: Staff) -> None:
    """SQLite hands back naive datetimes and JSON as text: load must convert them as the ORM does."""
    rows.insert([AuditEntry(actor_id=agent.pk, at=datetime.now(UTC), action="x", subject_type="y", subject_id=1,
                            changes={"k": [1, 2]})])  # fmt: skip
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT {rows.select_list(AuditEntry, 'a')} FROM core_auditentry a WHERE a.action = 'x'")  # noqa: S608
        loaded = rows.load(AuditEntry, cursor.fetchone())
    orm = AuditEntry.objects.get(action="x")
    assert (loaded.pk, loaded.at, loaded.changes, loaded.actor_id) == (orm.pk, orm.at, orm.changes, orm.actor_id)
    assert loaded.at.tzinfo is not None and loaded.changes == {"k": [1, 2]}
