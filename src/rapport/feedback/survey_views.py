"""Staff pages to define surveys and send them. Adapters only: the form's fields become the
services' arguments, and the services' errors are shown next to the form."""

from __future__ import annotations

import re
from collections.abc import Callable
from functools import wraps
from typing import Any

from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied as Forbidden
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_GET, require_http_methods

from rapport.core.errors import InvalidInput, NotFound, PermissionDenied
from rapport.feedback import queries, services
from rapport.feedback.models import SCALES, QuestionKind, Survey, SurveyKind
from rapport.people.models import Role
from rapport.people.permissions import require_role

LANG_SLOTS = 3  # languages one form offers; save and edit again for more
BLANK_QUESTIONS = 3  # empty question rows under the existing ones (no JavaScript to add rows)
MAX_ROWS = 100


def _page(view: Callable[..., HttpResponse]) -> Callable[..., HttpResponse]:
    """Signed-in staff only; the services' refusals become 403 and 404 pages."""

    @login_required
    @wraps(view)
    def wrapper(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        try:
            return view(request, *args, **kwargs)
        except PermissionDenied as exc:
            raise Forbidden(str(exc)) from exc
        except NotFound as exc:
            raise Http404(exc.detail) from exc

    return wrapper


def _may(request: HttpRequest, role: str) -> bool:
    user = request.user
    return bool(getattr(user, "has_role_at_least", None)) and user.has_role_at_least(role)  # type: ignore[union-attr]


def _messages(exc: InvalidInput) -> list[str]:
    """'questions.1.choices' → 'Question 2, choices: ...' so the summary says where to look."""
    out: list[str] = []
    for key, texts in exc.errors.items():
        m = re.fullmatch(r"questions\.(\d+)\.(\w+)", key)
        where = f"Question {int(m[1]) + 1}, {m[2].replace('_', ' ')}" if m else key.replace("_", " ").capitalize()
        out.extend(f"{where}: {t}" if key != "__all__" else t for t in texts)
    return out


@_page
@require_GET
def survey_list(request: HttpRequest) -> HttpResponse:
    return render(
        request,
        "feedback/surveys.html",
        {
            "surveys": queries.survey_list(),
            "may_define": _may(request, Role.MANAGER),
            "may_send": _may(request, Role.LEAD),
        },
    )


# --- define and edit -----------------------------------------------------------------------


def _int_or_none(value: str, field: str) -> int | None:
    value = value.strip()
    if not value:
        return None
    try:
        return int(value)
    except ValueError:
        raise InvalidInput("Give a whole number.", field) from None


def _parse(post: Any) -> tuple[dict[str, Any], list[services.QuestionInput]]:
    """Per-language texts ({code: {title, intro}}) and the filled question rows, in order."""
    langs = [(j, post.get(f"lang_{j}", "").strip().lower()) for j in range(LANG_SLOTS)]
    texts: dict[str, Any] = {}
    for j, code in langs:
        title, intro = post.get(f"title_{j}", "").strip(), post.get(f"intro_{j}", "").strip()
        if code and (title or intro):
            texts[code] = {k: v for k, v in (("title", title), ("intro", intro)) if v}
    questions: list[services.QuestionInput] = []
    rows = post.get("question_rows", "")
    for i in range(min(int(rows), MAX_ROWS) if rows.isdigit() else BLANK_QUESTIONS):
        kind = post.get(f"q{i}_kind", "")
        if not kind:
            continue
        qtexts = {code: post.get(f"q{i}_text_{j}", "").strip() for j, code in langs if code}
        questions.append(
            services.QuestionInput(
                kind=kind,
                texts={k: v for k, v in qtexts.items() if v},
                required=post.get(f"q{i}_required") == "yes",
                scale_min=_int_or_none(post.get(f"q{i}_scale_min", ""), f"questions.{len(questions)}.scale_min"),
                scale_max=_int_or_none(post.get(f"q{i}_scale_max", ""), f"questions.{len(questions)}.scale_max"),
                choices=[c.strip() for c in post.get(f"q{i}_choices", "").splitlines() if c.strip()],
            )
        )
    return texts, questions


def _rows(texts: dict[str, Any], questions: list[Any]) -> dict[str, Any]:
    """The form's language and question rows, filled from a version (or a failed post)."""
    codes = list(texts)[:LANG_SLOTS] or ["en"]
    langs = [
        {
            "j": j,
            "code": code,
            "title": texts.get(code, {}).get("title", ""),
            "intro": texts.get(code, {}).get("intro", ""),
        }
        for j, code in enumerate(codes + [""] * (LANG_SLOTS - len(codes)))
    ]
    rows = []
    for i, q in enumerate([*questions, *[None] * BLANK_QUESTIONS]):
        rows.append(
            {
                "i": i,
                "kind": q.kind if q else "",
                "required": bool(q and q.required),
                "scale_min": "" if q is None or q.scale_min is None else q.scale_min,
                "scale_max": "" if q is None or q.scale_max is None else q.scale_max,
                "choices": "\n".join(q.choices) if q else "",
                "texts": [
                    {"j": lang["j"], "code": lang["code"], "value": (q.texts.get(lang["code"], "") if q else "")}
                    for lang in langs
                ],
            }
        )
    return {"langs": langs, "rows": rows, "question_rows": len(rows)}


def _form(
    request: HttpRequest, survey: Survey | None, texts: dict[str, Any], questions: list[Any], **extra: Any
) -> HttpResponse:
    context = {
        "survey": survey,
        "kinds": SurveyKind.choices,
        "question_kinds": QuestionKind.choices,
        "standard": SCALES,
        **_rows(texts, questions),
        **extra,
    }
    return render(request, "feedback/survey_form.html", context, status=422 if extra.get("errors") else 200)


@_page
@require_http_methods(["GET", "POST"])
def survey_new(request: HttpRequest) -> HttpResponse:
    require_role(request.user, Role.MANAGER, "define surveys")
    if request.method == "GET":
        return _form(request, None, {"en": {}}, [], name="", kind="nps", anonymous=False)
    post = request.POST
    name, kind, anonymous = post.get("name", ""), post.get("kind", ""), post.get("anonymous") == "yes"
    try:
        texts, questions = _parse(post)
        survey = services.create_survey(
            actor=request.user,  # type: ignore[arg-type]
            name=name,
            kind=kind,
            texts=texts or None,
            questions=questions,
            anonymous=anonymous,
        )
    except InvalidInput as exc:
        texts, questions = _safe_parse(post)
        return _form(request, None, texts, questions, name=name, kind=kind, anonymous=anonymous, errors=_messages(exc))
    return redirect("feedback-survey-send", survey_id=survey.id)


def _safe_parse(post: Any) -> tuple[dict[str, Any], list[Any]]:
    """Refill the form after an error without the numbers that could not be read."""
    try:
        return _parse(post)
    except InvalidInput:
        mutable = post.copy()
        for key in [k for k in mutable if k.endswith(("_scale_min", "_scale_max"))]:
            mutable[key] = ""
        return _parse(mutable)


def _survey(survey_id: int) -> Survey:
    survey = Survey.objects.filter(id=survey_id).first()
    if survey is None:
        raise NotFound(f"No survey with id {survey_id}.")
    return survey


@_page
@require_http_methods(["GET", "POST"])
def survey_edit(request: HttpRequest, survey_id: int) -> HttpResponse:
    require_role(request.user, Role.MANAGER, "edit surveys")
    survey = _survey(survey_id)
    extra = {"name": survey.name, "kind": survey.kind, "anonymous": survey.anonymous}
    if request.method == "GET":
        version = survey.current_version()
        if version is None:
            raise NotFound("This survey was withdrawn.")
        shown = list(version.questions.all())
        # The score question and its "why" box are added by the service for standard kinds.
        return _form(request, survey, version.texts, shown[2:] if survey.kind in SCALES else shown, **extra)
    try:
        texts, questions = _parse(request.POST)
        version = services.edit_survey(
            actor=request.user,  # type: ignore[arg-type]
            survey_id=survey.id,
            texts=texts,
            questions=questions,
        )
    except InvalidInput as exc:
        texts, questions = _safe_parse(request.POST)
        return _form(request, survey, texts, questions, errors=_messages(exc), **extra)
    return render(request, "feedback/survey_saved.html", {"survey": survey, "version": version})


# --- send ---------------------------------------------------------------------------------


def _ids(text: str) -> list[int]:
    parts = [p for p in re.split(r"[\s,;]+", text) if p]
    if not parts or not all(p.isdigit() for p in parts):
        raise InvalidInput("Give customer numbers separated by commas or spaces.", "customers")
    return [int(p) for p in parts]


def _send(request: HttpRequest, survey: Survey) -> services.InviteResult:
    post, actor = request.POST, request.user
    mode = post.get("mode", "")
    if mode == "audience":
        manager = _int_or_none(post.get("account_manager", ""), "account_manager")
        return services.invite_audience(
            actor=actor,  # type: ignore[arg-type]
            survey_id=survey.id,
            status=post.getlist("status"),
            tags=post.getlist("tags"),
            account_manager=manager,
        )
    if mode == "customers":
        return services.invite(actor=actor, survey_id=survey.id, customer_ids=_ids(post.get("customers", "")))  # type: ignore[arg-type]
    if mode == "public":
        return services.invite(actor=actor, survey_id=survey.id, public=True)  # type: ignore[arg-type]
    raise InvalidInput("Choose who to send to.", "mode")


@_page
@require_http_methods(["GET", "POST"])
def survey_send(request: HttpRequest, survey_id: int) -> HttpResponse:
    require_role(request.user, Role.LEAD, "send surveys")
    survey = _survey(survey_id)
    context: dict[str, Any] = {"survey": survey, **queries.send_choices(), "post": request.POST}
    if request.method == "GET":
        context["post"] = {"customers": request.GET.get("customers", "")}
        return render(request, "feedback/survey_send.html", context)
    try:
        result = _send(request, survey)
    except InvalidInput as exc:
        context["errors"] = _messages(exc)
        return render(request, "feedback/survey_send.html", context, status=422)
    names = queries.customer_names(
        [i.customer_id for i, _ in result.invitations if i.customer_id] + [c for c, _ in result.refused]
    )
    sent = [
        {
            "inv": inv,
            "url": request.build_absolute_uri(path),
            "name": names.get(inv.customer_id, "Public link") if inv.customer_id else "Public link",
        }
        for inv, path in result.invitations
    ]
    refused = [{"customer": c, "name": names.get(c, str(c)), "reason": r} for c, r in result.refused]
    return render(request, "feedback/survey_sent.html", {"survey": survey, "sent": sent, "refused": refused})
