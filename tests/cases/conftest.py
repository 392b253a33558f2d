from __future__ import annotations

from typing import Any

import pytest

from rapport.cases import services
from rapport.cases.models import SlaPolicy
from rapport.core.models import Calendar
from rapport.customers.models import Customer
from rapport.customers.services import CustomerInput, create_customer
from rapport.people.models import Staff

ALWAYS_OPEN = {d: [["00:00", "24:00"]] for d in ("mon", "tue", "wed", "thu", "fri", "sat", "sun")}


@pytest.fixture
def customer(db: Any) -> Customer:
    return create_customer(actor=None, data=CustomerInput(name="Jane Smith", emails=["jane@example.com"], tags=["vip"]))


@pytest.fixture
def always_open(manager: Staff) -> Calendar:
    return services.create_calendar(actor=manager, name="24/7", timezone_name="UTC", weekly_hours=ALWAYS_OPEN)


@pytest.fixture
def complaint_policy(manager: Staff, always_open: Calendar) -> SlaPolicy:
    return services.create_sla_policy(
        actor=manager,
        name="Complaints",
        calendar_id=always_open.id,
        case_type="complaint",
        first_response_minutes=60,
        next_response_minutes=120,
        resolution_minutes=600,
        at_risk_ratio="0.5",
    )
