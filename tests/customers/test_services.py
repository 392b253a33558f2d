"""Service-level behaviour that the API does not show: events, merge steps, system actor."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from django.db import transaction

from rapport.core import events
from rapport.core.errors import InvalidInput
from rapport.customers import services
from rapport.customers.events import CustomerCreated, CustomersMerged, InteractionLogged
from rapport.customers.models import Customer, NameKey

pytestmark = pytest.mark.django_db


@pytest.fixture
def seen() -> Iterator[list[object]]:
    """Events received during the test; handlers are removed afterwards."""
    received: list[object] = []
    types = (CustomerCreated, InteractionLogged, CustomersMerged)
    for event_type in types:
        events.subscribe(event_type, received.append)
    yield received
    for event_type in types:
        events.unsubscribe(event_type, received.append)


def test_events_are_delivered_only_after_commit(django_capture_on_commit_callbacks, seen: list[object]) -> None:  # type: ignore[no-untyped-def]
    with django_capture_on_commit_callbacks(execute=True):
        customer = services.create_customer(actor=None, data=services.CustomerInput(name="Zoë Ng"))
        services.log_interaction(actor=None, customer_id=customer.id, channel="web", direction="in", summary="Form")
        assert seen == []
    assert [type(e) for e in seen] == [CustomerCreated, InteractionLogged]


def test_rolled_back_work_publishes_nothing(django_capture_on_commit_callbacks, seen: list[object]) -> None:  # type: ignore[no-untyped-def]
    with django_capture_on_commit_callbacks(execute=True):
        try:
            with transaction.atomic():
                services.create_customer(actor=None, data=services.CustomerInput(name="Temp"))
                raise RuntimeError("boom")
        except RuntimeError:
            pass
    assert seen == []
    assert Customer.objects.count() == 0


def test_a_failing_merge_step_undoes_the_whole_merge() -> None:
    a = services.create_customer(actor=None, data=services.CustomerInput(name="A", emails=["a@example.com"]))
    b = services.create_customer(actor=None, data=services.CustomerInput(name="B", emails=["b@example.com"]))
    services.log_interaction(actor=None, customer_id=b.id, channel="phone", direction="in", summary="Hello")

    def refuse(survivor_id: int, duplicate_id: int) -> None:
        raise InvalidInput("an app above could not move its rows", "duplicate_id")

    services.register_merge_step(refuse)
    try:
        with pytest.raises(InvalidInput):
            services.merge_customers(actor=None, survivor_id=a.id, duplicate_id=b.id)
    finally:
        services._merge_steps.remove(refuse)
    b.refresh_from_db()
    assert b.merged_into_id is None
    assert b.interactions.count() == 1
    assert list(b.contact_points.values_list("value", flat=True)) == ["b@example.com"]


def test_merge_steps_see_both_ids_and_the_event_follows(django_capture_on_commit_callbacks, seen: list[object]) -> None:  # type: ignore[no-untyped-def]
    calls: list[tuple[int, int]] = []
    a = services.create_customer(actor=None, data=services.CustomerInput(name="A"))
    b = services.create_customer(actor=None, data=services.CustomerInput(name="B"))
    step = lambda s, d: calls.append((s, d))  # noqa: E731
    services.register_merge_step(step)
    try:
        with django_capture_on_commit_callbacks(execute=True):
            services.merge_customers(actor=None, survivor_id=a.id, duplicate_id=b.id)
    finally:
        services._merge_steps.remove(step)
    assert calls == [(a.id, b.id)]
    assert [e for e in seen if isinstance(e, CustomersMerged)] == [
        CustomersMerged(survivor_id=a.id, duplicate_id=b.id, at=seen[-1].at)  # type: ignore[attr-defined]
    ]


def test_name_keys_follow_renames() -> None:
    customer = services.create_customer(actor=None, data=services.CustomerInput(name="Anne-Marie O'Neil"))
    keys = set(NameKey.objects.filter(customer=customer).values_list("key", flat=True))
    assert {"anne", "marie", "neil"} <= keys
    services.update_customer(actor=None, customer_id=customer.id, data=services.CustomerInput(name="Anne Quinn"))
    assert set(NameKey.objects.filter(customer=customer).values_list("key", flat=True)) == {"anne", "quinn"}
