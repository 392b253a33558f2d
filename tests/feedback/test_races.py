"""Two submits of one link at the same instant, on real concurrent connections."""

from __future__ import annotations

from functools import partial

import pytest
from django.db import connection  # noqa: F401  (read by the skipif condition)
from django.test import Client

from rapport.feedback import services
from rapport.feedback.models import Invitation, Response, ScoreDaily
from rapport.people.models import Role
from tests.conftest import make_staff
from tests.customers.test_races import at_once
from tests.feedback.conftest import form, invite_one, make_customer

pytestmark = [
    pytest.mark.django_db(transaction=True),
    pytest.mark.skipif("connection.vendor != 'postgresql'", reason="needs a server database for real concurrency"),
]


def test_two_submits_at_once_keep_exactly_one_answer() -> None:
    lead = make_staff("lena", Role.LEAD)
    survey = services.create_survey(actor=make_staff("mona", Role.MANAGER), name="NPS", kind="nps")
    customer = make_customer("Jane Doe", lead)
    path = invite_one(survey, customer)
    bodies = [form(survey, score, f"answer {score}") for score in (1, 9, 5, 10)]
    results = at_once([partial(Client().post, path, b) for b in bodies])
    assert sorted(r.status_code for r in results) == [200, 410, 410, 410]
    (kept,) = Response.objects.all()
    winner = next(b for b, r in zip(bodies, results, strict=True) if r.status_code == 200)
    assert kept.text == next(v for k, v in winner.items() if v.startswith("answer"))
    assert Invitation.objects.get().status == "answered"
    assert sum(ScoreDaily.objects.values_list("n", flat=True)) == 1
