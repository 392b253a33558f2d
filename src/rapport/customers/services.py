"""Write use-cases for customers and their timeline. Each runs in one transaction, checks
permission, writes its audit row, and publishes its event after commit."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field, fields
from datetime import datetime, timedelta
from typing import Any

from django.db import IntegrityError, connection, transaction
from django.utils import timezone

from rapport.core import audit, events
from rapport.core.errors import Conflict, InvalidInput, NotFound, PreconditionFailed
from rapport.core.search import normalise_words
from rapport.customers.events import CustomerCreated, CustomersMerged, CustomerUpdated, InteractionLogged
from rapport.customers.models import (
    CONSENT_CHANNELS,
    Channel,
    ContactPoint,
    ContactPointKind,
    Customer,
    CustomerKind,
    CustomerStatus,
    Direction,
    Interaction,
    NameKey,
    Tag,
)
from rapport.customers.validation import (
    clean_tags,
    normalise_email,
    normalise_phone,
    unique_in_order,
    validate_choice,
    validate_language,
    validate_name,
    validate_timezone,
)
from rapport.people.models import Role, Staff
from rapport.people.permissions import require_role, require_staff

Actor = Staff | None  # None: the system itself (operator commands, demo data)


@dataclass
class CustomerInput:
    """What a person may set on a customer. ``None`` means "not given" (keep as is)."""

    name: str | None = None
    kind: str | None = None
    status: str | None = None
    emails: list[str] | None = None
    phones: list[str] | None = None
    account_manager: str | None = None  # a username; "" clears it
    external_id: str | None = None
    preferred_channel: str | None = None
    language: str | None = None
    timezone: str | None = None
    tags: list[str] | None = None
    consent: dict[str, bool] | None = None
    notes: str | None = None


@dataclass
class CleanCustomer:
    values: dict[str, Any] = field(default_factory=dict)  # model fields
    emails: list[str] | None = None
    phones: list[str] | None = None
    tags: list[str] | None = None


def _collect(errors: dict[str, list[str]], name: str, fn: Callable[[], Any]) -> Any:
    try:
        return fn()
    except InvalidInput as exc:
        for key, messages in exc.errors.items():
            errors.setdefault(name if key == "__all__" else key, []).extend(messages)
        return None


def clean_customer_input(
    data: CustomerInput, *, creating: bool, managers: dict[str, Staff] | None = None
) -> CleanCustomer:
    """Validate every given field at once and report all mistakes together, by field."""
    errors: dict[str, list[str]] = {}
    out = CleanCustomer()
    v = out.values
    if data.name is not None or creating:
        v["name"] = _collect(errors, "name", lambda: validate_name(data.name or ""))
    if data.kind is not None:
        v["kind"] = _collect(errors, "kind", lambda: validate_choice(data.kind or "", CustomerKind, "kind"))
    if data.status is not None:
        v["status"] = _collect(errors, "status", lambda: validate_choice(data.status or "", CustomerStatus, "status"))
    if data.preferred_channel is not None:
        v["preferred_channel"] = (
            _collect(
                errors,
                "preferred_channel",
                lambda: validate_choice(data.preferred_channel or "", Channel, "preferred_channel"),
            )
            if data.preferred_channel
            else ""
        )
    if data.language is not None:
        v["language"] = _collect(errors, "language", lambda: validate_language(data.language or ""))
    if data.timezone is not None:
        v["timezone"] = _collect(errors, "timezone", lambda: validate_timezone(data.timezone or ""))
    if data.notes is not None:
        v["notes"] = data.notes
    if data.external_id is not None:
        external = data.external_id.strip()
        if len(external) > 100:
            errors.setdefault("external_id", []).append("An external id can have at most 100 characters.")
        v["external_id"] = external or None
    if data.consent is not None:
        unknown = set(data.consent) - set(CONSENT_CHANNELS)
        if unknown:
            errors.setdefault("consent", []).append(
                f"Unknown consent channel(s): {', '.join(sorted(unknown))}; use {', '.join(CONSENT_CHANNELS)}."
            )
        for channel in CONSENT_CHANNELS:
            if channel in data.consent:
                v[f"consent_{channel}"] = bool(data.consent[channel])
    if data.account_manager is not None:
        v["account_manager"] = _collect(
            errors, "account_manager", lambda: _resolve_manager(data.account_manager or "", managers)
        )
    if data.emails is not None:
        out.emails = _clean_each(errors, "emails", data.emails, normalise_email)
    if data.phones is not None:
        out.phones = _clean_each(errors, "phones", data.phones, normalise_phone)
    if data.tags is not None:
        out.tags = _collect(errors, "tags", lambda: clean_tags(data.tags or []))
    if errors:
        raise InvalidInput(errors)
    return out


def _clean_each(errors: dict[str, list[str]], name: str, values: list[str], clean: Callable[[str], str]) -> list[str]:
    cleaned = (_collect(errors, name, lambda raw=raw: clean(raw)) for raw in values)  # type: ignore[misc]
    return unique_in_order(v for v in cleaned if v)


def _resolve_manager(username: str, managers: dict[str, Staff] | None) -> Staff | None:
    username = username.strip()
    if not username:
        return None
    staff = managers.get(username) if managers is not None else Staff.objects.filter(username=username).first()
    if staff is None or not staff.is_active:
        raise InvalidInput(f"No active staff member is called '{username}'.", "account_manager")
    return staff


def _email_owner_conflict(emails: Iterable[str], exclude_customer_id: int | None = None) -> None:
    taken = ContactPoint.objects.filter(kind=ContactPointKind.EMAIL, value__in=list(emails)).select_related("customer")
    if exclude_customer_id is not None:
        taken = taken.exclude(customer_id=exclude_customer_id)
    existing = taken.first()
    if existing is not None:
        owner = existing.customer
        raise Conflict(
            f"{existing.value} already belongs to {owner.name} ({owner.reference}).",
            existing_customer={"id": owner.id, "reference": owner.reference, "name": owner.name},
            field="emails",
        )


def name_keys(name: str) -> list[str]:
    return unique_in_order(word[:100] for word in normalise_words(name))


def _write_name_keys(customer: Customer) -> None:
    NameKey.objects.filter(customer=customer).delete()
    NameKey.objects.bulk_create(NameKey(customer=customer, key=key) for key in name_keys(customer.name))


def _write_contact_points(customer: Customer, kind: str, values: list[str]) -> None:
    keep = set(values)
    ContactPoint.objects.filter(customer=customer, kind=kind).exclude(value__in=keep).delete()
    existing = set(ContactPoint.objects.filter(customer=customer, kind=kind).values_list("value", flat=True))
    ContactPoint.objects.bulk_create(
        ContactPoint(customer=customer, kind=kind, value=value) for value in values if value not in existing
    )
    primary = values[0] if values else None
    ContactPoint.objects.filter(customer=customer, kind=kind).update(is_primary=False)
    if primary:
        ContactPoint.objects.filter(customer=customer, kind=kind, value=primary).update(is_primary=True)


def tags_by_name(names: Iterable[str]) -> dict[str, Tag]:
    """Get or create tags in two queries whatever their number."""
    names = list(dict.fromkeys(names))
    found = {t.name: t for t in Tag.objects.filter(name__in=names)}
    missing = [Tag(name=n) for n in names if n not in found]
    if missing:
        Tag.objects.bulk_create(missing, ignore_conflicts=True)
        found = {t.name: t for t in Tag.objects.filter(name__in=names)}
    return found


def snapshot(customer: Customer) -> dict[str, Any]:
    """The audited view of a customer: its fields, contact points and tags."""
    points = list(customer.contact_points.all())
    return {
        "name": customer.name,
        "kind": customer.kind,
        "status": customer.status,
        "account_manager": customer.account_manager.username if customer.account_manager else None,
        "external_id": customer.external_id,
        "preferred_channel": customer.preferred_channel,
        "language": customer.language,
        "timezone": customer.timezone,
        "consent": customer.consent,
        "notes": customer.notes,
        "emails": [p.value for p in points if p.kind == ContactPointKind.EMAIL],
        "phones": [p.value for p in points if p.kind == ContactPointKind.PHONE],
        "tags": sorted(t.name for t in customer.tags.all()),
    }


def _unique_violation(exc: IntegrityError, external_id: str | None) -> Conflict:
    text = str(exc).lower()
    if "external_id" in text and external_id:
        owner = Customer.objects.filter(external_id=external_id).first()
        return Conflict(
            f"The external id '{external_id}' already belongs to {owner.name if owner else 'another customer'}.",
            field="external_id",
            existing_customer={"id": owner.id, "reference": owner.reference, "name": owner.name} if owner else None,
        )
    return Conflict("Another change to these details happened at the same moment; try again.")


@transaction.atomic
def create_customer(*, actor: Actor, data: CustomerInput) -> Customer:
    if actor is not None:
        require_staff(actor)
    clean = clean_customer_input(data, creating=True)
    if clean.emails:
        _email_owner_conflict(clean.emails)
    customer = Customer(**clean.values)
    try:
        with transaction.atomic():
            customer.save()
            _write_contact_points(customer, ContactPointKind.EMAIL, clean.emails or [])
            _write_contact_points(customer, ContactPointKind.PHONE, clean.phones or [])
    except IntegrityError as exc:
        # Two requests creating the same email at the same moment: the loser lands here.
        if clean.emails:
            _email_owner_conflict(clean.emails)
        raise _unique_violation(exc, clean.values.get("external_id")) from None
    _write_name_keys(customer)
    if clean.tags:
        customer.tags.set(tags_by_name(clean.tags).values())
    audit.record(
        actor=actor,
        action="customer.created",
        subject_type="customer",
        subject_id=customer.id,
        changes=snapshot(customer),
    )
    events.publish(CustomerCreated(customer_id=customer.id, at=customer.created_at))
    return customer


@transaction.atomic
def update_customer(
    *, actor: Actor, customer_id: int, data: CustomerInput, expected_version: int | None = None
) -> Customer:
    if actor is not None:
        require_staff(actor)
    customer = _locked_live_customer(customer_id)
    if expected_version is not None and customer.version != expected_version:
        raise PreconditionFailed(f"{customer.reference} changed since you read it (now version {customer.version}).")
    clean = clean_customer_input(data, creating=False)
    before = snapshot(customer)
    if clean.emails:
        _email_owner_conflict(clean.emails, exclude_customer_id=customer.id)
    for name, value in clean.values.items():
        setattr(customer, name, value)
    customer.version += 1
    try:
        with transaction.atomic():
            customer.save()
            if clean.emails is not None:
                _write_contact_points(customer, ContactPointKind.EMAIL, clean.emails)
            if clean.phones is not None:
                _write_contact_points(customer, ContactPointKind.PHONE, clean.phones)
    except IntegrityError as exc:
        if clean.emails:
            _email_owner_conflict(clean.emails, exclude_customer_id=customer.id)
        raise _unique_violation(exc, clean.values.get("external_id")) from None
    if "name" in clean.values:
        _write_name_keys(customer)
    if clean.tags is not None:
        customer.tags.set(tags_by_name(clean.tags).values())
    changes = audit.diff(before, snapshot(customer))
    if changes:
        audit.record(
            actor=actor, action="customer.updated", subject_type="customer", subject_id=customer.id, changes=changes
        )
        events.publish(CustomerUpdated(customer_id=customer.id, fields=tuple(changes), at=timezone.now()))
    return customer


def _locked_live_customer(customer_id: int) -> Customer:
    customer = Customer.objects.select_for_update().filter(id=customer_id).first()
    if customer is None:
        raise NotFound(f"No customer with id {customer_id}.")
    if customer.merged_into_id is not None:
        raise Conflict(
            f"{customer.reference} was merged into {Customer(id=customer.merged_into_id).reference}.",
            merged_into=customer.merged_into_id,
        )
    return customer


MAX_SUMMARY = 300
MAX_CALL_SECONDS = 24 * 3600


@dataclass
class TimelineEntry:
    """One contact to record (unsaved_interactions); the fields are log_interaction's arguments."""

    customer_id: int
    channel: str
    direction: str
    summary: str
    body: str = ""
    occurred_at: datetime | None = None
    duration_seconds: int | None = None
    source_type: str = ""
    source_id: int | None = None


