"""Customer forms. They parse what a browser sends into the service's inputs; the rules
(valid emails, phone numbers, zones, ownership of an address) live in customers.services."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from functools import lru_cache
from typing import Any
from zoneinfo import available_timezones

from django import forms
from django.utils import timezone

from rapport.core.errors import InvalidInput
from rapport.customers.models import CONSENT_CHANNELS, Channel, Customer, CustomerKind, CustomerStatus, Direction
from rapport.customers.services import CustomerInput

DATETIME_LOCAL = "%Y-%m-%dT%H:%M"
# Service field name -> the form field that shows its errors.
ERROR_FIELDS = {"consent": "consent_email", "duration_seconds": "duration_minutes", "body": "notes"}


class PlainForm(forms.Form):
    """Labels without Django's trailing colon: the page styles labels itself."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("label_suffix", "")
        super().__init__(*args, **kwargs)


def add_service_errors(form: forms.Form, exc: InvalidInput) -> None:
    for field, messages in exc.errors.items():
        name = ERROR_FIELDS.get(field, field)
        target = name if name in form.fields else None
        for message in messages:
            form.add_error(target, message)


def lines(text: str, *, commas: bool = False) -> list[str]:
    """One value per line (emails may also be separated by commas, which they cannot contain)."""
    if commas:
        text = text.replace(",", "\n")
    return [line.strip() for line in text.splitlines() if line.strip()]


@lru_cache(maxsize=1)
def zone_choices() -> list[tuple[str, str]]:
    return [(z, z) for z in sorted(available_timezones())]


class CustomerForm(PlainForm):
    name = forms.CharField(max_length=200)
    kind = forms.ChoiceField(choices=CustomerKind.choices, initial=CustomerKind.PERSON)
    status = forms.ChoiceField(choices=CustomerStatus.choices, initial=CustomerStatus.PROSPECT)
    emails = forms.CharField(
        required=False,
        widget=forms.Textarea(attrs={"rows": 3}),
        help_text="One address per line; the first is primary.",
    )
    phones = forms.CharField(
        required=False, widget=forms.Textarea(attrs={"rows": 3}), help_text="One number per line; the first is primary."
    )
    account_manager = forms.ChoiceField(required=False)
    preferred_channel = forms.ChoiceField(choices=[("", "No preference"), *Channel.choices], required=False)
    language = forms.CharField(max_length=16, initial="en", help_text="A language code such as en or pt-BR.")
    timezone = forms.ChoiceField(label="Time zone", initial="UTC")
    external_id = forms.CharField(label="External id", max_length=100, required=False)
    tags = forms.CharField(required=False, help_text="Separate tags with commas.")
    consent_email = forms.BooleanField(label="Email", required=False)
    consent_phone = forms.BooleanField(label="Phone", required=False)
    consent_post = forms.BooleanField(label="Post", required=False)
    consent_marketing = forms.BooleanField(label="Marketing", required=False)
    notes = forms.CharField(required=False, widget=forms.Textarea(attrs={"rows": 4}))
    version = forms.IntegerField(required=False, widget=forms.HiddenInput)

    def __init__(self, *args: Any, managers: list[tuple[str, str]], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["account_manager"].choices = [("", "Nobody"), *managers]  # type: ignore[attr-defined]
        self.fields["timezone"].choices = zone_choices()  # type: ignore[attr-defined]
        self.fields["emails"].widget.attrs["autocomplete"] = "off"

    @property
    def consent_fields(self) -> list[forms.BoundField]:
        return [self[f"consent_{channel}"] for channel in CONSENT_CHANNELS]

    def to_input(self) -> CustomerInput:
        data = self.cleaned_data
        return CustomerInput(
            name=data["name"],
            kind=data["kind"],
            status=data["status"],
            emails=lines(data["emails"], commas=True),
            phones=lines(data["phones"]),
            account_manager=data["account_manager"] or "",
            external_id=data["external_id"],
            preferred_channel=data["preferred_channel"],
            language=data["language"],
            timezone=data["timezone"],
            tags=[t for t in data["tags"].split(",") if t.strip()],
            consent={channel: data[f"consent_{channel}"] for channel in CONSENT_CHANNELS},
            notes=data["notes"],
        )

    @staticmethod
    def initial_for(customer: Customer) -> dict[str, Any]:
        points = list(customer.contact_points.all())
        return {
            "name": customer.name,
            "kind": customer.kind,
            "status": customer.status,
            "emails": "\n".join(p.value for p in points if p.kind == "email"),
            "phones": "\n".join(p.value for p in points if p.kind == "phone"),
            "account_manager": customer.account_manager.username if customer.account_manager else "",
            "preferred_channel": customer.preferred_channel,
            "language": customer.language,
            "timezone": customer.timezone,
            "external_id": customer.external_id or "",
            "tags": ", ".join(t.name for t in customer.tags.all()),
            **{f"consent_{channel}": value for channel, value in customer.consent.items()},
            "notes": customer.notes,
            "version": customer.version,
        }


class InteractionForm(PlainForm):
    """Log a contact. "When" is typed in the viewer's zone (the active one) and stored in UTC."""

    channel = forms.ChoiceField(choices=Channel.choices, initial=Channel.PHONE)
    direction = forms.ChoiceField(choices=Direction.choices, initial=Direction.INBOUND)
    occurred_at = forms.DateTimeField(
        label="When",
        input_formats=[DATETIME_LOCAL, "%Y-%m-%dT%H:%M:%S", "%Y-%m-%d %H:%M"],
        widget=forms.DateTimeInput(attrs={"type": "datetime-local"}, format=DATETIME_LOCAL),
    )
    duration_minutes = forms.IntegerField(label="Duration (minutes)", required=False, min_value=0, max_value=24 * 60)
    summary = forms.CharField(max_length=300)
    notes = forms.CharField(required=False, widget=forms.Textarea(attrs={"rows": 3}))

    @staticmethod
    def fresh() -> InteractionForm:
        now: datetime = timezone.localtime()
        return InteractionForm(initial={"occurred_at": now.replace(second=0, microsecond=0)})

    def service_kwargs(self) -> dict[str, Any]:
        data = self.cleaned_data
        minutes = data["duration_minutes"]
        return {
            "channel": data["channel"],
            "direction": data["direction"],
            "occurred_at": data["occurred_at"],
            "duration_seconds": minutes * 60 if minutes is not None else None,
            "summary": data["summary"],
            "body": data["notes"],
        }


# Apps above customers name the choices of the list filters they feed (value: segment, tier).
FilterChoices = Callable[[], list[tuple[str, str]]]
_filter_choices: dict[str, FilterChoices] = {}


def register_filter_choices(field: str, choices: FilterChoices) -> None:
    _filter_choices[field] = choices


class CustomerFilterForm(PlainForm):
    q = forms.CharField(label="Name, email, phone or reference", required=False)
    status = forms.ChoiceField(choices=[("", "Any status"), *CustomerStatus.choices], required=False)
    account_manager = forms.ChoiceField(label="Account manager", required=False)
    tag = forms.CharField(required=False)
    segment = forms.ChoiceField(required=False)
    tier = forms.ChoiceField(label="Care tier", required=False)

    def __init__(self, *args: Any, managers: list[tuple[str, str]], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["account_manager"].choices = [("", "Anyone"), *managers]  # type: ignore[attr-defined]
        for field in ("segment", "tier"):
            more = _filter_choices[field]() if field in _filter_choices else []
            self.fields[field].choices = [("", "Any"), *more]  # type: ignore[attr-defined]
