"""Two people doing the same thing at the same moment, on real concurrent connections."""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from typing import Any

import pytest
from django.db import connection

from rapport.customers.models import ContactPoint, Customer
from rapport.people.models import Role
from tests.conftest import api_for, make_staff

pytestmark = [
    pytest.mark.django_db(transaction=True),
    pytest.mark.skipif("connection.vendor != 'postgresql'", reason="needs a server database for real concurrency"),
]


def at_once(calls: Sequence[Callable[[], Any]]) -> list[Any]:
    """Run the calls on separate threads (separate connections), released together."""
    barrier = threading.Barrier(len(calls))
    results: list[Any] = [None] * len(calls)

    def run(i: int) -> None:
        barrier.wait()
        try:
            results[i] = calls[i]()
        finally:
            connection.close()

    threads = [threading.Thread(target=run, args=(i,)) for i in range(len(calls))]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=30)
    return results


def test_same_email_created_twice_at_once_gives_one_customer() -> None:
    a, b = api_for(make_staff("ann", Role.AGENT)), api_for(make_staff("ben", Role.AGENT))
    body = {"name": "Jane", "emails": ["jane@example.com"]}
    results = at_once([lambda: a.post("/customers", body), lambda: b.post("/customers", body)])
    assert sorted(r.status_code for r in results) == [201, 409]
    assert Customer.objects.count() == 1
    assert ContactPoint.objects.count() == 1


def test_idempotent_repeat_in_flight_creates_once() -> None:
    api = api_for(make_staff("ann", Role.AGENT))
    headers = {"Idempotency-Key": "k-1"}
    body = {"name": "Jane", "emails": ["jane@example.com"]}
    results = at_once([lambda: api.post("/customers", body, headers) for _ in range(4)])
    codes = [r.status_code for r in results]
    assert codes.count(201) >= 1
    assert set(codes) <= {201, 409}
    assert Customer.objects.count() == 1
    ids = {r.json()["id"] for r in results if r.status_code == 201}
    assert len(ids) == 1


def test_two_merges_of_the_same_duplicate_at_once() -> None:
    lead = api_for(make_staff("lee", Role.LEAD))
    a = lead.post("/customers", {"name": "A", "emails": ["a@example.com"]}).json()
    b = lead.post("/customers", {"name": "B", "emails": ["b@example.com"]}).json()
    c = lead.post("/customers", {"name": "C", "emails": ["c@example.com"]}).json()
    results = at_once(
        [
            lambda: lead.post(f"/customers/{a['id']}/merge", {"duplicate_id": c["id"]}),
            lambda: lead.post(f"/customers/{b['id']}/merge", {"duplicate_id": c["id"]}),
        ]
    )
    assert sorted(r.status_code for r in results) == [200, 409]
    winner = next(r.json()["id"] for r in results if r.status_code == 200)
    assert Customer.objects.get(id=c["id"]).merged_into_id == winner
    assert ContactPoint.objects.filter(value="c@example.com").get().customer_id == winner