@transaction.atomic
def log_interaction(
    *,
    actor: Actor,
    customer_id: int,
    channel: str,
    direction: str,
    summary: str,
    body: str = "",
    occurred_at: datetime | None = None,
    duration_seconds: int | None = None,
    source_type: str = "",
    source_id: int | None = None,
) -> Interaction:
    """Record one contact on the customer's timeline. Every channel comes through here."""
    if actor is not None:
        require_staff(actor)
    entry = TimelineEntry(
        customer_id, channel, direction, summary, body, occurred_at, duration_seconds, source_type, source_id
    )
    interaction = _checked_interaction(actor, entry, timezone.now())
    customer = Customer.objects.filter(id=customer_id).only("id", "merged_into_id").first()
    if customer is None:
        raise NotFound(f"No customer with id {customer_id}.")
    # Contacts with a merged-away duplicate land on the surviving record.
    interaction.customer_id = customer.merged_into_id or customer.id
    interaction.save(force_insert=True)
    _publish_logged(interaction)
    return interaction


def unsaved_interactions(*, actor: Actor, entries: list[TimelineEntry], survivors: bool = False) -> list[Interaction]:
    """Many contacts at once (a batch of new cases), unsaved: log_interaction's checks for each
    and one read of their customers. The caller inserts them with its own rows in one statement
    (rows.insert_all) and then calls publish_logged. ``survivors``: the caller has just read
    these customers in its transaction and names existing ones, merged-away ones already
    replaced by their survivor (no second read)."""
    if actor is not None:
        require_staff(actor)
    now = timezone.now()
    interactions = [_checked_interaction(actor, entry, now) for entry in entries]
    if not survivors:
        ids = {e.customer_id for e in entries}
        merged = dict(Customer.objects.filter(id__in=ids).values_list("id", "merged_into_id"))
        for interaction in interactions:
            if interaction.customer_id not in merged:
                raise NotFound(f"No customer with id {interaction.customer_id}.")
            interaction.customer_id = merged[interaction.customer_id] or interaction.customer_id
    return interactions


