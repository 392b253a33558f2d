"""Reads shared by pages and the API, with related rows loaded in bulk."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from django.db.models import Prefetch, QuerySet

from rapport.core.errors import InvalidInput, NotFound
from rapport.core.pagination import Page, paginate_by_id, paginate_desc
from rapport.core.search import fulltext_ids, normalise_words, prefix_q
from rapport.customers.models import (
    ContactPoint,
    ContactPointKind,
    Customer,
    CustomerStatus,
    Interaction,
    NameKey,
    Tag,
    parse_reference,
)
from rapport.customers.validation import phone_prefix
from rapport.people.models import Staff

INTERACTION_TABLE = "customers_interaction"
INTERACTION_TEXT = ("summary", "body")


def with_details(queryset: QuerySet[Customer]) -> QuerySet[Customer]:
    """Everything a customer card shows, in a fixed number of queries for any page size."""
    return queryset.select_related("account_manager").prefetch_related(
        Prefetch("contact_points", queryset=ContactPoint.objects.order_by("-is_primary", "id")),
        Prefetch("tags", queryset=Tag.objects.order_by("name")),
    )


def get_customer(customer_id: int) -> Customer:
    customer = with_details(Customer.objects.filter(id=customer_id)).first()
    if customer is None:
        raise NotFound(f"No customer with id {customer_id}.")
    return customer


def surviving_id(customer_id: int) -> int:
    """The customer's id, or its survivor's if it was merged away; NotFound when neither exists."""
    found = list(Customer.objects.filter(id=customer_id).values_list("merged_into_id", flat=True)[:1])
    if not found:
        raise NotFound(f"No customer with id {customer_id}.")
    return found[0] or customer_id


@dataclass(frozen=True)
class CustomerFilters:
    q: str = ""
    status: str = ""
    account_manager: str = ""  # username
    tag: str = ""
    external_id: str = ""
    segment: str = ""  # value's RFM segment
    tier: str = ""  # care tier


def list_customers(filters: CustomerFilters, *, cursor: str | None, limit: int) -> Page[Customer]:
    page = paginate_by_id(filtered_customers(filters).only("id"), cursor=cursor, limit=limit)
    by_id = {c.id: c for c in with_details(Customer.objects.filter(id__in=[c.id for c in page.items]))}
    return Page([by_id[c.id] for c in page.items], page.next_cursor)


SEARCH_LIST_CAP = 200


def filtered_customers(filters: CustomerFilters) -> QuerySet[Customer]:
    """Live customers matching the list filters (shared by the list and the CSV export)."""
    queryset = Customer.objects.live()
    if filters.status:
        if filters.status not in CustomerStatus.values:
            raise InvalidInput(f"status must be one of {', '.join(CustomerStatus.values)}.", "status")
        queryset = queryset.filter(status=filters.status)
    if filters.account_manager:
        queryset = queryset.filter(account_manager__username=filters.account_manager)
    if filters.tag:
        queryset = queryset.filter(tags__name=filters.tag.strip().lower())
    if filters.external_id:
        queryset = queryset.filter(external_id=filters.external_id)
    if filters.segment:
        queryset = queryset.filter(segment=filters.segment.strip().lower())
    if filters.tier:
        queryset = queryset.filter(care_tier=filters.tier.strip().lower())
    if filters.q:
        # A search narrows the list to its best 200 matches (more words narrow further): more
        # than a person pages through, and bounded work however common the prefix.
        ids = search_customer_ids(filters.q, limit=SEARCH_LIST_CAP)
        queryset = queryset.filter(id__in=ids)
    return queryset


def search_customer_ids(text: str, *, limit: int = 20) -> list[int]:
    """Customers matching by reference, email, phone or any word of the name, best first."""
    text = text.strip()
    if not text:
        return []
    found: list[int] = []
    ref = parse_reference(text)
    if ref is not None:
        found += list(Customer.objects.filter(id=ref).values_list("id", flat=True))
    if "@" in text:
        email = text.lower()
        found += list(
            ContactPoint.objects.filter(prefix_q("value", email), kind=ContactPointKind.EMAIL)
            .order_by()  # no sort: the prefix index scan stops after ``limit`` rows
            .values_list("customer_id", flat=True)[:limit]
        )
    # An email address with digits in it is not a phone number: one query less per email lookup.
    phone = phone_prefix(text) if "@" not in text and any(ch.isdigit() for ch in text) else None
    if phone:
        found += list(
            ContactPoint.objects.filter(prefix_q("value", phone), kind=ContactPointKind.PHONE)
            .order_by()  # no sort: the prefix index scan stops after ``limit`` rows
            .values_list("customer_id", flat=True)[:limit]
        )
    words = normalise_words(text)
    if words and "@" not in text:
        found += _name_matches(words, limit)
    merged = list(dict.fromkeys(found))
    # Merged-away duplicates point at their survivor.
    survivors = dict(Customer.objects.filter(id__in=merged).values_list("id", "merged_into_id"))
    return list(dict.fromkeys(survivors.get(i) or i for i in merged if i in survivors))[:limit]


def _name_matches(words: list[str], limit: int) -> list[int]:
    # Scan the index for the longest word, then keep customers whose name has every word.
    anchor = max(words, key=len)
    candidates = list(
        NameKey.objects.filter(prefix_q("key", anchor))
        .order_by()  # no sort: the prefix index scan stops after enough keys
        .values_list("customer_id", flat=True)[: limit * 20]
    )
    others = [w for w in words if w != anchor]
    if not others or not candidates:
        return candidates[:limit]
    keys: dict[int, set[str]] = {}
    for customer_id, key in NameKey.objects.filter(customer_id__in=candidates).values_list("customer_id", "key"):
        keys.setdefault(customer_id, set()).add(key)
    return [c for c in candidates if all(any(k.startswith(w) for k in keys.get(c, ())) for w in others)][:limit]


def search_customers(text: str, *, limit: int = 20) -> list[Customer]:
    ids = search_customer_ids(text, limit=limit)
    by_id = {c.id: c for c in with_details(Customer.objects.filter(id__in=ids))}
    return [by_id[i] for i in ids if i in by_id]


def search_interactions(text: str, *, limit: int = 20) -> list[Interaction]:
    ids = fulltext_ids(INTERACTION_TABLE, INTERACTION_TEXT, text, limit=limit)
    by_id = {i.id: i for i in Interaction.objects.filter(id__in=ids).select_related("customer", "staff")}
    return [by_id[i] for i in ids if i in by_id]


def _parse_dt(value: str) -> datetime:
    try:
        return datetime.fromisoformat(value)
    except (TypeError, ValueError):
        raise InvalidInput("The cursor is not one this server issued.", "cursor") from None


def timeline(customer_id: int, *, cursor: str | None, limit: int) -> Page[Interaction]:
    """A customer's contacts, newest first."""
    queryset = Interaction.objects.for_customer(customer_id).select_related("staff")
    return paginate_desc(queryset, key="occurred_at", cursor=cursor, limit=limit, parse_key=_parse_dt)


