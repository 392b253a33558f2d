"""API conventions shared by every app's router: RFC 9457 problem responses, cursor pages
and idempotent creates."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from typing import Any

from django.db import IntegrityError, transaction
from django.http import Http404, HttpRequest, HttpResponse
from ninja import NinjaAPI, Schema
from ninja.errors import AuthenticationError, AuthorizationError, HttpError, ValidationError

from rapport.core.errors import Conflict, InvalidInput, NotFound, PermissionDenied, PreconditionFailed
from rapport.core.models import IdempotencyRecord

PROBLEM = "application/problem+json"


def problem(status: int, title: str, detail: str = "", **extra: Any) -> HttpResponse:
    body = {"type": "about:blank", "title": title, "status": status, "detail": detail or title, **extra}
    return HttpResponse(json.dumps(body, default=str), status=status, content_type=PROBLEM)


def _field_name(loc: list[Any]) -> str:
    # ninja locations look like ["body", "payload", "emails", 0]; keep what names the field.
    parts = [str(p) for p in loc if p not in ("body", "query", "path", "header", "payload", "form")]
    return ".".join(parts) or "__all__"


def install_problem_handlers(api: NinjaAPI) -> None:
    @api.exception_handler(InvalidInput)
    def invalid(request: HttpRequest, exc: InvalidInput) -> HttpResponse:
        return problem(422, "Invalid input", str(exc), errors=exc.errors)

    @api.exception_handler(ValidationError)
    def schema_invalid(request: HttpRequest, exc: ValidationError) -> HttpResponse:
        errors: dict[str, list[str]] = {}
        for error in exc.errors:
            errors.setdefault(_field_name(list(error.get("loc", []))), []).append(str(error.get("msg", "invalid")))
        detail = "; ".join(f"{k}: {' '.join(v)}" for k, v in errors.items())
        return problem(422, "Invalid input", detail, errors=errors)

    @api.exception_handler(Conflict)
    def conflict(request: HttpRequest, exc: Conflict) -> HttpResponse:
        return problem(409, "Conflict", exc.detail, **exc.extra)

    @api.exception_handler(NotFound)
    def not_found(request: HttpRequest, exc: NotFound) -> HttpResponse:
        return problem(404, "Not found", exc.detail)

    @api.exception_handler(Http404)
    def http404(request: HttpRequest, exc: Http404) -> HttpResponse:
        return problem(404, "Not found", str(exc) or "Not found.")

    @api.exception_handler(PreconditionFailed)
    def stale(request: HttpRequest, exc: PreconditionFailed) -> HttpResponse:
        return problem(412, "Precondition failed", exc.detail)

    @api.exception_handler(PermissionDenied)
    def forbidden(request: HttpRequest, exc: PermissionDenied) -> HttpResponse:
        return problem(403, "Forbidden", str(exc) or "Your role does not allow this.")

    @api.exception_handler(AuthorizationError)
    def forbidden_auth(request: HttpRequest, exc: AuthorizationError) -> HttpResponse:
        return problem(403, "Forbidden", "Your role does not allow this.")

    @api.exception_handler(AuthenticationError)
    def unauthorised(request: HttpRequest, exc: AuthenticationError) -> HttpResponse:
        response = problem(401, "Unauthorized", "Send a valid token: Authorization: Bearer <token>.")
        response["WWW-Authenticate"] = 'Bearer realm="rapport"'
        return response

    @api.exception_handler(HttpError)
    def http_error(request: HttpRequest, exc: HttpError) -> HttpResponse:
        return problem(exc.status_code, str(exc), str(exc))


class CursorPage(Schema):
    next_cursor: str | None


def json_response(status: int, body: Any, headers: dict[str, str] | None = None) -> HttpResponse:
    """``body``: JSON-able data, or JSON already serialised (bytes)."""
    content = body if isinstance(body, bytes) else json.dumps(body, default=str)
    response = HttpResponse(content, status=status, content_type="application/json")
    for name, value in (headers or {}).items():
        response[name] = value
    return response


def idempotent_create(request: HttpRequest, create: Callable[[], tuple[int, Any]]) -> HttpResponse:
    """Run ``create`` once per ``Idempotency-Key``: a repeat with the same body replays the
    first response; the same key with another body is refused with 422.

    The key row is inserted in the same transaction as the created rows, so a crash leaves
    neither, and a concurrent repeat waits on the unique key and then replays.
    """
    key = request.headers.get("Idempotency-Key", "").strip()
    if not key:
        status, body = create()
        return json_response(status, body)
    if len(key) > 255:
        return problem(
            422,
            "Invalid input",
            "Idempotency-Key can have at most 255 characters.",
            errors={"Idempotency-Key": ["too long"]},
        )
    request_line = f"{request.method} {request.path}".encode()
    fingerprint = hashlib.sha256(request_line + b"\n" + request.body).hexdigest()
    staff = request.auth  # type: ignore[attr-defined]
    try:
        with transaction.atomic():
            record = IdempotencyRecord.objects.create(staff=staff, key=key, fingerprint=fingerprint)
            status, body = create()
            record.status_code = status
            record.response_body = json.loads(body if isinstance(body, bytes) else json.dumps(body, default=str))
            record.save(update_fields=["status_code", "response_body"])
    except IntegrityError:
        existing = IdempotencyRecord.objects.filter(staff=staff, key=key).first()
        if existing is None:  # the other request rolled back; let the client retry
            return problem(409, "Conflict", "A request with this Idempotency-Key failed at the same moment; retry.")
        return _replay(existing, fingerprint)
    return json_response(status, body)


def _replay(record: IdempotencyRecord, fingerprint: str) -> HttpResponse:
    if record.fingerprint != fingerprint:
        return problem(
            422,
            "Idempotency-Key reused",
            "This Idempotency-Key was used with a different request body.",
            errors={"Idempotency-Key": ["already used with a different body"]},
        )
    if record.status_code is None:
        return problem(409, "Conflict", "The first request with this Idempotency-Key is still running.")
    return json_response(record.status_code, record.response_body, {"Idempotent-Replayed": "true"})
