"""The public contact form. Spam defence without third parties: a honeypot field, a signed
start time (minimum fill time, and a maximum age), and rate limits in the view."""

from __future__ import annotations

import time
from typing import Any

from django import forms
from django.core import signing

from rapport.channels.services import MAX_FORM_FILE, TOPICS

MIN_FILL_SECONDS = 3
MAX_FORM_AGE_SECONDS = 24 * 3600
_SALT = "rapport.channels.contact"


def start_token() -> str:
    return signing.dumps(time.time(), salt=_SALT)


class ContactForm(forms.Form):
    name = forms.CharField(label="Your name", max_length=200, widget=forms.TextInput(attrs={"autocomplete": "name"}))
    email = forms.EmailField(
        label="Your email address", max_length=254, widget=forms.EmailInput(attrs={"autocomplete": "email"})
    )
    topic = forms.ChoiceField(
        label="What is it about?", choices=[("", "Choose…")] + [(k, v[0]) for k, v in TOPICS.items()]
    )
    message = forms.CharField(label="Your message", max_length=20_000, widget=forms.Textarea(attrs={"rows": 8}))
    attachment = forms.FileField(
        label="Attach a file (optional)", required=False, help_text=f"One file, at most {MAX_FORM_FILE // 1048576} MB."
    )
    # Honeypot: hidden from people (and from assistive technology); bots fill it in.
    website = forms.CharField(
        required=False,
        label="Leave this empty",
        widget=forms.TextInput(attrs={"tabindex": "-1", "autocomplete": "off"}),
    )
    started = forms.CharField(widget=forms.HiddenInput)

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        if not self.is_bound:
            self.initial["started"] = start_token()

    def is_spam(self) -> str:
        """Why this looks automated, or ''. Checked after is_valid()."""
        if self.cleaned_data.get("website"):
            return "honeypot"
        try:
            started = float(signing.loads(self.cleaned_data.get("started", ""), salt=_SALT))
        except (signing.BadSignature, TypeError, ValueError):
            return "bad start token"
        age = time.time() - started
        if age < MIN_FILL_SECONDS:
            return "too fast"
        if age > MAX_FORM_AGE_SECONDS:
            return "form too old"
        return ""
