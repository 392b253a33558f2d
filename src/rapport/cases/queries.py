"""Reads of cases shared by pages and the API, related rows loaded in bulk."""

from __future__ import annotations

import time
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any, cast

from django.db import connection, transaction
from django.db.models import BooleanField, Count, Exists, F, OuterRef, Prefetch, Q, QuerySet, Subquery, Sum
from django.db.models.expressions import RawSQL
from django.db.models.functions import TruncMonth
from django.db.models.signals import post_delete, post_save
from django.utils import timezone

from rapport.cases.models import (
    OPEN_STATUSES,
    Case,
    CaseType,
    ClockKind,
    Compensation,
    CompensationStatus,
    Priority,
    RootCause,
    SlaClock,
    Status,
    format_reference,
    parse_reference,
)
from rapport.core.errors import InvalidInput, NotFound
from rapport.core.money import Money
from rapport.core.pagination import Page, decode_cursor, encode_cursor
from rapport.core.rows import converter
from rapport.core.search import fulltext_ids, normalise_words
from rapport.people.models import Role, RoleAuthority, Staff, Team


def with_details(queryset: QuerySet[Case]) -> QuerySet[Case]:
    return queryset.select_related("owner", "team", "customer", "root_cause").prefetch_related(
        Prefetch("clocks", queryset=SlaClock.objects.order_by("id")), "watchers"
    )


# --- choices every case page shows ---------------------------------------------------------

REMEMBER_SECONDS = 30.0
_remembered: dict[str, tuple[float, Any]] = {}


def remembered[T](key: str, load: Callable[[], T]) -> T:
    """Lists the pages show on every request (50 staff, 10 teams, the root causes, a role's
    authority), read at most every 30 s per worker and at once after a change saved in this
    worker. Another worker may show a changed list up to 30 s late; forms validate posts
    against fresh lists and the services check authority and active people themselves."""
    now = time.monotonic()
    hit = _remembered.get(key)
    if hit is not None and now - hit[0] < REMEMBER_SECONDS:
        return cast(T, hit[1])
    value = load()
    _remembered[key] = (now, value)
    return value


def forget_choices(**_: Any) -> None:
    _remembered.clear()


for _model in (Staff, Team, RootCause, RoleAuthority):
    post_save.connect(forget_choices, sender=_model, dispatch_uid=f"cases-choices-save-{_model.__name__}")
    post_delete.connect(forget_choices, sender=_model, dispatch_uid=f"cases-choices-delete-{_model.__name__}")


def staff_choices(*, cached: bool = False) -> list[tuple[str, str]]:
    """Active staff as (username, name), by first name."""
    if cached:
        return remembered("staff_choices", staff_choices)
    rows = Staff.objects.active().order_by("first_name", "username").values_list("username", "first_name", "last_name")
    return [(u, f"{f} {last}".strip() or u) for u, f, last in rows]


def team_names(*, cached: bool = False) -> list[str]:
    if cached:
        return remembered("team_names", team_names)
    return list(Team.objects.order_by("name").values_list("name", flat=True))


PRIORITY_LABELS, STATUS_LABELS = dict(Priority.choices), dict(Status.choices)
CLOCK_LABELS = dict(ClockKind.choices)


@dataclass(frozen=True, slots=True)
class QueueClock:
    kind: str
    state: str  # as SlaClock.state() says (clock_state)
    due_at: datetime | None

    @property
    def label(self) -> str:
        return CLOCK_LABELS.get(self.kind, self.kind)

    @property
    def state_label(self) -> str:
        return self.state.replace("_", " ")


@dataclass(frozen=True, slots=True)
class QueueRow:
    """One line of a queue: plain values, no model instances (a page has 50 rows and ~100
    clocks; building models for them cost more than the rest of the page)."""

    id: int
    subject: str
    priority: str
    status: str
    owner_id: int | None
    owner_name: str
    customer_id: int
    customer_name: str
    clocks: tuple[QueueClock, ...]

    @property
    def reference(self) -> str:
        return format_reference(self.id)

    @property
    def priority_label(self) -> str:
        return PRIORITY_LABELS.get(self.priority, self.priority)  # as get_priority_display()

    @property
    def status_label(self) -> str:
        return STATUS_LABELS.get(self.status, self.status)

    def nearest_clock(self) -> QueueClock | None:
        """The running clock due soonest, else a paused one, else the latest one."""
        due = [c for c in self.clocks if c.due_at and c.state in ("running", "at_risk", "breached")]
        if due:
            return min(due, key=lambda c: c.due_at)  # type: ignore[arg-type,return-value]
        paused = [c for c in self.clocks if c.state == "paused"]
        return paused[0] if paused else (self.clocks[-1] if self.clocks else None)


