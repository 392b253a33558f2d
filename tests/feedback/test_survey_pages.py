"""Staff pages: define a survey (managers), edit it into a new version, send it (leads)."""

from __future__ import annotations

from typing import Any

from django.test import Client

from rapport.customers.models import Tag
from rapport.feedback import services
from rapport.feedback.models import Invitation, Survey
from tests.feedback.conftest import form, invite_one, make_customer


def signed_in(staff: Any) -> Client:
    client = Client()
    client.force_login(staff)
    return client


def no_inline(page: Any) -> None:
    """CSP: no inline styles or scripts on the staff pages."""
    assert page.status_code in (200, 422), page.status_code
    assert "style=" not in page.text.replace('rel="stylesheet"', "")
    assert "<script>" not in page.text and " onclick=" not in page.text


CUSTOM = {
    "name": "Why did you leave?",
    "kind": "custom",
    "lang_0": "en",
    "title_0": "Tell us why",
    "intro_0": "Two minutes.",
    "lang_1": "fr",
    "title_1": "Dites-nous pourquoi",
    "question_rows": "4",
    "q0_kind": "rating",
    "q0_text_0": "How fair was the price?",
    "q0_text_1": "Le prix était-il juste ?",
    "q0_scale_min": "1",
    "q0_scale_max": "10",
    "q0_required": "yes",
    "q1_kind": "single",
    "q1_text_0": "Main reason",
    "q1_choices": "Price\nService\n",
    "q2_kind": "",  # an empty row is skipped
    "q3_kind": "text",
    "q3_text_0": "Anything else?",
}


def test_a_manager_defines_a_custom_survey_with_languages(manager) -> None:
    client = signed_in(manager)
    no_inline(client.get("/feedback/surveys/new/"))
    done = client.post("/feedback/surveys/new/", CUSTOM)
    survey = Survey.objects.get()
    assert done.status_code == 302 and done["Location"] == f"/feedback/surveys/{survey.id}/send/"
    version = survey.current_version()
    assert version.texts == {
        "en": {"title": "Tell us why", "intro": "Two minutes."},
        "fr": {"title": "Dites-nous pourquoi"},
    }
    rows = [(q.kind, q.texts, q.required, q.scale_min, q.scale_max, q.choices) for q in version.questions.all()]
    assert rows == [
        ("rating", {"en": "How fair was the price?", "fr": "Le prix était-il juste ?"}, True, 1, 10, []),
        ("single", {"en": "Main reason"}, False, None, None, ["Price", "Service"]),
        ("text", {"en": "Anything else?"}, False, None, None, []),
    ]
    listing = client.get("/feedback/surveys/")
    no_inline(listing)
    assert "Why did you leave?" in listing.text and f"/feedback/surveys/{survey.id}/edit/" in listing.text


def test_bad_definitions_are_shown_next_to_the_form(manager) -> None:
    client = signed_in(manager)
    page = client.post("/feedback/surveys/new/", {**CUSTOM, "q1_choices": "Only one"})
    no_inline(page)
    assert page.status_code == 422 and "Question 2, choices: Give at least two choices." in page.text
    assert 'value="Why did you leave?"' in page.text  # what was typed is kept
    page = client.post("/feedback/surveys/new/", {**CUSTOM, "q0_scale_max": "ten"})
    assert page.status_code == 422 and "Give a whole number." in page.text
    page = client.post("/feedback/surveys/new/", {"name": "", "kind": "nps"})
    assert page.status_code == 422 and "Name: Give the survey a name" in page.text
    assert not Survey.objects.exists()


def test_who_may_define_and_send(agent, lead, manager, nps) -> None:
    assert Client().get("/feedback/surveys/").status_code == 302  # sign in first
    assert signed_in(agent).get("/feedback/surveys/").status_code == 200
    assert "New survey" not in signed_in(lead).get("/feedback/surveys/").text
    assert signed_in(lead).get("/feedback/surveys/new/").status_code == 403
    assert signed_in(lead).post("/feedback/surveys/new/", CUSTOM).status_code == 403
    assert signed_in(lead).get(f"/feedback/surveys/{nps.id}/edit/").status_code == 403
    assert signed_in(agent).get(f"/feedback/surveys/{nps.id}/send/").status_code == 403
    assert signed_in(agent).post(f"/feedback/surveys/{nps.id}/send/", {"mode": "public"}).status_code == 403
    assert signed_in(lead).get(f"/feedback/surveys/{nps.id}/send/").status_code == 200
    assert signed_in(lead).get("/feedback/surveys/999999/send/").status_code == 404
    assert not Invitation.objects.exists()


