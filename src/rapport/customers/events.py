"""Domain events of the customers app (published after commit through core.events)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime


@dataclass(frozen=True)
class CustomerCreated:
    customer_id: int
    at: datetime


@dataclass(frozen=True)
class CustomerUpdated:
    customer_id: int
    fields: tuple[str, ...]
    at: datetime


@dataclass(frozen=True)
class CustomersMerged:
    survivor_id: int
    duplicate_id: int
    at: datetime


@dataclass(frozen=True)
class InteractionLogged:
    interaction_id: int
    customer_id: int
    channel: str
    at: datetime