def clock_state(
    now: datetime,
    *,
    stopped_at: datetime | None,
    breached_at: datetime | None,
    paused_at: datetime | None,
    due_at: datetime | None,
    at_risk_at: datetime | None,
) -> str:
    """SlaClock.state(now) from plain values (a test keeps the two equal): a queue page builds
    no clock models, and a CASE expression in SQL cost more to compile than this costs to run."""
    if stopped_at is not None:
        return "breached" if breached_at is not None else "met"
    if paused_at is not None:
        return "paused"
    if due_at is not None and now > due_at:
        return "breached"
    if at_risk_at is not None and now >= at_risk_at:
        return "at_risk"
    return "running"


# The rows of a queue page: one hand-written statement (a row per clock), because compiling the
# ORM's three-join values_list cost more than the database took to answer it.
_QUEUE_ROWS_SQL = """
    SELECT c.id, c.subject, c.priority, c.status, c.owner_id, c.customer_id, cu.name,
           s.first_name, s.last_name, s.username,
           k.kind, k.stopped_at, k.breached_at, k.paused_at, k.due_at, k.at_risk_at
    FROM cases_case c
    JOIN customers_customer cu ON cu.id = c.customer_id
    LEFT JOIN people_staff s ON s.id = c.owner_id
    LEFT JOIN cases_slaclock k ON k.case_id = c.id
    WHERE c.id IN ({ids})
    ORDER BY c.id, k.id
"""


def queue_rows(ids: list[int], now: datetime | None = None) -> list[QueueRow]:
    """The rows of a queue page in the order of ``ids``: one query (a row per clock), tuples only."""
    if not ids:
        return []
    now = now or timezone.now()
    when = converter(SlaClock, "due_at")  # SQLite hands back text
    found: dict[int, tuple[Any, ...]] = {}
    clocks: dict[int, list[QueueClock]] = defaultdict(list)
    with connection.cursor() as cursor:
        cursor.execute(_QUEUE_ROWS_SQL.format(ids=", ".join(["%s"] * len(ids))), ids)
        per_clock = cursor.fetchall()
    for values in per_clock:
        case_id = values[0]
        found[case_id] = values
        if values[10] is not None:
            stopped, breached, paused, due, at_risk = (when(v) for v in values[11:]) if when else values[11:]
            state = clock_state(
                now, stopped_at=stopped, breached_at=breached, paused_at=paused, due_at=due, at_risk_at=at_risk
            )
            clocks[case_id].append(QueueClock(values[10], state, due))
    queue = []
    for case_id in ids:
        _, subject, priority, status, owner_id, customer_id, customer, first, last, username = found[case_id][:10]
        name = (f"{first} {last}".strip() or username) if owner_id else ""  # as Staff.__str__
        queue.append(
            QueueRow(case_id, subject, priority, status, owner_id, name, customer_id, customer, tuple(clocks[case_id]))
        )
    return queue


def get_case(reference: str) -> Case:
    case_id = parse_reference(reference)
    found = list(with_details(Case.objects.filter(id=case_id))[:1]) if case_id else []  # no ORDER BY
    if not found:
        raise NotFound(f"No case {reference}.")
    return found[0]


@dataclass(frozen=True)
class CaseFilters:
    status: str = ""
    type: str = ""
    priority: str = ""
    owner: str = ""  # a username, or "none" for unassigned
    team: str = ""
    customer: int | None = None
    breached: bool | None = None
    at_risk: bool | None = None
    open_only: bool = False
    words: str = ""  # in the subject or description (keyword search)