def publish_logged(interactions: list[Interaction]) -> None:
    for interaction in interactions:
        _publish_logged(interaction)


def _checked_interaction(actor: Actor, entry: TimelineEntry, now: datetime) -> Interaction:
    """The unsaved entry, or InvalidInput naming every bad field."""
    errors: dict[str, list[str]] = {}
    _collect(errors, "channel", lambda: validate_choice(entry.channel, Channel, "channel"))
    if entry.direction not in Direction.values:
        errors["direction"] = [f"'{entry.direction}' is not one of: in, out."]
    summary = " ".join((entry.summary or "").split())
    if not summary:
        errors["summary"] = ["Say in a few words what the contact was about."]
    elif len(summary) > MAX_SUMMARY:
        errors["summary"] = [f"A summary can have at most {MAX_SUMMARY} characters; put the rest in the notes."]
    occurred_at = entry.occurred_at or now
    if timezone.is_naive(occurred_at):
        errors["occurred_at"] = ["Give the time with its offset or zone (for example 2026-11-23T14:30:00+00:00)."]
    elif occurred_at > now + timedelta(minutes=5):
        errors["occurred_at"] = ["A contact cannot be logged in the future."]
    duration = entry.duration_seconds
    if duration is not None and not 0 <= duration <= MAX_CALL_SECONDS:
        errors["duration_seconds"] = [f"The duration must be between 0 and {MAX_CALL_SECONDS} seconds."]
    if errors:
        raise InvalidInput(errors)
    return Interaction(
        customer_id=entry.customer_id,
        channel=entry.channel,
        direction=entry.direction,
        occurred_at=occurred_at,
        summary=summary,
        body=entry.body or "",
        staff=actor,
        duration_seconds=duration,
        source_type=entry.source_type,
        source_id=entry.source_id,
    )


