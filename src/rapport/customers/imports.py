"""Customer CSV import and export: the fast bulk path.

The CSV has a header row; these columns are known (any order, only ``name`` is required):

=================  ==============================================================
name               the customer's name (required)
kind               person | organisation (default person)
status             prospect | active | former (default prospect)
emails             one or more addresses separated by ``;`` (the first is primary)
phones             one or more numbers separated by ``;`` (national numbers in the
                   default region, or international with ``+``)
account_manager    a staff username
external_id        the customer's id in another system (unique)
preferred_channel  phone | email | letter | meeting | chat | sms | portal | web | ...
language           a language code such as en or pt-BR (default en)
timezone           an IANA zone such as Europe/London (default UTC)
tags               several separated by ``;``
consent_email, consent_phone, consent_post, consent_marketing
                   true/false, yes/no, 1/0 or empty (empty = no consent)
notes              free text
=================  ==============================================================

The file must be UTF-8 (a byte-order mark is fine). Every row is checked with the same
rules as the API (``validation`` and ``services.clean_customer_input``) plus the checks only
a file needs: duplicates within the file and against existing customers, and unknown
account managers. Every bad row is reported by its physical line (line 1 is the header);
if any row is bad nothing is imported. A real import writes everything in one transaction.
An export has the same columns, so it re-imports.
"""

from __future__ import annotations

import csv
import io
import re
import threading
import uuid
from collections.abc import Callable, Iterable, Iterator
from dataclasses import asdict, dataclass, field
from operator import itemgetter
from pathlib import Path
from re import _constants as sre  # type: ignore[attr-defined]  # the regex parser's node types
from re import _parser as sre_parser  # type: ignore[attr-defined]
from typing import IO, Any, cast

from django.core.files import File
from django.core.files.storage import default_storage
from django.db import DEFAULT_DB_ALIAS, DatabaseError, IntegrityError, connection, connections, transaction
from django.utils import timezone
from psycopg import errors as psycopg_errors

from rapport.core import audit
from rapport.core.errors import Conflict, InvalidInput, NotFound
from rapport.customers import services
from rapport.customers.models import (
    CONSENT_CHANNELS,
    ContactPoint,
    ContactPointKind,
    Customer,
    ImportJob,
    ImportStatus,
    NameKey,
    Tag,
    format_reference,
)
from rapport.customers.queries import CustomerFilters, filtered_customers
from rapport.customers.validation import normalise_email, normalise_phone
from rapport.people.models import Role, Staff
from rapport.people.permissions import require_role

COLUMNS = (
    "name",
    "kind",
    "status",
    "emails",
    "phones",
    "account_manager",
    "external_id",
    "preferred_channel",
    "language",
    "timezone",
    "tags",
    "consent_email",
    "consent_phone",
    "consent_post",
    "consent_marketing",
    "notes",
)
LIST_SEPARATOR = ";"
PROGRESS_EVERY = 5000
LOOKUP_CHUNK = 5000  # values per bulk "already taken?" query
WRITE_CHUNK = 50_000  # rows validated while the previous chunk is written (PostgreSQL)
_TRUE = frozenset({"true", "yes", "1", "y", "t"})
_FALSE = frozenset({"false", "no", "0", "n", "f", ""})

Progress = Callable[[int, int], None]


@dataclass(frozen=True)
class RowError:
    line: int
    field: str
    message: str


@dataclass
class ImportReport:
    dry_run: bool
    rows: int = 0
    created: int = 0
    errors: list[RowError] = field(default_factory=list)
    id_ranges: list[tuple[int, int]] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.errors


# A validated row, kept as a plain tuple: 1M of them is what the write phase needs.
# (line, name, kind, status, manager username, external_id, preferred_channel, language,
#  timezone, consent_email, consent_phone, consent_post, consent_marketing, notes,
#  emails, phones, tags)
Row = tuple[Any, ...]
R_LINE, R_NAME, R_MANAGER, R_EXTERNAL, R_NOTES, R_EMAILS, R_PHONES, R_TAGS = 0, 1, 4, 5, 13, 14, 15, 16


class _EncodingError(Exception):
    def __init__(self, line: int) -> None:
        self.line = line


# --- fast paths in front of the shared validators ----------------------------------------
# A plain ASCII dot-atom address on an ordinary domain: email_validator accepts every such
# address and normalises it to itself (domain lower-cased), so lower-casing is its answer.
# Anything else (quotes, Unicode, punycode, special-use names, odd hyphens) goes to the
# real validator, which also writes the error message.
_SIMPLE_EMAIL = re.compile(
    r"[A-Za-z0-9_+-]+(?:\.[A-Za-z0-9_+-]+)*@(?:[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?\.)+[A-Za-z]{2,63}"
)
_SPECIAL_TLDS = frozenset({"arpa", "invalid", "local", "localhost", "onion", "test"})


def fast_normalise_email(raw: str) -> str:
    value = raw.strip()
    if (
        len(value) <= 254
        and _SIMPLE_EMAIL.fullmatch(value)
        and "--" not in value[value.index("@") :]
        and value.index("@") <= 64
        and value.rsplit(".", 1)[1].lower() not in _SPECIAL_TLDS
    ):
        return value.lower()
    return normalise_email(raw)


# Phone numbers: phonenumbers costs ~100 µs a number, and in a customer file nearly every
# number is distinct, so a per-value cache alone does not help. But whether a number is valid
# (and its E.164 form) cannot depend on its last TAIL digits when every pattern the library
# applies to that country ends in at least TAIL free digits (``\d{n}``) and every prefix
# pattern (leading digits, national and international prefixes) is shorter than the rest.
# Those conditions are checked on the library's own metadata, per country code; when they
# hold, the library's answer for the number with its last digits zeroed is reused for every
# number that shares the rest. Anything else goes to ``normalise_phone`` itself.
PHONE_TAIL = 4
_PHONE_PUNCTUATION = str.maketrans("", "", " -")
_PLAIN_PHONE = re.compile(r"\+?\d{7,17}")