def filtered(filters: CaseFilters, now: datetime | None = None) -> QuerySet[Case]:
    now = now or timezone.now()
    queryset = Case.objects.all()
    for value, choices, field in (
        (filters.status, Status, "status"),
        (filters.type, CaseType, "type"),
        (filters.priority, Priority, "priority"),
    ):
        if value:
            if value not in choices.values:
                raise InvalidInput(f"{field} must be one of {', '.join(choices.values)}.", field)
            queryset = queryset.filter(**{field: value})
    if filters.open_only:
        queryset = queryset.filter(status__in=OPEN_STATUSES)
    if filters.owner == "none":
        queryset = queryset.filter(owner__isnull=True)
    # Owner and team by id (a scalar subquery, run once), not by a join: the plan can then walk
    # the (team, newest first) index instead of every recent case of every team.
    elif filters.owner:
        queryset = queryset.filter(owner=Subquery(Staff.objects.filter(username=filters.owner).values("id")[:1]))
    if filters.team:
        queryset = queryset.filter(team=Subquery(Team.objects.filter(name=filters.team).values("id")[:1]))
    if filters.customer:
        queryset = queryset.filter(customer_id=filters.customer)
    if filters.words.strip():
        queryset = queryset.filter(mentioning(filters.words))
    if filters.breached is not None:
        breached = Exists(SlaClock.objects.breached_by(now).filter(case=OuterRef("pk")))
        queryset = queryset.filter(breached if filters.breached else ~breached)
    if filters.at_risk is not None:
        risky = Exists(SlaClock.objects.at_risk_by(now).filter(case=OuterRef("pk")))
        queryset = queryset.filter(risky if filters.at_risk else ~risky)
    return queryset


# --- keyword search over subject and description (migration 0004's full-text index) -------

TEXT_COLUMNS = ("subject", "description")
FEW_MATCHES = 500
CLEARLY_COMMON = 20 * FEW_MATCHES
COMMON_IN_SAMPLE = 10


def mentioning(text: str) -> Q:
    """Cases whose subject or description hold every word of ``text`` (the last as a prefix).

    Rare words: the full-text index lists every match (at most FEW_MATCHES) and the other
    filters pick from those ids. Common words: the match is a condition on each row, which the
    newest-first walk (or a queue's own index) meets quickly. Either way no case is left out;
    the split keeps PostgreSQL off the plan that is slow for each (it guesses 2 % of rows for
    any prefix match: a walk over millions of rows for a rare word, a sort of 100,000s of
    index hits for a common one). Common: a single word the column's statistics call so, or
    words already frequent in a random sample of the table."""
    words = normalise_words(text)[:8]
    if not words:
        return Q()
    if connection.vendor != "postgresql":
        few = fulltext_ids("cases_case", TEXT_COLUMNS, text, limit=FEW_MATCHES + 1)
        if len(few) <= FEW_MATCHES:
            return Q(id__in=few)
        fts_query = " ".join([*(f'"{w}"' for w in words[:-1]), f'"{words[-1]}"*'])
        sql = "cases_case.id IN (SELECT rowid FROM cases_case_fts WHERE cases_case_fts MATCH %s)"
        return Q(RawSQL(sql, [fts_query], output_field=BooleanField()))  # noqa: S611 - bound parameter
    query = " & ".join([*words[:-1], f"{words[-1]}:*"])
    common = (len(words) == 1 and _estimated_matches(words[0]) >= CLEARLY_COMMON) or _common_in_sample(query)
    if not common:
        few = _index_matches(query, FEW_MATCHES + 1)
        if len(few) <= FEW_MATCHES:
            return Q(id__in=few)
    # In coalesce() the match is neither answerable from the GIN index nor estimated (a guess of
    # half the rows), so the planner walks newest-first or a queue's own index, and stops at 51.
    sql = "coalesce(cases_case.search_vector @@ to_tsquery('simple', %s), false)"
    return Q(RawSQL(sql, [query], output_field=BooleanField()))  # noqa: S611 - bound parameter


def _estimated_matches(prefix: str) -> float:
    """Cases with a word starting with ``prefix``, from PostgreSQL's statistics of the most
    common words (0 for a word not among them, i.e. a rare one)."""
    cases, frequencies = remembered("case_word_statistics", _word_statistics)
    return cases * sum(f for word, f in frequencies.items() if word.startswith(prefix))


def _word_statistics() -> tuple[float, dict[str, float]]:
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT c.reltuples, s.most_common_elems::text::text[], s.most_common_elem_freqs FROM pg_class c "
            "LEFT JOIN pg_stats s ON s.tablename = c.relname AND s.attname = 'search_vector' "
            "WHERE c.relname = 'cases_case'"
        )
        row = cursor.fetchone()
    if not row or not row[1]:
        return 0.0, {}
    return float(row[0]), dict(zip(row[1], row[2], strict=False))  # the last three freqs are summaries


