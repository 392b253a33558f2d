"""Editable wording of the automatic customer emails, per language.

Templates use Django's template syntax, rendered by a sandboxed engine: no loaders (so no
``{% include %}``/``{% extends %}`` of files), no ``{% load %}``, no ``{% debug %}``, only a
short list of harmless tags and filters, and a context of plain strings built here, so a
template can reach nothing beyond the values listed for its kind. A template that does not
compile, or names a value its kind does not offer, is refused when it is saved.

Lookup: the customer's language, then the default language (settings.LANGUAGE_CODE), then
the defaults shipped below.
"""

from __future__ import annotations

import functools
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass

from django.conf import settings
from django.db import transaction
from django.template import Context, Engine, Library, Template, TemplateSyntaxError, defaultfilters, defaulttags
from django.template.base import Variable, VariableNode

from rapport.channels.models import EmailTemplate
from rapport.core import audit
from rapport.core.errors import InvalidInput
from rapport.people.models import Role, Staff
from rapport.people.permissions import require_role


@dataclass(frozen=True)
class Kind:
    label: str
    values: dict[str, str]  # the context a template may use: name -> what it is (and a sample)
    subject: str
    body: str


_COMMON = {
    "customer_name": "Mina Harker",
    "reference": "C-000123",
    "case_subject": "My order is late",
}
KINDS: dict[str, Kind] = {
    "acknowledgement": Kind(
        "New case acknowledgement",
        _COMMON | {"promise": "We will answer by Tuesday 24 November 2026, 14:00 (Europe/London)."},
        "Re: {{ case_subject }}",
        "Thank you for contacting us. Your reference is {{ reference }}; keep it in the subject "
        "if you write again about this.\n\n{{ promise }}\n",
    ),
    "update:handed_off": Kind(
        "Hand-off update",
        _COMMON | {"owner_first_name": "Sam", "team": "Billing", "handed_to": "Sam"},
        "{{ case_subject }}",
        "{% if owner_first_name and team %}{{ owner_first_name }} from our {{ team }} team is now looking "
        "after your case {{ reference }}.{% else %}Your case {{ reference }} is now with {{ handed_to }}.{% endif %}",
    ),
    "update:resolved": Kind(
        "Case resolved",
        _COMMON,
        "{{ case_subject }}",
        "We have resolved your case {{ reference }}. Reply to this message if anything is still wrong.",
    ),
    "survey_invitation": Kind(
        "Survey invitation",
        {"customer_name": "Mina Harker", "survey_title": "How did we do?", "link": "https://example.com/s/abc/"},
        "{{ survey_title }}",
        "Hello {{ customer_name }},\n\nwe would like to hear how we did. It takes a minute:\n\n{{ link }}\n\n"
        "Thank you.\n",
    ),
}

_SAFE_TAGS = ("if", "for", "with", "firstof", "comment", "spaceless", "now", "cycle")
_SAFE_FILTERS = (
    "default",
    "default_if_none",
    "upper",
    "lower",
    "title",
    "capfirst",
    "length",
    "join",
    "first",
    "last",
    "truncatewords",
    "truncatechars",
    "wordwrap",
    "date",
    "time",
    "yesno",
    "pluralize",
    "linebreaksbr",
    "cut",
    "striptags",
)


def _library() -> Library:
    library = Library()
    for name in _SAFE_TAGS:
        library.tags[name] = defaulttags.register.tags[name]
    for name in _SAFE_FILTERS:
        library.filters[name] = defaultfilters.register.filters[name]
    return library


_ENGINE = Engine(dirs=[], app_dirs=False, loaders=[], builtins=[], libraries={}, autoescape=False, debug=False)
_ENGINE.template_builtins = [_library()]


@dataclass(frozen=True)
class Rendered:
    subject: str
    body: str


def default_language() -> str:
    return str(settings.LANGUAGE_CODE).split("-")[0].lower() or "en"


_remembered: ContextVar[dict[tuple[str, str], tuple[str, str, str]] | None] = ContextVar(
    "email_templates_remembered", default=None
)


@contextmanager
def remembered() -> Iterator[None]:
    """Within the block the wording is read once per kind and language (a worker's batch)."""
    token = _remembered.set({})
    try:
        yield
    finally:
        _remembered.reset(token)


def effective(kind: str, language: str) -> tuple[str, str, str]:
    """(subject, body, where from: the language, the default language or 'shipped')."""
    if kind not in KINDS:
        raise InvalidInput(f"'{kind}' is not one of: {', '.join(KINDS)}.", "kind")
    memo = _remembered.get()
    if memo is None:
        return _effective(kind, language)
    if (kind, language) not in memo:
        memo[kind, language] = _effective(kind, language)
    return memo[kind, language]


