"""Two agents claiming one case at the same moment: exactly one owns it."""

from __future__ import annotations

from functools import partial

import pytest
from django.db import connection  # noqa: F401  (read by the skipif condition)

from rapport.cases.models import Case
from rapport.cases.services import CaseInput, open_case
from rapport.customers.services import CustomerInput, create_customer
from rapport.people.models import Role
from tests.conftest import api_for, make_staff
from tests.customers.test_races import at_once

pytestmark = [
    pytest.mark.django_db(transaction=True),
    pytest.mark.skipif("connection.vendor != 'postgresql'", reason="needs a server database for real concurrency"),
]


def test_two_agents_claim_the_same_case() -> None:
    customer = create_customer(actor=None, data=CustomerInput(name="Jane"))
    case = open_case(actor=None, data=CaseInput(customer_id=customer.id, type="question", subject="Hi"))
    apis = [api_for(make_staff(name, Role.AGENT)) for name in ("ann", "ben", "cat")]
    claims = [partial(api.post, f"/cases/{case.reference}/claim") for api in apis]
    results = at_once(claims)
    assert sorted(r.status_code for r in results) == [200, 409, 409]
    winner = next(r.json()["owner"] for r in results if r.status_code == 200)
    owner = Case.objects.get(id=case.id).owner
    assert owner is not None and owner.username == winner
