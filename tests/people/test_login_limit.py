"""Sign-in is rate limited: repeated failures lock the username from that address."""

from __future__ import annotations

import pytest
from django.test import Client
from django.urls import reverse

from rapport.people.models import Staff
from tests.conftest import PASSWORD

pytestmark = pytest.mark.django_db


def test_repeated_failures_lock_the_account_from_that_address(agent: Staff, settings) -> None:  # type: ignore[no-untyped-def]
    client = Client()
    url = reverse("login")
    for _ in range(settings.AXES_FAILURE_LIMIT):
        response = client.post(url, {"username": agent.username, "password": "wrong password"})
        assert response.status_code in (200, 429)
        assert "_auth_user_id" not in client.session
    locked = client.post(url, {"username": agent.username, "password": PASSWORD})
    assert locked.status_code == 429
    assert "_auth_user_id" not in client.session
    # Someone else, from the same address, can still sign in.
    Staff.objects.create_user(username="bert", password=PASSWORD)
    other = client.post(url, {"username": "bert", "password": PASSWORD})
    assert other.status_code == 302


def test_a_good_password_signs_in(agent: Staff) -> None:
    client = Client(enforce_csrf_checks=False)
    response = client.post(reverse("login"), {"username": agent.username, "password": PASSWORD})
    assert response.status_code == 302
    assert client.session["_auth_user_id"] == str(agent.id)