def _free_tail(items: Any) -> int:
    """How many trailing characters every match of a parsed regex takes with ``\\d``."""
    total = 0
    for op, arg in reversed(list(items)):
        if op is sre.IN and arg == [(sre.CATEGORY, sre.CATEGORY_DIGIT)]:
            total += 1
        elif op in (sre.MAX_REPEAT, sre.MIN_REPEAT) and list(arg[2]) == [
            (sre.IN, [(sre.CATEGORY, sre.CATEGORY_DIGIT)])
        ]:
            total += arg[0]
        elif op is sre.SUBPATTERN:
            return total + _free_tail(arg[3])
        elif op is sre.BRANCH:
            return total + min(_free_tail(branch) for branch in arg[1])
        else:
            return total
    return total


def _pattern_tail(pattern: str | None) -> int:
    if not pattern:
        return 99  # no pattern: nothing to depend on
    try:
        return _free_tail(sre_parser.parse(pattern))
    except Exception:  # an unexpected construct: treat as tail-dependent
        return 0


def _pattern_width(pattern: str | None) -> int:
    if not pattern:
        return 0
    try:
        parsed = sre_parser.parse(pattern)
        if any(op in (sre.ASSERT, sre.ASSERT_NOT, sre.GROUPREF) for op, _ in _walk(parsed)):
            return 99
        return int(min(parsed.getwidth()[1], 99))
    except Exception:
        return 99


def _walk(items: Any) -> Iterator[tuple[Any, Any]]:
    for op, arg in items:
        yield op, arg
        if op is sre.SUBPATTERN:
            yield from _walk(arg[3])
        elif op is sre.BRANCH:
            for branch in arg[1]:
                yield from _walk(branch)
        elif op in (sre.MAX_REPEAT, sre.MIN_REPEAT):
            yield from _walk(arg[2])


_DESCS = (
    "general_desc", "fixed_line", "mobile", "toll_free", "premium_rate", "shared_cost", "personal_number",
    "voip", "pager", "uan", "voicemail", "no_international_dialling",
)  # fmt: skip


def _metadata(region: str) -> Any:
    import phonenumbers

    return phonenumbers.PhoneMetadata.metadata_for_region(region)


def _first_digits(items: Any) -> set[str]:
    """Digits a match of a parsed regex can start with (all digits when unsure)."""
    everything = set("0123456789")
    if not items:
        return everything
    op, arg = next(iter(items))
    if op is sre.LITERAL:
        return {chr(arg)}
    if op is sre.IN:
        found: set[str] = set()
        for kind, value in arg:
            if kind is sre.LITERAL:
                found.add(chr(value))
            elif kind is sre.RANGE:
                found.update(chr(v) for v in range(value[0], value[1] + 1))
            else:
                return everything
        return found
    if op is sre.SUBPATTERN:
        return _first_digits(arg[3])
    if op is sre.BRANCH:
        return set().union(*(_first_digits(branch) for branch in arg[1]))
    if op in (sre.MAX_REPEAT, sre.MIN_REPEAT) and arg[0] >= 1:
        return _first_digits(arg[2])
    return everything


def _relevant_tail(pattern: str | None, first: str, length: int) -> int:
    """The free tail of the alternatives of ``pattern`` that can match a number of this
    length starting with this digit (an alternative that cannot match does not matter)."""
    if not pattern:
        return 99
    try:
        parsed = sre_parser.parse(pattern)
        items = list(parsed)
        alternatives = items[0][1][1] if len(items) == 1 and items[0][0] is sre.BRANCH else [items]
        tails = [99]
        for alternative in alternatives:
            low, high = sre_parser.SubPattern(parsed.state, list(alternative)).getwidth()
            if low <= length <= high and first in _first_digits(alternative):
                tails.append(_free_tail(alternative))
        return min(tails)
    except Exception:  # an unexpected construct: treat as tail-dependent
        return 0


def _country_bounds(country_code: int, default_region: str, first: str, length: int) -> tuple[int, int]:
    """(smallest free tail over every pattern that matters, widest prefix pattern)."""
    import phonenumbers

    tail, width = 99, 0
    regions = [*phonenumbers.region_codes_for_country_code(country_code), default_region]
    for region in regions:
        meta = _metadata(region)
        if meta is None:
            return 0, 99
        for name in _DESCS:
            desc = getattr(meta, name, None)
            if desc is not None:
                tail = min(tail, _relevant_tail(desc.national_number_pattern, first, length))
        for pattern in (meta.leading_digits, meta.national_prefix_for_parsing, meta.international_prefix):
            width = max(width, _pattern_width(pattern))
    return tail, width


class _Phones:
    """``normalise_phone`` with memo tables (see the comment above)."""

    def __init__(self) -> None:
        from django.conf import settings

        self.region = settings.RAPPORT_DEFAULT_PHONE_REGION
        self.by_value: dict[str, str | InvalidInput] = {}
        self.by_head: dict[str, str | None] = {}  # head -> E.164 without the tail, or None: ask per value
        self.bounds: dict[tuple[int, str, int], tuple[int, int]] = {}

    def __call__(self, raw: str) -> str:
        digits = raw.strip().translate(_PHONE_PUNCTUATION)
        if _PLAIN_PHONE.fullmatch(digits):
            head, tail = digits[:-PHONE_TAIL], digits[-PHONE_TAIL:]
            known = self.by_head.get(head, "")
            if known == "":
                known = self.by_head[head] = self._template(head)
            if known is not None:
                return known + tail
        return self.exact(raw)

    def exact(self, raw: str) -> str:
        found = self.by_value.get(raw)
        if found is None:
            try:
                found = normalise_phone(raw, region=self.region)
            except InvalidInput as exc:
                found = exc
            self.by_value[raw] = found
        if isinstance(found, InvalidInput):
            raise found
        return found

    def _template(self, head: str) -> str | None:
        import phonenumbers

        try:
            e164 = normalise_phone(head + "0" * PHONE_TAIL, region=self.region)
        except InvalidInput:
            return None  # invalid numbers are rare: each gets the library's own message
        # E.164 is "+", the country code, the national number; country codes are prefix-free.
        code = next(
            int(e164[1 : 1 + n]) for n in (1, 2, 3) if int(e164[1 : 1 + n]) in phonenumbers.COUNTRY_CODE_TO_REGION_CODE
        )
        national = e164[1 + len(str(code)) :]
        key = (code, national[:1], len(national))
        if key not in self.bounds:
            self.bounds[key] = _country_bounds(code, self.region, national[:1], len(national))
        tail, width = self.bounds[key]
        if not e164.endswith("0" * PHONE_TAIL) or tail < PHONE_TAIL or width > len(national) - PHONE_TAIL:
            return None
        return e164[:-PHONE_TAIL]


