"""Deterministic demo data: a care organisation with two years of customer history.

A few showcase customers go through the services (so they look exactly like hand-made
ones, audit rows and events included); the volume is written in bulk (multi-row INSERTs)
so that 10,000 customers load in seconds. Bulk rows get what the services would have
written alongside them: contact points, name keys for search, tags and a
``customer.created`` audit row, but publish no events, so no webhook fires for made-up
history. The same seed gives the same people, names and histories; dates are placed
relative to the hour the data is loaded, so the timeline always looks current.
"""

from __future__ import annotations

import random
import secrets
import unicodedata
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from itertools import accumulate, batched
from typing import Any

from django.contrib.auth.hashers import make_password
from django.contrib.auth.password_validation import validate_password
from django.core.exceptions import ValidationError
from django.db import connection, models, transaction
from django.utils import timezone

from rapport.core import audit
from rapport.core.errors import Conflict, InvalidInput
from rapport.core.models import AuditEntry
from rapport.core.search import bulk_load_fulltext
from rapport.customers import services
from rapport.customers.models import (
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
from rapport.customers.queries import INTERACTION_TABLE, INTERACTION_TEXT
from rapport.people import services as people
from rapport.people.models import Role, Staff, Team

MARKER_ACTION = "demo.loaded"  # the audit row that records a load and makes a second run a no-op
HISTORY_DAYS = 730
INTERACTION_COLUMNS = (
    *("customer", "channel", "direction", "occurred_at", "summary", "body", "staff", "duration_seconds"),
    *("source_type", "source_id", "created_at"),
)
BATCH = 1000

# --- the organisation ----------------------------------------------------------------
TEAMS = ("Front line", "Key accounts", "Complaints", "Retention")
# username, first name, last name, role, team (None: no team)
STAFF: tuple[tuple[str, str, str, str, str | None], ...] = (
    ("sam", "Sam", "Patel", Role.MANAGER, None),
    ("erik", "Erik", "Lund", Role.ADMIN, None),
    ("priya", "Priya", "Raman", Role.LEAD, "Front line"),
    ("tom", "Tom", "Becker", Role.LEAD, "Key accounts"),
    ("ines", "Inês", "Costa", Role.LEAD, "Complaints"),
    ("amara", "Amara", "Nwosu", Role.AGENT, "Front line"),
    ("lucas", "Lucas", "Moreau", Role.AGENT, "Front line"),
    ("hana", "Hana", "Sato", Role.AGENT, "Front line"),
    ("diego", "Diego", "Álvarez", Role.AGENT, "Key accounts"),
    ("fiona", "Fiona", "Walsh", Role.AGENT, "Key accounts"),
    ("kofi", "Kofi", "Mensah", Role.AGENT, "Complaints"),
    ("maya", "Maya", "Cohen", Role.AGENT, "Retention"),
)

# --- customers -----------------------------------------------------------------------
# fmt: off
FIRST_NAMES = (
    "Olivia", "Amelia", "Isla", "Ava", "Mia", "Grace", "Freya", "Lily", "Sophie", "Chloe", "Zoë", "Aisha",
    "Fatima", "Mei", "Anya", "Léa", "Ingrid", "Niamh", "Siobhan", "Priyanka", "Noah", "Oliver", "George",
    "Arthur", "Leo", "Harry", "Oscar", "Jack", "Muhammad", "Tariq", "Kwame", "Chen", "Hiroshi", "Mateo", "José",
    "Luca", "Finn", "Callum", "Rhys", "Dmitri", "Henrik", "Rafael", "Emeka", "Margaret", "David", "Susan",
    "Peter", "Helen", "Robert", "Patricia",
)
LAST_NAMES = (
    "Smith", "Jones", "Taylor", "Brown", "Williams", "Wilson", "Johnson", "Davies", "Patel", "Robinson", "Wright",
    "Thompson", "Evans", "Walker", "White", "Roberts", "Green", "Hall", "Wood", "Jackson", "Clarke", "Khan",
    "Ahmed", "Singh", "Okafor", "Adeyemi", "Nguyen", "Kowalski", "Nowak", "Müller", "Schmidt", "Dubois", "García",
    "Rossi", "O'Brien", "MacLeod", "Fitzgerald", "Hughes", "Lewis", "Morgan", "Chen", "Kim", "Haddad", "Jensen",
    "Van der Berg", "Byrne", "Murphy", "Campbell", "Stewart", "Reid",
)
ORG_WORDS = (
    "Harbour", "Northwind", "Greenfield", "Brightwater", "Oakridge", "Silverline", "Riverside", "Kestrel",
    "Meridian", "Bluebell", "Ironbridge", "Summit", "Lighthouse", "Willow", "Foxglove", "Granite", "Heather",
    "Copperfield", "Pennine", "Marlow",
)
ORG_SECTORS = (
    "Logistics", "Dental Practice", "Bakery", "Architects", "Veterinary Clinic", "Builders", "Hotels",
    "Solicitors", "Garden Centre", "Print Works", "Pharmacy", "Fitness", "Engineering", "Estate Agents",
    "Coffee Roasters", "Cycles", "Opticians", "Accountants",
)
# fmt: on
ORG_SUFFIXES = ("Ltd", "Ltd", "LLP", "& Co", "Group", "")
EMAIL_DOMAINS = ("example.com", "example.net", "example.org", "mail.example", "post.example")
ORG_MAILBOXES = ("info", "accounts", "office", "hello", "purchasing")
# Ofcom's ranges reserved for drama: valid numbers that never ring anyone.
PHONE_PREFIXES = ("207946", "113496", "114496", "116496", "117496", "118496", "121496", "131496", "141496")
LOCALES = (("en", "Europe/London"),) * 8 + (
    ("fr", "Europe/Paris"),
    ("de", "Europe/Berlin"),
    ("es", "Europe/Madrid"),
    ("nl", "Europe/Amsterdam"),
    ("en", "America/New_York"),
)
TAGS = ("vip", "newsletter", "wholesale", "key-account", "at-risk", "referral", "early-adopter", "complained")
NOTES = (
    "Prefers calls after 5pm.",
    "Hard of hearing: use email or text.",
    "Decision maker is the finance director.",
    "Pays by direct debit; statements by post.",
    "Long-standing customer; mentions us to friends.",
    "Asked not to be called on Mondays.",
    "Runs a small shop; busiest on Saturdays.",
    "",
)

# --- contacts ------------------------------------------------------------------------
TOPICS = (
    "late delivery of order #{n}",
    "a damaged parcel (order #{n})",
    "an invoice discrepancy on INV-{n}",
    "changing the delivery address",
    "a refund for a returned item",
    "upgrading to the premium plan",
    "the renewal price",
    "setting up a direct debit",
    "a missing part in the kit",
    "warranty cover for their purchase",
    "when the winter range is back in stock",
    "a duplicate charge on their card",
    "cancelling the subscription",
    "using the app with a screen reader",
    "bulk pricing for repeat orders",
    "a faulty charger (order #{n})",
)
OUTCOMES = (
    "Apologised and arranged a replacement; will check it arrived on Friday.",
    "Explained the charge; customer happy with the answer.",
    "Refund approved and confirmed by email.",
    "Passed to the complaints team with full notes.",
    "Booked a courier collection for Tuesday morning.",
    "Customer wants a call back from their account manager.",
    "Sent the updated terms and a 10% goodwill voucher.",
    "",
    "",
)
SUMMARIES: dict[tuple[str, str], tuple[str, ...]] = {
    (Channel.PHONE, Direction.INBOUND): ("Called about {t}", "Rang to chase {t}", "Phoned with a question on {t}"),
    (Channel.PHONE, Direction.OUTBOUND): (
        "Call back about {t}",
        "Follow-up call: {t}",
        "Courtesy call after the last order",
    ),
    (Channel.EMAIL, Direction.INBOUND): ("Emailed asking about {t}", "Email complaint about {t}", "Wrote in about {t}"),
    (Channel.EMAIL, Direction.OUTBOUND): (
        "Replied by email about {t}",
        "Sent confirmation of {t}",
        "Emailed the quote",
    ),
    (Channel.LETTER, Direction.INBOUND): ("Letter of complaint about {t}", "Letter asking about {t}"),
    (Channel.LETTER, Direction.OUTBOUND): ("Wrote to confirm the resolution of {t}", "Sent a thank-you letter"),
    (Channel.MEETING, Direction.OUTBOUND): ("Quarterly account review", "Site visit to discuss {t}"),
    (Channel.MEETING, Direction.INBOUND): ("Visited the showroom about {t}",),
    (Channel.CHAT, Direction.INBOUND): ("Chat: question about {t}", "Chat: help with {t}"),
    (Channel.SMS, Direction.OUTBOUND): ("Text reminder: delivery tomorrow", "Text: your refund is on its way"),
    (Channel.SMS, Direction.INBOUND): ("Texted back to confirm the delivery slot",),
    (Channel.PORTAL, Direction.INBOUND): ("Updated contact details in the portal", "Asked in the portal about {t}"),
    (Channel.WEB, Direction.INBOUND): ("Contact form: {t}", "Web enquiry about {t}"),
    (Channel.SURVEY, Direction.INBOUND): ("Answered the satisfaction survey: {score}/10",),
    (Channel.OTHER, Direction.INBOUND): ("Met at the spring trade fair", "Mentioned us in a review"),
}
CHANNEL_WEIGHTS = {
    Channel.PHONE: 30,
    Channel.EMAIL: 30,
    Channel.CHAT: 8,
    Channel.PORTAL: 6,
    Channel.WEB: 6,
    Channel.MEETING: 5,
    Channel.SMS: 5,
    Channel.SURVEY: 5,
    Channel.LETTER: 3,
    Channel.OTHER: 2,
}
CHANNELS = list(CHANNEL_WEIGHTS)
CHANNEL_CUM_WEIGHTS = list(accumulate(CHANNEL_WEIGHTS.values()))
SCORE_CUM_WEIGHTS = list(accumulate((1, 1, 1, 1, 2, 3, 4, 6, 9, 9, 7)))  # survey scores lean positive
STAFFED_INBOUND = {Channel.PHONE, Channel.CHAT, Channel.MEETING, Channel.LETTER}


@dataclass
class DemoResult:
    customers: int = 0
    interactions: int = 0
    staff: list[tuple[str, str]] = field(default_factory=list)  # (username, role) created now
    password: str = ""
    also: list[str] = field(default_factory=list)  # what the apps above loaded, in words


# Apps above customers add their own demo data (cases, ...): loaded after the customers, in the
# same transaction, with the same random generator; each says what it loaded, in words.
DemoPart = Callable[[random.Random, datetime], str]
_demo_parts: list[DemoPart] = []


def register_demo_part(part: DemoPart) -> None:
    if part not in _demo_parts:
        _demo_parts.append(part)


def is_loaded() -> bool:
    return AuditEntry.objects.filter(action=MARKER_ACTION).exists()


@transaction.atomic
def load_demo(
    *, customers: int = 1000, seed: int = 2026, password: str = "", now: datetime | None = None
) -> DemoResult:
    """Create the demo organisation and ``customers`` customers with their histories."""
    if is_loaded():
        raise Conflict("Demo data is already loaded.")
    if password:
        try:
            validate_password(password)
        except ValidationError as exc:
            raise InvalidInput({"password": list(exc.messages)}) from None
    rng = random.Random(seed)  # noqa: S311 - demo data needs repeatability, not secrecy
    anchor = (now or timezone.now()).replace(minute=0, second=0, microsecond=0)
    result = DemoResult(password=password or secrets.token_urlsafe(12))
    staff = _make_staff(result)
    gen = _Generator(rng, staff, anchor)
    showcase = min(customers, 5)
    for _ in range(showcase):
        result.interactions += gen.through_services()
    result.interactions += gen.in_bulk(customers - showcase)
    result.customers = customers
    result.also = [loaded for part in _demo_parts if (loaded := part(rng, anchor))]
    audit.record(
        actor=None,
        action=MARKER_ACTION,
        subject_type="system",
        subject_id=0,
        changes={"customers": customers, "interactions": result.interactions, "seed": seed},
    )
    return result


def _make_staff(result: DemoResult) -> list[Staff]:
    existing = {s.username: s for s in Staff.objects.filter(username__in=[row[0] for row in STAFF])}
    staff: list[Staff] = []
    for username, first, last, role, team in STAFF:
        member = existing.get(username)
        if member is None:
            member = people.create_staff(
                actor=None,
                username=username,
                role=role,
                email=f"{username}@care.example.com",
                team=team,
                first_name=first,
                last_name=last,
            )
            result.staff.append((username, role))
        staff.append(member)
    # One slow hash shared by the demo staff instead of one per person (a second each).
    new_ids = [s.id for s in staff if s.username not in existing]
    Staff.objects.filter(id__in=new_ids).update(password=make_password(result.password))
    # Each team's lead is its first lead in STAFF; a plain update, as the team rows are new.
    for username, _first, _last, role, team in STAFF:
        if role == Role.LEAD and team:
            Team.objects.filter(name=team, lead__isnull=True).update(lead=_by(staff, username))
    return [s for s in staff if s.is_active]


def _by(staff: list[Staff], username: str) -> Staff:
    return next(s for s in staff if s.username == username)


@contextmanager
def _given_timestamps(*model_types: type[models.Model]) -> Iterator[None]:
    """Let bulk rows keep the past dates we give them instead of auto_now/auto_now_add's "now"."""
    saved: list[tuple[models.DateField, bool, bool]] = []
    for model in model_types:
        for f in model._meta.concrete_fields:
            if isinstance(f, models.DateField) and (f.auto_now or f.auto_now_add):
                saved.append((f, f.auto_now, f.auto_now_add))
                f.auto_now = f.auto_now_add = False
    try:
        yield
    finally:
        for f, auto_now, auto_now_add in saved:
            f.auto_now, f.auto_now_add = auto_now, auto_now_add


def _ascii(text: str) -> str:
    folded = unicodedata.normalize("NFKD", text)
    return "".join(ch for ch in folded if ch.isascii() and (ch.isalnum() or ch in ".-")).lower()


@dataclass(slots=True)
class _Contact:
    channel: str
    direction: str
    occurred_at: datetime
    summary: str
    body: str
    staff: Staff | None
    duration_seconds: int | None


@dataclass
class _Profile:
    """One generated customer before it is written."""

    customer: Customer
    emails: list[str]
    phones: list[str]
    tags: list[str]
    contacts: list[_Contact]


class _Generator:
    def __init__(self, rng: random.Random, staff: list[Staff], anchor: datetime) -> None:
        self.rng = rng
        self.anchor = anchor
        self.agents = [s for s in staff if s.role in (Role.AGENT, Role.LEAD)] or staff
        self.managers = [s for s in staff if s.team is not None and s.team.name == "Key accounts"] or self.agents
        self.used_emails = set(ContactPoint.objects.filter(kind=ContactPointKind.EMAIL).values_list("value", flat=True))
        self.used_external = set(Customer.objects.exclude(external_id=None).values_list("external_id", flat=True))
        self.serial = 0

    # --- one customer -------------------------------------------------------------------
    def profile(self) -> _Profile:
        rng = self.rng
        self.serial += 1
        organisation = rng.random() < 0.2
        status = rng.choices(CustomerStatus.values, weights=(20, 65, 15))[0]
        created = self.anchor - timedelta(days=rng.uniform(14, HISTORY_DAYS))
        language, zone = rng.choice(LOCALES)
        if organisation:
            name, emails = self._organisation()
        else:
            name, emails = self._person()
        phones = [self._phone() for _ in range(rng.choice((0, 1, 1, 1, 2)))]
        managed = status == CustomerStatus.ACTIVE and (organisation or rng.random() < 0.5)
        consent_email = rng.random() < 0.7
        customer = Customer(
            kind=CustomerKind.ORGANISATION if organisation else CustomerKind.PERSON,
            name=name,
            status=status,
            account_manager=rng.choice(self.managers) if managed else None,
            external_id=self._external_id() if status != CustomerStatus.PROSPECT and rng.random() < 0.6 else None,
            preferred_channel=rng.choice(("", "", Channel.EMAIL, Channel.PHONE, Channel.LETTER, Channel.SMS)),
            language=language,
            timezone=zone,
            consent_email=consent_email,
            consent_phone=rng.random() < 0.5,
            consent_post=rng.random() < 0.3,
            consent_marketing=consent_email and rng.random() < 0.4,
            notes=rng.choice(NOTES),
            created_at=created,
        )
        tags = rng.sample(TAGS, rng.choice((0, 0, 1, 1, 2, 3)))
        if organisation and "key-account" not in tags and rng.random() < 0.4:
            tags.append("key-account")
        contacts = self._contacts(customer, status, created)
        customer.updated_at = max([created, *(c.occurred_at for c in contacts)])
        return _Profile(customer, unique(emails), unique(phones), tags, contacts)

    def _person(self) -> tuple[str, list[str]]:
        first, last = self.rng.choice(FIRST_NAMES), self.rng.choice(LAST_NAMES)
        local = f"{_ascii(first)}.{_ascii(last)}"
        emails = [self._email(local, self.rng.choice(EMAIL_DOMAINS))]
        if self.rng.random() < 0.25:
            emails.append(self._email(f"{_ascii(first)[0]}{_ascii(last)}", self.rng.choice(EMAIL_DOMAINS)))
        return f"{first} {last}", emails

    def _organisation(self) -> tuple[str, list[str]]:
        rng = self.rng
        word, sector = rng.choice(ORG_WORDS), rng.choice(ORG_SECTORS)
        name = " ".join(part for part in (word, sector, rng.choice(ORG_SUFFIXES)) if part)
        domain = f"{_ascii(word)}-{_ascii(sector.split()[0])}.example.com"
        boxes = rng.sample(ORG_MAILBOXES, rng.choice((1, 1, 2, 3)))
        return name, [self._email(box, domain) for box in boxes]

    def _email(self, local: str, domain: str) -> str:
        address, n = f"{local}@{domain}", 1
        while address in self.used_emails:
            n += 1
            address = f"{local}{n}@{domain}"
        self.used_emails.add(address)
        return address

    def _phone(self) -> str:
        return f"+44{self.rng.choice(PHONE_PREFIXES)}0{self.rng.randrange(1000):03d}"

    def _external_id(self) -> str:
        value = f"SHOP-{100000 + self.serial}"
        while value in self.used_external:
            value += "X"
        self.used_external.add(value)
        return value

    def _contacts(self, customer: Customer, status: str, created: datetime) -> list[_Contact]:
        rng = self.rng
        count = {CustomerStatus.PROSPECT: (0, 3), CustomerStatus.ACTIVE: (2, 14), CustomerStatus.FORMER: (1, 8)}[
            CustomerStatus(status)
        ]
        # Former customers went quiet some time before now.
        end = self.anchor - timedelta(days=rng.uniform(30, 200)) if status == CustomerStatus.FORMER else self.anchor
        end = max(end, created + timedelta(hours=1))
        span = (end - created).total_seconds()
        moments = sorted(
            self._working_hours(created + timedelta(seconds=rng.uniform(0, span))) for _ in range(rng.randint(*count))
        )
        return [self._contact(customer, at) for at in moments if at < self.anchor]

    def _working_hours(self, at: datetime) -> datetime:
        """Move a moment into the care team's day (08:00-18:59 UTC, Monday to Saturday)."""
        if at.weekday() == 6:
            at -= timedelta(days=1)
        return at.replace(hour=self.rng.randint(8, 18), minute=self.rng.randrange(60))

    def _contact(self, customer: Customer, at: datetime) -> _Contact:
        rng = self.rng
        picked = rng.choices(CHANNELS, cum_weights=CHANNEL_CUM_WEIGHTS)[0]
        channel, direction = rng.choice([key for key in SUMMARIES if key[0] == picked])
        template = rng.choice(SUMMARIES[(channel, direction)])
        topic = rng.choice(TOPICS).format(n=rng.randint(10000, 99999))
        summary = template.format(t=topic, score=rng.choices(range(11), cum_weights=SCORE_CUM_WEIGHTS)[0])
        staffed = direction == Direction.OUTBOUND or channel in STAFFED_INBOUND
        duration = None
        if channel == Channel.PHONE:
            duration = rng.randint(45, 1500)
        elif channel == Channel.MEETING:
            duration = rng.choice((1800, 2700, 3600, 5400))
        return _Contact(
            channel=channel,
            direction=direction,
            occurred_at=at,
            summary=summary[:300],
            body=rng.choice(OUTCOMES) if staffed else "",
            staff=(customer.account_manager or rng.choice(self.agents)) if staffed else None,
            duration_seconds=duration,
        )

    # --- writing ------------------------------------------------------------------------
    def through_services(self) -> int:
        """One customer written exactly as a person would write it: service calls only."""
        p = self.profile()
        c = p.customer
        data = services.CustomerInput(
            name=c.name,
            kind=c.kind,
            status=c.status,
            emails=p.emails,
            phones=p.phones,
            account_manager=c.account_manager.username if c.account_manager else "",
            external_id=c.external_id or "",
            preferred_channel=c.preferred_channel,
            language=c.language,
            timezone=c.timezone,
            tags=p.tags,
            consent=c.consent,
            notes=c.notes,
        )
        created = services.create_customer(actor=None, data=data)
        for contact in p.contacts:
            services.log_interaction(
                actor=contact.staff,
                customer_id=created.id,
                channel=contact.channel,
                direction=contact.direction,
                summary=contact.summary,
                body=contact.body,
                occurred_at=contact.occurred_at,
                duration_seconds=contact.duration_seconds,
            )
        # The record says when the customer really joined, not when the demo ran.
        Customer.objects.filter(id=created.id).update(created_at=c.created_at)
        return len(p.contacts)

    def in_bulk(self, count: int) -> int:
        written = 0
        tags = services.tags_by_name(TAGS)
        with bulk_load_fulltext(INTERACTION_TABLE, INTERACTION_TEXT):
            for start in range(0, count, BATCH):
                profiles = [self.profile() for _ in range(min(BATCH, count - start))]
                written += _write_batch(profiles, tags)
        return written


def _write_batch(profiles: list[_Profile], tags: dict[str, Tag]) -> int:
    with _given_timestamps(Customer):
        Customer.objects.bulk_create([p.customer for p in profiles])  # the one insert that must return ids
    _insert(
        ContactPoint,
        ("customer", "kind", "value", "label", "is_primary", "bouncing", "created_at"),
        (
            (p.customer.id, kind, value, "", i == 0, False, p.customer.created_at)
            for p in profiles
            for kind, values in ((ContactPointKind.EMAIL, p.emails), (ContactPointKind.PHONE, p.phones))
            for i, value in enumerate(values)
        ),
    )
    _insert(
        Interaction,
        INTERACTION_COLUMNS,
        (
            (p.customer.id, c.channel, c.direction, c.occurred_at, c.summary, c.body, c.staff.id if c.staff else None)  # noqa: RUF005
            + (c.duration_seconds, "", None, c.occurred_at)
            for p in profiles
            for c in p.contacts
        ),
    )
    _insert(
        NameKey,
        ("customer", "key"),
        ((p.customer.id, k) for p in profiles for k in services.name_keys(p.customer.name)),
    )
    _insert(Customer.tags.through, ("customer", "tag"), ((p.customer.id, tags[t].id) for p in profiles for t in p.tags))
    _insert(
        AuditEntry,
        ("actor", "at", "action", "subject_type", "subject_id", "changes"),
        (
            (None, p.customer.created_at, "customer.created", "customer", p.customer.id, _created_changes(p.customer))
            for p in profiles
        ),
    )
    return sum(len(p.contacts) for p in profiles)


def _created_changes(customer: Customer) -> dict[str, str]:
    return {"name": customer.name, "status": customer.status, "source": "demo data"}


def _insert(model: type[models.Model], names: tuple[str, ...], rows: Iterable[tuple[Any, ...]]) -> None:
    """Multi-row INSERTs of 500 rows each: one statement and one round trip per 500 rows, and
    SQL compiled once per statement rather than once per value as ``bulk_create`` does, which
    is most of its time at tens of thousands of rows. Dates and JSON still go through their
    field's ``get_db_prep_save``, as the ORM would; ints, strings and booleans need nothing."""
    fields = [model._meta.get_field(name) for name in names]
    quote = connection.ops.quote_name
    columns = ", ".join(quote(f.column) for f in fields)  # type: ignore[union-attr,arg-type]
    head = f"INSERT INTO {quote(model._meta.db_table)} ({columns}) VALUES "  # noqa: S608 - model metadata only
    one_row = f"({', '.join(['%s'] * len(fields))})"
    convert = [i for i, f in enumerate(fields) if isinstance(f, models.DateField | models.JSONField)]
    with connection.cursor() as cursor:
        for chunk in batched(rows, 500):
            params: list[Any] = []
            for row in chunk:
                values = list(row)
                for i in convert:
                    values[i] = fields[i].get_db_prep_save(values[i], connection)  # type: ignore[union-attr]
                params += values
            cursor.execute(head + ", ".join([one_row] * len(chunk)), params)


def unique(values: list[str]) -> list[str]:
    return list(dict.fromkeys(values))
