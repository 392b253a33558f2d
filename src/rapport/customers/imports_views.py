"""Pages for the customer CSV import (upload, job progress, confirm) and the CSV export.

Adapters over ``rapport.customers.imports``: the upload is stored and checked by a
background task; the job page polls a progress fragment (htmx) while the task runs.
"""

from __future__ import annotations

from typing import cast

from django import forms
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpRequest, HttpResponse, StreamingHttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from rapport.core.errors import Conflict, InvalidInput, NotFound
from rapport.customers import imports
from rapport.customers.api import csv_download
from rapport.customers.models import ImportJob
from rapport.customers.queries import CustomerFilters
from rapport.people.models import Role, Staff

MAX_SHOWN_ERRORS = ImportJob.ERRORS_KEPT


class UploadForm(forms.Form):
    file = forms.FileField(label="CSV file (UTF-8)", widget=forms.ClearableFileInput(attrs={"accept": ".csv,text/csv"}))
    dry_run = forms.BooleanField(label="Dry run first (check every row, import nothing)", required=False, initial=True)


def _actor(request: HttpRequest) -> Staff:
    return cast(Staff, request.user)  # every view here is @login_required


def _can(request: HttpRequest, role: str) -> bool:
    return _actor(request).has_role_at_least(role)


@login_required
@require_http_methods(["GET", "POST"])
def import_page(request: HttpRequest) -> HttpResponse:
    form = UploadForm(request.POST or None, request.FILES or None)
    if request.method == "POST" and form.is_valid():
        upload = form.cleaned_data["file"]
        job = imports.start_import(
            actor=_actor(request),
            upload=upload,
            dry_run=form.cleaned_data["dry_run"],
            name=upload.name or "",
        )
        return redirect("customer-import-job", job_id=job.id)
    can_import = _can(request, Role.MANAGER)
    context = {
        "form": form,
        "columns": imports.COLUMNS,
        "can_import": can_import,
        "can_export": _can(request, Role.LEAD),
        "jobs": imports.recent_jobs(actor=_actor(request)) if can_import else [],
    }
    return render(request, "customers/import.html", context, status=422 if form.errors else 200)


@login_required
@require_GET
def import_job(request: HttpRequest, job_id: int) -> HttpResponse:
    try:
        job = imports.get_job(actor=_actor(request), job_id=job_id)
    except NotFound as exc:
        raise Http404(exc.detail) from None
    context = {"job": job, "errors": job.errors[:MAX_SHOWN_ERRORS]}
    template = "customers/import_job.html#job" if request.htmx else "customers/import_job.html"  # type: ignore[attr-defined]
    return render(request, template, context)


@login_required
@require_POST
def import_confirm(request: HttpRequest, job_id: int) -> HttpResponse:
    try:
        job = imports.confirm_import(actor=_actor(request), job_id=job_id)
    except NotFound as exc:
        raise Http404(exc.detail) from None
    except Conflict as exc:
        messages.error(request, exc.detail)
        return redirect("customer-import-job", job_id=job_id)
    return redirect("customer-import-job", job_id=job.id)


@login_required
@require_GET
def export_csv(request: HttpRequest) -> StreamingHttpResponse | HttpResponse:
    params = request.GET
    filters = CustomerFilters(
        q=params.get("q", ""),
        status=params.get("status", ""),
        account_manager=params.get("account_manager", ""),
        tag=params.get("tag", ""),
    )
    try:
        lines = imports.export_customers(actor=_actor(request), filters=filters)
    except InvalidInput as exc:
        messages.error(request, str(exc))
        return redirect("customer-import")
    return csv_download(lines)
