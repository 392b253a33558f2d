"""Validating a file: one pass over the rows (``_Validator``), each row cleaned with the API's
own rules, duplicates within the file found, every bad row reported by its line."""

from __future__ import annotations

import csv
from collections.abc import Callable, Iterable
from typing import IO, Any

from rapport.core.errors import InvalidInput
from rapport.customers import services
from rapport.customers.imports.cleaning import _Cleaner, fast_normalise_email
from rapport.customers.imports.reading import _EncodingError, _text_lines
from rapport.customers.imports.rows import COLUMNS, LIST_SEPARATOR, ImportReport, Progress, Row, RowError
from rapport.customers.models import CONSENT_CHANNELS

PROGRESS_EVERY = 5000
WRITE_CHUNK = 50_000  # rows validated while the previous chunk is written (PostgreSQL)
_TRUE = frozenset({"true", "yes", "1", "y", "t"})
_FALSE = frozenset({"false", "no", "0", "n", "f", ""})


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


def _read(check: _Validator, stream: IO[bytes] | IO[str]) -> None:
    try:
        check.run(_text_lines(stream))
    except _EncodingError as exc:
        check.error(exc.line, "file", 'The file is not UTF-8 text. Save it as "CSV UTF-8" and upload it again.')
    except csv.Error as exc:
        check.error(check.report.rows + 2, "file", f"The file is not valid CSV: {exc}.")
