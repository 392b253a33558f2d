"""Background tasks for customers: thin, take ids, idempotent."""

from __future__ import annotations

from django.tasks import task

from rapport.customers import imports


@task
def run_import(job_id: int) -> None:
    """Check (and, unless a dry run, import) an uploaded customer CSV. A job already claimed
    by another worker, or finished, is left alone."""
    imports.run_job(job_id)
