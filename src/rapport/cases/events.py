"""Domain events of the cases app (published after commit through core.events)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime


@dataclass(frozen=True)
class CaseOpened:
    case_id: int
    customer_id: int
    at: datetime


@dataclass(frozen=True)
class CaseHandedOff:
    case_id: int
    from_owner_id: int | None
    to_owner_id: int | None
    at: datetime


@dataclass(frozen=True)
class CaseResolved:
    case_id: int
    customer_id: int
    owner_id: int | None
    at: datetime


@dataclass(frozen=True)
class CompensationGranted:
    compensation_id: int
    case_id: int
    customer_id: int
    at: datetime