class _Cleaner:
    """Per-import memo tables: repeated values are validated once."""

    def __init__(self) -> None:
        self.phone = _Phones()
        self.fields: dict[tuple[str, ...], dict[str, Any] | InvalidInput] = {}
        self.name_keys: dict[str, list[str]] = {}

    def enum_fields(self, key: tuple[str, ...]) -> dict[str, Any]:
        """kind, status, preferred_channel, language, timezone: few distinct values per file."""
        found = self.fields.get(key)
        if found is None:
            kind, status, channel, language, zone = key
            data = services.CustomerInput(
                kind=kind or None,
                status=status or None,
                preferred_channel=channel or None,
                language=language or None,
                timezone=zone or None,
            )
            try:
                found = services.clean_customer_input(data, creating=False).values
            except InvalidInput as exc:
                found = exc
            self.fields[key] = found
        if isinstance(found, InvalidInput):
            raise found
        return found

    def keys(self, name: str) -> list[str]:
        found = self.name_keys.get(name)
        if found is None:
            found = self.name_keys[name] = services.name_keys(name)
        return found


# --- reading --------------------------------------------------------------------------------
def _text_lines(source: IO[bytes] | IO[str]) -> Iterator[str]:
    """Physical lines as text. Bytes are decoded line by line (a newline byte is never part
    of a UTF-8 sequence), so a decoding error names its line."""
    first = True
    for number, raw in enumerate(source, 1):
        if isinstance(raw, bytes):
            if first and raw.startswith((b"\xff\xfe", b"\xfe\xff")):
                raise _EncodingError(number)
            try:
                text = raw.decode("utf-8")
            except UnicodeDecodeError:
                raise _EncodingError(number) from None
        else:
            text = cast(str, raw)
        if first:
            text = text.removeprefix("\ufeff")
            first = False
        yield text


def _open(source: IO[bytes] | IO[str] | Path) -> IO[bytes] | IO[str]:
    return source.open("rb") if isinstance(source, Path) else source


def count_rows(source: IO[bytes] | IO[str]) -> int:
    """Data rows in a seekable file (quoted newlines counted right); rewinds it."""
    try:
        rows = sum(1 for cells in csv.reader(_text_lines(source)) if cells) - 1
    except (_EncodingError, csv.Error):
        rows = 0
    source.seek(0)
    return max(rows, 0)


def _parse_bool(value: str, column: str, errors: list[tuple[str, str]]) -> bool:
    folded = value.strip().lower()
    if folded in _TRUE:
        return True
    if folded not in _FALSE:
        errors.append((column, f"'{value}' is not true/false, yes/no, 1/0 or empty."))
    return False


def _split(value: str) -> list[str]:
    return [part.strip() for part in value.split(LIST_SEPARATOR) if part.strip()] if value else []


