"""Webhooks out: signed deliveries to a real HTTP server on loopback, retries, the log, and
the SSRF defence (loopback is refused unless an admin allows private targets)."""

from __future__ import annotations

import hashlib
import hmac
import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

from rapport.cases import services as cases
from rapport.channels import webhooks
from rapport.channels.models import WebhookDelivery
from rapport.customers.services import CustomerInput, create_customer
from rapport.people.models import Staff
from tests.conftest import api_for

pytestmark = pytest.mark.django_db


class Receiver:
    def __init__(self) -> None:
        self.calls: list[tuple[dict[str, str], bytes]] = []
        self.answers: list[int] = []
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers["Content-Length"]))
                receiver.calls.append((dict(self.headers), body))
                self.send_response(receiver.answers.pop(0) if receiver.answers else 204)
                self.end_headers()

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hooks/rapport"


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    found = Receiver()
    thread = threading.Thread(target=found.server.serve_forever, daemon=True)
    thread.start()
    yield found
    found.server.shutdown()


def _deliver_pending() -> list[str]:
    return [webhooks.deliver(i) for i in WebhookDelivery.objects.filter(status="pending").values_list("id", flat=True)]


def test_a_new_case_is_delivered_signed(
    admin: Staff, agent: Staff, receiver: Receiver, django_capture_on_commit_callbacks: Any
) -> None:
    response = api_for(admin).post(
        "/webhooks", {"url": receiver.url, "events": ["case.created"], "allow_private": True}
    )
    assert response.status_code == 201
    secret = response.json()["secret"]
    customer = create_customer(actor=None, data=CustomerInput(name="Jane", emails=["jane@example.org"]))
    with django_capture_on_commit_callbacks(execute=True):
        case = cases.open_case(
            actor=agent, data=cases.CaseInput(customer_id=customer.id, type="question", subject="Hello")
        )
    assert _deliver_pending() == ["delivered"]
    headers, body = receiver.calls[0]
    expected = hmac.new(secret.encode(), f"{headers['X-Rapport-Timestamp']}.".encode() + body, hashlib.sha256)
    assert headers["X-Rapport-Signature"] == "sha256=" + expected.hexdigest()
    assert headers["X-Rapport-Event"] == "case.created"
    assert json.loads(body)["data"]["reference"] == case.reference
    log = api_for(admin).get(f"/webhooks/{response.json()['id']}/deliveries").json()
    assert [(d["event"], d["status"], d["last_status_code"]) for d in log] == [("case.created", "delivered", 204)]


def test_failures_are_retried_then_logged(admin: Staff, receiver: Receiver) -> None:
    webhooks.create_subscription(actor=admin, url=receiver.url, events=["interaction.created"], allow_private=True)
    receiver.answers = [500, 503]
    [delivery_id] = webhooks.publish("interaction.created", {"interaction_id": 1})
    assert webhooks.deliver(delivery_id) == "pending"
    assert webhooks.deliver(delivery_id) == "pending"
    assert webhooks.deliver(delivery_id) == "delivered"
    row = WebhookDelivery.objects.get()
    assert row.attempts == 3 and row.last_status_code == 204
    WebhookDelivery.objects.filter(id=row.id).update(status="pending", attempts=webhooks.MAX_ATTEMPTS - 1)
    receiver.answers = [500]
    assert webhooks.deliver(row.id) == "failed"
    assert "gave up" in WebhookDelivery.objects.get().last_error


def test_private_and_loopback_targets_are_refused_by_default(admin: Staff, receiver: Receiver) -> None:
    webhooks.create_subscription(actor=admin, url=receiver.url, events=["case.created"])
    webhooks.create_subscription(actor=admin, url="http://169.254.169.254/latest/meta-data", events=["case.created"])
    webhooks.create_subscription(actor=admin, url="http://10.0.0.7/", events=["case.created"])
    webhooks.publish("case.created", {"case_id": 1})
    assert _deliver_pending() == ["failed"] * 3
    assert not receiver.calls
    assert all("non-public" in row.last_error for row in WebhookDelivery.objects.all())


def test_only_admins_configure_webhooks_and_input_is_checked(admin: Staff, agent: Staff) -> None:
    refused = api_for(agent).post("/webhooks", {"url": "https://example.com/h", "events": ["case.created"]})
    assert refused.status_code == 403
    bad = api_for(admin).post("/webhooks", {"url": "ftp://example.com", "events": ["case.exploded"]})
    assert bad.status_code == 422 and set(bad.json()["errors"]) == {"url", "events"}


def test_subscriptions_are_kept_briefly_and_a_switched_off_one_is_not_sent(
    admin: Staff, receiver: Receiver, django_assert_num_queries: Any
) -> None:
    subscription, _ = webhooks.create_subscription(
        actor=admin, url=receiver.url, events=["interaction.created"], allow_private=True
    )
    webhooks.publish("interaction.created", {"interaction_id": 1})  # reads the subscriptions and keeps them
    with django_assert_num_queries(0):
        assert (
            webhooks.publish("case.created", {"case_id": 1}) == []
        )  # nobody subscribes: nothing read, nothing written
    # Another worker switched it off; this one still has it kept, so the event is logged ...
    type(subscription).objects.filter(id=subscription.id).update(active=False)
    [delivery_id] = webhooks.publish("interaction.created", {"interaction_id": 2})
    # ... but never sent.
    assert webhooks.deliver(delivery_id) == "failed" and len(receiver.calls) == 0
    assert "switched off" in WebhookDelivery.objects.get(id=delivery_id).last_error