def recent_activity(*, staff_id: int | None = None, limit: int = 20) -> list[Interaction]:
    queryset = Interaction.objects.select_related("customer", "staff")
    if staff_id is not None:
        queryset = queryset.filter(customer__account_manager_id=staff_id)
    return list(queryset.order_by("-occurred_at", "-id")[:limit])


@dataclass(frozen=True)
class ManagedCustomer:
    customer: Customer
    first_contact: str  # the primary contact point's value (else the oldest), or ""


def my_customers(staff_id: int, limit: int = 50) -> list[ManagedCustomer]:
    """The home page's list of a member's customers by name, each with its first contact point:
    two plain reads, not with_details (tags, manager and every point were read and not shown)."""
    customers = list(Customer.objects.managed_by(staff_id).order_by("name")[:limit])
    points = ContactPoint.objects.filter(customer_id__in=[c.id for c in customers]).order_by(
        "customer_id", "-is_primary", "id"
    )
    first: dict[int, str] = {}
    for customer_id, value in points.values_list("customer_id", "value"):
        first.setdefault(customer_id, value)
    return [ManagedCustomer(c, first.get(c.id, "")) for c in customers]


def manager_choices() -> list[tuple[str, str]]:
    """Active staff as (username, label) pairs for an account-manager select, in one query."""
    rows = Staff.objects.active().order_by("first_name", "last_name", "username")
    return [
        (username, f"{' '.join(filter(None, [first, last]))} ({username})" if first or last else username)
        for username, first, last in rows.values_list("username", "first_name", "last_name")
    ]
