"""What an import's rows are: the file's columns, a validated row, the errors and the report.

Shared by every part of the customer import and export, and by the order import
(``rapport.value.imports``), which reports in the same shape.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

COLUMNS = (
    "name",
    "kind",
    "status",
    "emails",
    "phones",
    "account_manager",
    "external_id",
    "preferred_channel",
    "language",
    "timezone",
    "tags",
    "consent_email",
    "consent_phone",
    "consent_post",
    "consent_marketing",
    "notes",
)
LIST_SEPARATOR = ";"

Progress = Callable[[int, int], None]


@dataclass(frozen=True)
class RowError:
    line: int
    field: str
    message: str


@dataclass
class ImportReport:
    dry_run: bool
    rows: int = 0
    created: int = 0
    errors: list[RowError] = field(default_factory=list)
    id_ranges: list[tuple[int, int]] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.errors


# A validated row, kept as a plain tuple: 1M of them is what the write phase needs.
# (line, name, kind, status, manager username, external_id, preferred_channel, language,
#  timezone, consent_email, consent_phone, consent_post, consent_marketing, notes,
#  emails, phones, tags)
Row = tuple[Any, ...]
R_LINE, R_NAME, R_MANAGER, R_EXTERNAL, R_NOTES, R_EMAILS, R_PHONES, R_TAGS = 0, 1, 4, 5, 13, 14, 15, 16