def _publish_logged(interaction: Interaction) -> None:
    events.publish(
        InteractionLogged(
            interaction_id=interaction.id,
            customer_id=interaction.customer_id,
            channel=interaction.channel,
            at=interaction.occurred_at,
        )
    )


# Higher apps move their own rows when two customers merge (cases, orders, surveys). Each
# step runs inside the merge transaction, so a merge is whole or not at all.
MergeStep = Callable[[int, int], None]
_merge_steps: list[MergeStep] = []


def register_merge_step(step: MergeStep) -> None:
    if step not in _merge_steps:
        _merge_steps.append(step)


@transaction.atomic
def merge_customers(*, actor: Actor, survivor_id: int, duplicate_id: int) -> Customer:
    """Fold ``duplicate`` into ``survivor``: its timeline, contact points, tags and every
    later record move; blanks on the survivor are filled; the duplicate stays as a pointer
    so its reference still resolves. Recorded on both records' audit trails."""
    if actor is not None:
        require_role(actor, Role.LEAD, "merge customers")
    if survivor_id == duplicate_id:
        raise InvalidInput("A customer cannot be merged into itself.", "duplicate_id")
    # Lock both rows in id order so two merges of the same pair cannot deadlock.
    locked = {
        c.id: c
        for c in Customer.objects.select_for_update().filter(id__in=sorted([survivor_id, duplicate_id])).order_by("id")
    }
    survivor, duplicate = locked.get(survivor_id), locked.get(duplicate_id)
    if survivor is None:
        raise NotFound(f"No customer with id {survivor_id}.")
    if duplicate is None:
        raise InvalidInput(f"No customer with id {duplicate_id}.", "duplicate_id")
    for customer in (survivor, duplicate):
        if customer.merged_into_id is not None:
            raise Conflict(
                f"{customer.reference} was already merged into another customer.", merged_into=customer.merged_into_id
            )
    before = snapshot(survivor)
    moved_contacts = Interaction.objects.filter(customer=duplicate).update(customer=survivor)

    have = set(ContactPoint.objects.filter(customer=survivor).values_list("kind", "value"))
    dup_points = list(ContactPoint.objects.filter(customer=duplicate))
    ContactPoint.objects.filter(customer=duplicate).delete()
    ContactPoint.objects.bulk_create(
        ContactPoint(customer=survivor, kind=p.kind, value=p.value, label=p.label, bouncing=p.bouncing)
        for p in dup_points
        if (p.kind, p.value) not in have
    )
    survivor.tags.add(*duplicate.tags.all())
    for name in ("account_manager_id", "external_id", "preferred_channel", "notes"):
        if not getattr(survivor, name) and getattr(duplicate, name):
            setattr(survivor, name, getattr(duplicate, name))
            if name == "external_id":
                duplicate.external_id = None
    if survivor.status == CustomerStatus.PROSPECT and duplicate.status != CustomerStatus.PROSPECT:
        survivor.status = duplicate.status
    duplicate.merged_into = survivor
    duplicate.version += 1
    duplicate.save(update_fields=["merged_into", "external_id", "version", "updated_at"])
    NameKey.objects.filter(customer=duplicate).delete()
    survivor.version += 1
    survivor.save()
    for step in _merge_steps:
        step(survivor.id, duplicate.id)
    changes = {
        "merged": {"duplicate_id": duplicate.id, "duplicate": duplicate.reference, "duplicate_name": duplicate.name},
        "moved_contacts": moved_contacts,
        "duplicate_snapshot": snapshot(duplicate) | {"emails": [p.value for p in dup_points if p.kind == "email"]},
        **audit.diff(before, snapshot(survivor)),
    }
    audit.record(
        actor=actor, action="customer.merged", subject_type="customer", subject_id=survivor.id, changes=changes
    )
    audit.record(
        actor=actor,
        action="customer.merged_away",
        subject_type="customer",
        subject_id=duplicate.id,
        changes={"merged_into": survivor.reference},
    )
    events.publish(CustomersMerged(survivor_id=survivor.id, duplicate_id=duplicate.id, at=timezone.now()))
    return survivor


