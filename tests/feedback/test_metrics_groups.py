"""Metrics grouped by the customer's status and tags (counted from the responses)."""

from __future__ import annotations

from datetime import timedelta

from django.test import Client
from django.utils import timezone

from rapport.customers.models import Customer, Tag
from rapport.feedback import services
from rapport.feedback.models import Invitation, Response
from tests.feedback.conftest import form, invite_one, make_customer


def _answer(survey, name, status, score, agent, tags=()):
    c = make_customer(name, agent, email=f"{name.split()[0].lower()}-{survey.id}@example.com", status=status)
    c.tags.add(*[Tag.objects.get_or_create(name=t)[0] for t in tags])
    assert Client().post(invite_one(survey, c), form(survey, score)).status_code == 200
    return c


def test_nps_by_status_and_by_tag_match_the_definitions(agent, agent_api, manager) -> None:
    nps = services.create_survey(actor=manager, name="NPS", kind="nps")
    _answer(nps, "Ann Active", "active", 10, agent, ["vip", "north"])
    _answer(nps, "Bob Active", "active", 9, agent, ["vip"])
    _answer(nps, "Cat Active", "active", 3, agent, ["north"])
    _answer(nps, "Dan Former", "former", 0, agent, ["vip"])
    _answer(nps, "Eve Former", "former", 8, agent)
    public = services.invite(actor=None, survey_id=nps.id, public=True).invitations[0][1]
    Client().post(public, form(nps, 10))  # no customer: its own group
    by_status = agent_api.get("/metrics/nps", group_by="status").json()["groups"]
    assert [(g["key"], g["label"], g["n"], g["score"], g["bands"]) for g in by_status] == [
        (None, "No customer (public link)", 1, 100.0, {"promoters": 1, "passives": 0, "detractors": 0}),
        ("active", "Active", 3, 33.33, {"promoters": 2, "passives": 0, "detractors": 1}),  # (2 − 1) / 3
        ("former", "Former customer", 2, -50.0, {"promoters": 0, "passives": 1, "detractors": 1}),
    ]
    active = by_status[1]
    # p = 2/3, d = 1/3: variance p + d − (p − d)² = 8/9; half width 1.96 × √(8/9 / 3) × 100 = 106.69
    assert active["interval"] == {"low": -73.35, "high": 100.0} and active["small_sample"] is True
    by_tag = agent_api.get("/metrics/nps", group_by="tag").json()["groups"]
    assert [(g["key"], g["n"], g["score"]) for g in by_tag] == [
        (None, 2, 50.0),  # Eve (8) and the public answer (10)
        ("north", 2, 0.0),  # Ann 10, Cat 3
        ("vip", 3, 33.33),  # Ann 10, Bob 9, Dan 0
    ]
    assert by_tag[0]["label"] == "No tag"
    # The same answers as the daily counts, whichever way they are grouped.
    (overall,) = agent_api.get("/metrics/nps").json()["groups"]
    assert overall["n"] == sum(g["n"] for g in by_status) == 6


def test_status_and_tag_groups_respect_survey_period_and_kind(agent, agent_api, manager) -> None:
    nps = services.create_survey(actor=manager, name="NPS", kind="nps")
    other = services.create_survey(actor=manager, name="Other NPS", kind="nps")
    csat = services.create_survey(actor=manager, name="CSAT", kind="csat")
    old = _answer(nps, "Old Answer", "active", 10, agent, ["vip"])
    _answer(other, "Other Survey", "active", 0, agent, ["vip"])
    _answer(csat, "Csat Answer", "active", 5, agent, ["vip"])
    Response.objects.filter(customer=old).update(answered_at=timezone.now() - timedelta(days=40))
    today = timezone.now().date().isoformat()
    recent = {"from": (timezone.now() - timedelta(days=10)).date().isoformat(), "to": today}
    (g,) = agent_api.get("/metrics/nps", group_by="tag", **recent).json()["groups"]
    assert (g["key"], g["n"], g["score"]) == ("vip", 1, -100.0)  # the old answer is outside the period
    (g,) = agent_api.get("/metrics/nps", group_by="tag", survey=nps.id).json()["groups"]
    assert (g["n"], g["score"]) == (1, 100.0)
    (g,) = agent_api.get("/metrics/csat", group_by="status").json()["groups"]
    assert (g["key"], g["n"], g["score"]) == ("active", 1, 100.0)
    (g,) = agent_api.get("/metrics/ces", group_by="status").json()["groups"] or [{"n": 0}]
    assert g["n"] == 0
    assert Invitation.objects.count() == 3 and Customer.objects.count() == 3


def test_results_page_shows_status_and_tag_tables(agent, manager) -> None:
    nps = services.create_survey(actor=manager, name="NPS", kind="nps")
    _answer(nps, "Ann Active", "active", 10, agent, ["vip"])
    client = Client()
    client.force_login(agent)
    page = client.get("/feedback/")
    assert page.status_code == 200 and "By customer status" not in page.text  # on request only
    assert "by=customer" in page.text
    page = client.get("/feedback/?by=customer")
    assert "By customer status" in page.text and "By tag" in page.text
    assert "<td>vip</td>" in page.text and "<td>Active</td>" in page.text
