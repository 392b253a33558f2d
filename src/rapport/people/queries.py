"""Reads of staff that every request makes: the signed-in member (session) or the holder of an
API token, each with their team, as one hand-written join on a plain cursor. The ORM spent three
times longer compiling these (and raw() mapping its columns) than the database took."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from django.db import DEFAULT_DB_ALIAS, connection

from rapport.core import rows
from rapport.people.models import Staff, Team

# The staff member's columns, then their team's name and lead: what staff_with_team reads.
STAFF_AND_TEAM = f"{rows.select_list(Staff, 's')}, tm.name, tm.lead_id"
TEAM_JOIN = "LEFT JOIN people_team tm ON tm.id = s.team_id"


def staff_with_team(values: Sequence[Any]) -> Staff:
    """The member from STAFF_AND_TEAM's columns, their team (if any) loaded."""
    *staff_values, team_name, team_lead_id = values
    staff = rows.load(Staff, staff_values)
    if staff.team_id is not None:
        staff.team = Team.from_db(DEFAULT_DB_ALIAS, ["id", "name", "lead_id"], [staff.team_id, team_name, team_lead_id])
    return staff


def staff_by_id(staff_id: int) -> Staff | None:
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT {STAFF_AND_TEAM} FROM people_staff s {TEAM_JOIN} WHERE s.id = %s", [staff_id])  # noqa: S608 - fixed text
        row = cursor.fetchone()
    return staff_with_team(row) if row is not None else None