def input_field_names() -> list[str]:
    return [f.name for f in fields(CustomerInput)]


TIER_BATCH = 10_000


@transaction.atomic
def set_care_tier(*, actor: Actor, customer_ids_by_tier: Mapping[str, Iterable[int]], reason: str = "") -> int:
    """Set customers' care tier (value decides it; cases reads it). With a ``reason`` it is a manual
    override (team leads and above; one audit row per customer changed); without, a bulk apply
    (one summary audit row). Bulk UPDATEs of the rows whose tier changes; returns how many."""
    if actor is not None:
        require_role(actor, Role.LEAD if reason else Role.MANAGER, "set care tiers")
    if not reason and connection.vendor == "postgresql":
        changed = _set_column_postgresql("care_tier", customer_ids_by_tier)
    else:
        changed = _set_care_tier_batches(actor, customer_ids_by_tier, reason)
    if not reason:
        audit.record(
            actor=actor,
            action="customer.care_tiers_applied",
            subject_type="customer",
            subject_id=0,
            changes={"changed": changed},
        )
    return sum(changed.values())


def _set_care_tier_batches(
    actor: Actor, customer_ids_by_tier: Mapping[str, Iterable[int]], reason: str
) -> dict[str, int]:
    """The ORM path: 10,000-id batches, one audit row per customer for a manual override."""
    changed: dict[str, int] = {}
    for tier, ids in customer_ids_by_tier.items():
        id_list = list(ids)
        for start in range(0, len(id_list), TIER_BATCH):
            batch = Customer.objects.filter(id__in=id_list[start : start + TIER_BATCH]).exclude(care_tier=tier)
            if reason:
                for customer_id, before in batch.values_list("id", "care_tier"):
                    audit.record(
                        actor=actor,
                        action="customer.care_tier_set",
                        subject_type="customer",
                        subject_id=customer_id,
                        changes={"care_tier": [before, tier], "reason": reason},
                    )
            changed[tier] = changed.get(tier, 0) + batch.update(care_tier=tier)
    return changed


