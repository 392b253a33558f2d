"""What opening a case reads besides the customer: the active priority rules and the active
SLA policies with their calendars.

They change rarely and every case opened reads them, so each worker process keeps them, under
the stamp of ``OpeningTermsStamp`` they were read with. Every save or delete of a rule, policy
or calendar sets a new stamp (signals below, in the changing transaction); ``open_cases`` reads
the stamp in the same statement as its customers, so a change applies to the next case opened
in any worker, exactly as if nothing were kept."""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from typing import Any

from django.db import connection
from django.db.models import Subquery, Value
from django.db.models.functions import Coalesce
from django.db.models.signals import post_delete, post_save

from rapport.cases.models import OpeningTermsStamp, PriorityRule, SlaPolicy
from rapport.core.models import Calendar


@dataclass(frozen=True)
class OpeningTerms:
    rules: list[PriorityRule]
    policies: list[SlaPolicy]  # their calendars loaded


_kept: dict[str, tuple[int, OpeningTerms]] = {}


def stamp() -> Coalesce:
    """The current stamp as an expression, to annotate onto a query that runs anyway."""
    return Coalesce(Subquery(OpeningTermsStamp.objects.filter(id=1).values("stamp")[:1]), Value(0))


def current(stamp_read: int | None) -> OpeningTerms:
    """The terms as of ``stamp_read`` (kept, or read now and kept); None: read without keeping."""
    kept = _kept.get("terms")
    if stamp_read is not None and kept is not None and kept[0] == stamp_read:
        return kept[1]
    terms = OpeningTerms(
        rules=list(PriorityRule.objects.filter(active=True)),
        policies=list(SlaPolicy.objects.filter(active=True).select_related("calendar")),
    )
    if stamp_read is not None:
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
