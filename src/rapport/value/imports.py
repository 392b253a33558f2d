"""Orders in bulk: the CSV import and the API's bulk create share one row validator.

CSV columns (header row, any order):

=========================  =========================================================
reference                  the order's own reference (required, unique)
customer_external_id       the customer's ``external_id`` (this or ``customer``)
customer                   a customer id or reference such as CU-000123
ordered_at                 ISO 8601 date or date-time (required; no zone = UTC; not in the future)
revenue                    decimal (required); negative = a refund
cost                       decimal cost of goods (default 0)
currency                   ISO 4217 code (required)
promised_delivery_at       ISO 8601, optional
delivered_at               ISO 8601, optional
=========================  =========================================================

The reading, line numbering, reporting and bulk writing helpers are the customer import's
(``rapport.customers.imports``): the same UTF-8 rules, the same report shape, the same
"every bad row by line, nothing imported if any row is bad", COPY on PostgreSQL. With
``create_missing_customers`` an unknown external id creates a minimal customer (named after
the id) through the customer import's own writer.
"""

from __future__ import annotations

import csv
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import IO, Any

from babel.numbers import get_currency_precision
from django.db import IntegrityError, connection, transaction
from django.utils import timezone
from psycopg import errors as psycopg_errors

from rapport.core import audit
from rapport.core.errors import Conflict, InvalidInput
from rapport.core.money import validate_currency
from rapport.customers import imports as customer_imports
from rapport.customers.imports import ImportReport, Progress, RowError
from rapport.customers.models import Customer, CustomerStatus, parse_reference
from rapport.people.models import Role, Staff
from rapport.people.permissions import require_role
from rapport.value.models import Order, OrderLine

COLUMNS = (
    "reference",
    "customer_external_id",
    "customer",
    "ordered_at",
    "revenue",
    "cost",
    "currency",
    "promised_delivery_at",
    "delivered_at",
)
REQUIRED = ("reference", "ordered_at", "revenue", "currency")
MAX_REFERENCE = 100
BULK_LIMIT = 10_000
PROGRESS_EVERY = 10_000

# (line, reference, customer id | None, external id | None, ordered_at, revenue, cost, currency, promised, delivered)
OrderRow = tuple[int, str, int | None, str | None, datetime, Decimal, Decimal, str, datetime | None, datetime | None]


def parse_moment(text: str) -> datetime:
    """ISO 8601 date or date-time; a time without a zone is UTC (stored times are UTC)."""
    value = datetime.fromisoformat(text)
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


