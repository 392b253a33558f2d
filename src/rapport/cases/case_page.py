"""The case page's read and its lists, written here rather than by template loops.

``load(case_id)`` reads the case with its customer, owner, team and root cause and every list
the page shows (clocks, watchers, messages, events, compensations) in ONE statement: the lists
come back as JSON arrays built by the database (``json_agg`` on PostgreSQL, ``json_group_array``
on SQLite), so the page costs one round trip and no ORM query compilation (which was most of the
page's Python time; see bench/profile_request.py). The ``render_*`` functions write the parts of
cases/case.html that are loops; every value from the database goes through ``escape``.

A read of cases' tables kept beside the page for now (queries.py is for reads shared with the
API); it reads nothing else.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from html import escape
from typing import Any

from django.db import connection
from django.utils import timezone
from django.utils.formats import localize
from django.utils.safestring import SafeString, mark_safe

from rapport.cases.models import (
    Case,
    CaseType,
    ClockKind,
    Compensation,
    CompensationKind,
    CompensationStatus,
    Priority,
    RootCause,
    Status,
)
from rapport.cases.queries import clock_state
from rapport.core.money import Money
from rapport.customers.models import Channel, Customer
from rapport.people.models import Staff, Team

# --- the read -----------------------------------------------------------------------------

# Columns of the case row, in the order of the array the statement returns.
CASE_FIELDS = (
    "id",
    "customer_id",
    "type",
    "subject",
    "description",
    "channel",
    "priority",
    "status",
    "owner_id",
    "team_id",
    "opened_at",
    "first_response_at",
    "resolved_at",
    "closed_at",
    "root_cause_id",
    "root_cause_statement",
    "created_by_id",
    "version",
    "created_at",
    "updated_at",
)
CASE_TIMES = frozenset({"opened_at", "first_response_at", "resolved_at", "closed_at", "created_at", "updated_at"})


def staff(alias: str, column: str) -> str:
    """A staff member's [username, first name, last name] by a scalar subquery on the primary
    key: the planner spends far less on these than on joins (hash joins over people_staff were
    half the database's time for this statement). {json}(): SQLite loses JSON-ness across a
    subquery, json() gives it back."""
    return (
        f"{{json}}((SELECT {{array}}({alias}.username, {alias}.first_name, {alias}.last_name)"  # noqa: S608
        f" FROM people_staff {alias} WHERE {alias}.id = {column}))"
    )


# One list per item: (the array's items, FROM ... WHERE ..., ORDER BY ...).
LISTS = (
    (  # clocks
        "k.kind, k.due_at, k.at_risk_at, k.paused_at, k.stopped_at, k.breached_at",
        "cases_slaclock k WHERE k.case_id = c.id",
        "k.id",
    ),
    (  # watchers, as case.watchers.all() orders them (Staff.Meta.ordering)
        "s.username, s.first_name, s.last_name",
        "people_staff s WHERE s.id IN (SELECT w.staff_id FROM cases_case_watchers w WHERE w.case_id = c.id)",
        "s.username",
    ),
    (  # messages
        f"m.kind, m.body, m.created_at, {staff('ma', 'm.author_id')}",
        "cases_casemessage m WHERE m.case_id = c.id",
        "m.created_at, m.id",
    ),
    (  # events
        f"e.kind, {{json}}(e.data), e.at, {staff('ea', 'e.actor_id')}",
        "cases_caseevent e WHERE e.case_id = c.id",
        "e.at, e.id",
    ),
    (  # compensations
        "p.id, p.kind, {amount}, p.currency, p.status, p.description, p.decision_reason, p.requested_by_id,"
        f" p.decided_by_id, p.requested_at, {staff('pr', 'p.requested_by_id')}, {staff('pd', 'p.decided_by_id')}",
        "cases_compensation p WHERE p.case_id = c.id",
        "p.requested_at, p.id",
    ),
)

PAGE_SQL = """SELECT {array}(
  {case_columns},
  {json}((SELECT {array}(cu.name, cu.care_tier) FROM customers_customer cu WHERE cu.id = c.customer_id)),
  {owner},
  (SELECT t.name FROM people_team t WHERE t.id = c.team_id),
  (SELECT rc.name FROM cases_rootcause rc WHERE rc.id = c.root_cause_id),
  {lists}
){cast}
FROM cases_case c
WHERE c.id = %s"""


def _page_sql(vendor: str) -> str:
    """The statement in PostgreSQL's JSON functions or SQLite's (JSON1). SQLite before 3.44 has no
    ORDER BY inside an aggregate, so it aggregates an ordered subquery (which it keeps in order)."""
    if vendor == "postgresql":
        array, words = "json_build_array", {"json": "", "amount": "p.amount::text"}
        lists = [
            f"(SELECT json_agg(json_build_array({items}) ORDER BY {order}) FROM {source})"  # noqa: S608 - constants
            for items, source, order in LISTS
        ]
        cast = "::text"
    else:
        array, words = "json_array", {"json": "json", "amount": "CAST(p.amount AS TEXT)"}
        lists = [
            "(SELECT json_group_array(json(x.v)) FROM"  # noqa: S608 - constants
            f" (SELECT json_array({items}) AS v FROM {source} ORDER BY {order}) x)"
            for items, source, order in LISTS
        ]
        cast = ""
    words["array"] = array
    return PAGE_SQL.format(
        case_columns=", ".join(f"c.{name}" for name in CASE_FIELDS),
        owner=staff("o", "c.owner_id").format(**words),
        lists=",\n  ".join(lists).format(**words),
        cast=cast,
        **words,
    )


_SQL: dict[str, str] = {}


def at(value: str) -> datetime:
    """A time as the database writes it in JSON: ISO 8601 with its offset (PostgreSQL) or
    naive UTC (SQLite)."""
    moment = datetime.fromisoformat(value)
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)


def when(value: str | None) -> datetime | None:
    return None if value is None else at(value)


def person(names: list[str] | None) -> str:
    """Staff.__str__ (display_name) from [username, first name, last name]; "" for nobody."""
    if not names:
        return ""
    username, first, last = names
    return f"{first} {last}".strip() or username


@dataclass(frozen=True, slots=True)
class Clock:
    kind: str
    state: str
    due_at: datetime | None
    stopped_at: datetime | None


@dataclass(frozen=True, slots=True)
class Message:
    kind: str
    body: str
    created_at: datetime
    author: str  # "" when nobody (the customer, or a deleted member)


@dataclass(frozen=True, slots=True)
class Event:
    kind: str
    data: dict[str, Any]
    at: datetime
    actor: str


@dataclass(frozen=True, slots=True)
class CompensationRow:
    compensation: Compensation
    requested_by: str
    decided_by: str


@dataclass(slots=True)
class CasePage:
    case: Case  # with customer, owner, team and root_cause set (no query to reach them)
    watchers: list[str]
    clocks: list[Clock]
    messages: list[Message]
    events: list[Event]
    compensations: list[CompensationRow]


def load(case_id: int, now: datetime | None = None) -> CasePage | None:
    """The case and everything its page shows, in one statement; None when there is no such case."""
    now = now or timezone.now()
    vendor = connection.vendor
    sql = _SQL.get(vendor) or _SQL.setdefault(vendor, _page_sql(vendor))
    with connection.cursor() as cursor:
        cursor.execute(sql, [case_id])
        row = cursor.fetchone()
    if row is None:
        return None
    values = json.loads(row[0])
    n = len(CASE_FIELDS)
    fields = dict(zip(CASE_FIELDS, values[:n], strict=True))
    for name in CASE_TIMES:
        fields[name] = when(fields[name])
    (customer_name, care_tier), owner, team_name, cause_name = values[n : n + 4]
    clocks, watchers, messages, events, compensations = (v or [] for v in values[n + 4 :])
    alias = connection.alias
    case = Case.from_db(alias, list(fields), list(fields.values()))  # sla_terms stays deferred
    case.customer = Customer.from_db(
        alias, ["id", "name", "care_tier"], [fields["customer_id"], customer_name, care_tier]
    )
    case.owner = (
        Staff.from_db(alias, ["id", "username", "first_name", "last_name"], [fields["owner_id"], *owner])
        if fields["owner_id"] and owner
        else None
    )
    case.team = Team.from_db(alias, ["id", "name"], [fields["team_id"], team_name]) if fields["team_id"] else None
    case.root_cause = (
        RootCause.from_db(alias, ["id", "name"], [fields["root_cause_id"], cause_name])
        if fields["root_cause_id"]
        else None
    )
    return CasePage(
        case=case,
        watchers=[person(w) for w in watchers],
        clocks=[_clock(now, *c) for c in clocks],
        messages=[Message(kind, body, at(time), person(by)) for kind, body, time, by in messages],
        events=[Event(kind, data or {}, at(time), person(by)) for kind, data, time, by in events],
        compensations=[_compensation(case, *c) for c in compensations],
    )


def _clock(now: datetime, kind: str, *times: str | None) -> Clock:
    due, at_risk, paused, stopped, breached = (when(t) for t in times)
    state = clock_state(now, stopped_at=stopped, breached_at=breached, paused_at=paused, due_at=due, at_risk_at=at_risk)
    return Clock(kind, state, due, stopped)


def _compensation(case: Case, *values: Any) -> CompensationRow:
    cid, kind, amount, currency, status, description, reason, requested_by_id, decided_by_id, time = values[:10]
    requester, decider = person(values[10]), person(values[11])
    compensation = Compensation(
        id=cid,
        case_id=case.id,
        customer_id=case.customer_id,
        kind=kind,
        amount=Decimal(amount).quantize(Decimal("0.001")) if amount is not None else None,
        currency=currency,
        status=status,
        description=description,
        decision_reason=reason,
        requested_by_id=requested_by_id,
        decided_by_id=decided_by_id,
        requested_at=at(time),
    )
    return CompensationRow(compensation, requester, decider if decided_by_id else "")


# --- dates and labels as the template filters wrote them ------------------------------------

MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")
WEEKDAYS = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")
TYPE_LABELS, STATUS_LABELS, PRIORITY_LABELS = dict(CaseType.choices), dict(Status.choices), dict(Priority.choices)
CHANNEL_LABELS, CLOCK_LABELS = dict(Channel.choices), dict(ClockKind.choices)
KIND_LABELS, COMPENSATION_STATUS_LABELS = dict(CompensationKind.choices), dict(CompensationStatus.choices)


def iso(moment: datetime) -> str:
    """date:'c' in the viewer's zone."""
    return timezone.localtime(moment).isoformat()


def short(moment: datetime) -> str:
    """date:"j M, H:i" in the viewer's zone."""
    local = timezone.localtime(moment)
    return f"{local.day} {MONTHS[local.month - 1]}, {local:%H:%M}"


def with_year(moment: datetime) -> str:
    """date:"j M Y, H:i"."""
    local = timezone.localtime(moment)
    return f"{local.day} {MONTHS[local.month - 1]} {local.year}, {local:%H:%M}"


def with_weekday(moment: datetime) -> str:
    """date:"D j M, H:i"."""
    local = timezone.localtime(moment)
    return f"{WEEKDAYS[local.weekday()]} {local.day} {MONTHS[local.month - 1]}, {local:%H:%M}"


def linebreaksbr(text: str) -> str:
    """The linebreaksbr filter: newlines (any convention) as <br>, the rest escaped."""
    return escape(text.replace("\r\n", "\n").replace("\r", "\n")).replace("\n", "<br>")


def duration_text(seconds: float) -> str:
    """2 d 3 h, 4 h 05 min, 12 min: two units are enough to act on."""
    minutes = int(abs(seconds)) // 60
    days, rest = divmod(minutes, 24 * 60)
    hours, mins = divmod(rest, 60)
    if days:
        return f"{days} d {hours} h"
    if hours:
        return f"{hours} h {mins:02d} min"
    return f"{mins} min"


def remaining(clock: Clock, now: datetime) -> str:
    """Correct without JavaScript; static/cases.js keeps it ticking."""
    if clock.state in ("met", "breached") and clock.stopped_at:
        return "on time" if clock.state == "met" else "late"
    if clock.state == "paused":
        return "paused while waiting on the customer"
    if clock.due_at is None:
        return ""
    left = (clock.due_at - now).total_seconds()
    return f"due in {duration_text(left)}" if left >= 0 else f"overdue by {duration_text(left)}"


HIDDEN_EVENT_KEYS = {"message_id", "compensation_id"}


def event_details(data: dict[str, Any]) -> str:
    """An event's data as "to user: bob; reason: ..."."""
    return "; ".join(
        f"{key.replace('_', ' ')}: {value}"
        for key, value in data.items()
        if value not in (None, "") and key not in HIDDEN_EVENT_KEYS
    )


def money_text(compensation: Compensation) -> str:
    """The amount in its currency's own decimal places (stored with three for any currency)."""
    if compensation.amount is None:
        return ""
    return str(Money.of(compensation.amount, compensation.currency))


# --- the parts of the page ----------------------------------------------------------------


def csrf_input(token: str) -> str:
    return f'<input type="hidden" name="csrfmiddlewaretoken" value="{token}">'


def render_head(case: Case) -> SafeString:
    opened = case.opened_at
    return mark_safe(  # noqa: S308 - values escaped here
        '<div class="page-head case-head">\n  <div>\n'
        f'    <p class="muted case-head__ref">{case.reference} · {escape(TYPE_LABELS.get(case.type, case.type))}'
        f' · opened <time datetime="{iso(opened)}">{with_year(opened)}</time></p>\n'
        f"    <h1>{escape(case.subject)}</h1>\n"
        '    <p class="case-head__badges">\n'
        f'      <span class="badge case-status case-status--{escape(case.status)}">'
        f"{escape(STATUS_LABELS.get(case.status, case.status))}</span>\n"
        f'      <span class="priority priority--{escape(case.priority)}">'
        f"{escape(PRIORITY_LABELS.get(case.priority, case.priority))} priority</span>\n"
        "    </p>\n  </div>\n</div>\n"
    )


def render_facts(page: CasePage, customer_url: str) -> SafeString:
    case = page.case
    customer = case.customer
    owner = escape(str(case.owner)) if case.owner_id else "Nobody yet"
    team = escape(str(case.team)) if case.team_id else "—"
    watchers = ", ".join(escape(w) for w in page.watchers) or "—"
    lines = [
        '<dl class="facts facts--grid">',
        f'<dt>Customer</dt><dd><a href="{customer_url}">{escape(customer.name)}</a>'
        f' <span class="muted">{customer.reference}</span></dd>',
        f"<dt>Owner</dt><dd>{owner}</dd>",
        f"<dt>Team</dt><dd>{team}</dd>",
        f"<dt>Watchers</dt><dd>{watchers}</dd>",
        f"<dt>Came in by</dt><dd>{escape(CHANNEL_LABELS.get(case.channel, case.channel))}</dd>",
    ]
    if case.root_cause_id:
        cause = case.root_cause.name if case.root_cause else ""
        lines.append(f"<dt>Root cause</dt><dd>{escape(cause)}: {escape(case.root_cause_statement)}</dd>")
    lines.append("</dl>")
    return mark_safe("\n".join(lines))  # noqa: S308 - values escaped above


def render_description(case: Case) -> SafeString:
    if not case.description:
        return SafeString("")
    return mark_safe(f'<h3>Description</h3><p class="notes">{linebreaksbr(case.description)}</p>')  # noqa: S308


STATUS_BUTTONS = {
    Status.OPEN: "Mark open",
    Status.WAITING_CUSTOMER: "Waiting on customer",
    Status.WAITING_THIRD_PARTY: "Waiting on third party",
}


def _status_form(url: str, token: str, version: int, status: str, label: str) -> str:
    return (
        f'<form method="post" action="{url}">{csrf_input(token)}\n'
        f'  <input type="hidden" name="version" value="{version}">'
        f'<input type="hidden" name="status" value="{status}">\n'
        f'  <button type="submit" class="button">{label}</button>\n</form>'
    )


def render_actions(case: Case, urls: dict[str, str], token: str) -> SafeString:
    """Claim, hand off, the status buttons, close and reopen, as the case's state allows."""
    parts = []
    if not case.owner_id and case.is_open:
        parts.append(
            f'<form method="post" action="{urls["claim"]}">{csrf_input(token)}'
            '<button type="submit" class="button button--primary">Claim</button></form>'
        )
    if case.is_open:
        parts.append(f'<a class="button" href="{urls["handoff"]}" data-dialog="handoff-dialog">Hand off</a>')
        for status, label in STATUS_BUTTONS.items():
            if status != case.status:
                parts.append(_status_form(urls["status"], token, case.version, status, label))
    elif case.status == Status.RESOLVED:
        parts.append(_status_form(urls["status"], token, case.version, Status.CLOSED, "Close"))
    if not case.is_open:
        parts.append(
            f'<form method="post" action="{urls["reopen"]}" class="form--inline">{csrf_input(token)}\n'
            '  <label for="reopen-reason" class="visually-hidden">Why reopen</label>\n'
            '  <input id="reopen-reason" type="text" name="reason" placeholder="Why reopen (optional)">\n'
            '  <button type="submit" class="button">Reopen</button>\n</form>'
        )
    return mark_safe("\n".join(parts))  # noqa: S308 - no database text but the escaped status


MESSAGE_KINDS = {"customer": "Customer", "public": "Reply"}


def render_conversation(messages: list[Message]) -> SafeString:
    if not messages:
        return SafeString('<li class="muted">No messages yet.</li>')
    items = []
    for m in messages:
        author = f" · {escape(m.author)}" if m.author else ""
        items.append(
            f'<li class="message message--{escape(m.kind)}">\n'
            '  <p class="message__meta">'
            f'<span class="message__kind">{MESSAGE_KINDS.get(m.kind, "Internal note")}</span>'
            f'{author} · <time datetime="{iso(m.created_at)}">{short(m.created_at)}</time></p>\n'
            f'  <div class="message__body">{linebreaksbr(m.body)}</div>\n</li>'
        )
    return mark_safe("\n".join(items))  # noqa: S308 - values escaped above


def render_history(events: list[Event]) -> SafeString:
    items = []
    for e in events:
        label = escape(e.kind.replace("_", " ").capitalize())
        actor = f" by {escape(e.actor)}" if e.actor else ""
        details = event_details(e.data)
        muted = f' <span class="muted">{escape(details)}</span>' if details else ""
        items.append(
            f'<li class="activity__item"><time datetime="{iso(e.at)}">{short(e.at)}</time> ·'
            f" <strong>{label}</strong>{actor}{muted}</li>"
        )
    return mark_safe("\n".join(items))  # noqa: S308 - values escaped above


def render_clocks(clocks: list[Clock], now: datetime) -> SafeString:
    if not clocks:
        return SafeString('<p class="muted">No SLA policy applies to this case.</p>')
    items = ['<ul class="clocks">']
    for c in clocks:
        state = escape(c.state)
        due = ""
        if c.due_at:
            due = f'<time datetime="{iso(c.due_at)}">{with_weekday(c.due_at)}</time>'
            due = f'<span class="clock__due">Due {due}</span>\n'
        ticking = c.due_at and c.state not in ("met", "paused") and not c.stopped_at
        data_due = f' data-due="{iso(c.due_at)}"' if ticking and c.due_at else ""
        items.append(
            f'<li class="clock clock--{state}">\n'
            f'  <span class="clock__name">{escape(CLOCK_LABELS.get(c.kind, c.kind))}</span>\n'
            f'  <span class="badge clock-badge clock-badge--{state}">{escape(c.state.replace("_", " "))}</span>\n'
            f'  {due}<span class="clock__left"{data_due}>{escape(remaining(c, now))}</span>\n</li>'
        )
    items.append("</ul>")
    return mark_safe("\n".join(items))  # noqa: S308 - values escaped above


def render_compensations(
    rows: list[CompensationRow],
    totals: dict[str, Decimal],
    can_decide: list[bool],
    approve_url: tuple[str, str],
    reject_url: tuple[str, str],
    token: str,
) -> SafeString:
    """The granted totals and every request, with approve and reject for those the viewer may decide."""
    parts = []
    if totals:
        sums = ", ".join(f"<strong>{escape(localize(amount))} {escape(cur)}</strong>" for cur, amount in totals.items())
        parts.append(f"<p>Granted on this case: {sums}</p>")
    if rows:
        parts.append('<ul class="compensations">')
        for row, decide in zip(rows, can_decide, strict=True):
            c = row.compensation
            status_label = escape(COMPENSATION_STATUS_LABELS.get(c.status, c.status))
            item = [
                '<li class="compensation">',
                f"<p><strong>{escape(KIND_LABELS.get(c.kind, c.kind))}</strong> {escape(money_text(c))}\n"
                f'  <span class="badge compensation-status--{escape(c.status)}">{status_label}</span></p>',
            ]
            if c.description:
                item.append(f'<p class="muted">{escape(c.description)}</p>')
            asked = f'<p class="muted">Asked by {escape(row.requested_by)}'
            if c.decided_by_id and c.decided_by_id != c.requested_by_id:
                decided = COMPENSATION_STATUS_LABELS.get(c.status, c.status).lower()
                asked += f"; {escape(decided)} by {escape(row.decided_by)}"
            if c.decision_reason:
                asked += f": {escape(c.decision_reason)}"
            item.append(asked + "</p>")
            if decide:
                approve, reject = f"{approve_url[0]}{c.id}{approve_url[1]}", f"{reject_url[0]}{c.id}{reject_url[1]}"
                item.append(
                    '<div class="actions">\n'
                    f'  <form method="post" action="{approve}">{csrf_input(token)}\n'
                    '    <button type="submit" class="button button--primary">Approve</button></form>\n'
                    f'  <form method="post" action="{reject}" class="form--inline">{csrf_input(token)}\n'
                    f'    <label for="reject-reason-{c.id}" class="visually-hidden">Why reject</label>\n'
                    f'    <input id="reject-reason-{c.id}" type="text" name="reason" placeholder="Why reject">\n'
                    '    <button type="submit" class="button button--danger">Reject</button></form>\n'
                    "</div>"
                )
            item.append("</li>")
            parts.append("\n".join(item))
        parts.append("</ul>")
    return mark_safe("\n".join(parts))  # noqa: S308 - values escaped above