def test_editing_an_answered_survey_on_the_page_makes_a_new_version(manager, customer) -> None:
    client = signed_in(manager)
    client.post("/feedback/surveys/new/", {**CUSTOM, "kind": "nps", "name": "NPS plus", "q0_required": ""})
    survey = Survey.objects.get()
    assert Client().post(invite_one(survey, customer), form(survey, 9, "Great")).status_code == 200
    page = client.get(f"/feedback/surveys/{survey.id}/edit/")
    no_inline(page)
    assert 'value="How fair was the price?"' in page.text  # custom questions shown, the NPS pair is not
    assert "How likely are you to recommend" not in page.text
    saved = client.post(
        f"/feedback/surveys/{survey.id}/edit/",
        {"lang_0": "en", "title_0": "New title", "question_rows": "1", "q0_kind": "text", "q0_text_0": "Tips?"},
    )
    assert saved.status_code == 200 and "version 2" in saved.text
    v1, v2 = survey.versions.order_by("number")
    assert v1.texts["en"]["title"] == "Tell us why" and v2.texts == {"en": {"title": "New title"}}
    assert [q.kind for q in v2.questions.all()] == ["rating", "text", "text"]
    assert survey.responses.get().version_id == v1.id


def test_send_to_an_audience_lists_links_and_refusals(lead, agent, manager, nps) -> None:
    vip = Tag.objects.create(name="vip")
    jane = make_customer("Jane Doe", agent)
    quiet = make_customer("Quiet Person", agent)
    no_consent = make_customer("No Consent", agent, consent=False)
    other_tag = make_customer("Other Person", agent)
    former = make_customer("Former Person", agent, status="former")
    for c in (jane, quiet, no_consent, former):
        c.tags.add(vip)
    invite_one(nps, quiet)  # inside the quiet period now
    client = signed_in(lead)
    page = client.post(
        f"/feedback/surveys/{nps.id}/send/",
        {"mode": "audience", "status": ["active"], "tags": ["vip"], "account_manager": str(agent.id)},
    )
    no_inline(page)
    assert page.status_code == 200
    inv = Invitation.objects.get(customer=jane)
    assert inv.status == "listed" and f"http://testserver{services.survey_path(inv)}" in page.text
    assert "Survey link for Jane Doe" in page.text
    assert "No Consent</a>: The customer has not consented to email." in page.text
    assert "Quiet Person</a>: Surveyed on" in page.text and "quiet period is 30 days" in page.text
    assert "Other Person" not in page.text and "Former Person" not in page.text
    assert not Invitation.objects.filter(customer__in=[no_consent, other_tag, former]).exists()


def test_send_to_chosen_customers_or_a_public_link(lead, agent, nps) -> None:
    jane = make_customer("Jane Doe", agent)
    client = signed_in(lead)
    assert 'value="12, 13"' in client.get(f"/feedback/surveys/{nps.id}/send/?customers=12, 13").text
    page = client.post(f"/feedback/surveys/{nps.id}/send/", {"mode": "customers", "customers": f"{jane.id}, "})
    assert page.status_code == 200 and Invitation.objects.filter(customer=jane).count() == 1
    bad = client.post(f"/feedback/surveys/{nps.id}/send/", {"mode": "customers", "customers": "Jane"})
    assert bad.status_code == 422 and "Give customer numbers" in bad.text
    empty = client.post(f"/feedback/surveys/{nps.id}/send/", {"mode": "audience"})
    assert empty.status_code == 422 and "Choose at least one status, tag or account manager." in empty.text
    public = client.post(f"/feedback/surveys/{nps.id}/send/", {"mode": "public"})
    link = Invitation.objects.get(purpose="public")
    assert public.status_code == 200 and f"http://testserver{services.survey_path(link)}" in public.text
