"""Pages of the channels app: the public contact form, attachment downloads for staff."""

from __future__ import annotations

from django.contrib.auth.decorators import login_required
from django.core.cache import cache
from django.core.files.storage import default_storage
from django.http import FileResponse, Http404, HttpRequest, HttpResponse
from django.shortcuts import render
from django.views.decorators.http import require_http_methods

from rapport.channels import email_templates, services
from rapport.channels.forms import ContactForm
from rapport.channels.models import Attachment
from rapport.core.errors import InvalidInput
from rapport.people.models import Role
from rapport.people.permissions import require_role, require_staff

RATE_LIMIT = 5  # submissions per hour, per IP and per email address
RATE_WINDOW = 3600


def _over_limit(*keys: str) -> bool:
    """Count a submission against each key (Django's cache: shared when it is a shared backend)."""
    over = False
    for key in keys:
        cache.add(key, 0, RATE_WINDOW)
        try:
            count = cache.incr(key)
        except ValueError:  # expired between add and incr
            cache.set(key, 1, RATE_WINDOW)
            count = 1
        over = over or count > RATE_LIMIT
    return over


@require_http_methods(["GET", "POST"])
def contact(request: HttpRequest) -> HttpResponse:
    if request.method == "GET":
        return render(request, "channels/contact.html", {"form": ContactForm()})
    form = ContactForm(request.POST, request.FILES)
    if not form.is_valid():
        return render(request, "channels/contact.html", {"form": form}, status=422)
    if form.is_spam():
        # Answer as if it worked: a bot learns nothing, and nothing is opened.
        return render(request, "channels/contact_done.html", {"reference": None})
    ip = request.META.get("REMOTE_ADDR", "")
    email = form.cleaned_data["email"].lower()
    if _over_limit(f"contact:ip:{ip}", f"contact:email:{email}"):
        form.add_error(None, "We have had several messages from you in the last hour; please try again later.")
        return render(request, "channels/contact.html", {"form": form}, status=429)
    upload = None
    if file := form.cleaned_data.get("attachment"):
        upload = services.Upload(name=file.name, content_type=file.content_type or "", data=file.read())
    try:
        result = services.submit_contact_form(
            name=form.cleaned_data["name"],
            email=email,
            topic=form.cleaned_data["topic"],
            message=form.cleaned_data["message"],
            upload=upload,
        )
    except InvalidInput as exc:
        for field, messages in exc.errors.items():
            for message in messages:
                form.add_error(field if field in form.fields else None, message)
        return render(request, "channels/contact.html", {"form": form}, status=422)
    return render(
        request, "channels/contact_done.html", {"reference": result.case.reference, "new_case": result.new_case}
    )


@login_required
def attachment(request: HttpRequest, attachment_id: int) -> FileResponse:
    """Served only to staff, always as a download, never sniffed into something runnable."""
    require_staff(request.user)
    item = Attachment.objects.filter(id=attachment_id).exclude(storage_name="").first()
    if item is None:
        raise Http404("No such attachment.")
    response = FileResponse(
        default_storage.open(item.storage_name, "rb"),
        as_attachment=True,
        filename=item.label,
        content_type="application/octet-stream",
    )
    response["X-Content-Type-Options"] = "nosniff"
    return response


# --- the automatic emails' wording (admins and care managers) ---------------------------


@login_required
@require_http_methods(["GET"])
def email_template_list(request: HttpRequest) -> HttpResponse:
    require_role(request.user, Role.MANAGER, "edit email templates")
    return render(
        request,
        "channels/email_templates.html",
        {"kinds": email_templates.listing(), "default_language": email_templates.default_language()},
    )


@login_required
@require_http_methods(["GET", "POST"])
def email_template_edit(request: HttpRequest, kind: str, language: str) -> HttpResponse:
    """Edit one email in one language; "Preview" renders it with sample values, "Save" stores it
    (a template that does not compile comes back with the error, nothing saved)."""
    require_role(request.user, Role.MANAGER, "edit email templates")
    if kind not in email_templates.KINDS:
        raise Http404("No such email.")
    subject, body, source = email_templates.effective(kind, language)
    errors: dict[str, list[str]] = {}
    preview = None
    saved = False
    status = 200
    if request.method == "POST":
        subject, body = request.POST.get("subject", ""), request.POST.get("body", "")
        errors = email_templates.check(kind, subject, body)
        if not errors and request.POST.get("action") == "save":
            try:
                email_templates.save_template(
                    actor=request.user,  # type: ignore[arg-type]
                    kind=kind,
                    language=language,
                    subject=subject,
                    body=body,
                )
                saved, source = True, language
            except InvalidInput as exc:
                errors = exc.errors
        if errors:
            status = 422
        else:
            preview = email_templates.preview(kind, subject, body)
    return render(
        request,
        "channels/email_template_edit.html",
        {
            "kind": kind,
            "spec": email_templates.KINDS[kind],
            "language": language,
            "subject": subject,
            "body": body,
            "source": source,
            "errors": errors,
            "preview": preview,
            "saved": saved,
        },
        status=status,
    )
