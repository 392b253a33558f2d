"""core.rows: hand-written statements that must give what the ORM gives."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from rapport.core import rows
from rapport.core.models import AuditEntry
from rapport.people.models import Staff, Team

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
    entries = _entries(agent, 5)
    rows.insert(entries)
    assert sorted(AuditEntry.objects.filter(subject_type="x").values_list("subject_id", flat=True)) == [0, 1, 2, 3, 4]
    assert len({e.pk for e in entries}) == 5


def _entries(agent: Staff, count: int) -> list[AuditEntry]:
    at = datetime(2026, 10, 25, 1, 30, tzinfo=UTC)
    return [
        AuditEntry(actor_id=agent.pk, at=at, action=f"a{i}", subject_type="x", subject_id=i, changes={"i": i})
        for i in range(count)
    ]


def test_insert_all_gives_each_row_its_own_id(agent: Staff) -> None:
    """Several tables in one statement on PostgreSQL (one per group elsewhere); every object gets
    the id of the row written from it, and auto_now_add fields are filled as the ORM fills them."""
    entries, teams = _entries(agent, 3), [Team(name="Night shift"), Team(name="Weekend"), Team(name="Retention+")]
    with CaptureQueriesContext(connection) as queries:
        rows.insert_all(entries, [], teams)
    assert len(queries) == (1 if connection.vendor == "postgresql" else 2)
    assert all(not obj._state.adding for obj in [*entries, *teams])
    assert {e.pk: e.subject_id for e in entries} == dict(
        AuditEntry.objects.filter(subject_type="x").values_list("pk", "subject_id")
    )
    assert {t.pk: t.name for t in teams} == dict(
        Team.objects.filter(pk__in=[t.pk for t in teams]).values_list("pk", "name")
    )
    assert all(t.created_at is not None for t in teams)


def test_insert_all_too_big_for_one_statement_goes_group_by_group(
    monkeypatch: pytest.MonkeyPatch, agent: Staff
) -> None:
    monkeypatch.setattr(rows, "MAX_PARAMETERS", 14)  # two audit rows per statement
    entries, teams = _entries(agent, 5), [Team(name="Night shift")]
    rows.insert_all(entries, teams)
    assert {e.pk: e.subject_id for e in entries} == dict(
        AuditEntry.objects.filter(subject_type="x").values_list("pk", "subject_id")
    )
    assert Team.objects.get(pk=teams[0].pk).name == "Night shift"


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