class _Validator:
    """One pass over the file: clean each row, remember what must be unique."""

    def __init__(self, report: ImportReport, progress: Progress | None, total: int) -> None:
        self.report = report
        self.progress = progress
        self.total = total
        self.cleaner = _Cleaner()
        self.rows: list[Row] = []
        self.email_lines: dict[str, int] = {}
        self.external_lines: dict[str, int] = {}
        self.managers: dict[str, list[int]] = {}  # username -> lines
        self.repeated: set[tuple[str, str]] = set()
        # Values seen for the first time since the last look at the database (see _Checker).
        self.new_emails: list[str] = []
        self.new_externals: list[str] = []
        self.on_chunk: Callable[[], None] | None = None  # called every WRITE_CHUNK valid rows

    def error(self, line: int, column: str, message: str) -> None:
        self.report.errors.append(RowError(line, column, message))

    def header(self, cells: list[str]) -> list[str] | None:
        names = [c.strip().lower() for c in cells]
        unknown = [c for c in names if c not in COLUMNS]
        problems = []
        if unknown:
            problems.append(f"unknown column(s): {', '.join(repr(c) for c in unknown)}")
        if "name" not in names:
            problems.append("the required column 'name' is missing")
        repeated = sorted({c for c in names if names.count(c) > 1})
        if repeated:
            problems.append(f"repeated column(s): {', '.join(repeated)}")
        if problems:
            text = "; ".join(problems)
            self.error(1, "header", f"{text[0].upper()}{text[1:]}. Known columns: {', '.join(COLUMNS)}.")
            return None
        return names

    def run(self, lines: Iterable[str]) -> None:
        reader = csv.reader(lines, strict=True)
        names: list[str] | None = None
        previous = 0
        for cells in reader:
            line, previous = previous + 1, reader.line_num
            if names is None:
                names = self.header(cells)
                if names is None:
                    return
                continue
            if not cells or cells == [""]:
                continue  # a blank line
            self.report.rows += 1
            self.row(line, names, cells)
            if self.progress and self.report.rows % PROGRESS_EVERY == 0:
                self.progress(self.report.rows, self.total)
            if self.on_chunk and self.report.rows % WRITE_CHUNK == 0:
                self.on_chunk()
        if names is None:
            self.error(1, "header", f"The file is empty; the first line must name the columns ({', '.join(COLUMNS)}).")

    def row(self, line: int, names: list[str], cells: list[str]) -> None:
        if len(cells) > len(names):
            self.error(line, "__all__", f"This row has {len(cells)} values but the header names {len(names)} columns.")
            return
        get = dict(zip(names, cells, strict=False)).get
        problems: list[tuple[str, str]] = []
        values = self.simple_fields(get, problems)
        emails = self.contacts(get("emails", ""), self.cleaner_email, "emails", problems)
        phones = self.contacts(get("phones", ""), self.cleaner.phone, "phones", problems)
        consent = [_parse_bool(get(f"consent_{c}", ""), f"consent_{c}", problems) for c in CONSENT_CHANNELS]
        manager = get("account_manager", "").strip() or None
        if manager:
            self.managers.setdefault(manager, []).append(line)
        if problems or values is None:
            for column, message in problems:
                self.error(line, column, message)
            return
        external = values.get("external_id")
        self.unique(line, emails, external)
        self.rows.append(
            (
                line,
                values["name"],
                values.get("kind", "person"),
                values.get("status", "prospect"),
                manager,
                external,
                values.get("preferred_channel", ""),
                values.get("language", "en"),
                values.get("timezone", "UTC"),
                *consent,
                values.get("notes", ""),
                tuple(emails),
                tuple(phones),
                tuple(values.get("tags") or ()),
            )
        )

    @staticmethod
    def cleaner_email(raw: str) -> str:
        return fast_normalise_email(raw)

    def simple_fields(self, get: Callable[[str, str], str], problems: list[tuple[str, str]]) -> dict[str, Any] | None:
        """Everything but contact points, through the API's own cleaning."""
        key = tuple(get(c, "").strip() for c in ("kind", "status", "preferred_channel", "language", "timezone"))
        values: dict[str, Any] = {}
        try:
            values.update(self.cleaner.enum_fields(key))
        except InvalidInput as exc:
            problems.extend((column, " ".join(messages)) for column, messages in exc.errors.items())
        data = services.CustomerInput(
            name=get("name", ""),
            external_id=get("external_id", ""),
            notes=get("notes", ""),
            tags=_split(get("tags", "")),
        )
        try:
            clean = services.clean_customer_input(data, creating=True)
        except InvalidInput as exc:
            problems.extend((column, " ".join(messages)) for column, messages in exc.errors.items())
            return None
        values.update(clean.values)
        values["tags"] = clean.tags or []
        return values

    @staticmethod
    def contacts(text: str, clean: Callable[[str], str], column: str, problems: list[tuple[str, str]]) -> list[str]:
        out: list[str] = []
        for raw in _split(text):
            try:
                value = clean(raw)
            except InvalidInput as exc:
                problems.extend((column, " ".join(m)) for m in exc.errors.values())
                continue
            if value not in out:
                out.append(value)
        return out

    def unique(self, line: int, emails: list[str], external: str | None) -> None:
        for email in emails:
            first = self.email_lines.setdefault(email, line)
            if first != line:
                self.duplicate(first, line, "emails", email)
            else:
                self.new_emails.append(email)
        if external:
            first = self.external_lines.setdefault(external, line)
            if first != line:
                self.duplicate(first, line, "external_id", external)
            else:
                self.new_externals.append(external)

    def duplicate(self, first: int, line: int, column: str, value: str) -> None:
        # Both lines are reported; the first line once per value however often it repeats.
        if (column, value) not in self.repeated:
            self.repeated.add((column, value))
            self.error(first, column, f"'{value}' is also on line {line}.")
        self.error(line, column, f"'{value}' is also on line {first}.")


def _chunks(values: list[str], size: int = LOOKUP_CHUNK) -> Iterator[list[str]]:
    for start in range(0, len(values), size):
        yield values[start : start + size]


def _taken(model: type[Any], column: str, values: list[str], **where: str) -> Iterator[tuple[str, int]]:
    """(value, customer id) for values already in ``column``, a few bulk queries in all."""
    owner = "customer_id" if model is ContactPoint else "id"
    if connection.vendor == "postgresql":
        # One array parameter per 50,000 values: no SQL text with thousands of placeholders.
        condition = "".join(f" AND {name} = %s" for name in where)
        sql = f"SELECT {column}, {owner} FROM {model._meta.db_table} WHERE {column} = ANY(%s){condition}"  # noqa: S608 - names from the model, values as parameters
        with connection.cursor() as cursor:
            for chunk in _chunks(values, 50_000):
                cursor.execute(sql, [chunk, *where.values()])
                yield from cursor.fetchall()
        return
    for chunk in _chunks(values):
        yield from model.objects.filter(**{f"{column}__in": chunk}, **where).values_list(column, owner)


class _Checker:
    """The checks against existing rows, a few bulk queries per look: emails and external ids
    taken, account managers unknown. Each look covers what the validator has seen since the
    last one, so the writer can look chunk by chunk and the dry run once at the end."""

    def __init__(self, check: _Validator) -> None:
        self.check = check
        self.found: dict[str, Staff] = {}  # managers by username
        self.looked_up: set[str] = set()

    def look(self) -> None:
        check = self.check
        emails, check.new_emails = check.new_emails, []
        externals, check.new_externals = check.new_externals, []
        if emails:
            for value, customer_id in _taken(ContactPoint, "value", emails, kind=ContactPointKind.EMAIL.value):
                check.error(
                    check.email_lines[value],
                    "emails",
                    f"{value} already belongs to customer {format_reference(customer_id)}.",
                )
        if externals:
            for value, customer_id in _taken(Customer, "external_id", externals):
                check.error(
                    check.external_lines[value],
                    "external_id",
                    f"The external id '{value}' already belongs to customer {format_reference(customer_id)}.",
                )
        usernames = [name for name in check.managers if name not in self.looked_up]
        if usernames:
            self.looked_up.update(usernames)
            self.found.update((s.username, s) for s in Staff.objects.filter(username__in=usernames))

    def manager_ids(self) -> dict[str, int]:
        return {name: staff.id for name, staff in self.found.items()}

    def managers_ok(self) -> bool:
        """Whether every manager named so far is one a customer may have (no error reported)."""
        return all(self._manager_problem(name) is None for name in self.check.managers)

    def report_managers(self) -> None:
        for username, lines in self.check.managers.items():
            message = self._manager_problem(username)
            if message is not None:
                for line in lines:
                    self.check.error(line, "account_manager", message)

    def _manager_problem(self, username: str) -> str | None:
        try:
            services.clean_customer_input(
                services.CustomerInput(account_manager=username), creating=False, managers=self.found
            )
        except InvalidInput as exc:
            return " ".join(exc.errors.get("account_manager", ["unknown staff member"]))
        return None


