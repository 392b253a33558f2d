"""How invitations reach people. feedback may not import channels (a sibling layer), so a
sender registers here (channels can, from its ``AppConfig.ready()``). A sender runs inside
the inviting transaction, so it must only queue (write an outbox row), never talk to a mail
server, and return True when it took the invitation. With no sender, or when none takes it,
the invitation is "listed": staff see its link on the survey page and send it by hand."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass


@dataclass(frozen=True)
class Outgoing:
    invitation_id: int
    customer_id: int
    email: str
    language: str
    subject: str
    path: str  # /s/<token>/ — the sender adds its own site address


Sender = Callable[[Outgoing], bool]
_senders: dict[str, Sender] = {}


def register_sender(name: str, send: Sender) -> None:
    _senders[name] = send


def unregister_sender(name: str) -> None:
    _senders.pop(name, None)


def deliver(outgoing: Outgoing) -> bool:
    return any(send(outgoing) for send in list(_senders.values()))
