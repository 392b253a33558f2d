"""``rapport demo`` loads cases a care team would recognise, written through the services."""

from __future__ import annotations

from io import StringIO
from typing import Any

from django.core.management import call_command
from django.test import Client
from django.utils import timezone

from rapport.cases.models import Case, CaseEvent, Compensation, RootCause, SlaClock, SlaPolicy, Status
from rapport.customers.models import Interaction
from rapport.people.models import Staff

STRONG = "tangerine-orbit-harbour-42"


def test_the_demo_has_cases_in_every_state_with_their_clocks_and_history(db: Any) -> None:
    out = StringIO()
    call_command("demo", customers=60, password=STRONG, stdout=out)
    cases = Case.objects.all()
    assert f"{cases.count()} cases" in out.getvalue() and cases.count() >= 40
    assert {Status.NEW, Status.OPEN, Status.WAITING_CUSTOMER, Status.RESOLVED} <= set(
        cases.values_list("status", flat=True)
    )
    assert cases.filter(owner__isnull=True).exists() and cases.filter(owner__isnull=False).exists()
    # Resolved complaints carry their root cause; every case has its clocks, history and timeline entry.
    assert not cases.filter(status=Status.RESOLVED, type="complaint", root_cause__isnull=True).exists()
    assert SlaClock.objects.values("case").distinct().count() == cases.count()
    assert CaseEvent.objects.filter(kind="opened").count() == cases.count()
    assert Interaction.objects.filter(source_type="case", summary__startswith="Opened C-").count() == cases.count()
    now = timezone.now()
    assert {"running", "breached", "paused", "met"} <= {clock.state(now) for clock in SlaClock.objects.all()}
    assert SlaPolicy.objects.count() >= 2 and RootCause.objects.filter(parent__isnull=False).count() >= 5
    handed_off = CaseEvent.objects.filter(kind="handed_off").values_list("case", flat=True)
    assert handed_off.count() == 1
    assert set(Compensation.objects.values_list("status", flat=True)) == {"granted", "pending_approval"}

    # A lead sees the request waiting for them; the queues and the case page show the cases.
    client = Client()
    client.force_login(Staff.objects.get(username="priya"))
    assert b"180.00" in client.get("/cases/approvals/").content
    case = Case.objects.get(id=handed_off[0])
    # Amara has it now; its owner before her keeps watching.
    assert case.owner is not None and case.owner.username == "amara" and case.watchers.exists()
    assert case.reference.encode() in client.get("/cases/?tab=all").content
    assert b"Amara knows this customer." in client.get(f"/cases/{case.reference}/").content