def _check_database(check: _Validator) -> dict[str, int]:
    """Bulk checks against existing rows; returns the managers' ids by username."""
    checker = _Checker(check)
    checker.look()
    checker.report_managers()
    return checker.manager_ids()


# --- writing --------------------------------------------------------------------------------
def skip_row_checks() -> bool:
    """Inside the write transaction on PostgreSQL: stop the per-row foreign-key triggers for the
    rows this transaction inserts; the caller checks the parents as a set (``lock_parents``).

    A foreign key costs PostgreSQL one trigger per inserted row at commit: an index probe and a
    key-share lock on the parent row, about half of a customer import's database time. The
    imports write rows whose parents they have just inserted themselves (invisible to everyone
    else) or looked up; locking those with one ``FOR KEY SHARE`` query, and finding every one
    of them, is what the triggers would have done row by row, so the rows are exactly as
    checked. It needs ``session_replication_role`` (a superuser, or ``GRANT SET ON PARAMETER
    session_replication_role`` on PostgreSQL 15+); without it the triggers stay on and this
    answers False. Call ``restore_row_checks`` after the bulk statements.
    """
    if connection.vendor != "postgresql":
        return False
    try:
        with transaction.atomic(), connection.cursor() as cursor:  # a savepoint: a refusal is harmless
            cursor.execute("SET LOCAL session_replication_role = replica")
    except DatabaseError:
        return False
    return True


def lock_parents(parents: dict[type[Any], Iterable[int]]) -> bool:
    """Lock the parent rows (model -> ids) the bulk rows point to, as the triggers would;
    ``Conflict`` when one has gone since it was looked up. Always True (for ``and``)."""
    with connection.cursor() as cursor:
        for model, ids in parents.items():
            wanted = sorted(set(ids))
            if not wanted:
                continue
            table = model._meta.db_table
            sql = f"SELECT count(*) FROM (SELECT 1 FROM {table} WHERE id = ANY(%s) FOR KEY SHARE) AS locked"  # noqa: S608 - our table name
            cursor.execute(sql, [wanted])
            if cursor.fetchone()[0] != len(wanted):
                raise Conflict(
                    f"A {model._meta.verbose_name} this import refers to was removed meanwhile; nothing was imported."
                )
    return True


def restore_row_checks() -> None:
    with connection.cursor() as cursor:
        cursor.execute("SET LOCAL session_replication_role = origin")


def _copy(table: str, columns: Iterable[str], lines: Iterable[str]) -> None:
    copy_text(connection.cursor(), table, columns, lines)


COPY_CHUNK = 5000  # lines per write
_COPY_ESCAPES = str.maketrans({"\\": "\\\\", "\t": "\\t", "\n": "\\n", "\r": "\\r"})


def copy_text(cursor: Any, table: str, columns: Iterable[str], lines: Iterable[str]) -> None:
    """COPY in PostgreSQL's text format, lines made by the caller (``_text`` escapes what must be):
    psycopg's per-value adaptation (``write_row``) costs more than making the line. Closes ``cursor``."""
    with cursor, cursor.copy(f"COPY {table} ({', '.join(columns)}) FROM STDIN") as copy:
        chunk: list[str] = []
        for line in lines:
            chunk.append(line)
            if len(chunk) == COPY_CHUNK:
                copy.write("".join(chunk).encode())
                chunk = []
        if chunk:
            copy.write("".join(chunk).encode())


def _text(value: str) -> str:
    return value.translate(_COPY_ESCAPES) if "\\" in value or not value.isprintable() else value


def _reserve_ids(count: int) -> list[int]:
    """Ids from the customer sequence; other writers may interleave, so not always one run."""
    table = Customer._meta.db_table
    with connection.cursor() as cursor:
        cursor.execute("SELECT nextval(pg_get_serial_sequence(%s, 'id')) FROM generate_series(1, %s)", [table, count])
        return [r[0] for r in cursor.fetchall()]


CUSTOMER_COLUMNS = (
    "id",
    "name",
    "kind",
    "status",
    "account_manager_id",
    "external_id",
    "preferred_channel",
    "language",
    "timezone",
    "consent_email",
    "consent_phone",
    "consent_post",
    "consent_marketing",
    "notes",
    "created_at",
    "updated_at",
    "version",
)


def _customer_values(row: Row, customer_id: int | None, managers: dict[str, int], now: Any) -> tuple[Any, ...]:
    return (
        customer_id,
        row[1],
        row[2],
        row[3],
        managers.get(row[R_MANAGER]) if row[R_MANAGER] else None,
        *row[5:14],
        now,
        now,
        1,
    )


def _contact_rows(ids: list[int], rows: list[Row], now: Any) -> Iterator[tuple[Any, ...]]:
    for customer_id, row in zip(ids, rows, strict=True):
        for index, email in enumerate(row[R_EMAILS]):
            yield (customer_id, ContactPointKind.EMAIL.value, email, "", index == 0, False, now)
        for index, phone in enumerate(row[R_PHONES]):
            yield (customer_id, ContactPointKind.PHONE.value, phone, "", index == 0, False, now)


