"""The public contact form: no login, spam defence, a case and an acknowledgement."""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import pytest
from django.core import signing
from django.core.cache import cache
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client

from rapport.cases.models import Case, CaseMessage
from rapport.channels.forms import _SALT
from rapport.channels.models import Attachment, OutboundMessage
from rapport.people.models import Staff

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def fresh_cache() -> Iterator[None]:
    cache.clear()  # the tests use Django's default local-memory cache
    yield
    cache.clear()


def form(**changes: Any) -> dict[str, Any]:
    data = {
        "name": "Jane Doe",
        "email": "jane@example.org",
        "topic": "complaint",
        "message": "The box was crushed.",
        "website": "",
        "started": signing.dumps(time.time() - 10, salt=_SALT),
    }
    return {**data, **changes}


def test_the_page_is_public_accessible_and_csp_clean() -> None:
    response = Client().get("/contact")
    assert response.status_code == 200
    html = response.content.decode()
    for field in ("name", "email", "topic", "message", "attachment"):
        assert f'<label for="id_{field}"' in html
    assert 'style="' not in html and "onclick" not in html and "<script>" not in html
    assert "csrfmiddlewaretoken" in html and 'name="viewport"' in html
    assert "script-src" in response.headers["Content-Security-Policy"]


def test_a_message_opens_a_case_and_queues_an_acknowledgement() -> None:
    upload = SimpleUploadedFile("photo.jpg", b"\xff\xd8 jpeg bytes", content_type="image/jpeg")
    response = Client().post("/contact", form(attachment=upload))
    assert response.status_code == 200
    case = Case.objects.get()
    assert case.reference in response.content.decode()
    assert case.type == "complaint" and case.channel == "web" and case.customer.name == "Jane Doe"
    assert OutboundMessage.objects.get().to == "jane@example.org"
    assert Attachment.objects.get(case=case).label == "photo.jpg"


def test_a_second_message_on_the_same_topic_joins_the_open_case() -> None:
    Client().post("/contact", form())
    response = Client().post("/contact", form(message="And the lid is missing."))
    assert "added to your open case" in response.content.decode()
    assert Case.objects.count() == 1
    assert CaseMessage.objects.get(kind="customer").body == "And the lid is missing."
    Client().post("/contact", form(topic="question", message="When do you open?"))
    assert Case.objects.count() == 2


def test_honeypot_and_too_fast_submissions_open_nothing() -> None:
    assert Client().post("/contact", form(website="http://spam.example.com")).status_code == 200
    assert Client().post("/contact", form(started=signing.dumps(time.time(), salt=_SALT))).status_code == 200
    assert Client().post("/contact", form(started="forged")).status_code == 200
    assert not Case.objects.exists()


def test_rate_limit_per_email_and_per_ip() -> None:
    codes = [Client().post("/contact", form(topic="question", message=f"Question {i}")).status_code for i in range(6)]
    assert codes == [200] * 5 + [429]
    other = Client().post("/contact", form(email="someone@example.org"), REMOTE_ADDR="127.0.0.1")
    assert other.status_code == 429  # the same address sent five already


def test_bad_input_names_the_field() -> None:
    response = Client().post("/contact", form(email="not-an-address", topic="", message=""))
    assert response.status_code == 422
    html = response.content.decode()
    assert html.count('class="errorlist') >= 3 and not Case.objects.exists()


def test_attachments_are_downloads_for_staff_only(agent: Staff) -> None:
    Client().post(
        "/contact",
        form(attachment=SimpleUploadedFile("x.html", b"<script>alert(1)</script>", content_type="text/html")),
    )
    item = Attachment.objects.get()
    assert Client().get(f"/attachments/{item.id}").status_code == 302
    staff = Client()
    staff.force_login(agent)
    response = staff.get(f"/attachments/{item.id}")
    assert response.status_code == 200
    assert response["Content-Disposition"].startswith("attachment") and response["X-Content-Type-Options"] == "nosniff"
    assert response["Content-Type"] == "application/octet-stream"