def _common_in_sample(query: str) -> bool:
    """Whether ~0.1 % of the table's pages, picked at random (~5 ms), already hold 10 matches:
    several words together can be rare even when each is common, so statistics cannot say."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT count(*) FROM cases_case TABLESAMPLE SYSTEM (0.1) WHERE search_vector @@ to_tsquery('simple', %s)",
            [query],
        )
        return bool(cursor.fetchone()[0] >= COMMON_IN_SAMPLE)


def _index_matches(query: str, limit: int) -> list[int]:
    """Up to ``limit`` matching ids, from the GIN index only."""
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute("SET LOCAL enable_seqscan = off")
        cursor.execute("SET LOCAL enable_indexscan = off")
        cursor.execute(
            "SELECT id FROM cases_case WHERE search_vector @@ to_tsquery('simple', %s) LIMIT %s", [query, limit]
        )
        return [row[0] for row in cursor.fetchall()]


@dataclass(frozen=True)
class ListedCase:
    """A case of a list page with what its answer shows: owner and team loaded, its clocks
    (oldest first) and its watchers' usernames (in order)."""

    case: Case
    clocks: list[SlaClock]
    watchers: list[str]


def list_cases(filters: CaseFilters, *, cursor: str | None, limit: int) -> Page[ListedCase]:
    """Newest first by id; the cursor is the last id seen."""
    page = list_case_ids(filters, cursor=cursor, limit=limit)
    return Page(_listed_in_order(list(page.items)), page.next_cursor)


def _listed_in_order(ids: list[int]) -> list[ListedCase]:
    """Three plain reads, not with_details' prefetch: building a related manager per case for
    clocks and watchers was most of a 50-case page's time."""
    cases = {c.id: c for c in Case.objects.filter(id__in=ids).select_related("owner", "team")}
    clocks: dict[int, list[SlaClock]] = defaultdict(list)
    for clock in SlaClock.objects.filter(case_id__in=ids).order_by("id"):
        clocks[clock.case_id].append(clock)
    watchers: dict[int, list[str]] = defaultdict(list)
    through = Case.watchers.through.objects.filter(case_id__in=ids).order_by("staff__username")
    for case_id, username in through.values_list("case_id", "staff__username"):
        watchers[case_id].append(username)
    return [ListedCase(cases[i], clocks[i], watchers[i]) for i in ids]


def list_case_ids(filters: CaseFilters, *, cursor: str | None, limit: int) -> Page[int]:
    queryset = filtered(filters)
    if cursor:
        (last_id,) = decode_cursor(cursor, 1)
        queryset = queryset.filter(id__lt=last_id)
    ids = list(queryset.order_by("-id").values_list("id", flat=True)[: limit + 1])
    more = len(ids) > limit
    ids = ids[:limit]
    return Page(ids, encode_cursor([ids[-1]]) if more else None)


def compensation_totals(case_ids: list[int]) -> dict[int, dict[str, Decimal]]:
    """Granted compensation per case and currency, in one query."""
    totals: dict[int, dict[str, Decimal]] = defaultdict(dict)
    rows = (
        Compensation.objects.filter(case_id__in=case_ids, status=CompensationStatus.GRANTED, amount__isnull=False)
        .values("case_id", "currency")
        .annotate(total=Sum("amount"))
    )
    for row in rows:
        totals[row["case_id"]][row["currency"]] = Money.of(row["total"], row["currency"]).amount
    return totals


def granted_totals(compensations: list[Compensation]) -> dict[str, Decimal]:
    """compensation_totals() for one case whose compensation rows are already loaded."""
    sums: dict[str, Decimal] = defaultdict(Decimal)
    for c in compensations:
        if c.status == CompensationStatus.GRANTED and c.amount is not None:
            sums[c.currency] += c.amount
    return {currency: Money.of(total, currency).amount for currency, total in sums.items()}


def customer_compensation_total(customer_id: int) -> dict[str, Decimal]:
    rows = (
        Compensation.objects.filter(customer_id=customer_id, status=CompensationStatus.GRANTED, amount__isnull=False)
        .values("currency")
        .annotate(total=Sum("amount"))
    )
    return {row["currency"]: Money.of(row["total"], row["currency"]).amount for row in rows}


