"""Bearer-token authentication: one query per request, the holder's team in hand, the last use
stamped at most once a minute, and revoked tokens or deactivated staff refused at once."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from rapport.people.models import ApiToken, Staff
from rapport.people.services import authenticate_token, issue_token

pytestmark = pytest.mark.django_db


def test_the_holder_comes_with_their_team_in_one_query(agent: Staff) -> None:
    raw = issue_token(actor=None, staff=agent)
    authenticate_token(raw)  # stamps the first use
    with CaptureQueriesContext(connection) as captured:
        holder = authenticate_token(raw)
        assert holder is not None and holder.team is not None
        assert (holder.pk, holder.username, holder.role, holder.team.name) == (agent.pk, "alice", "agent", "Front line")
        assert holder.is_active is True and holder.date_joined == agent.date_joined
    assert len(captured.captured_queries) == 1


def test_last_use_is_stamped_at_most_once_a_minute(agent: Staff) -> None:
    raw = issue_token(actor=None, staff=agent)
    token = ApiToken.objects.get(staff=agent)
    assert token.last_used_at is None
    authenticate_token(raw)
    token.refresh_from_db()
    first = token.last_used_at
    assert first is not None
    authenticate_token(raw)
    token.refresh_from_db()
    assert token.last_used_at == first  # within the minute: a read stays a read
    ApiToken.objects.filter(id=token.id).update(last_used_at=first - timedelta(minutes=2))
    authenticate_token(raw)
    token.refresh_from_db()
    assert token.last_used_at is not None and token.last_used_at > first - timedelta(seconds=1)


def test_revoked_tokens_and_inactive_staff_are_refused(agent: Staff) -> None:
    raw = issue_token(actor=None, staff=agent)
    assert authenticate_token(raw) is not None
    assert authenticate_token(raw + "x") is None
    Staff.objects.filter(id=agent.id).update(is_active=False)
    assert authenticate_token(raw) is None
    Staff.objects.filter(id=agent.id).update(is_active=True)
    ApiToken.objects.filter(staff=agent).update(revoked_at=timezone.now())
    assert authenticate_token(raw) is None


def test_a_holder_without_a_team(admin: Staff) -> None:
    holder = authenticate_token(issue_token(actor=None, staff=admin))
    assert holder is not None and holder.team is None and holder.username == "ada"