def _effective(kind: str, language: str) -> tuple[str, str, str]:
    wanted = [language, default_language()] if language else [default_language()]
    rows = {r.language: r for r in EmailTemplate.objects.filter(kind=kind, language__in=wanted)}
    for lang in wanted:
        if lang in rows:
            return rows[lang].subject, rows[lang].body, lang
    return KINDS[kind].subject, KINDS[kind].body, "shipped"


def render(kind: str, language: str, values: dict[str, str]) -> Rendered:
    """The email for a customer speaking ``language``. A stored template that fails at render
    time (it compiled when saved) falls back to the shipped wording rather than lose the mail."""
    subject, body, _ = effective(kind, language)
    context = {name: str(values.get(name, "")) for name in KINDS[kind].values}
    try:
        return Rendered(_render(subject, context), _render(body, context))
    except Exception:
        return Rendered(_render(KINDS[kind].subject, context), _render(KINDS[kind].body, context))


def _render(source: str, context: dict[str, str]) -> str:
    return _compiled(source).render(Context(context, autoescape=False))


@functools.lru_cache(maxsize=256)
def _compiled(source: str) -> Template:
    """Compiling costs more than rendering; a template's source decides its compiled form."""
    return _ENGINE.from_string(source)


def check(kind: str, subject: str, body: str) -> dict[str, list[str]]:
    """Problems with a template, by field: syntax, unknown values, line breaks in the subject."""
    errors: dict[str, list[str]] = {}
    allowed = set(KINDS[kind].values)
    for field, source in (("subject", subject), ("body", body)):
        if not source.strip():
            errors[field] = ["Write the " + field + "."]
            continue
        try:
            template = _ENGINE.from_string(source)
        except TemplateSyntaxError as exc:
            errors[field] = [f"Template error: {exc}"]
            continue
        unknown = sorted(_names(template) - allowed)
        if unknown:
            errors[field] = [f"Unknown value(s): {', '.join(unknown)}. Use: {', '.join(sorted(allowed))}."]
            continue
        try:
            sample = _render(source, dict(KINDS[kind].values))
        except Exception as exc:  # a filter given the wrong kind of argument, for example
            errors[field] = [f"Template error: {exc}"]
            continue
        if field == "subject" and ("\n" in sample.strip() or "\r" in sample):
            errors[field] = ["A subject must be one line."]
    return errors


def _names(template: object) -> set[str]:
    nodes = template.nodelist.get_nodes_by_type(VariableNode)  # type: ignore[attr-defined]
    names = set()
    for node in nodes:
        var = node.filter_expression.var
        if isinstance(var, Variable) and var.lookups:
            names.add(var.lookups[0])
    return names


def preview(kind: str, subject: str, body: str) -> Rendered:
    context = dict(KINDS[kind].values)
    return Rendered(_render(subject, context), _render(body, context))


@transaction.atomic
def save_template(*, actor: Staff, kind: str, language: str, subject: str, body: str) -> EmailTemplate:
    """Admins and care managers word the automatic emails; a broken template is refused (422)."""
    from rapport.customers.validation import validate_language

    require_role(actor, Role.MANAGER, "edit email templates")
    if kind not in KINDS:
        raise InvalidInput(f"'{kind}' is not one of: {', '.join(KINDS)}.", "kind")
    language = validate_language(language or "")
    errors = check(kind, subject, body)
    if errors:
        raise InvalidInput(errors)
    row, created = EmailTemplate.objects.update_or_create(
        kind=kind, language=language, defaults={"subject": subject.strip(), "body": body, "updated_by": actor}
    )
    audit.record(
        actor=actor,
        action="email_template.created" if created else "email_template.changed",
        subject_type="email_template",
        subject_id=row.id,
        changes={"kind": kind, "language": language, "subject": row.subject, "body": body},
    )
    return row


def listing() -> list[dict[str, object]]:
    """Every kind with its shipped wording and the languages that have their own."""
    stored: dict[str, list[EmailTemplate]] = {}
    for row in EmailTemplate.objects.order_by("kind", "language"):
        stored.setdefault(row.kind, []).append(row)
    return [
        {
            "kind": kind,
            "label": spec.label,
            "values": sorted(spec.values),
            "languages": [r.language for r in stored.get(kind, [])],
        }
        for kind, spec in KINDS.items()
    ]
