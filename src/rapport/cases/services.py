"""Write use-cases for cases. Each runs in one transaction, checks permission, records the
case history and the audit trail, and publishes its event after commit."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any

from django.db import transaction
from django.db.models import F
from django.utils import timezone

from rapport.cases import opening_terms, sla
from rapport.cases.events import CaseHandedOff, CaseOpened, CaseResolved, CompensationGranted
from rapport.cases.models import (
    DONE_STATUSES,
    OPEN_STATUSES,
    ActionStatus,
    Case,
    CaseEvent,
    CaseMessage,
    CaseType,
    ClockKind,
    Compensation,
    CompensationKind,
    CompensationStatus,
    CorrectiveAction,
    CustomerUpdate,
    MessageKind,
    Priority,
    PriorityRule,
    RootCause,
    SlaClock,
    SlaPolicy,
    Status,
)
from rapport.core import audit, events, rows
from rapport.core.business_time import holiday_dates, validate_zone
from rapport.core.errors import Conflict, InvalidInput, NotFound, PermissionDenied, PreconditionFailed
from rapport.core.models import AuditEntry, Calendar
from rapport.core.money import Money
from rapport.core.notifications import notify
from rapport.customers.models import Channel, Customer, Direction
from rapport.customers.services import TimelineEntry, log_interaction, publish_logged, unsaved_interactions
from rapport.people.models import Role, Staff, Team
from rapport.people.permissions import require_role, require_staff
from rapport.people.services import authority_for

MAX_SUBJECT = 200
MAX_HANDLING_SECONDS = 24 * 3600


# --- priority and policy ------------------------------------------------------------


def default_priority(facts: dict[str, Any], rules: list[PriorityRule]) -> str:
    """The first of the active ``rules`` whose every condition holds decides; otherwise normal.

    Facts today: case_type, text (subject + description), customer_tags, customer_status, tier. Unknown condition
    keys compare equal to the fact of the same name, so new facts need no code here."""
    text = str(facts.get("text", "")).casefold()
    tags = set(facts.get("customer_tags", ()))
    for rule in rules:
        if all(_holds(key, expected, facts, text, tags) for key, expected in rule.conditions.items()):
            return rule.priority
    return Priority.NORMAL


def _holds(key: str, expected: Any, facts: dict[str, Any], text: str, tags: set[str]) -> bool:
    if key == "words":
        return any(str(word).casefold() in text for word in expected)
    if key == "customer_tag":
        return str(expected).lower() in tags
    return facts.get(key) == expected


def most_specific_policy(policies: list[SlaPolicy], case_type: str, priority: str, tier: str = "") -> SlaPolicy | None:
    """The most specific active policy among those given: the most of type, priority and tier
    matched, then priority, then tier (blank fields match any)."""
    matching = (
        p for p in policies if p.case_type in ("", case_type) and p.priority in ("", priority) and p.tier in ("", tier)
    )
    return max(
        matching,
        key=lambda p: (bool(p.case_type) + bool(p.priority) + bool(p.tier), bool(p.priority), bool(p.tier), -p.id),
        default=None,
    )


# --- opening -----------------------------------------------------------------------


@dataclass
class CaseInput:
    customer_id: int
    type: str
    subject: str
    description: str = ""
    channel: str = Channel.OTHER
    priority: str | None = None
    owner: str | None = None  # username
    team: str | None = None  # team name
    status: str | None = None  # new (default), open, waiting_customer
    opened_at: datetime | None = None


def _choice(value: str, choices: Any, field: str, errors: dict[str, list[str]]) -> None:
    if value not in choices.values:
        errors.setdefault(field, []).append(f"'{value}' is not one of: {', '.join(choices.values)}.")


def _active_staff(username: str, field: str) -> Staff:
    staff = Staff.objects.select_related("team").filter(username=username).first()
    if staff is None or not staff.is_active:
        raise InvalidInput(f"No active staff member is called '{username}'.", field)
    return staff


def _team(name: str, field: str) -> Team:
    team = Team.objects.filter(name=name).first()
    if team is None:
        raise InvalidInput(f"No team is called '{name}'.", field)
    return team


def _check_opening(actor: Staff | None, data: CaseInput, now: datetime) -> dict[str, list[str]]:
    errors: dict[str, list[str]] = {}
    _choice(data.type, CaseType, "type", errors)
    _choice(data.channel, Channel, "channel", errors)
    if data.priority is not None:
        _choice(data.priority, Priority, "priority", errors)
    if data.status is not None and data.status not in (Status.NEW, Status.OPEN, Status.WAITING_CUSTOMER):
        errors.setdefault("status", []).append("A case opens as new, open or waiting_customer.")
    subject = " ".join(data.subject.split())
    if not subject:
        errors.setdefault("subject", []).append("Say in a few words what the case is about.")
    elif len(subject) > MAX_SUBJECT:
        errors.setdefault("subject", []).append(f"A subject can have at most {MAX_SUBJECT} characters.")
    if data.opened_at is not None:
        if timezone.is_naive(data.opened_at):
            errors.setdefault("opened_at", []).append("Give the time with its offset.")
        elif data.opened_at > now + timedelta(minutes=5):
            errors.setdefault("opened_at", []).append("A case cannot be opened in the future.")
        elif (
            actor is not None and data.opened_at < now - timedelta(minutes=5) and not actor.has_role_at_least(Role.LEAD)
        ):
            errors.setdefault("opened_at", []).append("Only team leads and above may open a case in the past.")
    return errors


# Higher apps may send the new cases of some customers to a team's queue (value: the dedicated
# team of a care tier). The first route that names a team wins.
TeamRoute = Callable[[Customer], Team | None]
_team_routes: list[TeamRoute] = []


def register_team_route(route: TeamRoute) -> None:
    if route not in _team_routes:
        _team_routes.append(route)


def _routed_team(customer: Customer) -> Team | None:
    for route in _team_routes:
        if (team := route(customer)) is not None:
            return team
    return None


def open_case(*, actor: Staff | None, data: CaseInput) -> Case:
    return open_case_with_clocks(actor=actor, data=data)[0]


def open_case_with_clocks(*, actor: Staff | None, data: CaseInput) -> tuple[Case, list[SlaClock]]:
    """Open a case; the clocks it started come back too, so an answer needs no second read."""
    return open_cases_with_clocks(actor=actor, inputs=[data])[0]


def open_cases(*, actor: Staff | None, inputs: list[CaseInput]) -> list[Case]:
    return [case for case, _ in open_cases_with_clocks(actor=actor, inputs=inputs)]


@transaction.atomic
def open_cases_with_clocks(*, actor: Staff | None, inputs: list[CaseInput]) -> list[tuple[Case, list[SlaClock]]]:
    """open_case for many cases at once (a worker's batch of new emails): the same checks and
    the same rows, but the reference data (customers, staff, teams, priority rules, policies)
    read once and one INSERT per table, so the queries do not grow with the batch. All or
    nothing: the first bad input (in order) raises what open_case would raise for it."""
    if actor is not None:
        require_staff(actor)
    if not inputs:
        return []
    now = timezone.now()
    known = _Known.read(inputs)
    cases = [_unsaved_case(actor, data, known, now) for data in inputs]
    rows.insert(cases)
    calendars = {p.calendar_id: p.calendar for p in known.policies}
    openings = [(case, case.opened_at, case.status == Status.WAITING_CUSTOMER) for case in cases]
    clocks = sla.unsaved_on_cases(openings, (ClockKind.FIRST_RESPONSE, ClockKind.RESOLUTION), calendars)
    history = [
        CaseEvent(
            case=case,
            kind="opened",
            actor=actor,
            data={"priority": case.priority, "policy": case.sla_terms.get("policy")},
            at=case.opened_at,
        )
        for case in cases
    ]
    # The cases' customers were read above, merged ones replaced: no second read.
    timeline = unsaved_interactions(actor=actor, entries=[_opening_entry(case, now) for case in cases], survivors=True)
    trail = [
        AuditEntry(
            actor_id=actor.pk if actor is not None else None,
            at=now,
            action="case.opened",
            subject_type="case",
            subject_id=case.id,
            changes={"reference": case.reference, "type": case.type, "priority": case.priority},
        )
        for case in cases
    ]
    # Everything that hangs off the new cases in one statement (one round trip on PostgreSQL).
    all_clocks = [clock for group in clocks for clock in group]
    rows.insert_all(all_clocks, history, timeline, trail)
    sla.schedule(*all_clocks)
    publish_logged(timeline)
    for case in cases:
        if case.owner and case.owner != actor:
            title = f"{case.reference} is yours: {case.subject}"
            notify(recipients=[case.owner], kind="case.assigned", title=title, link=_link(case))
        events.publish(CaseOpened(case_id=case.id, customer_id=case.customer_id, at=case.opened_at))
    return list(zip(cases, clocks, strict=True))


@dataclass
class _Known:
    """What open_cases reads once for the whole batch."""

    customers: dict[int, Customer]  # merged-away customers already replaced by their survivor
    missing: set[int]
    staff: dict[str, Staff]
    teams: dict[str, Team]
    rules: list[PriorityRule]
    tags: dict[int, list[str]]
    policies: list[SlaPolicy]

    @classmethod
    def read(cls, inputs: list[CaseInput]) -> _Known:
        ids = {data.customer_id for data in inputs}
        # The terms' stamp rides along with the customers: kept terms cost no extra query.
        found, stamp = opening_terms.customers_and_stamp(ids)
        survivors = Customer.objects.in_bulk({c.merged_into_id for c in found.values() if c.merged_into_id})
        customers = {i: survivors[c.merged_into_id] if c.merged_into_id else c for i, c in found.items()}
        terms = opening_terms.current(stamp)
        usernames = {data.owner for data in inputs if data.owner}
        team_names = {data.team for data in inputs if data.team}
        tags: dict[int, list[str]] = {}
        if _wants_tags(terms.rules):
            through = Customer.tags.through.objects.filter(customer_id__in={c.id for c in customers.values()})
            for customer_id, name in through.values_list("customer_id", "tag__name"):
                tags.setdefault(customer_id, []).append(name)
        return cls(
            customers=customers,
            missing=ids - set(found),
            staff={s.username: s for s in Staff.objects.select_related("team").filter(username__in=usernames)}
            if usernames
            else {},
            teams={t.name: t for t in Team.objects.filter(name__in=team_names)} if team_names else {},
            rules=terms.rules,
            tags=tags,
            policies=terms.policies,
        )


def _unsaved_case(actor: Staff | None, data: CaseInput, known: _Known, now: datetime) -> Case:
    """open_case's checks and choices, in its order, on what the batch read."""
    errors = _check_opening(actor, data, now)
    if errors:
        raise InvalidInput(errors)
    if data.customer_id in known.missing:
        raise InvalidInput(f"No customer with id {data.customer_id}.", "customer")
    customer = known.customers[data.customer_id]
    owner = known.staff.get(data.owner) if data.owner else None
    if data.owner and (owner is None or not owner.is_active):
        raise InvalidInput(f"No active staff member is called '{data.owner}'.", "owner")
    if data.team and data.team not in known.teams:
        raise InvalidInput(f"No team is called '{data.team}'.", "team")
    team = (
        known.teams[data.team]
        if data.team
        else (_routed_team(customer) or (owner.team if owner else (actor.team if actor else None)))
    )
    subject = " ".join(data.subject.split())
    text = f"{subject}\n{data.description}"
    priority = data.priority or default_priority(
        _facts(customer, data.type, text, known.tags.get(customer.id, [])), known.rules
    )
    policy = most_specific_policy(known.policies, data.type, priority, customer.care_tier)
    return Case(
        customer=customer,
        type=data.type,
        subject=subject,
        description=data.description,
        channel=data.channel,
        priority=priority,
        status=data.status or (Status.OPEN if owner else Status.NEW),
        owner=owner,
        team=team,
        opened_at=data.opened_at.astimezone(UTC) if data.opened_at else now,
        sla_terms=sla.terms_of(policy) if policy else {},
        created_by=actor,
    )


def _opening_entry(case: Case, now: datetime) -> TimelineEntry:
    return TimelineEntry(
        customer_id=case.customer_id,
        channel=case.channel,
        direction=Direction.INBOUND,
        summary=f"Opened {case.reference}: {case.subject}"[:300],
        body=case.description,
        occurred_at=min(case.opened_at, now),
        source_type="case",
        source_id=case.id,
    )


def _wants_tags(rules: list[PriorityRule]) -> bool:
    return any("customer_tag" in rule.conditions for rule in rules)


def _facts(customer: Customer, case_type: str, text: str, tags: list[str]) -> dict[str, Any]:
    return {
        "case_type": case_type,
        "text": text,
        "customer_tags": tags,
        "customer_status": customer.status,
        "tier": customer.care_tier,
    }


def _link(case: Case) -> str:
    return f"/cases/{case.reference}/"


def _history(
    case: Case, kind: str, actor: Staff | None, data: dict[str, Any] | None = None, at: datetime | None = None
) -> None:
    CaseEvent.objects.create(case=case, kind=kind, actor=actor, data=data or {}, at=at or timezone.now())


def _locked(case_id: int) -> Case:
    case = Case.objects.select_for_update(of=("self",)).select_related("owner", "team").filter(id=case_id).first()
    if case is None:
        raise NotFound("No such case.")
    return case


def _bump(case: Case, expected_version: int | None = None) -> None:
    if expected_version is not None and case.version != expected_version:
        raise PreconditionFailed(f"{case.reference} changed since you read it (now version {case.version}).")
    case.version += 1


def _may_work_on(actor: Staff | None, case: Case) -> None:
    """Owners, watchers' leads and anyone lead and above may act; agents act on their own,
    their team's and unassigned cases."""
    if actor is None:
        return
    require_staff(actor)
    if actor.has_role_at_least(Role.LEAD) or case.owner_id in (None, actor.id):
        return
    if case.team_id is not None and case.team_id == actor.team_id:
        return
    raise PermissionDenied(f"{case.reference} belongs to {case.owner}; ask them or a team lead to hand it off.")


# --- ownership --------------------------------------------------------------------


@transaction.atomic
def claim_case(*, actor: Staff, case_id: int) -> Case:
    """Take an unassigned case. Of two people claiming at once, exactly one wins."""
    require_staff(actor)
    now = timezone.now()
    won = Case.objects.filter(id=case_id, owner__isnull=True, status__in=OPEN_STATUSES).update(
        owner=actor,
        team=F("team") if actor.team_id is None else actor.team_id,
        version=F("version") + 1,
        updated_at=now,
    )
    case = _locked(case_id)
    if not won:
        if case.owner_id == actor.id:
            return case
        raise Conflict(
            f"{case.reference} is already owned by {case.owner}." if case.owner else f"{case.reference} is closed."
        )
    if case.status == Status.NEW:
        case.status = Status.OPEN
        case.save(update_fields=["status"])
    _history(case, "claimed", actor, {"owner": actor.username})
    audit.record(
        actor=actor,
        action="case.claimed",
        subject_type="case",
        subject_id=case.id,
        changes={"owner": [None, actor.username]},
    )
    return case


@transaction.atomic
def hand_off(
    *,
    actor: Staff,
    case_id: int,
    to_user: str | None = None,
    to_team: str | None = None,
    reason: str,
    expected_version: int | None = None,
) -> Case:
    """Pass a case on. The previous owner keeps watching it; the customer is told who has it now."""
    case = _locked(case_id)
    _may_work_on(actor, case)
    _bump(case, expected_version)
    errors: dict[str, list[str]] = {}
    if not (to_user or to_team):
        errors["to_user"] = ["Hand the case to a person (to_user) or a team (to_team)."]
    if not (reason or "").strip():
        errors["reason"] = ["Say why the case is being handed off."]
    if not case.is_open:
        errors.setdefault("status", []).append(
            f"{case.reference} is {case.get_status_display().lower()}; reopen it first."
        )
    if errors:
        raise InvalidInput(errors)
    new_owner = _active_staff(to_user, "to_user") if to_user else None
    new_team = _team(to_team, "to_team") if to_team else (new_owner.team if new_owner and new_owner.team else case.team)
    previous = case.owner
    if previous is not None and previous != new_owner:
        case.watchers.add(previous)
    case.owner, case.team = new_owner, new_team
    if case.status == Status.NEW and new_owner:
        case.status = Status.OPEN
    case.save()
    handed_to = new_owner.display_name if new_owner else f"the {new_team} team"
    _history(
        case,
        "handed_off",
        actor,
        {
            "from": previous.username if previous else None,
            "to_user": new_owner.username if new_owner else None,
            "to_team": new_team.name if new_team else None,
            "reason": reason,
        },
    )
    log_interaction(
        actor=actor,
        customer_id=case.customer_id,
        channel=Channel.OTHER,
        direction=Direction.OUTBOUND,
        summary=f"{case.reference} handed to {handed_to}"[:300],
        body=reason,
        source_type="case",
        source_id=case.id,
    )
    first_name = (new_owner.first_name or new_owner.display_name) if new_owner else None
    CustomerUpdate.objects.create(
        case=case,
        kind="handed_off",
        subject=f"[{case.reference}] {case.subject}"[:200],
        body=(
            f"{first_name} from our {new_team} team is now looking after your case {case.reference}."
            if first_name and new_team
            else f"Your case {case.reference} is now with {handed_to}."
        ),
    )
    audit.record(
        actor=actor,
        action="case.handed_off",
        subject_type="case",
        subject_id=case.id,
        changes={
            "owner": [previous.username if previous else None, new_owner.username if new_owner else None],
            "reason": reason,
        },
    )
    recipients = [new_owner] if new_owner else ([new_team.lead] if new_team and new_team.lead else [])
    notify(
        recipients=[r for r in recipients if r != actor],
        kind="case.handed_off",
        title=f"{case.reference} handed to you: {case.subject}",
        link=_link(case),
    )
    events.publish(
        CaseHandedOff(
            case_id=case.id,
            from_owner_id=previous.id if previous else None,
            to_owner_id=new_owner.id if new_owner else None,
            at=timezone.now(),
        )
    )
    return case


# --- conversation and status ---------------------------------------------------------


def _clocks(case: Case, *kinds: str) -> list[SlaClock]:
    return list(SlaClock.objects.select_for_update().select_related("calendar").filter(case=case, kind__in=kinds))


@transaction.atomic
def add_message(
    *, actor: Staff, case_id: int, kind: str, body: str, handling_seconds: int | None = None
) -> CaseMessage:
    """A public reply (to the customer, on the timeline, stops response clocks) or an internal note.
    ``handling_seconds`` is the staff time the work took (the cost to serve counts it)."""
    case = _locked(case_id)
    _may_work_on(actor, case)
    if kind not in (MessageKind.PUBLIC, MessageKind.INTERNAL):
        raise InvalidInput("kind must be public or internal.", "kind")
    if not (body or "").strip():
        raise InvalidInput("Write the message.", "body")
    if handling_seconds is not None and not 0 <= handling_seconds <= MAX_HANDLING_SECONDS:
        raise InvalidInput(f"The time spent must be between 0 and {MAX_HANDLING_SECONDS} seconds.", "handling_seconds")
    now = timezone.now()
    interaction = None
    if kind == MessageKind.PUBLIC:
        interaction = log_interaction(
            actor=actor,
            customer_id=case.customer_id,
            channel=case.channel if case.channel != Channel.OTHER else Channel.EMAIL,
            direction=Direction.OUTBOUND,
            summary=f"Reply on {case.reference}: {body.strip().splitlines()[0]}"[:300],
            body=body,
            source_type="case",
            source_id=case.id,
        )
        for clock in _clocks(case, ClockKind.FIRST_RESPONSE, ClockKind.NEXT_RESPONSE):
            sla.stop(clock, now)
        if case.first_response_at is None:
            case.first_response_at = now
        if case.status == Status.NEW:
            case.status = Status.OPEN
        case.version += 1
        case.save()
    message = CaseMessage.objects.create(
        case=case,
        kind=kind,
        body=body,
        author=actor,
        interaction=interaction,
        created_at=now,
        handling_seconds=handling_seconds,
    )
    _history(case, "reply" if kind == MessageKind.PUBLIC else "note", actor, {"message_id": message.id}, now)
    return message


@transaction.atomic
def record_customer_reply(
    *, actor: Staff | None, case_id: int, body: str, channel: str = Channel.EMAIL, interaction_id: int | None = None
) -> CaseMessage:
    """The customer wrote back: resume paused clocks and start the next-response clock."""
    case = _locked(case_id)
    now = timezone.now()
    if interaction_id is None:
        interaction_id = log_interaction(
            actor=actor,
            customer_id=case.customer_id,
            channel=channel,
            direction=Direction.INBOUND,
            summary=f"Customer reply on {case.reference}"[:300],
            body=body,
            source_type="case",
            source_id=case.id,
        ).id
    if case.status == Status.WAITING_CUSTOMER:
        _resume_all(case, now)
        case.status = Status.OPEN
    if case.status in DONE_STATUSES:
        _history(case, "customer_wrote_after_resolution", actor)
    elif (
        not SlaClock.objects.filter(case=case, kind=ClockKind.NEXT_RESPONSE, stopped_at__isnull=True).exists()
        and case.first_response_at is not None
    ):
        sla.start(case, ClockKind.NEXT_RESPONSE, now)
    case.version += 1
    case.save()
    message = CaseMessage.objects.create(
        case=case, kind=MessageKind.CUSTOMER, body=body, interaction_id=interaction_id, created_at=now
    )
    _history(case, "customer_reply", actor, {"message_id": message.id}, now)
    if case.owner:
        notify(
            recipients=[case.owner],
            kind="case.customer_reply",
            title=f"{case.reference}: the customer replied",
            link=_link(case),
        )
    return message


def _pause_all(case: Case, at: datetime) -> None:
    for clock in _clocks(case, *sla.KINDS):
        sla.pause(clock, at)


def _resume_all(case: Case, at: datetime) -> None:
    for clock in _clocks(case, *sla.KINDS):
        sla.resume(clock, at)


@transaction.atomic
def set_status(*, actor: Staff, case_id: int, status: str, expected_version: int | None = None) -> Case:
    """Move between the working states; resolving and reopening have their own use-cases."""
    case = _locked(case_id)
    _may_work_on(actor, case)
    _bump(case, expected_version)
    allowed = (Status.OPEN, Status.WAITING_CUSTOMER, Status.WAITING_THIRD_PARTY, Status.CLOSED)
    if status not in allowed:
        raise InvalidInput(
            f"Set status to one of {', '.join(allowed)}; use resolve or reopen for the others.", "status"
        )
    if status == Status.CLOSED and case.status != Status.RESOLVED:
        raise InvalidInput("Only a resolved case can be closed.", "status")
    if status != Status.CLOSED and not case.is_open:
        raise InvalidInput(f"{case.reference} is {case.get_status_display().lower()}; reopen it first.", "status")
    now = timezone.now()
    before = case.status
    if status == Status.WAITING_CUSTOMER and before != Status.WAITING_CUSTOMER:
        _pause_all(case, now)
    elif before == Status.WAITING_CUSTOMER and status != Status.WAITING_CUSTOMER:
        _resume_all(case, now)
    case.status = status
    if status == Status.CLOSED:
        case.closed_at = now
    case.save()
    _history(case, "status", actor, {"from": before, "to": status}, now)
    audit.record(
        actor=actor, action="case.status", subject_type="case", subject_id=case.id, changes={"status": [before, status]}
    )
    return case


@transaction.atomic
def resolve_case(
    *,
    actor: Staff,
    case_id: int,
    root_cause_id: int | None = None,
    statement: str = "",
    expected_version: int | None = None,
) -> Case:
    """Resolve; a complaint needs its root cause and a statement of what went wrong."""
    case = _locked(case_id)
    _may_work_on(actor, case)
    _bump(case, expected_version)
    errors: dict[str, list[str]] = {}
    root = RootCause.objects.filter(id=root_cause_id, active=True).first() if root_cause_id else None
    if root_cause_id and root is None:
        errors["root_cause"] = [f"No active root cause with id {root_cause_id}."]
    if case.type == CaseType.COMPLAINT:
        if root_cause_id is None:
            errors["root_cause"] = ["A complaint needs a root cause before it is resolved."]
        if not statement.strip():
            errors["statement"] = ["Say in a sentence what went wrong."]
    if not case.is_open:
        errors.setdefault("status", []).append(f"{case.reference} is already {case.get_status_display().lower()}.")
    if errors:
        raise InvalidInput(errors)
    now = timezone.now()
    for clock in _clocks(case, *sla.KINDS):
        if clock.paused_at:
            sla.resume(clock, now)
        sla.stop(clock, now)
    before = case.status
    case.status, case.resolved_at = Status.RESOLVED, now
    case.root_cause, case.root_cause_statement = root, statement.strip()
    case.save()
    _history(
        case,
        "resolved",
        actor,
        {"root_cause": root.name if root else None, "statement": case.root_cause_statement},
        now,
    )
    CustomerUpdate.objects.create(
        case=case,
        kind="resolved",
        subject=f"[{case.reference}] {case.subject}"[:200],
        body=f"We have resolved your case {case.reference}. Reply to this message if anything is still wrong.",
    )
    audit.record(
        actor=actor,
        action="case.resolved",
        subject_type="case",
        subject_id=case.id,
        changes={"status": [before, Status.RESOLVED], "root_cause": root.name if root else None},
    )
    events.publish(CaseResolved(case_id=case.id, customer_id=case.customer_id, owner_id=case.owner_id, at=now))
    return case


@transaction.atomic
def reopen_case(*, actor: Staff, case_id: int, reason: str = "") -> Case:
    case = _locked(case_id)
    _may_work_on(actor, case)
    if case.is_open:
        raise InvalidInput(f"{case.reference} is still open.", "status")
    now = timezone.now()
    for clock in _clocks(case, ClockKind.RESOLUTION):
        sla.restart(clock, now)
    before = case.status
    case.status, case.resolved_at, case.closed_at = Status.OPEN, None, None
    case.version += 1
    case.save()
    _history(case, "reopened", actor, {"reason": reason}, now)
    audit.record(
        actor=actor,
        action="case.reopened",
        subject_type="case",
        subject_id=case.id,
        changes={"status": [before, Status.OPEN], "reason": reason},
    )
    return case


@transaction.atomic
def update_case(*, actor: Staff, case_id: int, changes: dict[str, Any], expected_version: int | None = None) -> Case:
    """Edit subject, description, type or priority (the SLA terms the case started with stay)."""
    case = _locked(case_id)
    _may_work_on(actor, case)
    _bump(case, expected_version)
    errors: dict[str, list[str]] = {}
    unknown = set(changes) - {"subject", "description", "type", "priority"}
    if unknown:
        errors["__all__"] = [f"These fields cannot be changed here: {', '.join(sorted(unknown))}."]
    if "type" in changes:
        _choice(changes["type"], CaseType, "type", errors)
    if "priority" in changes:
        _choice(changes["priority"], Priority, "priority", errors)
    if "subject" in changes and not " ".join(str(changes["subject"]).split()):
        errors["subject"] = ["The subject cannot be empty."]
    if errors:
        raise InvalidInput(errors)
    before = {k: getattr(case, k) for k in changes}
    for key, value in changes.items():
        setattr(case, key, " ".join(value.split()) if key == "subject" else value)
    case.save()
    audit.record(
        actor=actor,
        action="case.updated",
        subject_type="case",
        subject_id=case.id,
        changes=audit.diff(before, {k: getattr(case, k) for k in changes}),
    )
    return case


# --- compensation ------------------------------------------------------------------


def _covers(staff: Staff, money: Money, limit: Money | None = None) -> bool:
    limit = limit or authority_for(staff).max_compensation
    # Limits are set in one house currency; another currency is beyond anyone's authority but
    # an admin's, since there is no agreed rate to compare it with.
    if money.currency != limit.currency:
        return staff.role == Role.ADMIN
    return money.amount <= limit.amount


def can_decide(staff: Staff, compensation: Compensation, limit: Money | None = None) -> bool:
    """Whether ``staff`` may approve or reject this request (pages use it to hide buttons;
    pass the staff member's ``limit`` when checking many requests)."""
    if compensation.status != CompensationStatus.PENDING or compensation.requested_by_id == staff.id:
        return False
    return _covers(staff, Money(compensation.amount or Decimal(0), compensation.currency), limit)


@transaction.atomic
def request_compensation(
    *, actor: Staff, case_id: int, kind: str, amount: Any = None, currency: str = "", description: str = ""
) -> Compensation:
    """Grant at once within the actor's authority; above it, ask someone whose limit covers it."""
    case = _locked(case_id)
    _may_work_on(actor, case)
    errors: dict[str, list[str]] = {}
    if kind not in CompensationKind.values:
        errors["kind"] = [f"'{kind}' is not one of: {', '.join(CompensationKind.values)}."]
    money = None
    if amount is not None and str(amount).strip() != "":
        try:
            money = Money.parse(amount, currency)
            if money.amount <= 0:
                errors["amount"] = ["Compensation must be more than zero."]
        except InvalidInput as exc:
            for key, messages in exc.errors.items():
                errors.setdefault(key, []).extend(messages)
    elif not description.strip():
        errors["amount"] = ["Give an amount and currency, or describe the gesture."]
    if errors:
        raise InvalidInput(errors)
    now = timezone.now()
    within = money is None or _covers(actor, money)
    compensation = Compensation.objects.create(
        case=case,
        customer_id=case.customer_id,
        kind=kind,
        amount=money.amount if money else None,
        currency=money.currency if money else "",
        description=description.strip(),
        status=CompensationStatus.GRANTED if within else CompensationStatus.PENDING,
        requested_by=actor,
        decided_by=actor if within else None,
        decided_at=now if within else None,
        requested_at=now,
    )
    if within:
        _granted(actor, compensation, now)
    else:
        approvers = [
            s
            for s in Staff.objects.active().filter(role__in=[Role.LEAD, Role.MANAGER, Role.ADMIN])
            if s.id != actor.id and money is not None and _covers(s, money)
        ]
        notify(
            recipients=approvers,
            kind="compensation.approval",
            title=f"Approve {money} for {case.reference}?",
            link=_link(case),
        )
        _history(case, "compensation_requested", actor, {"compensation_id": compensation.id, "amount": str(money)}, now)
    audit.record(
        actor=actor,
        action="compensation.requested",
        subject_type="case",
        subject_id=case.id,
        changes={
            "compensation_id": compensation.id,
            "status": compensation.status,
            "amount": str(money) if money else None,
        },
    )
    return compensation


def _granted(actor: Staff, compensation: Compensation, at: datetime) -> None:
    case = compensation.case
    what = (
        f"{compensation.get_kind_display()} of {Money.of(compensation.amount, compensation.currency)}"
        if compensation.amount is not None
        else f"{compensation.get_kind_display()}: {compensation.description}"
    )
    _history(case, "compensation_granted", actor, {"compensation_id": compensation.id, "what": what}, at)
    log_interaction(
        actor=actor,
        customer_id=case.customer_id,
        channel=Channel.OTHER,
        direction=Direction.OUTBOUND,
        summary=f"{what} granted on {case.reference}"[:300],
        body=compensation.description,
        source_type="compensation",
        source_id=compensation.id,
    )
    events.publish(
        CompensationGranted(compensation_id=compensation.id, case_id=case.id, customer_id=case.customer_id, at=at)
    )


def _decide(actor: Staff, compensation_id: int, *, status: str, reason: str) -> Compensation:
    """Settle a pending request: never one's own, only within the decider's authority."""
    require_staff(actor)
    compensation = Compensation.objects.select_for_update().select_related("case").filter(id=compensation_id).first()
    if compensation is None:
        raise NotFound("No such compensation request.")
    if compensation.status != CompensationStatus.PENDING:
        raise Conflict(f"This request was already {compensation.get_status_display().lower()}.")
    if compensation.requested_by_id == actor.id:
        raise PermissionDenied("You cannot decide on your own compensation request.")
    money = Money(compensation.amount or Decimal(0), compensation.currency)
    if not _covers(actor, money):
        raise PermissionDenied(f"{money} is above your authority; ask someone whose limit covers it.")
    compensation.status, compensation.decided_by, compensation.decided_at = status, actor, timezone.now()
    compensation.decision_reason = reason.strip()
    compensation.save()
    verdict = "approved" if status == CompensationStatus.GRANTED else "rejected"
    notify(
        recipients=[compensation.requested_by],
        kind=f"compensation.{verdict}",
        title=f"{money} {verdict} for {compensation.case.reference}" + (f": {reason}" if reason else ""),
        link=_link(compensation.case),
    )
    audit.record(
        actor=actor,
        action=f"compensation.{verdict}",
        subject_type="case",
        subject_id=compensation.case_id,
        changes={"compensation_id": compensation.id, "reason": compensation.decision_reason},
    )
    return compensation


@transaction.atomic
def approve_compensation(*, actor: Staff, compensation_id: int, reason: str = "") -> Compensation:
    compensation = _decide(actor, compensation_id, status=CompensationStatus.GRANTED, reason=reason)
    _granted(actor, compensation, compensation.decided_at or timezone.now())
    return compensation


@transaction.atomic
def reject_compensation(*, actor: Staff, compensation_id: int, reason: str) -> Compensation:
    if not reason.strip():
        raise InvalidInput("Say why the request is rejected.", "reason")
    compensation = _decide(actor, compensation_id, status=CompensationStatus.REJECTED, reason=reason)
    data = {"compensation_id": compensation.id, "reason": compensation.decision_reason}
    _history(compensation.case, "compensation_rejected", actor, data, compensation.decided_at)
    return compensation


# --- escalation (the sweeps sla.schedule plans, and a recurring one) ------------------

SWEEP_BATCH = 500


def escalate_due_clocks(now: datetime | None = None) -> int:
    """Escalate every running clock at risk or breached by ``now`` that has not been yet; each
    in its own transaction, so one failure leaves the others done. Reads only such clocks (two
    small partial indexes), never every case. A full batch schedules the next sweep at once."""
    from rapport.cases import tasks  # tasks import services

    now = now or timezone.now()
    running = SlaClock.objects.running()
    at_risk = list(
        running.filter(at_risk_notified_at__isnull=True, at_risk_at__lte=now)
        .order_by("at_risk_at")
        .values_list("id", "generation")[:SWEEP_BATCH]
    )
    breached = list(
        running.filter(breached_at__isnull=True, due_at__lte=now)
        .order_by("due_at")
        .values_list("id", "generation")[:SWEEP_BATCH]
    )
    done = sum(escalate_at_risk(clock_id=i, generation=g) for i, g in at_risk)
    done += sum(escalate_breach(clock_id=i, generation=g) for i, g in breached)
    if SWEEP_BATCH in (len(at_risk), len(breached)):
        tasks.sweep_clocks.enqueue(now.isoformat())
    return done


@transaction.atomic
def escalate_at_risk(*, clock_id: int, generation: int) -> bool:
    clock = (
        SlaClock.objects.select_for_update(of=("self",))
        .select_related("case", "case__owner", "case__team__lead")
        .filter(id=clock_id)
        .first()
    )
    if (
        clock is None
        or clock.generation != generation
        or clock.stopped_at
        or clock.paused_at
        or clock.at_risk_notified_at
    ):
        return False
    clock.at_risk_notified_at = timezone.now()
    clock.save(update_fields=["at_risk_notified_at"])
    case = clock.case
    _history(case, "at_risk", None, {"clock": clock.kind, "due_at": clock.due_at.isoformat() if clock.due_at else None})
    notify(
        recipients=[case.owner] if case.owner else ([case.team.lead] if case.team and case.team.lead else []),
        kind="sla.at_risk",
        title=f"{case.reference}: {clock.get_kind_display().lower()} due soon",
        link=_link(case),
    )
    return True


@transaction.atomic
def escalate_breach(*, clock_id: int, generation: int) -> bool:
    clock = (
        SlaClock.objects.select_for_update(of=("self",))
        .select_related("case", "case__team__lead")
        .filter(id=clock_id)
        .first()
    )
    if clock is None or clock.generation != generation or clock.stopped_at or clock.paused_at or clock.breached_at:
        return False
    now = timezone.now()
    if clock.due_at is None or now < clock.due_at:
        return False
    clock.breached_at = clock.due_at
    clock.save(update_fields=["breached_at"])
    case = clock.case
    _history(case, "breached", None, {"clock": clock.kind, "due_at": clock.due_at.isoformat()})
    log_interaction(
        actor=None,
        customer_id=case.customer_id,
        channel=Channel.OTHER,
        direction=Direction.OUTBOUND,
        summary=f"{case.reference}: {clock.get_kind_display().lower()} standard missed",
        source_type="case",
        source_id=case.id,
        occurred_at=now,
    )
    lead = case.team.lead if case.team else None
    notify(
        recipients=[lead] if lead else list(Staff.objects.active().filter(role=Role.MANAGER)),
        kind="sla.breached",
        title=f"{case.reference}: {clock.get_kind_display().lower()} breached",
        link=_link(case),
    )
    return True


# --- reference data -----------------------------------------------------------------


@transaction.atomic
def create_root_cause(*, actor: Staff, name: str, parent_id: int | None = None) -> RootCause:
    require_role(actor, Role.MANAGER, "change the root-cause tree")
    name = " ".join(name.split())
    if not name:
        raise InvalidInput("A root cause needs a name.", "name")
    parent = RootCause.objects.filter(id=parent_id).first() if parent_id else None
    if parent_id and parent is None:
        raise InvalidInput(f"No root cause with id {parent_id}.", "parent")
    if RootCause.objects.filter(parent=parent, name__iexact=name).exists():
        raise Conflict(f"'{name}' already exists there.")
    cause = RootCause.objects.create(name=name, parent=parent)
    audit.record(
        actor=actor, action="root_cause.created", subject_type="root_cause", subject_id=cause.id, changes={"name": name}
    )
    return cause


def move_cases_on_merge(survivor_id: int, duplicate_id: int) -> None:
    """Merge step: a duplicate customer's cases and compensation follow them to the survivor."""
    Case.objects.filter(customer_id=duplicate_id).update(customer_id=survivor_id)
    Compensation.objects.filter(customer_id=duplicate_id).update(customer_id=survivor_id)


@transaction.atomic
def create_calendar(
    *,
    actor: Staff,
    name: str,
    timezone_name: str,
    weekly_hours: dict[str, Any],
    holidays: dict[str, str] | None = None,
    closed_dates: list[str] | None = None,
) -> Calendar:
    """A business calendar; refused when it has no opening hours or unknown zone or country."""
    require_role(actor, Role.MANAGER, "set up business calendars")
    holidays = holidays or {}
    errors: dict[str, list[str]] = {}
    name = " ".join((name or "").split())
    if not name:
        errors["name"] = ["A calendar needs a name."]
    dates: list[str] = []
    for raw in closed_dates or []:
        try:
            dates.append(date.fromisoformat(raw).isoformat())
        except (TypeError, ValueError):
            errors.setdefault("closed_dates", []).append(f"'{raw}' is not a date like 2026-12-24.")
    calendar = Calendar(
        name=name,
        timezone=timezone_name,
        weekly_hours=weekly_hours,
        holiday_country=(holidays.get("country") or "").upper(),
        holiday_subdivision=holidays.get("subdivision") or "",
        closed_dates=sorted(set(dates)),
    )
    try:
        hours = calendar.as_business_hours()
        validate_zone(timezone_name)
        holiday_dates(hours.country, hours.subdivision, [timezone.now().year])
    except InvalidInput as exc:
        for key, messages in exc.errors.items():
            errors.setdefault(key if key != "__all__" else "weekly_hours", []).extend(messages)
    if errors:
        raise InvalidInput(errors)
    if Calendar.objects.filter(name=name).exists():
        raise Conflict(f"A calendar called '{name}' already exists.")
    calendar.save()
    audit.record(
        actor=actor,
        action="calendar.created",
        subject_type="calendar",
        subject_id=calendar.id,
        changes={"name": name, "timezone": timezone_name},
    )
    return calendar


@transaction.atomic
def create_sla_policy(
    *,
    actor: Staff,
    name: str,
    calendar_id: int,
    case_type: str = "",
    priority: str = "",
    tier: str = "",
    first_response_minutes: int,
    next_response_minutes: int,
    resolution_minutes: int,
    at_risk_ratio: Decimal | float | str = Decimal("0.8"),
) -> SlaPolicy:
    require_role(actor, Role.MANAGER, "set service standards")
    errors: dict[str, list[str]] = {}
    if not (name or "").strip():
        errors["name"] = ["A policy needs a name."]
    if case_type:
        _choice(case_type, CaseType, "case_type", errors)
    if priority:
        _choice(priority, Priority, "priority", errors)
    for field, value in (
        ("first_response_minutes", first_response_minutes),
        ("next_response_minutes", next_response_minutes),
        ("resolution_minutes", resolution_minutes),
    ):
        if not isinstance(value, int) or value <= 0:
            errors[field] = ["Give a whole number of business minutes above zero."]
    ratio = Decimal(str(at_risk_ratio))
    if not Decimal(0) < ratio < Decimal(1):
        errors["at_risk_ratio"] = ["The at-risk share is a fraction between 0 and 1, like 0.8."]
    calendar = Calendar.objects.filter(id=calendar_id).first()
    if calendar is None:
        errors["calendar"] = [f"No calendar with id {calendar_id}."]
    if errors or calendar is None:
        raise InvalidInput(errors)
    policy = SlaPolicy.objects.create(
        name=name.strip(),
        calendar=calendar,
        case_type=case_type,
        priority=priority,
        tier=tier.strip(),
        first_response_minutes=first_response_minutes,
        next_response_minutes=next_response_minutes,
        resolution_minutes=resolution_minutes,
        at_risk_ratio=ratio,
    )
    audit.record(
        actor=actor,
        action="sla_policy.created",
        subject_type="sla_policy",
        subject_id=policy.id,
        changes=sla.terms_of(policy),
    )
    return policy


@transaction.atomic
def create_corrective_action(
    *,
    actor: Staff,
    title: str,
    owner: str,
    due_date: date,
    description: str = "",
    case_ids: list[int] | None = None,
    root_cause_id: int | None = None,
) -> CorrectiveAction:
    """Fixing the system behind complaints: an owner, a due date, the cases it answers."""
    require_role(actor, Role.LEAD, "plan corrective actions")
    errors: dict[str, list[str]] = {}
    if not (title or "").strip():
        errors["title"] = ["Say what will change."]
    cases = list(Case.objects.filter(id__in=case_ids or []))
    if len(cases) != len(set(case_ids or [])):
        errors["cases"] = ["Some of those cases do not exist."]
    root = RootCause.objects.filter(id=root_cause_id).first() if root_cause_id else None
    if root_cause_id and root is None:
        errors["root_cause"] = [f"No root cause with id {root_cause_id}."]
    if errors:
        raise InvalidInput(errors)
    action = CorrectiveAction.objects.create(
        title=title.strip(),
        description=description,
        owner=_active_staff(owner, "owner"),
        due_date=due_date,
        root_cause=root,
    )
    action.cases.set(cases)
    audit.record(
        actor=actor,
        action="corrective_action.created",
        subject_type="corrective_action",
        subject_id=action.id,
        changes={"title": action.title, "owner": owner, "cases": [c.reference for c in cases]},
    )
    if action.owner != actor:
        notify(recipients=[action.owner], kind="corrective_action.assigned", title=f"Fix the system: {action.title}")
    return action


@transaction.atomic
def set_corrective_action_status(*, actor: Staff, action_id: int, status: str) -> CorrectiveAction:
    require_staff(actor)
    action = CorrectiveAction.objects.select_for_update().filter(id=action_id).first()
    if action is None:
        raise NotFound("No such corrective action.")
    if action.owner_id != actor.id and not actor.has_role_at_least(Role.LEAD):
        raise PermissionDenied("Only its owner or a team lead may update a corrective action.")
    if status not in ActionStatus.values:
        raise InvalidInput(f"status must be one of {', '.join(ActionStatus.values)}.", "status")
    before = action.status
    action.status = status
    action.completed_at = timezone.now() if status == ActionStatus.DONE else None
    action.save()
    audit.record(
        actor=actor,
        action="corrective_action.status",
        subject_type="corrective_action",
        subject_id=action.id,
        changes={"status": [before, status]},
    )
    return action


@transaction.atomic
def create_priority_rule(
    *, actor: Staff, conditions: dict[str, Any], priority: str, position: int = 100
) -> PriorityRule:
    require_role(actor, Role.MANAGER, "set priority rules")
    errors: dict[str, list[str]] = {}
    _choice(priority, Priority, "priority", errors)
    if not conditions:
        errors["conditions"] = ["A rule needs at least one condition."]
    if "words" in conditions and not (
        isinstance(conditions["words"], list) and all(isinstance(w, str) for w in conditions["words"])
    ):
        errors["conditions"] = ["words is a list of words or phrases."]
    if errors:
        raise InvalidInput(errors)
    rule = PriorityRule.objects.create(conditions=conditions, priority=priority, position=position)
    audit.record(
        actor=actor,
        action="priority_rule.created",
        subject_type="priority_rule",
        subject_id=rule.id,
        changes={"conditions": conditions, "priority": priority},
    )
    return rule
