"""Domain events of the feedback app (published after commit through core.events)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime


@dataclass(frozen=True)
class ResponseRecorded:
    response_id: int
    customer_id: int | None
    score: int | None
    at: datetime


@dataclass(frozen=True)
class FollowUpOpened:
    follow_up_id: int
    customer_id: int
    owner_id: int | None
    due_at: datetime
