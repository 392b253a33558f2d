"""Parsing and normalising customer input: shared by the form, the API and the CSV import.

Each function raises ``InvalidInput`` naming the field, so every adapter reports the same
message for the same mistake.
"""

from __future__ import annotations

from collections.abc import Iterable
from functools import lru_cache
from zoneinfo import available_timezones

import phonenumbers
from django.conf import settings
from email_validator import EmailNotValidError, validate_email

from rapport.core.errors import InvalidInput
from rapport.customers.models import Channel, CustomerKind, CustomerStatus


def normalise_email(value: str, field: str = "emails") -> str:
    """Syntax-check an address and fold it to lower case (mailboxes match case-insensitively)."""
    try:
        result = validate_email(value.strip(), check_deliverability=False)
    except EmailNotValidError as exc:
        raise InvalidInput(f"'{value}' is not a valid email address: {exc}", field) from None
    return result.normalized.lower()


def normalise_phone(value: str, field: str = "phones", region: str | None = None) -> str:
    """Parse a phone number (national numbers in the default region) to E.164."""
    region = region or settings.RAPPORT_DEFAULT_PHONE_REGION
    try:
        number = phonenumbers.parse(value, region)
    except phonenumbers.NumberParseException:
        raise InvalidInput(f"'{value}' is not a phone number.", field) from None
    if not phonenumbers.is_valid_number(number):
        raise InvalidInput(f"'{value}' is not a valid phone number.", field)
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)


def phone_prefix(value: str) -> str | None:
    """The digits of a partly typed phone number as an E.164 prefix, for search."""
    digits = "".join(ch for ch in value if ch.isdigit())
    if len(digits) < 3:
        return None
    if value.strip().startswith(("+", "00")):
        return "+" + digits.removeprefix("00")
    region = settings.RAPPORT_DEFAULT_PHONE_REGION
    code = phonenumbers.country_code_for_region(region)
    return f"+{code}{digits.lstrip('0')}"


@lru_cache(maxsize=1)
def _zones() -> frozenset[str]:
    return frozenset(available_timezones())


def validate_timezone(value: str, field: str = "timezone") -> str:
    value = value.strip()
    if value not in _zones():
        raise InvalidInput(f"'{value}' is not an IANA time zone (for example Europe/London).", field)
    return value


def validate_choice(value: str, choices: type[Channel] | type[CustomerKind] | type[CustomerStatus], field: str) -> str:
    if value not in choices.values:
        raise InvalidInput(f"'{value}' is not one of: {', '.join(choices.values)}.", field)
    return value


def validate_language(value: str, field: str = "language") -> str:
    value = value.strip()
    # BCP 47-ish: 'en', 'pt-BR', 'zh-Hant'.
    parts = value.split("-")
    if not (
        2 <= len(parts[0]) <= 3 and parts[0].isalpha() and all(p.isalnum() and 1 <= len(p) <= 8 for p in parts[1:])
    ):
        raise InvalidInput(f"'{value}' is not a language code (for example en or pt-BR).", field)
    return parts[0].lower() + "".join("-" + p for p in parts[1:])


def validate_name(value: str, field: str = "name") -> str:
    value = " ".join(value.split())
    if not value:
        raise InvalidInput("A name is required.", field)
    if len(value) > 200:
        raise InvalidInput("A name can have at most 200 characters.", field)
    return value


def clean_tags(values: Iterable[str], field: str = "tags") -> list[str]:
    tags: list[str] = []
    for raw in values:
        tag = raw.strip().lower()
        if not tag:
            continue
        if len(tag) > 50:
            raise InvalidInput(f"The tag '{tag[:20]}…' is longer than 50 characters.", field)
        if tag not in tags:
            tags.append(tag)
    return tags


def unique_in_order(values: Iterable[str]) -> list[str]:
    seen: dict[str, None] = {}
    for value in values:
        seen.setdefault(value, None)
    return list(seen)
