"""The CSV export (``export_customers``): the import's columns, so an export re-imports;
contact points and tags loaded per chunk of customers."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator
from typing import Any

from rapport.customers.imports.rows import COLUMNS, LIST_SEPARATOR
from rapport.customers.models import ContactPoint, ContactPointKind, Customer
from rapport.customers.queries import CustomerFilters, filtered_customers
from rapport.people.models import Role, Staff
from rapport.people.permissions import require_role

EXPORT_CHUNK = 2000


def _csv_line(writer: Any, buffer: io.StringIO, values: list[Any]) -> str:
    buffer.seek(0)
    buffer.truncate()
    writer.writerow(values)
    return buffer.getvalue()


def _flag(value: bool) -> str:
    return "true" if value else "false"


def export_customers(*, actor: Staff | None, filters: CustomerFilters) -> Iterator[str]:
    """CSV lines (header first) for the live customers matching ``filters``, in id order.
    Contact points and tags are loaded per chunk of customers, never per row."""
    if actor is not None:
        require_role(actor, Role.LEAD, "export customers")
    queryset = filtered_customers(filters).order_by("id")  # checks the filters before streaming
    return _export_lines(queryset)


def _export_lines(queryset: Any) -> Iterator[str]:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n")
    yield _csv_line(writer, buffer, list(COLUMNS))
    fields = (
        "id",
        "name",
        "kind",
        "status",
        "account_manager__username",
        "external_id",
        "preferred_channel",
        "language",
        "timezone",
        "consent_email",
        "consent_phone",
        "consent_post",
        "consent_marketing",
        "notes",
    )
    chunk: list[tuple[Any, ...]] = []
    for row in queryset.values_list(*fields).iterator(chunk_size=EXPORT_CHUNK):
        chunk.append(row)
        if len(chunk) == EXPORT_CHUNK:
            yield from _export_chunk(writer, buffer, chunk)
            chunk = []
    if chunk:
        yield from _export_chunk(writer, buffer, chunk)


def _export_chunk(writer: Any, buffer: io.StringIO, chunk: list[tuple[Any, ...]]) -> Iterator[str]:
    ids = [row[0] for row in chunk]
    emails: dict[int, list[str]] = {}
    phones: dict[int, list[str]] = {}
    points = ContactPoint.objects.filter(customer_id__in=ids).order_by("customer_id", "-is_primary", "id")
    for customer_id, kind, value in points.values_list("customer_id", "kind", "value"):
        (emails if kind == ContactPointKind.EMAIL else phones).setdefault(customer_id, []).append(value)
    tags: dict[int, list[str]] = {}
    through = Customer.tags.through.objects.filter(customer_id__in=ids).order_by("tag__name")
    for customer_id, name in through.values_list("customer_id", "tag__name"):
        tags.setdefault(customer_id, []).append(name)
    sep = LIST_SEPARATOR
    for cid, name, kind, status, manager, external, channel, language, zone, ce, cp, cpost, cm, notes in chunk:
        yield _csv_line(
            writer,
            buffer,
            [
                name,
                kind,
                status,
                sep.join(emails.get(cid, ())),
                sep.join(phones.get(cid, ())),
                manager or "",
                external or "",
                channel,
                language,
                zone,
                sep.join(tags.get(cid, ())),
                _flag(ce),
                _flag(cp),
                _flag(cpost),
                _flag(cm),
                notes,
            ],
        )
