"""The respondent's page: no login, GET records nothing, POST validates, single use."""

from __future__ import annotations

from datetime import timedelta

from django.test import Client
from django.utils import timezone

from rapport.customers.models import Interaction
from rapport.feedback import models, services
from rapport.feedback.models import FollowUp, Invitation, Response, ScoreDaily
from tests.feedback.conftest import form, invite_one


def test_opening_a_link_records_nothing(customer, nps) -> None:
    path = invite_one(nps, customer)
    page = Client().get(path)
    assert page.status_code == 200
    assert "How likely are you to recommend us" in page.text
    assert 'type="radio"' in page.text and "<script" not in page.text  # works without JavaScript
    assert Invitation.objects.get().status == "listed"
    assert not Response.objects.exists()


def test_detractor_answer_goes_on_the_timeline_and_opens_a_follow_up(customer, nps, agent) -> None:
    path = invite_one(nps, customer)
    page = Client().post(path, form(nps, 3, "Nobody called me back."))
    assert page.status_code == 200 and "Thank you" in page.text
    response = Response.objects.get()
    assert (response.score, response.customer_id, response.owner_id, response.team_id) == (
        3,
        customer.id,
        agent.id,
        agent.team_id,
    )
    assert response.sentiment_label in ("negative", "neutral")
    entry = Interaction.objects.get(source_type="feedback.response")
    assert entry.customer_id == customer.id and entry.channel == "survey" and "Nobody called me back." in entry.body
    follow_up = FollowUp.objects.get()
    assert follow_up.owner_id == agent.id and follow_up.reason == "Detractor: NPS 3"
    assert follow_up.due_at == response.answered_at + timedelta(hours=48)
    assert ScoreDaily.objects.get().c3 == 1


def test_out_of_range_score_is_refused_clearly_and_the_link_still_works(customer, nps) -> None:
    path = invite_one(nps, customer)
    page = Client().post(path, form(nps, 11))
    assert page.status_code == 422
    assert "Choose a number from 0 to 10." in page.text
    assert not Response.objects.exists()
    assert Client().post(path, form(nps, 10)).status_code == 200


def test_missing_required_answer(customer, nps) -> None:
    path = invite_one(nps, customer)
    page = Client().post(path, form(nps, None, "just a comment"))
    assert page.status_code == 422 and "Please answer this question." in page.text
    assert "just a comment" in page.text  # what they wrote is kept in the form
    assert not Response.objects.exists()


def test_second_submit_is_410_and_the_first_answer_is_kept(customer, nps) -> None:
    path = invite_one(nps, customer)
    assert Client().post(path, form(nps, 9, "first")).status_code == 200
    again = Client().post(path, form(nps, 0, "second"))
    assert again.status_code == 410 and "already been answered" in again.text
    assert Client().get(path).status_code == 410
    assert list(Response.objects.values_list("score", "text")) == [(9, "first")]


def test_tampered_and_unknown_links_are_404_revealing_nothing(customer, nps) -> None:
    path = invite_one(nps, customer)
    tampered = path[:-3] + ("A" if path[-3] != "A" else "B") + path[-2:]
    for url in (tampered, "/s/not-a-token/", "/s/" + "x" * 200 + "/"):
        page = Client().get(url)
        assert page.status_code == 404
        assert "Jane" not in page.text and "NPS" not in page.text
    assert Client().post(tampered, form(nps, 5)).status_code == 404


def test_withdrawn_survey_and_expired_link_are_410(customer, nps, lead, agent, manager) -> None:
    path = invite_one(nps, customer)
    services.withdraw_survey(actor=manager, survey_id=nps.id)
    page = Client().post(path, form(nps, 5))
    assert page.status_code == 410 and "closed" in page.text and "Jane" not in page.text
    other = services.create_survey(actor=manager, name="CSAT", kind="csat")
    from tests.feedback.conftest import make_customer

    bob = make_customer("Bob Smith", agent)
    later = invite_one(other, bob)
    Invitation.objects.filter(customer=bob).update(expires_at=timezone.now() - timedelta(seconds=1))
    assert Client().get(later).status_code == 410


def test_script_in_free_text_is_stored_as_given_and_shown_escaped(customer, nps, lead) -> None:
    evil = '<script>alert("x")</script><b>bold</b>'
    path = invite_one(nps, customer)
    Client().post(path, form(nps, 2, evil))
    assert Response.objects.get().text == evil
    staff = Client()
    staff.force_login(lead)
    for url in ("/feedback/", "/feedback/follow-ups/?all=1"):
        page = staff.get(url)
        assert page.status_code == 200
        assert evil not in page.text
        assert "&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt;" in page.text


def test_promoter_quote_needs_consent_then_approval(customer, nps, lead) -> None:
    praise = "Wonderful, friendly and fast service. Thank you!"
    Client().post(invite_one(nps, customer), form(nps, 10, praise, quote="yes"))
    t = models.Testimonial.objects.get()
    assert t.status == "pending" and "survey" in t.consent_how and t.quote == praise
    assert praise not in Client().get("/testimonials").text
    staff = Client()
    staff.force_login(lead)
    assert praise in staff.get("/feedback/wins/").text
    staff.post(f"/feedback/testimonials/{t.id}/decide/", {"verdict": "approve", "public": "yes"})
    t.refresh_from_db()
    assert t.status == "approved" and t.approved_by_id == lead.id
    assert praise in Client().get("/testimonials").text
    assert not FollowUp.objects.exists()


def test_promoter_without_consent_is_not_quoted(customer, nps) -> None:
    Client().post(invite_one(nps, customer), form(nps, 10, "Wonderful service."))
    assert not models.Testimonial.objects.exists()


def test_public_link_takes_many_anonymous_answers(nps, lead) -> None:
    result = services.invite(actor=lead, survey_id=nps.id, public=True)
    path = result.invitations[0][1]
    assert Client().post(path, form(nps, 8)).status_code == 200
    assert Client().post(path, form(nps, 4, "meh")).status_code == 200
    assert Response.objects.filter(customer__isnull=True).count() == 2
    assert not FollowUp.objects.exists()  # nobody to call back


def test_merging_customers_moves_their_feedback(customer, nps, agent, lead) -> None:
    from rapport.customers.services import merge_customers
    from tests.feedback.conftest import make_customer

    dup = make_customer("Jane D", agent, email="jane.d@example.com")
    Client().post(invite_one(nps, dup), form(nps, 2, "Late again."))
    merge_customers(actor=lead, survivor_id=customer.id, duplicate_id=dup.id)
    assert Response.objects.get().customer_id == customer.id
    assert FollowUp.objects.get().customer_id == customer.id