class _RowCleaner:
    """Per-import memo tables (currencies, precisions) and the rules for one order."""

    def __init__(self) -> None:
        self.now = timezone.now()
        self.currencies: dict[str, tuple[str, int] | str] = {}

    def currency(self, raw: str) -> tuple[str, int]:
        found = self.currencies.get(raw)
        if found is None:
            try:
                code = validate_currency(raw)
                found = (code, get_currency_precision(code))
            except InvalidInput as exc:
                found = " ".join(exc.errors["currency"])
            self.currencies[raw] = found
        if isinstance(found, str):
            raise ValueError(found)
        return found

    @staticmethod
    def amount(raw: str, places: int, currency: str) -> Decimal:
        try:
            value = Decimal(raw)
        except InvalidOperation:
            raise ValueError(f"'{raw}' is not a number.") from None
        if not value.is_finite():
            raise ValueError("The amount must be a finite number.")
        exponent = value.as_tuple().exponent
        if isinstance(exponent, int) and -exponent > places:
            raise ValueError(f"{currency} has {places} decimal places; got {raw}.")
        return value

    def moment(self, raw: str, *, future_ok: bool) -> datetime:
        try:
            value = parse_moment(raw)
        except ValueError:
            raise ValueError(f"'{raw}' is not an ISO 8601 date or date-time (e.g. 2026-03-31T14:05:00Z).") from None
        if not future_ok and value > self.now:
            raise ValueError(f"{raw} is in the future.")
        return value

    def row(self, line: int, get: Callable[[str], str], errors: list[RowError]) -> OrderRow | None:
        problems: list[tuple[str, str]] = []

        def check[T](column: str, fn: Callable[[], T]) -> T | None:
            try:
                return fn()
            except ValueError as exc:
                problems.append((column, str(exc)))
                return None

        for column in REQUIRED:
            if not get(column):
                problems.append((column, "This field is required."))
        reference = get("reference")
        if len(reference) > MAX_REFERENCE:
            problems.append(("reference", f"At most {MAX_REFERENCE} characters."))
        external = get("customer_external_id") or None
        customer_text = get("customer")
        customer_id = None
        if customer_text:
            customer_id = int(customer_text) if customer_text.isdigit() else parse_reference(customer_text)
            if customer_id is None:
                problems.append(("customer", f"'{customer_text}' is not a customer id or reference (CU-000123)."))
        if external is None and not customer_text:
            problems.append(("customer", "Give customer_external_id or customer."))
        currency = check("currency", lambda: self.currency(get("currency"))) if get("currency") else None
        code, places = currency or ("", 4)
        revenue = check("revenue", lambda: self.amount(get("revenue"), places, code)) if get("revenue") else None
        cost = check("cost", lambda: self.amount(get("cost"), places, code)) if get("cost") else Decimal(0)
        ordered = (
            check("ordered_at", lambda: self.moment(get("ordered_at"), future_ok=False)) if get("ordered_at") else None
        )
        promised = self._optional("promised_delivery_at", get, check)
        delivered = self._optional("delivered_at", get, check, future_ok=False)
        if problems:
            errors.extend(RowError(line, column, message) for column, message in problems)
            return None
        assert ordered is not None and revenue is not None and cost is not None  # noqa: S101 (checked above)
        return (line, reference, customer_id, external, ordered, revenue, cost, code, promised, delivered)

    def _optional(self, column: str, get: Callable[[str], str], check: Any, future_ok: bool = True) -> datetime | None:
        raw = get(column)
        return check(column, lambda: self.moment(raw, future_ok=future_ok)) if raw else None


@dataclass
class _Batch:
    """Validated rows plus what must be checked against the database."""

    report: ImportReport
    rows: list[OrderRow] = field(default_factory=list)
    reference_lines: dict[str, int] = field(default_factory=dict)
    missing_external: list[str] = field(default_factory=list)
    customer_ids: dict[int, int] = field(default_factory=dict)  # given id -> live id
    external_ids: dict[str, int] = field(default_factory=dict)
    looked_up: set[str] = field(default_factory=set)  # external ids asked of the database

    def error(self, line: int, column: str, message: str) -> None:
        self.report.errors.append(RowError(line, column, message))

    def add(self, row: OrderRow) -> None:
        first = self.reference_lines.setdefault(row[1], row[0])
        if first != row[0]:
            self.error(row[0], "reference", f"'{row[1]}' is also on line {first}.")
            return
        self.rows.append(row)


def _check_header(cells: list[str], batch: _Batch) -> list[str] | None:
    names = [c.strip().lower() for c in cells]
    unknown = [c for c in names if c not in COLUMNS]
    missing = [c for c in REQUIRED if c not in names]
    if "customer" not in names and "customer_external_id" not in names:
        missing.append("customer_external_id (or customer)")
    if unknown or missing or len(set(names)) != len(names):
        parts = []
        if unknown:
            parts.append(f"unknown column(s): {', '.join(unknown)}")
        if missing:
            parts.append(f"missing column(s): {', '.join(missing)}")
        if len(set(names)) != len(names):
            parts.append("a column is repeated")
        batch.error(1, "header", f"{'; '.join(parts).capitalize()}. Known columns: {', '.join(COLUMNS)}.")
        return None
    return names


