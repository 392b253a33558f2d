"""Case forms: they parse what a browser sends into the services' arguments. The rules
(who may act, what a complaint needs, authority limits) live in cases.services."""

from __future__ import annotations

from typing import Any

from django import forms
from django.utils.html import format_html, format_html_join
from django.utils.safestring import SafeString

from rapport.cases.models import ActionStatus, CaseType, CompensationKind, Priority, Status
from rapport.cases.services import CaseInput
from rapport.customers.forms import PlainForm, add_service_errors, lines
from rapport.customers.models import Channel

__all__ = ["add_service_errors"]

DAYS = (
    ("mon", "Monday"),
    ("tue", "Tuesday"),
    ("wed", "Wednesday"),
    ("thu", "Thursday"),
    ("fri", "Friday"),
    ("sat", "Saturday"),
    ("sun", "Sunday"),
)
BLANK_TYPE = [("", "Any type"), *CaseType.choices]
BLANK_PRIORITY = [("", "Any priority"), *Priority.choices]
YES_NO_ANY = [("", "Either"), ("yes", "Yes"), ("no", "No")]


def choices_with(blank: str, pairs: list[tuple[str, str]]) -> list[tuple[str, str]]:
    return [("", blank), *pairs]


FIELD_CACHE_SIZE = 4096
_field_html: dict[tuple[Any, ...], SafeString] = {}


class RenderedFields:
    """``{{ form.rendered.owner }}``: a field as customers/_field.html renders it, memoised per
    process. Rendering a select through Django's widget templates costs ~0.1 ms an option, and
    the queue filter and the case page show the 50 staff and 10 teams on every request. The key
    is everything the markup depends on (choices included), so a renamed team or a new staff
    member is a new key, not a stale page. Fields with errors are never cached."""

    def __init__(self, form: forms.Form, *, how: str = "field") -> None:
        self.form, self.how = form, how

    def __getitem__(self, name: str) -> SafeString:
        bound = self.form[name]
        if bound.errors:
            return self._render(bound)
        field, widget = bound.field, bound.field.widget
        choices = getattr(field, "choices", ())
        key = (
            self.how,
            type(self.form),
            self.form.auto_id,
            self.form.prefix,
            name,
            repr(bound.value()),
            tuple((str(value), str(label)) for value, label in choices),
            str(field.label),
            str(field.help_text),
            field.required,
            field.disabled,
            repr(sorted(widget.attrs.items())),
        )
        html = _field_html.get(key)
        if html is None:
            if len(_field_html) >= FIELD_CACHE_SIZE:
                _field_html.clear()
            html = _field_html[key] = self._render(bound)
        return html

    def _render(self, bound: forms.BoundField) -> SafeString:
        if self.how == "widget":  # the input alone, e.g. a hidden one
            return bound.as_widget()
        if self.how == "radios":  # one <label class="checkbox"> per choice, for a fieldset
            return format_html_join(
                "", '<label class="checkbox">{} {}</label>', ((r.tag(), r.choice_label) for r in bound)
            )
        error = " field--error" if bound.errors else ""
        return format_html('<div class="field{}">{}</div>', error, bound.as_field_group())


class CachedFieldsForm(PlainForm):
    @property
    def rendered(self) -> RenderedFields:
        return RenderedFields(self)

    @property
    def rendered_widget(self) -> RenderedFields:
        return RenderedFields(self, how="widget")

    @property
    def rendered_radios(self) -> RenderedFields:
        return RenderedFields(self, how="radios")


class PagePartForm(CachedFieldsForm):
    """Forms that share the case page get distinct element ids (``compensation-amount``)."""

    auto_id_prefix = ""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        if self.auto_id_prefix:
            kwargs.setdefault("auto_id", f"{self.auto_id_prefix}-%s")
        super().__init__(*args, **kwargs)


class VersionedForm(PagePartForm):
    """Carries the case version the page was rendered with, so a stale form changes nothing."""

    version = forms.IntegerField(widget=forms.HiddenInput, required=False)


