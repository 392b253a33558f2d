"""Background work of the value app: thin, id-taking, idempotent."""

from __future__ import annotations

from typing import Any

from django.tasks import task

from rapport.value import services


@task()
def run_queued_fit(fit_id: int) -> str:
    """A fit too large to answer at once (POST /value/fits answered 202)."""
    fit = services.run_queued_fit(fit_id)
    return fit.status if fit else "skipped"


@task()
def refit_values() -> dict[str, Any]:
    """Recurring (settings: TASKS recurring "value-refit"): refit to today, rescore, re-tier."""
    return services.refit_and_rescore()