class _FastRow:
    """The common case at full speed: plain values in fixed columns. Any row it does not accept
    (a problem, or anything unusual) goes to ``_RowCleaner.row``, which has the error messages;
    the fast path accepts only what that would accept, with the same result."""

    def __init__(self, names: list[str], cleaner: _RowCleaner) -> None:
        index = {name: i for i, name in enumerate(names)}
        self.positions = [index.get(c) for c in COLUMNS]
        self.width = len(names)
        self.cleaner = cleaner
        self.currencies: dict[str, tuple[str, int]] = {}

    def __call__(self, line: int, cells: list[str]) -> OrderRow | None:
        if len(cells) != self.width:
            return None
        ref_i, ext_i, cust_i, at_i, rev_i, cost_i, cur_i, promised_i, delivered_i = self.positions
        if (cust_i is not None and cells[cust_i]) or (promised_i is not None and cells[promised_i]):
            return None
        if delivered_i is not None and cells[delivered_i]:
            return None
        reference = cells[ref_i]  # type: ignore[index]
        external = cells[ext_i] if ext_i is not None else ""
        if not reference or not external or len(reference) > MAX_REFERENCE or reference != reference.strip():
            return None
        currency = self.currencies.get(cells[cur_i])  # type: ignore[index]
        if currency is None:
            try:
                currency = self.currencies[cells[cur_i]] = self.cleaner.currency(cells[cur_i])  # type: ignore[index]
            except ValueError:
                return None
        try:
            ordered = datetime.fromisoformat(cells[at_i])  # type: ignore[index]
            revenue = _fast_amount(cells[rev_i], currency[1])  # type: ignore[index]
            cost = _fast_amount(cells[cost_i], currency[1]) if cost_i is not None and cells[cost_i] else _ZERO
        except ValueError:
            return None
        if revenue is None or cost is None:
            return None
        if ordered.tzinfo is None:
            ordered = ordered.replace(tzinfo=UTC)
        elif ordered.tzinfo is not UTC:
            ordered = ordered.astimezone(UTC)
        if ordered > self.cleaner.now:
            return None
        return (line, reference, None, external.strip(), ordered, revenue, cost, currency[0], None, None)


_ZERO = Decimal(0)


def _fast_amount(text: str, places: int) -> Decimal | None:
    """A plain decimal with at most ``places`` decimals, else None (the slow path explains)."""
    if not text or "e" in text or "E" in text or "_" in text or " " in text:
        return None
    try:
        value = Decimal(text)
    except InvalidOperation:
        return None
    dot = text.find(".")
    if not value.is_finite() or (dot >= 0 and len(text) - dot - 1 > places):
        return None
    return value


def _read_csv(
    lines: Iterable[str],
    batch: _Batch,
    progress: Progress | None,
    total: int,
    on_chunk: Callable[[], None] | None = None,
) -> None:
    cleaner = _RowCleaner()
    reader = csv.reader(lines, strict=True)
    names: list[str] | None = None
    fast: _FastRow | None = None
    previous = 0
    rows = batch.report.rows
    for cells in reader:
        line, previous = previous + 1, reader.line_num
        if fast is None:
            names = _check_header(cells, batch)
            if names is None:
                return
            fast = _FastRow(names, cleaner)
            continue
        if not cells or cells == [""]:
            continue
        rows += 1
        row = fast(line, cells)
        if row is None:
            row = _slow_row(line, cells, names, cleaner, batch)  # type: ignore[arg-type]
        if row is not None:
            batch.add(row)
        if progress and rows % PROGRESS_EVERY == 0:
            batch.report.rows = rows
            progress(rows, total)
        if on_chunk and rows % WRITE_CHUNK == 0:
            batch.report.rows = rows
            on_chunk()
    batch.report.rows = rows
    if fast is None:
        batch.error(1, "header", f"The file is empty; the first line must name the columns ({', '.join(COLUMNS)}).")


def _slow_row(line: int, cells: list[str], names: list[str], cleaner: _RowCleaner, batch: _Batch) -> OrderRow | None:
    if len(cells) > len(names):
        batch.error(line, "__all__", f"This row has {len(cells)} values but the header names {len(names)}.")
        return None
    values = dict(zip(names, (c.strip() for c in cells), strict=False))
    return cleaner.row(line, lambda c: values.get(c, ""), batch.report.errors)


def _customers_by_external_id(externals: list[str]) -> Iterable[tuple[str, int]]:
    """(external id, live customer id): a merged customer's orders go to the survivor."""
    if connection.vendor == "postgresql":
        table = Customer._meta.db_table
        sql = f"SELECT external_id, COALESCE(merged_into_id, id) FROM {table} WHERE external_id = ANY(%s)"  # noqa: S608 (our table name)
        with connection.cursor() as cursor:
            for chunk in customer_imports._chunks(externals, 50_000):
                cursor.execute(sql, [chunk])
                yield from cursor.fetchall()
        return
    for chunk in customer_imports._chunks(externals):
        for ext, cid, merged in Customer.objects.filter(external_id__in=chunk).values_list(
            "external_id", "id", "merged_into_id"
        ):
            yield str(ext), merged or cid


