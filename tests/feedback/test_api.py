"""API v1 for feedback, and the metric definitions on hand-checked data."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from django.test import Client

from rapport.customers.models import Interaction
from rapport.feedback import delivery, services
from rapport.feedback.models import FollowUp, Response, ScoreDaily
from rapport.people.models import Role
from tests.conftest import api_for, make_staff
from tests.feedback.conftest import form, invite_one, make_customer


def test_create_and_list_surveys(admin_api, agent_api) -> None:
    created = admin_api.post("/surveys", {"name": "Relationship NPS", "kind": "nps"})
    assert created.status_code == 201, created.content
    body = created.json()
    assert body["kind"] == "nps" and body["version"] == 1
    assert [q["kind"] for q in body["questions"]] == ["rating", "text"]
    assert (body["questions"][0]["scale_min"], body["questions"][0]["scale_max"]) == (0, 10)
    custom = admin_api.post(
        "/surveys",
        {
            "name": "Why did you leave?",
            "kind": "custom",
            "questions": [
                {
                    "kind": "single",
                    "texts": {"en": "Main reason", "fr": "Raison principale"},
                    "choices": ["Price", "Service"],
                    "required": True,
                },
                {"kind": "text", "texts": {"en": "Anything else?"}},
            ],
        },
    )
    assert custom.status_code == 201, custom.content
    assert [s["name"] for s in agent_api.get("/surveys").json()] == ["Relationship NPS", "Why did you leave?"]


def test_survey_bad_input(admin_api, lead_api, agent_api) -> None:
    bad = admin_api.post("/surveys", {"name": "X", "kind": "stars"})
    assert bad.status_code == 422 and "kind" in bad.json()["errors"]
    assert admin_api.post("/surveys", {"name": "X", "kind": "custom"}).status_code == 422
    choice = admin_api.post(
        "/surveys",
        {
            "name": "X",
            "kind": "custom",
            "questions": [{"kind": "single", "texts": {"en": "Pick"}, "choices": ["only one"]}],
        },
    )
    assert "questions.0.choices" in choice.json()["errors"]
    assert agent_api.post("/surveys", {"name": "X", "kind": "nps"}).status_code == 403
    assert lead_api.post("/surveys", {"name": "X", "kind": "nps"}).status_code == 403  # managers define


def test_editing_an_answered_survey_makes_a_new_version(customer, nps, lead, manager) -> None:
    Client().post(invite_one(nps, customer), form(nps, 9))
    v2 = services.edit_survey(actor=manager, survey_id=nps.id, texts={"en": {"title": "New title"}})
    assert v2.number == 2
    first = Response.objects.get().version
    assert first is not None and first.number == 1
    v2b = services.edit_survey(actor=manager, survey_id=nps.id, texts={"en": {"title": "Newer"}})
    assert v2b.id == v2.id  # nobody answered version 2 yet: edited in place


def test_invitations_respect_consent_and_the_quiet_period(admin_api, lead_api, agent) -> None:
    survey = admin_api.post("/surveys", {"name": "NPS", "kind": "nps"}).json()
    ok = make_customer("Jane Doe", agent)
    no_consent = make_customer("Bob Smith", agent, consent=False)
    answer = lead_api.post(f"/surveys/{survey['id']}/invitations", {"customers": [ok.id, no_consent.id]})
    assert answer.status_code == 201, answer.content
    body = answer.json()
    assert [(i["customer"], i["status"]) for i in body["invitations"]] == [(ok.id, "listed")]
    assert body["invitations"][0]["url"].startswith("http://testserver/s/")
    assert body["refused"] == [{"customer": no_consent.id, "reason": "The customer has not consented to email."}]
    again = lead_api.post(f"/surveys/{survey['id']}/invitations", {"customers": [ok.id]}).json()
    assert again["invitations"] == [] and "quiet period is 30 days" in again["refused"][0]["reason"]
    public = lead_api.post(f"/surveys/{survey['id']}/invitations", {"public": True}).json()
    assert public["invitations"][0]["customer"] is None
    assert lead_api.post(f"/surveys/{survey['id']}/invitations", {}).status_code == 422
    assert lead_api.post(f"/surveys/{survey['id']}/invitations", {"customers": [999999]}).status_code == 422
    assert lead_api.post("/surveys/999999/invitations", {"public": True}).status_code == 404


def test_a_registered_sender_sends_and_the_timeline_records_it(nps, customer, lead_api) -> None:
    taken: list[delivery.Outgoing] = []

    def take(out: delivery.Outgoing) -> bool:
        taken.append(out)
        return True

    delivery.register_sender("test", take)
    try:
        body = lead_api.post(f"/surveys/{nps.id}/invitations", {"customers": [customer.id]}).json()
    finally:
        delivery.unregister_sender("test")
    assert body["invitations"][0]["status"] == "sent"
    assert taken[0].email == "jane@example.com" and body["invitations"][0]["url"].endswith(taken[0].path)
    assert Interaction.objects.filter(customer=customer, source_type="feedback.invitation", direction="out").exists()


def test_responses_are_listed_with_cursor_pages(nps, agent, agent_api) -> None:
    for i in range(3):
        c = make_customer(f"Person{i} Test", agent)
        Client().post(invite_one(nps, c), form(nps, 7 + i, f"comment {i}"))
    first = agent_api.get("/responses", limit=2, survey=nps.id).json()
    assert [r["score"] for r in first["items"]] == [9, 8]
    rest = agent_api.get("/responses", limit=2, cursor=first["next_cursor"]).json()
    assert [r["score"] for r in rest["items"]] == [7] and rest["next_cursor"] is None
    assert agent_api.get("/responses", cursor="garbage").status_code == 422
    assert agent_api.get("/responses", **{"from": "2000-01-01", "to": "2000-12-31"}).json()["items"] == []


def test_unsolicited_feedback(agent_api, customer) -> None:
    ok = agent_api.post(
        "/feedback",
        {"customer": customer.id, "text": "Your engineer was brilliant, thank you!", "channel": "phone", "rating": 5},
    )
    assert ok.status_code == 201, ok.content
    assert ok.json()["sentiment_label"] == "positive" and "engineer" in ok.json()["keywords"]
    assert Interaction.objects.filter(customer=customer, source_type="feedback.response").count() == 1
    bad = agent_api.post("/feedback", {"customer": customer.id, "text": "", "channel": "pigeon", "rating": 9})
    assert bad.status_code == 422 and set(bad.json()["errors"]) == {"text", "channel", "rating"}
    assert agent_api.post("/feedback", {"customer": 999999, "text": "hi", "channel": "phone"}).status_code == 404
    angry = agent_api.post(
        "/feedback",
        {
            "customer": customer.id,
            "channel": "email",
            "text": "This is awful, the worst service, I hate it and I am furious.",
        },
    )
    assert angry.json()["sentiment"] <= -0.5
    assert FollowUp.objects.get().reason == "Strongly negative comment"


def test_follow_ups_listed_and_closed(customer, nps, agent_api, agent) -> None:
    Client().post(invite_one(nps, customer), form(nps, 0, "Terrible."))
    listed = agent_api.get("/follow-ups").json()
    assert [(f["customer"], f["owner"], f["reason"]) for f in listed] == [
        (customer.id, agent.username, "Detractor: NPS 0")
    ]
    fid = listed[0]["id"]
    assert agent_api.post(f"/follow-ups/{fid}/close", {"outcome": ""}).status_code == 422
    other = api_for(make_staff("oscar", Role.AGENT))
    assert other.post(f"/follow-ups/{fid}/close", {"outcome": "x"}).status_code == 403
    closed = agent_api.post(f"/follow-ups/{fid}/close", {"outcome": "Called, refunded the fee."})
    assert closed.status_code == 200 and closed.json()["closed_at"]
    assert agent_api.get("/follow-ups").json() == []


def _answer_all(survey, scores, manager) -> None:
    for i, s in enumerate(scores):
        c = make_customer(f"Resp{i} Person", manager, email=f"r{survey.id}-{i}@example.com")
        assert Client().post(invite_one(survey, c), form(survey, s)).status_code == 200


def test_metric_definitions_exactly(lead, agent, agent_api, manager) -> None:
    nps = services.create_survey(actor=manager, name="NPS", kind="nps")
    csat = services.create_survey(actor=manager, name="CSAT", kind="csat")
    ces = services.create_survey(actor=manager, name="CES", kind="ces")
    _answer_all(nps, [10, 10, 9, 8, 7, 6, 2], agent)
    _answer_all(csat, [5, 4, 3, 2, 1, 5], agent)
    _answer_all(ces, [1, 2, 3, 7], agent)
    (g,) = agent_api.get("/metrics/nps").json()["groups"]
    assert g["n"] == 7 and g["score"] == 14.29  # (3 promoters − 2 detractors) / 7
    assert g["bands"] == {"promoters": 3, "passives": 2, "detractors": 2}
    assert g["interval"] == {"low": -47.42, "high": 75.99} and g["small_sample"] is True
    (g,) = agent_api.get("/metrics/csat").json()["groups"]
    assert (g["score"], g["bands"], g["interval"]) == (
        50.0,
        {"satisfied": 3, "neutral": 1, "dissatisfied": 2},
        {"low": 9.99, "high": 90.01},
    )
    (g,) = agent_api.get("/metrics/ces").json()["groups"]
    assert (g["score"], g["n"], g["interval"]) == (3.25, 4, {"low": 0.67, "high": 5.83})
    by_owner = agent_api.get("/metrics/nps", group_by="owner").json()["groups"]
    assert [(r["key"], r["label"], r["n"]) for r in by_owner] == [(agent.id, agent.display_name, 7)]
    by_team = agent_api.get("/metrics/csat", group_by="team").json()["groups"]
    assert [(r["label"], r["n"]) for r in by_team] == [("Front line", 6)]
    by_survey = agent_api.get("/metrics/ces", group_by="survey", survey=ces.id).json()["groups"]
    assert [(r["key"], r["label"]) for r in by_survey] == [(ces.id, "CES")]
    assert agent_api.get("/metrics/nps", group_by="planet").status_code == 422
    assert agent_api.get("/metrics/nps", **{"from": "2026-02-01", "to": "2026-01-01"}).status_code == 422
    assert agent_api.get("/metrics/stars").status_code == 404


def test_metrics_by_month_and_the_running_counts_match_a_rebuild(lead, agent, agent_api, manager) -> None:
    nps = services.create_survey(actor=manager, name="NPS", kind="nps")
    _answer_all(nps, [10, 0, 9, 5], agent)
    running = sorted(ScoreDaily.objects.values_list("kind", "n", "c0", "c5", "c9", "c10"))
    services.rebuild_score_counts()
    assert sorted(ScoreDaily.objects.values_list("kind", "n", "c0", "c5", "c9", "c10")) == running
    # Move two answers into January (as an import of history would) and rebuild.
    ids = list(Response.objects.order_by("id").values_list("id", flat=True))
    Response.objects.filter(id__in=ids[:2]).update(answered_at=datetime(2026, 1, 15, 23, 30, tzinfo=UTC))
    services.rebuild_score_counts()
    months = agent_api.get("/metrics/nps", group_by="month", **{"from": "2026-01-01"}).json()["groups"]
    assert months[0] == {
        "key": "2026-01",
        "label": "Jan 2026",
        "n": 2,
        "score": 0.0,
        "interval": months[0]["interval"],
        "bands": {"promoters": 1, "passives": 0, "detractors": 1},
        "small_sample": True,
    }
    assert [m["n"] for m in months] == [2, 2]


@pytest.mark.parametrize("path", ["/feedback/", "/feedback/?metric=csat", "/feedback/follow-ups/", "/feedback/wins/"])
def test_staff_pages_render(path, agent, customer, nps) -> None:
    Client().post(invite_one(nps, customer), form(nps, 3, "Slow."))
    client = Client()
    client.force_login(agent)
    page = client.get(path)
    assert page.status_code == 200
    assert "style=" not in page.text.replace('rel="stylesheet"', "")


def test_capture_a_timeline_entry_as_feedback(agent, customer) -> None:
    from rapport.customers.services import log_interaction

    entry = log_interaction(
        actor=agent,
        customer_id=customer.id,
        channel="phone",
        direction="in",
        summary="Called to say thanks",
        body="She said the new app is fantastic.",
    )
    client = Client()
    client.force_login(agent)
    page = client.get(f"/customers/{customer.id}/")
    assert f"/feedback/capture/{entry.id}/" in page.text
    done = client.post(f"/feedback/capture/{entry.id}/", {"next": f"/customers/{customer.id}/"})
    assert done.status_code == 302 and done["Location"] == f"/customers/{customer.id}/"
    client.post(f"/feedback/capture/{entry.id}/")
    r = Response.objects.get()
    assert (r.source, r.interaction_id, r.sentiment_label, r.channel) == ("unsolicited", entry.id, "positive", "phone")


def test_listed_links_are_sent_by_hand_and_recorded(customer, nps, lead, agent) -> None:
    path = invite_one(nps, customer)
    client = Client()
    client.force_login(agent)
    assert client.get("/feedback/invitations/").status_code == 403
    client.force_login(lead)
    page = client.get("/feedback/invitations/")
    assert page.status_code == 200 and f"http://testserver{path}" in page.text
    from rapport.feedback.models import Invitation

    inv = Invitation.objects.get()
    assert client.post(f"/feedback/invitations/{inv.id}/sent/").status_code == 302
    inv.refresh_from_db()
    assert inv.status == "sent" and inv.sent_at is not None
    assert Interaction.objects.filter(source_type="feedback.invitation", staff=lead).exists()
    assert f"http://testserver{path}" not in client.get("/feedback/invitations/").text
    assert Client().post(path, form(nps, 9)).status_code == 200  # the link still answers once