FROZEN_SIZE = 256
VERSION_SENTINEL = 987_654_321  # stands for the case version in a frozen form's markup
_frozen: dict[tuple[Any, ...], dict[str, Any]] = {}


def frozen(
    form_class: type[PagePartForm], key: tuple[Any, ...], *, version: int | None = None, **kwargs: Any
) -> dict[str, Any]:
    """An unbound form as the case page's templates use it (``rendered.<field>``,
    ``rendered_widget.<field>``, ``rendered_radios.<field>``, ``non_field_errors``), built and
    rendered once per process and ``key``: the key names everything the markup depends on
    besides the form class (its choices and initial values), as RenderedFields' key does. The
    case version, different on every page, is put into the shared markup here (forms with a
    version field need ``version``). A bound form (one with errors) is used as it is instead."""
    cache_key = (form_class, key)
    shared = _frozen.get(cache_key)
    if shared is None:
        initial = dict(kwargs.pop("initial", {}))
        if "version" in form_class.base_fields:
            initial["version"] = VERSION_SENTINEL
        form = form_class(initial=initial, **kwargs)
        radios = [name for name, field in form.fields.items() if isinstance(field.widget, forms.RadioSelect)]
        shared = {
            "rendered": {name: form.rendered[name] for name in form.fields},
            "rendered_widget": {name: form.rendered_widget[name] for name in form.fields},
            "rendered_radios": {name: form.rendered_radios[name] for name in radios},
            "non_field_errors": "",
        }
        if len(_frozen) >= FROZEN_SIZE:
            _frozen.clear()
        _frozen[cache_key] = shared
    if version is None or "version" not in shared["rendered_widget"]:
        return shared
    widgets = shared["rendered_widget"]
    mark = str(VERSION_SENTINEL)
    return {
        **shared,
        "rendered_widget": {**widgets, "version": SafeString(widgets["version"].replace(mark, str(version)))},
    }