@dataclass(frozen=True)
class RootCauseRow:
    root_cause_id: int | None
    path: str
    month: str  # "2026-11"
    complaints: int
    compensation: dict[str, Decimal]


def root_cause_paths(*, cached: bool = False) -> dict[int, str]:
    """Every root cause as "Delivery > Late"; ``cached``: see remembered()."""
    if cached:
        return remembered("root_cause_paths", root_cause_paths)
    causes = {c.id: c for c in RootCause.objects.all()}

    def path(cause: RootCause) -> str:
        parent = causes.get(cause.parent_id) if cause.parent_id else None
        return f"{path(parent)} > {cause.name}" if parent else cause.name

    return {cid: path(c) for cid, c in causes.items()}


def root_cause_report(*, since: datetime) -> list[RootCauseRow]:
    """Resolved complaints and the compensation granted on them, by root cause and month:
    two grouped queries whatever the number of cases."""
    complaints = (
        Case.objects.filter(type=CaseType.COMPLAINT, resolved_at__gte=since)
        .annotate(month=TruncMonth("resolved_at"))
        .values("root_cause_id", "month")
        .annotate(n=Count("id"))
    )
    money = (
        Compensation.objects.filter(
            case__type=CaseType.COMPLAINT,
            case__resolved_at__gte=since,
            status=CompensationStatus.GRANTED,
            amount__isnull=False,
        )
        .annotate(month=TruncMonth("case__resolved_at"))
        .values("case__root_cause_id", "month", "currency")
        .annotate(total=Sum("amount"))
    )
    paths = root_cause_paths()
    rows: dict[tuple[int | None, str], RootCauseRow] = {}
    for row in complaints:
        key = (row["root_cause_id"], row["month"].strftime("%Y-%m"))
        rows[key] = RootCauseRow(key[0], paths.get(key[0] or 0, "Not recorded"), key[1], row["n"], {})
    for cost in money:
        key = (cost["case__root_cause_id"], cost["month"].strftime("%Y-%m"))
        if key in rows:
            rows[key].compensation[cost["currency"]] = Money.of(cost["total"], cost["currency"]).amount
    return sorted(rows.values(), key=lambda r: (r.month, r.path))


# --- queues (the staff pages) --------------------------------------------------------


def _next_due() -> Subquery:
    """The soonest deadline among a case's running clocks (the clock_running_due partial index)."""
    return Subquery(SlaClock.objects.running().filter(case=OuterRef("pk")).order_by("due_at").values("due_at")[:1])


def my_queue_ids(owner_id: int, filters: CaseFilters, *, cursor: str | None, limit: int) -> Page[int]:
    """A person's open cases, soonest running deadline first (cases without one last).

    The owner's open cases are few (case_owner_status index); each gets its nearest deadline
    from the partial index on running clocks. The cursor is (deadline or null, id)."""
    after: tuple[datetime | None, int] | None = None
    if cursor:
        due, last_id = decode_cursor(cursor, 2)
        after = (datetime.fromisoformat(due) if due is not None else None, int(last_id))
    if filters == CaseFilters(open_only=filters.open_only) and not filters.status:
        rows = _my_open_cases(owner_id, after, limit + 1)  # every agent's default page
    else:
        rows = _my_cases_filtered(owner_id, filters, after, limit + 1)
    more = len(rows) > limit
    rows = rows[:limit]
    return Page([r[0] for r in rows], encode_cursor([rows[-1][1], rows[-1][0]]) if more else None)


def _my_cases_filtered(
    owner_id: int, filters: CaseFilters, after: tuple[datetime | None, int] | None, limit: int
) -> list[tuple[int, datetime | None]]:
    queryset = filtered(filters).filter(owner_id=owner_id)
    if not filters.status:
        queryset = queryset.filter(status__in=OPEN_STATUSES)
    queryset = queryset.annotate(next_due=_next_due())
    if after is not None:
        when, last_id = after
        after_id = Q(next_due__isnull=True, id__gt=last_id)
        if when is None:
            queryset = queryset.filter(after_id)
        else:
            later = Q(next_due__gt=when) | Q(next_due=when, id__gt=last_id)
            queryset = queryset.filter(later | Q(next_due__isnull=True))
    return list(queryset.order_by(F("next_due").asc(nulls_last=True), "id").values_list("id", "next_due")[:limit])