def _check_database(batch: _Batch, create_missing_customers: bool, start: int = 0) -> None:
    """Bulk lookups for the rows from ``start`` on: taken references, unknown customers; a few
    queries whatever the size. Customers already looked up are not asked for again."""
    rows = batch.rows[start:]
    refs = [r[1] for r in rows]
    for reference, _ in customer_imports._taken(Order, "reference", refs):
        batch.error(batch.reference_lines[reference], "reference", f"An order '{reference}' already exists.")
    externals = [e for e in dict.fromkeys(r[3] for r in rows if r[3] is not None) if e not in batch.looked_up]
    batch.looked_up.update(externals)
    batch.external_ids.update(_customers_by_external_id(externals))
    given = list({r[2] for r in rows if r[2] is not None} - batch.customer_ids.keys())
    for begin in range(0, len(given), customer_imports.LOOKUP_CHUNK):
        part = given[begin : begin + customer_imports.LOOKUP_CHUNK]
        for cid, merged in Customer.objects.filter(id__in=part).values_list("id", "merged_into_id"):
            batch.customer_ids[cid] = merged or cid
    missing: dict[str, None] = {}
    for row in rows:
        line, given_id, ext = row[0], row[2], row[3]
        if given_id is not None and given_id not in batch.customer_ids:
            batch.error(line, "customer", f"No customer {given_id}.")
        elif given_id is None and ext is not None and ext not in batch.external_ids:
            if create_missing_customers:
                missing[ext] = None
            else:
                batch.error(line, "customer_external_id", f"No customer has the external id '{ext}'.")
    batch.missing_external = list(missing)


_NO_CONSENT = (False, False, False, False)


def _create_customers(externals: list[str], now: datetime) -> dict[str, int]:
    """Minimal customers through the customer import's writer (COPY on PostgreSQL)."""
    cleaner = customer_imports._Cleaner()
    rows = [
        (
            0,
            f"Customer {ext}",
            "person",
            CustomerStatus.ACTIVE.value,
            None,
            ext,
            "",
            "en",
            "UTC",
            *_NO_CONSENT,
            "",
            (),
            (),
            (),
        )
        for ext in externals
    ]
    write = customer_imports._write_postgresql if connection.vendor == "postgresql" else customer_imports._write_orm
    ids = write(rows, {}, cleaner, {})
    return dict(zip(externals, ids, strict=True))


ORDER_COLUMNS = (
    "reference",
    "customer_id",
    "ordered_at",
    "revenue",
    "cost",
    "currency",
    "promised_delivery_at",
    "delivered_at",
    "is_refund",
    "created_at",
)


def _order_values(batch: _Batch, now: datetime) -> Iterable[tuple[Any, ...]]:
    by_id, by_ext = batch.customer_ids, batch.external_ids
    for _, reference, cid, ext, ordered, revenue, cost, currency, promised, delivered in batch.rows:
        customer = by_id[cid] if cid is not None else by_ext[ext]  # type: ignore[index]
        yield (reference, customer, ordered, revenue, cost, currency, promised, delivered, revenue < 0, now)


_COPY_ESCAPES = str.maketrans({"\\": "\\\\", "\t": "\\t", "\n": "\\n", "\r": "\\r"})


def _copy_value(value: Any) -> str:
    if value is None:
        return "\\N"
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, bool):
        return "t" if value else "f"
    return str(value).translate(_COPY_ESCAPES)


def _order_lines(batch: _Batch, now: datetime, rows: list[OrderRow] | None = None) -> Iterable[str]:
    stamp = now.isoformat()
    by_id, by_ext = batch.customer_ids, batch.external_ids
    for _, reference, cid, ext, ordered, revenue, cost, currency, promised, delivered in (
        batch.rows if rows is None else rows
    ):
        customer = by_id[cid] if cid is not None else by_ext[ext]  # type: ignore[index]
        ref = reference.translate(_COPY_ESCAPES) if "\\" in reference or not reference.isprintable() else reference
        yield (
            f"{ref}\t{customer}\t{ordered.isoformat()}\t{revenue}\t{cost}\t{currency}\t"
            f"{_copy_value(promised)}\t{_copy_value(delivered)}\t{'t' if revenue < 0 else 'f'}\t{stamp}\n"
        )


