"""Domain errors raised by services. Adapters (API, pages) translate them; services never
know about HTTP. Each carries what a person needs to fix the request."""

from __future__ import annotations

from typing import Any

from django.core.exceptions import PermissionDenied

__all__ = ["Conflict", "InvalidInput", "NotFound", "PermissionDenied", "PreconditionFailed"]


class InvalidInput(Exception):
    """Bad input. ``errors`` maps a field name (or ``__all__``) to messages."""

    def __init__(self, errors: dict[str, list[str]] | str, field: str = "__all__") -> None:
        if isinstance(errors, str):
            errors = {field: [errors]}
        self.errors = errors
        super().__init__("; ".join(f"{k}: {' '.join(v)}" for k, v in errors.items()))


class Conflict(Exception):
    """The request clashes with the current state (a duplicate, a race lost)."""

    def __init__(self, detail: str, **extra: Any) -> None:
        self.detail = detail
        self.extra = extra
        super().__init__(detail)


class NotFound(Exception):
    def __init__(self, detail: str = "Not found.") -> None:
        self.detail = detail
        super().__init__(detail)


class PreconditionFailed(Exception):
    """A stale write: the caller's version is not the current one."""

    def __init__(self, detail: str = "The record changed since you read it.") -> None:
        self.detail = detail
        super().__init__(detail)
