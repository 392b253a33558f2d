"""The automatic emails' wording per language: the API, the staff page, the sandbox, and the
customer's language with fallback."""

from __future__ import annotations

from typing import Any

import pytest
from django.test import Client

from rapport.cases.models import Case
from rapport.channels.models import Channel, EmailTemplate, OutboundMessage
from rapport.customers.models import Customer
from rapport.customers.services import CustomerInput, create_customer
from rapport.people.models import Staff
from tests.channels.conftest import deliver, email
from tests.conftest import ApiClient, api_for

pytestmark = pytest.mark.django_db


def put(api: ApiClient, path: str, body: dict[str, str]) -> Any:
    return api._call("put", path, body)  # the shared client has no put() yet


ACK_DE = {
    "subject": "Re: {{ case_subject }}",
    "body": "Danke, {{ customer_name }}! Ihre Referenz ist {{ reference }}.\n{{ promise }}",
}


def test_managers_word_an_email_per_language_through_the_api(manager: Staff, agent: Staff) -> None:
    api = api_for(manager)
    shipped = api.get("/channels/templates/acknowledgement/de").json()
    assert shipped["source"] == "shipped" and "{{ reference }}" in shipped["body"]
    assert "promise" in shipped["values"]
    saved = put(api, "/channels/templates/acknowledgement/de", ACK_DE)
    assert saved.status_code == 200, saved.content
    assert saved.json()["source"] == "de" and saved.json()["body"] == ACK_DE["body"]
    listed = {item["kind"]: item for item in api.get("/channels/templates").json()}
    assert listed["acknowledgement"]["languages"] == ["de"]
    assert put(api_for(agent), "/channels/templates/acknowledgement/de", ACK_DE).status_code == 403


@pytest.mark.parametrize(
    ("body", "why"),
    [
        ("{% if %}", "Template error"),
        ("{% include 'base.html' %}", "include"),
        ("{% load static %}", "load"),
        ("{% debug %}", "debug"),
        ("{{ settings.SECRET_KEY }}", "Unknown value"),
        ("{{ reference.__class__ }}", "underscores"),
    ],
)
def test_a_template_reaching_beyond_its_values_is_refused_with_422(manager: Staff, body: str, why: str) -> None:
    answer = put(api_for(manager), "/channels/templates/acknowledgement/en", {"subject": "Hi", "body": body})
    assert answer.status_code == 422
    assert why in answer.json()["errors"]["body"][0]
    assert not EmailTemplate.objects.exists()


def test_a_subject_must_stay_one_line(manager: Staff) -> None:
    answer = put(
        api_for(manager), "/channels/templates/acknowledgement/en", {"subject": "Hi\nBcc: all@example.com", "body": "x"}
    )
    assert answer.status_code == 422 and "subject" in answer.json()["errors"]


def test_the_customer_gets_their_language_then_the_default_then_the_shipped_wording(
    channel: tuple[Channel, str], manager: Staff
) -> None:
    put(api_for(manager), "/channels/templates/acknowledgement/de", ACK_DE)
    create_customer(actor=None, data=CustomerInput(name="Jonas Weber", emails=["jonas@example.de"], language="de"))
    create_customer(actor=None, data=CustomerInput(name="Amélie Roux", emails=["amelie@example.fr"], language="fr"))
    deliver(channel[1], email(sender="jonas@example.de"))
    deliver(channel[1], email(sender="amelie@example.fr"))
    german = OutboundMessage.objects.get(to="jonas@example.de")
    case = Case.objects.get(customer__name="Jonas Weber")
    assert german.body.startswith(f"Danke, Jonas Weber! Ihre Referenz ist {case.reference}.")
    assert german.subject == f"[{case.reference}] Re: My order is late"
    french = OutboundMessage.objects.get(to="amelie@example.fr")
    assert french.body.startswith("Thank you for contacting us.")  # no fr, no en row: the shipped wording
    put(
        api_for(manager),
        "/channels/templates/acknowledgement/en",
        {"subject": "Re: {{ case_subject }}", "body": "Hello {{ reference }}"},
    )
    deliver(channel[1], email(sender="amelie@example.fr", subject="Again"))
    again = OutboundMessage.objects.filter(to="amelie@example.fr").latest("id")
    assert again.body.startswith("Hello C-")  # fr falls back to the default language's wording
    assert Customer.objects.count() == 2


def test_the_staff_page_previews_and_refuses_a_broken_template(manager: Staff, agent: Staff) -> None:
    client = Client()
    client.force_login(manager)
    assert client.get("/settings/email-templates/").status_code == 200
    url = "/settings/email-templates/acknowledgement/de/"
    page = client.get(url)
    assert page.status_code == 200 and b"wording that ships with Rapport" in page.content
    preview = client.post(url, ACK_DE | {"action": "preview"})
    assert b"Danke, Mina Harker! Ihre Referenz ist C-000123." in preview.content
    assert not EmailTemplate.objects.exists()  # a preview saves nothing
    broken = client.post(url, {"subject": "x", "body": "{% if %}", "action": "save"})
    assert broken.status_code == 422 and b"Template error" in broken.content
    assert not EmailTemplate.objects.exists()
    assert client.post(url, ACK_DE | {"action": "save"}).status_code == 200
    assert EmailTemplate.objects.get().language == "de"
    other = Client()
    other.force_login(agent)
    assert other.get(url).status_code == 403