class QueueFilterForm(CachedFieldsForm):
    words = forms.CharField(label="Words", required=False, max_length=100, help_text="In the subject or description.")
    status = forms.ChoiceField(choices=[("", "Any status"), *Status.choices], required=False)
    type = forms.ChoiceField(choices=BLANK_TYPE, required=False)
    priority = forms.ChoiceField(choices=BLANK_PRIORITY, required=False)
    owner = forms.ChoiceField(required=False)
    team = forms.ChoiceField(required=False)
    customer = forms.IntegerField(label="Customer number", required=False, min_value=1)
    breached = forms.ChoiceField(choices=YES_NO_ANY, required=False)
    at_risk = forms.ChoiceField(label="At risk", choices=YES_NO_ANY, required=False)

    def __init__(self, *args: Any, staff: list[tuple[str, str]], teams: list[str], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["owner"].choices = [("", "Anyone"), ("none", "Nobody (unassigned)"), *staff]  # type: ignore[attr-defined]
        self.fields["team"].choices = choices_with("Any team", [(t, t) for t in teams])  # type: ignore[attr-defined]

    def flag(self, name: str) -> bool | None:
        value = self.cleaned_data.get(name) or ""
        return {"yes": True, "no": False}.get(value)


class CaseForm(PlainForm):
    customer = forms.IntegerField(
        label="Customer number", min_value=1, help_text="The number in the customer's reference (CU-000042 is 42)."
    )
    type = forms.ChoiceField(choices=CaseType.choices, initial=CaseType.COMPLAINT)
    subject = forms.CharField(max_length=200)
    description = forms.CharField(required=False, widget=forms.Textarea(attrs={"rows": 4}))
    channel = forms.ChoiceField(label="Came in by", choices=Channel.choices, initial=Channel.PHONE)
    priority = forms.ChoiceField(choices=[("", "From the priority rules"), *Priority.choices], required=False)
    owner = forms.ChoiceField(required=False)
    team = forms.ChoiceField(required=False)

    def __init__(self, *args: Any, staff: list[tuple[str, str]], teams: list[str], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["owner"].choices = choices_with("Nobody yet (unassigned)", staff)  # type: ignore[attr-defined]
        self.fields["team"].choices = choices_with("The owner's team", [(t, t) for t in teams])  # type: ignore[attr-defined]

    def to_input(self) -> CaseInput:
        data = self.cleaned_data
        return CaseInput(
            customer_id=data["customer"],
            type=data["type"],
            subject=data["subject"],
            description=data["description"],
            channel=data["channel"],
            priority=data["priority"] or None,
            owner=data["owner"] or None,
            team=data["team"] or None,
        )


class MessageForm(PagePartForm):
    auto_id_prefix = "message"
    kind = forms.ChoiceField(
        label="Send as",
        choices=[("public", "Reply to the customer"), ("internal", "Internal note")],
        widget=forms.RadioSelect,
        initial="public",
    )
    body = forms.CharField(label="Message", widget=forms.Textarea(attrs={"rows": 4}))
    minutes = forms.IntegerField(label="Time spent (minutes)", required=False, min_value=0, max_value=24 * 60)


class StatusForm(VersionedForm):
    auto_id_prefix = "status"
    status = forms.ChoiceField(choices=Status.choices)


class HandoffForm(VersionedForm):
    auto_id_prefix = "handoff"
    to_user = forms.ChoiceField(label="To person", required=False)
    to_team = forms.ChoiceField(label="To team", required=False)
    reason = forms.CharField(widget=forms.Textarea(attrs={"rows": 3}), required=False)

    def __init__(self, *args: Any, staff: list[tuple[str, str]], teams: list[str], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["to_user"].choices = choices_with("Nobody in particular", staff)  # type: ignore[attr-defined]
        self.fields["to_team"].choices = choices_with("Their own team", [(t, t) for t in teams])  # type: ignore[attr-defined]


class CompensationForm(PagePartForm):
    auto_id_prefix = "compensation"
    kind = forms.ChoiceField(choices=CompensationKind.choices)
    amount = forms.CharField(required=False, max_length=20, widget=forms.TextInput(attrs={"inputmode": "decimal"}))
    currency = forms.CharField(required=False, max_length=3, initial="GBP")
    description = forms.CharField(required=False, max_length=300)


class DecisionForm(PlainForm):
    reason = forms.CharField(required=False, max_length=300)


class ResolveForm(VersionedForm):
    auto_id_prefix = "resolve"
    root_cause = forms.TypedChoiceField(coerce=int, empty_value=None, required=False)
    statement = forms.CharField(label="What went wrong", required=False, widget=forms.Textarea(attrs={"rows": 3}))

    def __init__(self, *args: Any, paths: dict[int, str], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        ordered = sorted(paths.items(), key=lambda item: item[1].casefold())
        self.fields["root_cause"].choices = [("", "Choose the root cause"), *ordered]  # type: ignore[attr-defined]


class ReopenForm(PlainForm):
    reason = forms.CharField(required=False, max_length=300)


class RootCauseForm(PagePartForm):
    auto_id_prefix = "cause"
    name = forms.CharField(max_length=100)
    parent = forms.TypedChoiceField(coerce=int, empty_value=None, required=False)

    def __init__(self, *args: Any, paths: dict[int, str], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        ordered = sorted(paths.items(), key=lambda item: item[1].casefold())
        self.fields["parent"].choices = [("", "None (a top-level cause)"), *ordered]  # type: ignore[attr-defined]


class ActionForm(PagePartForm):
    auto_id_prefix = "action"
    title = forms.CharField(max_length=200)
    owner = forms.ChoiceField()
    due_date = forms.DateField(label="Due date", widget=forms.DateInput(attrs={"type": "date"}))
    root_cause = forms.TypedChoiceField(label="Root cause", coerce=int, empty_value=None, required=False)
    cases = forms.CharField(
        label="Cases", required=False, help_text="References, separated by commas: C-000123, C-000124."
    )
    description = forms.CharField(required=False, widget=forms.Textarea(attrs={"rows": 2}))

    def __init__(self, *args: Any, staff: list[tuple[str, str]], paths: dict[int, str], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["owner"].choices = staff  # type: ignore[attr-defined]
        ordered = sorted(paths.items(), key=lambda item: item[1].casefold())
        self.fields["root_cause"].choices = [("", "None"), *ordered]  # type: ignore[attr-defined]

    def references(self) -> list[str]:
        return lines(self.cleaned_data["cases"], commas=True)


class ActionStatusForm(PlainForm):
    status = forms.ChoiceField(choices=ActionStatus.choices)


class CalendarForm(PagePartForm):
    auto_id_prefix = "calendar"
    name = forms.CharField(max_length=100)
    timezone = forms.ChoiceField(label="Time zone", initial="Europe/London")
    holiday_country = forms.CharField(label="Holiday country", max_length=2, required=False, help_text="Like GB.")
    holiday_subdivision = forms.CharField(label="Holiday region", max_length=10, required=False, help_text="Like ENG.")
    closed_dates = forms.CharField(
        label="Closed dates",
        required=False,
        widget=forms.Textarea(attrs={"rows": 3}),
        help_text="One date a line, like 2026-12-24.",
    )

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        from rapport.customers.forms import zone_choices

        super().__init__(*args, **kwargs)
        self.fields["timezone"].choices = zone_choices()  # type: ignore[attr-defined]
        for day, label in DAYS:
            self.fields[day] = forms.CharField(
                label=label,
                required=False,
                initial="" if day in ("sat", "sun") else "09:00-17:00",
                help_text="Like 09:00-17:00, 18:00-20:00; empty = closed." if day == "mon" else "",
            )

    @property
    def day_fields(self) -> list[forms.BoundField]:
        return [self[day] for day, _ in DAYS]

    def closed_date_list(self) -> list[str]:
        return lines(self.cleaned_data["closed_dates"])

    def weekly_hours(self) -> dict[str, list[list[str]]]:
        """ "09:00-17:00, 18:00-20:00" per day into the service's {"mon": [["09:00", "17:00"], ...]}."""
        hours: dict[str, list[list[str]]] = {}
        for day, _ in DAYS:
            spans = [part.strip() for part in self.cleaned_data[day].split(",") if part.strip()]
            if spans:
                hours[day] = [[p.strip() for p in span.split("-", 1)] for span in spans]
        return hours


class PolicyForm(PagePartForm):
    auto_id_prefix = "policy"
    name = forms.CharField(max_length=100)
    calendar = forms.TypedChoiceField(coerce=int)
    case_type = forms.ChoiceField(label="Case type", choices=BLANK_TYPE, required=False)
    priority = forms.ChoiceField(choices=BLANK_PRIORITY, required=False)
    first_response_minutes = forms.IntegerField(label="First response (business minutes)", min_value=1)
    next_response_minutes = forms.IntegerField(label="Next response (business minutes)", min_value=1)
    resolution_minutes = forms.IntegerField(label="Resolution (business minutes)", min_value=1)
    at_risk_ratio = forms.DecimalField(
        label="At risk after this share of the target", initial="0.8", max_digits=4, decimal_places=3
    )

    def __init__(self, *args: Any, calendars: list[tuple[int, str]], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["calendar"].choices = calendars  # type: ignore[attr-defined]


class RuleForm(PagePartForm):
    auto_id_prefix = "rule"
    priority = forms.ChoiceField(choices=Priority.choices)
    position = forms.IntegerField(initial=100, min_value=0, help_text="Lowest first.")
    case_type = forms.ChoiceField(label="When the case type is", choices=BLANK_TYPE, required=False)
    words = forms.CharField(label="When the text mentions", required=False, help_text="Words, separated by commas.")
    customer_tag = forms.CharField(label="When the customer is tagged", required=False)

    def conditions(self) -> dict[str, Any]:
        data = self.cleaned_data
        conditions: dict[str, Any] = {}
        if data["case_type"]:
            conditions["case_type"] = data["case_type"]
        words = [w.strip() for w in data["words"].split(",") if w.strip()]
        if words:
            conditions["words"] = words
        if data["customer_tag"].strip():
            conditions["customer_tag"] = data["customer_tag"].strip()
        return conditions