def _name_key_rows(ids: list[int], rows: list[Row], cleaner: _Cleaner) -> Iterator[tuple[int, str]]:
    for customer_id, row in zip(ids, rows, strict=True):
        for key in cleaner.keys(row[R_NAME]):
            yield (customer_id, key)


def _tag_rows(ids: list[int], rows: list[Row], tag_ids: dict[str, int]) -> Iterator[tuple[int, int]]:
    for customer_id, row in zip(ids, rows, strict=True):
        for tag in row[R_TAGS]:
            yield (customer_id, tag_ids[tag])


CONTACT_COLUMNS = ("customer_id", "kind", "value", "label", "is_primary", "bouncing", "created_at")


def _write_postgresql(
    rows: list[Row], managers: dict[str, int], cleaner: _Cleaner, tag_ids: dict[str, int]
) -> list[int]:
    ids = _reserve_ids(len(rows))
    _copy_rows(_copy, ids, rows, managers, cleaner, tag_ids, timezone.now())
    return ids


def _copy_rows(
    copy: Callable[[str, Iterable[str], Iterable[str]], None],
    ids: list[int],
    rows: list[Row],
    managers: dict[str, int],
    cleaner: _Cleaner,
    tag_ids: dict[str, int],
    now: Any,
) -> None:
    stamp = now.isoformat()
    copy(Customer._meta.db_table, CUSTOMER_COLUMNS, _customer_lines(ids, rows, managers, stamp))
    # Contact points and name keys go in sorted by value: three of the contact point indexes
    # and two of the name key indexes lead with it, and B-tree inserts in key order touch a
    # few hot pages instead of a random page per row once the index outgrows the cache.
    contacts = sorted(_contact_rows(ids, rows, now), key=itemgetter(2))
    copy(
        ContactPoint._meta.db_table,
        CONTACT_COLUMNS,
        (
            f"{c}\t{kind}\t{_text(value)}\t\t{'t' if first else 'f'}\tf\t{stamp}\n"
            for c, kind, value, _, first, _, _ in contacts
        ),
    )
    del contacts
    keys = sorted(_name_key_rows(ids, rows, cleaner), key=itemgetter(1))
    copy(NameKey._meta.db_table, ("customer_id", "key"), (f"{c}\t{_text(key)}\n" for c, key in keys))
    del keys
    copy(
        Customer.tags.through._meta.db_table,
        ("customer_id", "tag_id"),
        (f"{c}\t{t}\n" for c, t in _tag_rows(ids, rows, tag_ids)),
    )


_NULL = "\\N"


def _customer_lines(ids: list[int], rows: list[Row], managers: dict[str, int], stamp: str) -> Iterator[str]:
    for cid, r in zip(ids, rows, strict=True):
        manager = managers[r[R_MANAGER]] if r[R_MANAGER] else _NULL
        external = _NULL if r[R_EXTERNAL] is None else _text(r[R_EXTERNAL])
        consents = "\t".join("t" if c else "f" for c in r[9:13])
        yield (
            f"{cid}\t{_text(r[R_NAME])}\t{r[2]}\t{r[3]}\t{manager}\t{external}\t{r[6]}\t{r[7]}\t{r[8]}\t"
            f"{consents}\t{_text(r[R_NOTES])}\t{stamp}\t{stamp}\t1\n"
        )


def _write_orm(rows: list[Row], managers: dict[str, int], cleaner: _Cleaner, tag_ids: dict[str, int]) -> list[int]:
    """SQLite (and any other engine): bulk_create in batches, ids come back from RETURNING."""
    now = timezone.now()
    names = CUSTOMER_COLUMNS[1:-3]
    ids: list[int] = []
    batch = 2000
    for start in range(0, len(rows), batch):
        part = rows[start : start + batch]
        made = Customer.objects.bulk_create(
            Customer(**dict(zip(names, _customer_values(r, None, managers, now)[1:-3], strict=True))) for r in part
        )
        ids += [c.id for c in made]
    ContactPoint.objects.bulk_create(
        (ContactPoint(**dict(zip(CONTACT_COLUMNS, values, strict=True))) for values in _contact_rows(ids, rows, now)),
        batch_size=batch,
    )
    NameKey.objects.bulk_create(
        (NameKey(customer_id=c, key=k) for c, k in _name_key_rows(ids, rows, cleaner)), batch_size=batch
    )
    through = Customer.tags.through
    through.objects.bulk_create(
        (through(customer_id=c, tag_id=t) for c, t in _tag_rows(ids, rows, tag_ids)), batch_size=batch
    )
    return ids


def _id_ranges(ids: list[int]) -> list[tuple[int, int]]:
    ranges: list[tuple[int, int]] = []
    for value in sorted(ids):
        if ranges and value == ranges[-1][1] + 1:
            ranges[-1] = (ranges[-1][0], value)
        else:
            ranges.append((value, value))
    return ranges


@transaction.atomic
def _write(actor: Staff | None, check: _Validator, managers: dict[str, int], job_id: int | None) -> None:
    rows = check.rows
    tag_ids = {name: tag.id for name, tag in services.tags_by_name(t for r in rows for t in r[R_TAGS]).items()}
    used_managers = [managers[r[R_MANAGER]] for r in rows if r[R_MANAGER]]
    skipped = skip_row_checks() and lock_parents({Staff: used_managers, Tag: tag_ids.values()})
    write = _write_postgresql if connection.vendor == "postgresql" else _write_orm
    ids = write(rows, managers, check.cleaner, tag_ids)
    if skipped:
        restore_row_checks()
    _record(actor, check, ids, len(tag_ids), job_id)


def _record(actor: Staff | None, check: _Validator, ids: list[int], tags: int, job_id: int | None) -> None:
    report = check.report
    report.created = len(ids)
    report.id_ranges = _id_ranges(ids)
    # One audit row for the whole import, naming the created id ranges: a row per customer
    # would double the rows written and halve the import rate; the ranges plus the stored
    # file (for job imports) say exactly what the import created and from what.
    audit.record(
        actor=actor,
        action="customer.imported",
        subject_type="import",
        subject_id=job_id or 0,
        changes={
            "rows": report.rows,
            "created": report.created,
            "customer_id_ranges": [list(r) for r in report.id_ranges],
            "contact_points": sum(len(r[R_EMAILS]) + len(r[R_PHONES]) for r in check.rows),
            "tags": tags,
        },
    )


