"""Cleaning a row's values fast: the email fast path in front of the shared validator, and the
per-import memo tables (``_Cleaner``) for phones, the enumerated fields and name keys."""

from __future__ import annotations

import re
from typing import Any

from rapport.core.errors import InvalidInput
from rapport.customers import services
from rapport.customers.imports.phones import _Phones
from rapport.customers.validation import normalise_email

# A plain ASCII dot-atom address on an ordinary domain: email_validator accepts every such
# address and normalises it to itself (domain lower-cased), so lower-casing is its answer.
# Anything else (quotes, Unicode, punycode, special-use names, odd hyphens) goes to the
# real validator, which also writes the error message.
_SIMPLE_EMAIL = re.compile(
    r"[A-Za-z0-9_+-]+(?:\.[A-Za-z0-9_+-]+)*@(?:[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?\.)+[A-Za-z]{2,63}"
)
_SPECIAL_TLDS = frozenset({"arpa", "invalid", "local", "localhost", "onion", "test"})


def fast_normalise_email(raw: str) -> str:
    value = raw.strip()
    if (
        len(value) <= 254
        and _SIMPLE_EMAIL.fullmatch(value)
        and "--" not in value[value.index("@") :]
        and value.index("@") <= 64
        and value.rsplit(".", 1)[1].lower() not in _SPECIAL_TLDS
    ):
        return value.lower()
    return normalise_email(raw)


class _Cleaner:
    """Per-import memo tables: repeated values are validated once."""

    def __init__(self) -> None:
        self.phone = _Phones()
        self.fields: dict[tuple[str, ...], dict[str, Any] | InvalidInput] = {}
        self.name_keys: dict[str, list[str]] = {}

    def enum_fields(self, key: tuple[str, ...]) -> dict[str, Any]:
        """kind, status, preferred_channel, language, timezone: few distinct values per file."""
        found = self.fields.get(key)
        if found is None:
            kind, status, channel, language, zone = key
            data = services.CustomerInput(
                kind=kind or None,
                status=status or None,
                preferred_channel=channel or None,
                language=language or None,
                timezone=zone or None,
            )
            try:
                found = services.clean_customer_input(data, creating=False).values
            except InvalidInput as exc:
                found = exc
            self.fields[key] = found
        if isinstance(found, InvalidInput):
            raise found
        return found

    def keys(self, name: str) -> list[str]:
        found = self.name_keys.get(name)
        if found is None:
            found = self.name_keys[name] = services.name_keys(name)
        return found
