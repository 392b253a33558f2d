"""The session store reads by a hand-written statement what Django's db store reads."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.contrib.sessions.backends.db import SessionStore as DjangoStore
from django.contrib.sessions.models import Session
from django.utils import timezone

from rapport.people.sessions import SessionStore

pytestmark = pytest.mark.django_db


def _saved(data: dict[str, object]) -> str:
    store = SessionStore()
    store.update(data)
    store.save()
    assert store.session_key is not None
    return store.session_key


def test_reads_what_was_saved_as_django_does() -> None:
    key = _saved({"_auth_user_id": "7", "theme": "dark"})
    assert SessionStore(key).load() == DjangoStore(key).load() == {"_auth_user_id": "7", "theme": "dark"}


def test_an_expired_or_unknown_session_is_empty_and_its_key_forgotten() -> None:
    key = _saved({"_auth_user_id": "7"})
    Session.objects.filter(session_key=key).update(expire_date=timezone.now() - timedelta(seconds=1))
    for missing in (key, "x" * 32):
        store = SessionStore(missing)
        assert store.load() == {} and store.session_key is None