class BackgroundWriter:
    """One write at a time in a second thread, on this thread's connection and inside its open
    transaction, so Python can prepare the next rows while PostgreSQL takes these. The thread
    uses the raw connection; ``wait`` must come before anything else uses the connection
    (psycopg would serialise it, but a query would then block until the write is done)."""

    def __init__(self) -> None:
        connection.ensure_connection()
        self.raw = connection.connection
        self.thread: threading.Thread | None = None
        self.failure: BaseException | None = None

    def start(self, fn: Callable[..., None], *args: Any) -> None:
        self.wait()
        self.thread = threading.Thread(target=self._run, args=(fn, *args), name="import-writer")
        self.thread.start()

    def _run(self, fn: Callable[..., None], *args: Any) -> None:
        try:
            fn(*args)
        except BaseException as exc:  # handed to the caller's thread by wait()
            self.failure = exc

    def copy(self, table: str, columns: Iterable[str], lines: Iterable[str]) -> None:
        copy_text(self.raw.cursor(), table, columns, lines)

    def wait(self) -> None:
        self.stop()
        if self.failure is not None:
            failure, self.failure = self.failure, None
            raise failure

    def stop(self) -> None:
        if self.thread is not None:
            self.thread.join()
            self.thread = None


class _ChunkWriter:
    """PostgreSQL, real import: validation and writing overlap. Every ``WRITE_CHUNK`` valid rows
    the validator hands over; this thread looks the new values up in the database, then a
    ``BackgroundWriter`` COPYs the chunk while this thread validates the next one, so Python
    and PostgreSQL work at the same time on two cores. After the first bad row nothing more is
    written (the validation goes on, to report every bad row) and the caller rolls the
    transaction back: all or nothing, as before. Progress callbacks must write through a
    connection of their own (see ``_JobTracker``)."""

    def __init__(self, check: _Validator, on_write: Callable[[], None] | None) -> None:
        self.check = check
        self.checker = _Checker(check)
        self.on_write = on_write
        self.handed = 0  # rows of check.rows handed to the writer
        self.ids: list[int] = []
        self.tag_ids: dict[str, int] = {}
        self.locked: set[int] = set()
        self.now = timezone.now()
        self.skipped = skip_row_checks()
        self.writer = BackgroundWriter()
        check.on_chunk = self.chunk

    def chunk(self) -> None:
        self.writer.wait()
        self.checker.look()
        rows = self.check.rows[self.handed :]
        self.handed = len(self.check.rows)
        if not rows or self.check.report.errors or not self.checker.managers_ok():
            return
        if self.on_write and not self.ids:
            self.on_write()
        managers = self.checker.manager_ids()
        new_tags = {t for r in rows for t in r[R_TAGS] if t not in self.tag_ids}
        fresh = {name: tag.id for name, tag in services.tags_by_name(new_tags).items()} if new_tags else {}
        self.tag_ids.update(fresh)
        new_managers = {managers[r[R_MANAGER]] for r in rows if r[R_MANAGER]} - self.locked
        self.locked |= new_managers
        if self.skipped:
            lock_parents({Staff: new_managers, Tag: fresh.values()})
        ids = _reserve_ids(len(rows))
        self.ids += ids
        args = (ids, rows, managers, self.check.cleaner, dict(self.tag_ids), self.now)
        self.writer.start(_copy_rows, self.writer.copy, *args)

    def finish(self) -> bool:
        """Write the last rows; whether everything is written (no bad row anywhere)."""
        self.chunk()
        self.writer.wait()
        self.checker.report_managers()
        return not self.check.report.errors


def import_customers(
    *,
    actor: Staff | None,
    source: IO[bytes] | IO[str] | Path,
    dry_run: bool,
    progress: Progress | None = None,
    on_write: Callable[[], None] | None = None,
    job_id: int | None = None,
) -> ImportReport:
    """Validate a customer CSV and, unless ``dry_run`` or any row is bad, create every row.

    ``progress(rows_done, rows_total)`` is called every few thousand rows while validating
    (``rows_total`` is 0 when the source cannot be counted in advance); ``on_write`` just
    before the first rows are written. ``actor`` None is the system (operator commands).
    On PostgreSQL a real import validates and writes at once inside its transaction, so
    ``progress`` and ``on_write`` must not write through this thread's connection
    (``run_job`` gives them a connection of their own).
    """
    if actor is not None:
        require_role(actor, Role.MANAGER, "import customers")
    report = ImportReport(dry_run=dry_run)
    stream = _open(source)
    try:
        total = count_rows(stream) if progress and stream.seekable() else 0
        check = _Validator(report, progress, total)
        overlapped = connection.vendor == "postgresql" and not dry_run
        if overlapped:
            _import_overlapped(actor, check, stream, on_write, job_id)
        else:
            _read(check, stream)
            managers = _check_database(check)
    finally:
        if isinstance(source, Path):
            stream.close()
    if progress:
        progress(report.rows, total or report.rows)
    report.errors.sort(key=lambda e: e.line)
    if report.errors or dry_run or overlapped:
        return report
    if on_write:
        on_write()
    try:
        _write(actor, check, managers, job_id)
    except IntegrityError as exc:
        report.created, report.id_ranges = 0, []
        raise Conflict(TAKEN_MEANWHILE) from exc
    return report


TAKEN_MEANWHILE = "An email or external id in this file was taken meanwhile; nothing was imported."


def _read(check: _Validator, stream: IO[bytes] | IO[str]) -> None:
    try:
        check.run(_text_lines(stream))
    except _EncodingError as exc:
        check.error(exc.line, "file", 'The file is not UTF-8 text. Save it as "CSV UTF-8" and upload it again.')
    except csv.Error as exc:
        check.error(check.report.rows + 2, "file", f"The file is not valid CSV: {exc}.")


