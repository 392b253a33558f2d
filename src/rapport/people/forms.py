"""Staff administration forms. They only parse; the rules live in people.services."""

from __future__ import annotations

from typing import Any

from django import forms

from rapport.core.errors import InvalidInput
from rapport.people.models import Role, Team


class PlainForm(forms.Form):
    """Labels without Django's trailing colon: the page styles labels itself."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("label_suffix", "")
        super().__init__(*args, **kwargs)


def add_service_errors(form: forms.Form, exc: InvalidInput) -> None:
    """Show a service's field errors on the form; unknown fields become form-wide errors."""
    for field, messages in exc.errors.items():
        target = field if field in form.fields else None
        for message in messages:
            form.add_error(target, message)


class StaffCreateForm(PlainForm):
    username = forms.CharField(max_length=150)
    first_name = forms.CharField(max_length=150, required=False)
    last_name = forms.CharField(max_length=150, required=False)
    email = forms.EmailField(required=False)
    role = forms.ChoiceField(choices=Role.choices, initial=Role.AGENT)
    team = forms.ModelChoiceField(queryset=Team.objects.order_by("name"), required=False, empty_label="No team")
    password = forms.CharField(
        label="Initial password",
        widget=forms.PasswordInput(render_value=False, attrs={"autocomplete": "new-password"}),
        help_text="At least 10 characters; they can change it later.",
    )


class StaffUpdateForm(PlainForm):
    role = forms.ChoiceField(choices=Role.choices)
    # "" keeps the current team, NO_TEAM takes the member off every team, an id moves them.
    team = forms.CharField(required=False)
    is_active = forms.BooleanField(label="Active", required=False)

    NO_TEAM = "none"

    def clean_team(self) -> Team | str | None:
        value = self.cleaned_data["team"]
        if value in ("", self.NO_TEAM):
            return value or None
        team = Team.objects.filter(pk=value).first() if value.isdigit() else None
        if team is None:
            raise forms.ValidationError("Choose a team from the list.")
        return team


class TeamForm(PlainForm):
    name = forms.CharField(label="Team name", max_length=100)
