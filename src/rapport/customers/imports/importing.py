"""The import itself (``import_customers``): validate, check against the database, then write in
one transaction; on PostgreSQL a real import validates and writes at once (``_ChunkWriter``)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import IO

from django.db import IntegrityError, connection, transaction
from django.utils import timezone
from psycopg import errors as psycopg_errors

from rapport.core import audit
from rapport.core.errors import Conflict
from rapport.customers import services
from rapport.customers.imports.checks import _check_database, _Checker
from rapport.customers.imports.reading import _open, count_rows
from rapport.customers.imports.rows import R_EMAILS, R_MANAGER, R_PHONES, R_TAGS, ImportReport, Progress
from rapport.customers.imports.validating import _read, _Validator
from rapport.customers.imports.writing import (
    BackgroundWriter,
    _copy_rows,
    _reserve_ids,
    _write_orm,
    _write_postgresql,
    lock_parents,
    restore_row_checks,
    skip_row_checks,
)
from rapport.customers.models import Tag
from rapport.people.models import Role, Staff
from rapport.people.permissions import require_role


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