# _my_cases_filtered with no filter, hand-written: it is every agent's landing page, and the ORM
# took longer to compile it than the database to answer (tests keep the two in step).
_MY_OPEN_CASES_SQL = """
    SELECT id, next_due FROM (
        SELECT c.id, (SELECT min(k.due_at) FROM cases_slaclock k
                      WHERE k.case_id = c.id AND k.stopped_at IS NULL AND k.paused_at IS NULL) AS next_due
        FROM cases_case c
        WHERE c.owner_id = %s AND c.status IN ({statuses})
    ) mine
    WHERE {after}
    ORDER BY next_due NULLS LAST, id
    LIMIT %s
"""


def _my_open_cases(owner_id: int, after: tuple[datetime | None, int] | None, limit: int) -> list[tuple[int, Any]]:
    params: list[Any] = [owner_id, *OPEN_STATUSES]
    if after is None:
        condition = "1 = 1"
    elif after[0] is None:
        condition = "next_due IS NULL AND id > %s"
        params.append(after[1])
    else:
        condition = "(next_due > %s OR (next_due = %s AND id > %s) OR next_due IS NULL)"
        stored = connection.ops.adapt_datetimefield_value(after[0])  # as stored (SQLite: text)
        params += [stored, stored, after[1]]
    sql = _MY_OPEN_CASES_SQL.format(statuses=", ".join(["%s"] * len(OPEN_STATUSES)), after=condition)
    with connection.cursor() as cursor:
        cursor.execute(sql, [*params, limit])
        found = cursor.fetchall()
    read = converter(SlaClock, "due_at")  # SQLite hands back text
    return [(case_id, read(due)) for case_id, due in found] if read else found


def pending_approvals(staff: Staff, authority: RoleAuthority) -> list[Compensation]:
    """Pending compensation ``staff`` may decide (``authority``: their role's)."""
    queryset = _decidable(staff, authority)
    return list(queryset.select_related("case", "case__customer", "requested_by").order_by("requested_at", "id")[:200])


def pending_approval_count(staff: Staff, authority: RoleAuthority) -> int:
    return _decidable(staff, authority).count()


def _decidable(staff: Staff, authority: RoleAuthority) -> QuerySet[Compensation]:
    """Not their own requests, and within their limit unless they are an admin."""
    queryset = Compensation.objects.filter(status=CompensationStatus.PENDING).exclude(requested_by_id=staff.id)
    if staff.role != Role.ADMIN:
        queryset = queryset.filter(
            currency=authority.max_compensation_currency, amount__lte=authority.max_compensation_amount
        )
    return queryset


@dataclass(frozen=True)
class CaseCounts:
    open: int
    at_risk: int
    breached: int


# Every signed-in home page runs it; hand-written, as _MY_OPEN_CASES_SQL, because building the
# ORM's two EXISTS subqueries took eight times the database's answer. The clocks' conditions
# are ClockQuerySet.at_risk_by and breached_by (a test holds them equal to the queue's filters).
_MY_CASE_COUNTS_SQL = """
    SELECT count(*),
        coalesce(sum(CASE WHEN EXISTS (SELECT 1 FROM cases_slaclock k WHERE k.case_id = c.id
            AND k.stopped_at IS NULL AND k.paused_at IS NULL AND k.at_risk_at <= %s AND k.due_at >= %s)
            THEN 1 ELSE 0 END), 0),
        coalesce(sum(CASE WHEN EXISTS (SELECT 1 FROM cases_slaclock k WHERE k.case_id = c.id
            AND k.stopped_at IS NULL AND k.paused_at IS NULL AND k.due_at < %s)
            THEN 1 ELSE 0 END), 0)
    FROM cases_case c
    WHERE c.owner_id = %s AND c.status IN ({statuses})
"""


def my_case_counts(owner_id: int, now: datetime | None = None) -> CaseCounts:
    """A person's open cases, and how many of them have a clock at risk or breached (as the
    queue's filters count them), in one statement over the owner's open-cases index."""
    at = connection.ops.adapt_datetimefield_value(now or timezone.now())  # as stored (SQLite: text)
    sql = _MY_CASE_COUNTS_SQL.format(statuses=", ".join(["%s"] * len(OPEN_STATUSES)))
    with connection.cursor() as cursor:
        cursor.execute(sql, [at, at, at, owner_id, *OPEN_STATUSES])
        open_count, at_risk, breached = cursor.fetchone()
    return CaseCounts(open=open_count, at_risk=at_risk, breached=breached)
