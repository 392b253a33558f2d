"""The same email delivered three times at once, on real concurrent connections: one case;
two workers draining one backlog at once: each message taken once."""

from __future__ import annotations

import pytest
from django.db import connection  # noqa: F401 - read by the skipif condition

from rapport.cases.models import Case
from rapport.channels import inbound, services
from rapport.channels.models import InboundMessage, OutboundMessage
from rapport.customers.models import Customer
from rapport.people.models import Role
from tests.channels.conftest import email, post_email
from tests.conftest import make_staff
from tests.customers.test_races import at_once

pytestmark = [
    pytest.mark.django_db(transaction=True),
    pytest.mark.skipif("connection.vendor != 'postgresql'", reason="needs a server database for real concurrency"),
]


def test_same_message_three_times_at_once_gives_one_case() -> None:
    _, token = services.create_channel(
        actor=make_staff("root", Role.ADMIN), kind="email", name="Care", address="care@example.com"
    )
    raw = email().as_bytes()
    results = at_once([lambda: post_email(token, raw) for _ in range(3)])
    assert [r.status_code for r in results] == [202, 202, 202]
    bodies = [r.json() for r in results]
    assert sum(not b["duplicate"] for b in bodies) == 1 and len({b["id"] for b in bodies}) == 1
    inbound.drain()
    assert Case.objects.count() == 1 and InboundMessage.objects.count() == 1 and Customer.objects.count() == 1
    assert OutboundMessage.objects.count() == 1


def test_two_new_messages_from_one_new_sender_at_once_give_one_customer() -> None:
    _, token = services.create_channel(
        actor=make_staff("root", Role.ADMIN), kind="email", name="Care", address="care@example.com"
    )
    first, second = email(subject="One").as_bytes(), email(subject="Two").as_bytes()
    results = at_once([lambda: post_email(token, first), lambda: post_email(token, second)])
    assert {r.json()["status"] for r in results} == {"received"}
    inbound.drain()
    assert set(InboundMessage.objects.values_list("status", flat=True)) == {"processed"}
    assert Customer.objects.count() == 1 and Case.objects.count() == 2


def test_two_workers_draining_at_once_take_each_message_once() -> None:
    _, token = services.create_channel(
        actor=make_staff("root", Role.ADMIN), kind="email", name="Care", address="care@example.com"
    )
    for i in range(12):
        post_email(token, email(sender=f"Customer {i % 3} <c{i % 3}@example.org>", subject=f"Message {i}"))
    taken = at_once([lambda: inbound.drain(batch_size=4), lambda: inbound.drain(batch_size=4)])
    assert sum(taken) == 12
    assert set(InboundMessage.objects.values_list("status", flat=True)) == {"processed"}
    assert Case.objects.count() == 12 and Customer.objects.count() == 3