@transaction.atomic
def set_segments(*, actor: Actor, customer_ids_by_segment: Mapping[str, Iterable[int]]) -> int:
    """Set customers' value segment (value computes it with each snapshot; the lists filter on it).
    Bulk UPDATEs of the rows whose segment changes, one summary audit row; returns how many."""
    if actor is not None:
        require_role(actor, Role.MANAGER, "set customer segments")
    changed: dict[str, int] = {}
    if connection.vendor == "postgresql":
        changed = _set_column_postgresql("segment", customer_ids_by_segment)
    else:
        for segment, ids in customer_ids_by_segment.items():
            id_list = list(ids)
            for start in range(0, len(id_list), TIER_BATCH):
                batch = Customer.objects.filter(id__in=id_list[start : start + TIER_BATCH]).exclude(segment=segment)
                changed[segment] = changed.get(segment, 0) + batch.update(segment=segment)
    audit.record(
        actor=actor, action="customer.segments_set", subject_type="customer", subject_id=0, changes={"changed": changed}
    )
    return sum(changed.values())


def _set_column_postgresql(column: str, customer_ids_by_value: Mapping[str, Iterable[int]]) -> dict[str, int]:
    """One UPDATE joined to the (id, value) arrays, touching only rows whose value changes: a
    million customers in one statement instead of a hundred 10,000-id IN lists. Returns the
    changes per value. ``column`` is one of ours (care_tier, segment), never user input."""
    if column not in ("care_tier", "segment"):
        raise ValueError(f"not a value column: {column}")
    ids: list[int] = []
    values: list[str] = []
    for value, id_list in customer_ids_by_value.items():
        batch = list(id_list)
        ids += batch
        values += [value] * len(batch)
    # The table and a checked column name in the text; the data go as parameters.
    sql = (
        f"WITH changed AS (UPDATE {Customer._meta.db_table} AS c SET {column} = v.value "  # noqa: S608
        "FROM unnest(%s::bigint[], %s::text[]) AS v(id, value) "
        f"WHERE c.id = v.id AND c.{column} <> v.value RETURNING v.value) "
        "SELECT value, count(*) FROM changed GROUP BY value"
    )
    with connection.cursor() as cursor:
        cursor.execute(sql, [ids, values])
        return {value: int(n) for value, n in cursor.fetchall()}
