"""What opening a case reads besides the customer: the active priority rules and the active
SLA policies with their calendars.

They change rarely and every case opened reads them, so each worker process keeps them, under
the stamp of ``OpeningTermsStamp`` they were read with. Every save or delete of a rule, policy
or calendar sets a new stamp (signals below, in the changing transaction); ``open_cases`` reads
the stamp in the same statement as its customers, so a change applies to the next case opened
in any worker, exactly as if nothing were kept."""

from __future__ import annotations

import secrets
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from django.db import connection
from django.db.models.signals import post_delete, post_save

from rapport.cases.models import OpeningTermsStamp, PriorityRule, SlaPolicy
from rapport.core import rows
from rapport.core.models import Calendar
from rapport.customers.models import Customer


@dataclass(frozen=True)
class OpeningTerms:
    rules: list[PriorityRule]
    policies: list[SlaPolicy]  # their calendars loaded


_kept: dict[str, tuple[int, OpeningTerms]] = {}


def customers_and_stamp(ids: Iterable[int]) -> tuple[dict[int, Customer], int]:
    """The customers by id, and the stamp, in one hand-written statement: every case opened runs
    it, and the ORM took five times longer to build the query than the database to answer."""
    ids = sorted(ids)
    sql = (
        f"SELECT {rows.select_list(Customer, 'c')}, coalesce(s.stamp, 0) FROM {Customer._meta.db_table} c "  # noqa: S608 - names from the models
        f"LEFT JOIN {OpeningTermsStamp._meta.db_table} s ON s.id = 1 WHERE c.id IN ({', '.join(['%s'] * len(ids))})"
    )
    with connection.cursor() as cursor:
        cursor.execute(sql, ids)
        found = cursor.fetchall()
    if not found:  # none of them exists: the stamp alone
        with connection.cursor() as cursor:
            cursor.execute(f"SELECT coalesce(max(stamp), 0) FROM {OpeningTermsStamp._meta.db_table}")  # noqa: S608
            return {}, cursor.fetchone()[0]
    customers = {}
    for *values, _ in found:
        customer = rows.load(Customer, values)
        customers[customer.id] = customer
    return customers, found[0][-1]


def current(stamp_read: int) -> OpeningTerms:
    """The terms as of ``stamp_read``: kept, or read now and kept."""
    kept = _kept.get("terms")
    if kept is not None and kept[0] == stamp_read:
        return kept[1]
    terms = OpeningTerms(
        rules=list(PriorityRule.objects.filter(active=True)),
        policies=list(SlaPolicy.objects.filter(active=True).select_related("calendar")),
    )
    _kept["terms"] = (stamp_read, terms)
    return terms


def forget() -> None:
    _kept.clear()


def changed(**_: Any) -> None:
    """A rule, policy or calendar changed: a new stamp, in the changing transaction."""
    table = OpeningTermsStamp._meta.db_table
    with connection.cursor() as cursor:
        cursor.execute(
            f"INSERT INTO {table} (id, stamp) VALUES (1, %s) ON CONFLICT (id) DO UPDATE SET stamp = excluded.stamp",  # noqa: S608 - our table name
            [secrets.randbits(62)],
        )


for _model in (PriorityRule, SlaPolicy, Calendar):
    post_save.connect(changed, sender=_model, dispatch_uid=f"opening-terms-save-{_model.__name__}")
    post_delete.connect(changed, sender=_model, dispatch_uid=f"opening-terms-delete-{_model.__name__}")
