"""Domain events: a lower app publishes, higher apps subscribe in ``AppConfig.ready()``.

Handlers run after the publishing transaction commits, so they never see (or act on)
work that was rolled back.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable
from typing import Any

from django.db import transaction

Handler = Callable[[Any], None]
_handlers: dict[type, list[Handler]] = defaultdict(list)


def subscribe(event_type: type, handler: Handler) -> None:
    if handler not in _handlers[event_type]:
        _handlers[event_type].append(handler)


def publish(event: object) -> None:
    def deliver() -> None:
        for handler in list(_handlers[type(event)]):
            handler(event)

    transaction.on_commit(deliver)


def unsubscribe(event_type: type, handler: Handler) -> None:
    if handler in _handlers[event_type]:
        _handlers[event_type].remove(handler)