def _customers_of(batch: _Batch, rows: list[OrderRow] | None = None) -> set[int]:
    by_id, by_ext = batch.customer_ids, batch.external_ids
    return {by_id[r[2]] if r[2] is not None else by_ext[r[3]] for r in (batch.rows if rows is None else rows)}  # type: ignore[index]


def _write(actor: Staff | None, batch: _Batch, *, source: str, returning: bool) -> list[Order]:
    """Everything in one transaction; a reference taken meanwhile is a Conflict (nothing written)."""
    now = timezone.now()
    try:
        with transaction.atomic():
            if batch.missing_external:
                batch.external_ids.update(_create_customers(batch.missing_external, now))
            made: list[Order] = []
            # The customers, checked and locked as one set instead of a trigger per order.
            skipped = customer_imports.skip_row_checks() and customer_imports.lock_parents(
                {Customer: _customers_of(batch)}
            )
            if connection.vendor == "postgresql" and not returning:
                customer_imports.copy_text(
                    connection.cursor(), Order._meta.db_table, ORDER_COLUMNS, _order_lines(batch, now)
                )
            else:
                made = Order.objects.bulk_create(
                    (Order(**dict(zip(ORDER_COLUMNS, v, strict=True))) for v in _order_values(batch, now)),
                    batch_size=2000,
                )
            if skipped:
                customer_imports.restore_row_checks()
            batch.report.created = len(batch.rows)
            _audit(actor, source, len(batch.rows), len(batch.missing_external))
    except IntegrityError as exc:
        raise Conflict("An order reference in this batch was taken meanwhile; nothing was imported.") from exc
    return made


def import_orders(
    *,
    actor: Staff | None,
    source: IO[bytes] | IO[str] | Path,
    dry_run: bool,
    create_missing_customers: bool = False,
    progress: Progress | None = None,
) -> ImportReport:
    """Validate an order CSV and, unless ``dry_run`` or any row is bad, import every row."""
    if actor is not None:
        require_role(actor, Role.MANAGER, "import orders")
    report = ImportReport(dry_run=dry_run)
    batch = _Batch(report)
    stream = customer_imports._open(source)
    overlapped = connection.vendor == "postgresql" and not dry_run
    try:
        total = customer_imports.count_rows(stream) if progress and stream.seekable() else 0
        if overlapped:
            _import_overlapped(actor, batch, stream, progress, total, create_missing_customers)
        else:
            _read(batch, stream, progress, total)
            _check_database(batch, create_missing_customers)
    finally:
        if isinstance(source, Path):
            stream.close()
    report.errors.sort(key=lambda e: e.line)
    if progress:
        progress(report.rows, total or report.rows)
    if report.errors or dry_run or overlapped:
        return report
    _write(actor, batch, source="csv", returning=False)
    return report


def _read(
    batch: _Batch, stream: Any, progress: Progress | None, total: int, on_chunk: Callable[[], None] | None = None
) -> None:
    try:
        _read_csv(customer_imports._text_lines(stream), batch, progress, total, on_chunk)
    except customer_imports._EncodingError as exc:
        batch.error(exc.line, "file", 'The file is not UTF-8 text. Save it as "CSV UTF-8" and upload it again.')
    except csv.Error as exc:
        batch.error(batch.report.rows + 2, "file", f"The file is not valid CSV: {exc}.")


WRITE_CHUNK = 100_000  # rows validated while the previous chunk is written (PostgreSQL)


