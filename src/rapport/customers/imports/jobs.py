"""Imports as background jobs (``ImportJob``): the upload stored and queued (``start_import``), a
clean dry run confirmed (``confirm_import``), the task body (``run_job``) with its progress
written where the job page sees it (``_JobTracker``), and the job pages' reads."""

from __future__ import annotations

import uuid
from dataclasses import asdict
from typing import IO, Any

from django.core.files import File
from django.core.files.storage import default_storage
from django.db import DEFAULT_DB_ALIAS, connection, connections, transaction
from django.utils import timezone

from rapport.core.errors import Conflict, NotFound
from rapport.customers.imports.importing import import_customers
from rapport.customers.models import ImportJob, ImportStatus
from rapport.people.models import Role, Staff
from rapport.people.permissions import require_role


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