def _import_overlapped(
    actor: Staff | None,
    check: _Validator,
    stream: IO[bytes] | IO[str],
    on_write: Callable[[], None] | None,
    job_id: int | None,
) -> None:
    """Validate and write at once in one transaction, rolled back if any row is bad."""
    try:
        with transaction.atomic():
            writer = _ChunkWriter(check, on_write)
            try:
                _read(check, stream)
                complete = writer.finish()
            finally:
                writer.writer.stop()
            if not complete:
                transaction.set_rollback(True)
                return
            if writer.skipped:
                restore_row_checks()
            _record(actor, check, writer.ids, len(writer.tag_ids), job_id)
    except (IntegrityError, psycopg_errors.IntegrityError) as exc:
        check.report.created, check.report.id_ranges = 0, []
        raise Conflict(TAKEN_MEANWHILE) from exc


# --- export ---------------------------------------------------------------------------------
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


# --- background jobs --------------------------------------------------------------------------
class _JobTracker:
    """A job's progress and status, written where the page polling it sees them at once. On
    PostgreSQL the import validates inside its open transaction (see ``_ChunkWriter``), so
    they go through a connection of their own, in autocommit; SQLite validates before its
    transaction and has a single writer, so there the import's connection writes them."""

    def __init__(self, job_id: int) -> None:
        self.job_id = job_id
        self.side = connections.create_connection(DEFAULT_DB_ALIAS) if connection.vendor == "postgresql" else None

    def progress(self, done: int, total: int) -> None:
        self._update(rows_done=done, rows_total=max(total, done))

    def importing(self) -> None:
        self._update(status=ImportStatus.IMPORTING.value)

    def _update(self, **values: Any) -> None:
        if self.side is None:
            ImportJob.objects.filter(id=self.job_id).update(**values)
            return
        columns = ", ".join(f"{name} = %s" for name in values)
        sql = f"UPDATE {ImportJob._meta.db_table} SET {columns} WHERE id = %s"  # noqa: S608 - our names
        with self.side.cursor() as cursor:
            cursor.execute(sql, [*values.values(), self.job_id])

    def close(self) -> None:
        if self.side is not None:
            self.side.close()


@transaction.atomic
def start_import(*, actor: Staff | None, upload: IO[bytes], dry_run: bool, name: str = "") -> ImportJob:
    """Store an uploaded CSV under a generated name and queue its check/import."""
    if actor is not None:
        require_role(actor, Role.MANAGER, "import customers")
    stored = default_storage.save(f"imports/{uuid.uuid4().hex}.csv", File(upload))
    job = ImportJob.objects.create(file=stored, original_name=name[:255], dry_run=dry_run, created_by=actor)
    _enqueue(job)
    return job


@transaction.atomic
def confirm_import(*, actor: Staff | None, job_id: int) -> ImportJob:
    """Import for real the file of a clean, finished dry run (the stored file is reused)."""
    if actor is not None:
        require_role(actor, Role.MANAGER, "import customers")
    dry = ImportJob.objects.select_for_update().filter(id=job_id).first()
    if dry is None:
        raise NotFound(f"No import job {job_id}.")
    if not dry.dry_run or dry.status != ImportStatus.DONE or dry.error_count:
        raise Conflict("Only a finished dry run without errors can be imported for real.")
    if ImportJob.objects.filter(dry_run_of=dry).exists():
        raise Conflict("This file was already imported.")
    job = ImportJob.objects.create(
        file=dry.file,
        original_name=dry.original_name,
        dry_run=False,
        created_by=actor,
        dry_run_of=dry,
        rows_total=dry.rows_total,
    )
    _enqueue(job)
    return job


def _enqueue(job: ImportJob) -> None:
    from rapport.customers.tasks import run_import  # tasks imports this module

    transaction.on_commit(lambda: run_import.enqueue(job.id))


def run_job(job_id: int) -> None:
    """The task body: claim the job with a conditional UPDATE so it runs once, then import."""
    claimed = ImportJob.objects.filter(id=job_id, status=ImportStatus.PENDING).update(
        status=ImportStatus.VALIDATING, started_at=timezone.now()
    )
    if not claimed:
        return
    job = ImportJob.objects.select_related("created_by").get(id=job_id)
    tracker = _JobTracker(job.id)
    try:
        with default_storage.open(job.file, "rb") as stream:
            report = import_customers(
                actor=job.created_by,
                source=stream,
                dry_run=job.dry_run,
                progress=tracker.progress,
                on_write=tracker.importing,
                job_id=job.id,
            )
    except Exception as exc:
        ImportJob.objects.filter(id=job_id).update(
            status=ImportStatus.FAILED, failure=f"{type(exc).__name__}: {exc}"[:2000], finished_at=timezone.now()
        )
        raise
    finally:
        tracker.close()
    ImportJob.objects.filter(id=job_id).update(
        status=ImportStatus.INVALID if report.errors else ImportStatus.DONE,
        rows_total=report.rows,
        rows_done=report.rows,
        created=report.created,
        errors=[asdict(e) for e in report.errors[: ImportJob.ERRORS_KEPT]],
        error_count=len(report.errors),
        finished_at=timezone.now(),
    )


def get_job(*, actor: Staff | None, job_id: int) -> ImportJob:
    if actor is not None:
        require_role(actor, Role.MANAGER, "see customer imports")
    job = ImportJob.objects.select_related("created_by", "real_import").filter(id=job_id).first()
    if job is None:
        raise NotFound(f"No import job {job_id}.")
    return job


def recent_jobs(*, actor: Staff | None, limit: int = 10) -> list[ImportJob]:
    if actor is not None:
        require_role(actor, Role.MANAGER, "see customer imports")
    return list(ImportJob.objects.select_related("created_by").order_by("-created_at", "-id")[:limit])