def _import_overlapped(
    actor: Staff | None,
    batch: _Batch,
    stream: Any,
    progress: Progress | None,
    total: int,
    create_missing_customers: bool,
) -> None:
    """PostgreSQL, real import: as the customer import (``customers.imports._ChunkWriter``),
    each chunk of valid rows is checked against the database and COPYed by a second thread
    while this one validates the next; the first bad row stops the writing and the whole
    transaction is rolled back at the end, so the report is the dry run's."""
    now = timezone.now()
    handed, created = 0, 0
    locked: set[int] = set()

    def chunk() -> None:
        nonlocal handed, created
        writer.wait()
        start, handed = handed, len(batch.rows)
        _check_database(batch, create_missing_customers, start)
        if batch.report.errors or start == handed:
            return
        if batch.missing_external:
            batch.external_ids.update(_create_customers(batch.missing_external, now))
            created += len(batch.missing_external)
        rows = batch.rows[start:]
        if skipped:
            fresh = _customers_of(batch, rows) - locked
            locked.update(fresh)
            customer_imports.lock_parents({Customer: fresh})
        writer.start(writer.copy, Order._meta.db_table, ORDER_COLUMNS, _order_lines(batch, now, rows))

    try:
        with transaction.atomic():
            skipped = customer_imports.skip_row_checks()
            writer = customer_imports.BackgroundWriter()
            try:
                _read(batch, stream, progress, total, chunk)
                chunk()
                writer.wait()
            finally:
                writer.stop()
            if batch.report.errors:
                transaction.set_rollback(True)
                return
            if skipped:
                customer_imports.restore_row_checks()
            batch.report.created = len(batch.rows)
            _audit(actor, "csv", len(batch.rows), created)
    except (IntegrityError, psycopg_errors.IntegrityError) as exc:
        batch.report.created = 0
        raise Conflict("An order reference in this file was taken meanwhile; nothing was imported.") from exc


def _audit(actor: Staff | None, source: str, orders: int, customers_created: int) -> None:
    audit.record(
        actor=actor,
        action="order.imported",
        subject_type="orders",
        subject_id=0,
        changes={"source": source, "orders": orders, "customers_created": customers_created},
    )


def create_orders(
    *,
    actor: Staff | None,
    orders: list[Mapping[str, Any]],
    create_missing_customers: bool = False,
) -> list[Order]:
    """The API's single and bulk create: all or nothing. Item ``i``'s errors are keyed
    ``orders[i].field``; only duplicate references (in the batch or already stored) → Conflict."""
    if actor is not None:
        require_role(actor, Role.LEAD, "record orders")
    if not orders:
        raise InvalidInput("Send at least one order.", "orders")
    if len(orders) > BULK_LIMIT:
        raise InvalidInput(f"At most {BULK_LIMIT} orders per call; got {len(orders)}.", "orders")
    batch = _Batch(ImportReport(dry_run=False))
    cleaner = _RowCleaner()
    lines_by_reference: dict[str, list[Mapping[str, Any]]] = {}
    for index, item in enumerate(orders):
        values = {k: "" if item.get(k) is None else _text(item.get(k)) for k in COLUMNS}
        row = cleaner.row(index, values.__getitem__, batch.report.errors)
        if row is not None:
            batch.add(row)
            lines_by_reference[row[1]] = list(item.get("lines") or [])
    batch.report.rows = len(orders)
    _check_database(batch, create_missing_customers)
    errors = batch.report.errors
    if errors:
        duplicates = [e for e in errors if e.field == "reference" and ("exists" in e.message or "also on" in e.message)]
        if len(duplicates) == len(errors):
            raise Conflict(
                "Duplicate order reference(s); nothing was imported.",
                errors={f"orders[{e.line}].reference": [e.message] for e in duplicates},
            )
        grouped: dict[str, list[str]] = {}
        for e in sorted(errors, key=lambda e: e.line):
            grouped.setdefault(f"orders[{e.line}].{e.field}", []).append(e.message)
        raise InvalidInput(grouped)
    with transaction.atomic():
        made = _write(actor, batch, source="api", returning=True)
        _write_lines(made, lines_by_reference)
    return made


def _write_lines(made: list[Order], lines_by_reference: Mapping[str, list[Mapping[str, Any]]]) -> None:
    lines = []
    for order in made:
        for index, line in enumerate(lines_by_reference.get(order.reference, [])):
            product = str(line.get("product") or "").strip()
            if not product:
                raise InvalidInput("Each line needs a product.", f"lines[{index}].product")
            lines.append(
                OrderLine(
                    order=order,
                    product=product[:200],
                    quantity=int(line.get("quantity") or 1),
                    revenue=Decimal(str(line.get("revenue") or 0)),
                )
            )
    if lines:
        OrderLine.objects.bulk_create(lines, batch_size=2000)


def _text(value: Any) -> str:
    return value.isoformat() if isinstance(value, datetime) else str(value).strip()
