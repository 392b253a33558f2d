"""Keyset (cursor) pagination: stable under inserts and O(page) at any depth."""

from __future__ import annotations

import base64
import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, TypeVar

from django.db.models import Q, QuerySet

from rapport.core.errors import InvalidInput

T = TypeVar("T")


@dataclass(frozen=True)
class Page[T]:
    items: Sequence[T]
    next_cursor: str | None


def encode_cursor(values: Sequence[Any]) -> str:
    plain = [v.isoformat() if isinstance(v, datetime) else v for v in values]
    return base64.urlsafe_b64encode(json.dumps(plain, separators=(",", ":")).encode()).decode().rstrip("=")


def decode_cursor(cursor: str, arity: int) -> list[Any]:
    try:
        padded = cursor + "=" * (-len(cursor) % 4)
        values = json.loads(base64.urlsafe_b64decode(padded.encode()))
        if not isinstance(values, list) or len(values) != arity:
            raise ValueError
    except ValueError:
        raise InvalidInput("The cursor is not one this server issued.", "cursor") from None
    return values


def clamp_limit(limit: int | None, default: int = 50, maximum: int = 200) -> int:
    if limit is None:
        return default
    if limit < 1 or limit > maximum:
        raise InvalidInput(f"limit must be between 1 and {maximum}.", "limit")
    return limit


def paginate_desc(
    queryset: QuerySet[Any],
    *,
    key: str,
    cursor: str | None,
    limit: int,
    parse_key: Callable[[Any], Any] = lambda v: v,
) -> Page[Any]:
    """Newest first by ``key`` then ``id``; the cursor holds the last row's (key, id)."""
    if cursor:
        last_key, last_id = decode_cursor(cursor, 2)
        last_key = parse_key(last_key)
        queryset = queryset.filter(Q(**{f"{key}__lt": last_key}) | Q(**{key: last_key, "id__lt": last_id}))
    rows = list(queryset.order_by(f"-{key}", "-id")[: limit + 1])
    more = len(rows) > limit
    rows = rows[:limit]
    next_cursor = encode_cursor([getattr(rows[-1], key), rows[-1].id]) if more else None
    return Page(rows, next_cursor)


def paginate_by_id(queryset: QuerySet[Any], *, cursor: str | None, limit: int) -> Page[Any]:
    """Ascending by id: the cheapest stable order for big lists."""
    if cursor:
        (last_id,) = decode_cursor(cursor, 1)
        queryset = queryset.filter(id__gt=last_id)
    rows = list(queryset.order_by("id")[: limit + 1])
    more = len(rows) > limit
    rows = rows[:limit]
    return Page(rows, encode_cursor([rows[-1].id]) if more else None)
