"""The queue page's lean path: rows from tuples with clock states worked out without models,
row markup written in Python (so escaping is tested here), and form fields rendered once per
set of choices."""

from __future__ import annotations

import time
from datetime import datetime, timedelta

import pytest
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from rapport.cases import queries, services
from rapport.cases.models import Case, SlaClock, SlaPolicy
from rapport.cases.services import CaseInput
from rapport.customers.models import Customer
from rapport.people.models import Role, Staff, Team
from tests.conftest import make_staff

pytestmark = pytest.mark.django_db


def signed_in(staff: Staff) -> Client:
    client = Client()
    client.force_login(staff)
    return client


def open_case(
    actor: Staff, customer: Customer, subject: str = "Parcel arrived broken", owner: str | None = None
) -> Case:
    return services.open_case(
        actor=actor, data=CaseInput(customer_id=customer.id, type="complaint", subject=subject, owner=owner)
    )


def test_clock_state_from_plain_values_matches_the_model(
    agent: Staff, customer: Customer, complaint_policy: SlaPolicy
) -> None:
    case = open_case(agent, customer, owner="alice")
    template = SlaClock.objects.filter(case=case).first()
    assert template is not None
    now = timezone.now()
    hour = timedelta(hours=1)
    shapes: list[dict[str, datetime | None]] = [
        {"due_at": now + hour, "at_risk_at": now + hour / 2},  # running
        {"due_at": now + hour, "at_risk_at": now - hour},  # at risk
        {"due_at": now - hour, "at_risk_at": now - 2 * hour},  # breached, still running
        {"due_at": None, "at_risk_at": None, "paused_at": now - hour},  # paused
        {"due_at": now + hour, "stopped_at": now - hour},  # met
        {"due_at": now - 2 * hour, "stopped_at": now - hour, "breached_at": now - 2 * hour},  # stopped late
    ]
    ids = []
    for shape in shapes:
        clock = SlaClock.objects.get(pk=template.pk)
        clock.pk = None
        for field in ("paused_at", "stopped_at", "breached_at"):
            setattr(clock, field, None)
        for field, value in shape.items():
            setattr(clock, field, value)
        clock.save()
        ids.append(clock.pk)
    clocks = list(SlaClock.objects.filter(pk__in=ids))
    moments = ("stopped_at", "breached_at", "paused_at", "due_at", "at_risk_at")
    plain = {c.pk: queries.clock_state(now, **{m: getattr(c, m) for m in moments}) for c in clocks}
    assert plain == {c.pk: c.state(now) for c in clocks}
    assert sorted(plain.values()) == sorted(["running", "at_risk", "breached", "paused", "met", "breached"])


def test_queue_rows_escape_what_people_typed(agent: Staff, complaint_policy: SlaPolicy) -> None:
    from rapport.customers.services import CustomerInput, create_customer

    shady = create_customer(actor=None, data=CustomerInput(name='<img src=x onerror="alert(1)">'))
    open_case(agent, shady, subject="<script>alert('x')</script> & more", owner="alice")
    open_case(agent, shady, subject="Nobody has it")
    client = signed_in(agent)
    body = client.get("/cases/?tab=all").content.decode()
    assert "<script>alert" not in body and "<img src=x" not in body
    assert "&lt;script&gt;alert(&#x27;x&#x27;)&lt;/script&gt; &amp; more" in body
    assert "&lt;img src=x onerror=&quot;alert(1)&quot;&gt;" in body
    # the unowned case gets a claim form that posts with the CSRF token
    assert 'aria-label="Claim C-' in body and 'name="csrfmiddlewaretoken" value="' in body
    assert 'clock-badge clock-badge--running">running</span> <span class="muted">First response</span>' in body


def test_queue_row_shows_the_nearest_running_deadline(
    agent: Staff, customer: Customer, complaint_policy: SlaPolicy
) -> None:
    case = open_case(agent, customer, owner="alice")
    soon = timezone.now() + timedelta(minutes=30)
    SlaClock.objects.filter(case=case, kind="resolution").update(due_at=soon)
    (row,) = queries.queue_rows([case.id])
    nearest = row.nearest_clock()
    assert nearest is not None and nearest.kind == "resolution" and nearest.due_at == soon
    assert row.owner_name == agent.display_name and row.customer_name == customer.name
    body = signed_in(agent).get("/cases/").content.decode()
    assert f'<time datetime="{timezone.localtime(soon).isoformat()}">' in body


def test_cached_fields_follow_new_staff_and_renamed_teams(
    agent: Staff, customer: Customer, complaint_policy: SlaPolicy
) -> None:
    case = open_case(agent, customer, owner="alice")
    client = signed_in(agent)
    assert "Zoe Newcomer" not in client.get("/cases/").content.decode()  # warms the field cache
    zoe = make_staff("zoe", Role.AGENT, team="Front line")
    zoe.first_name, zoe.last_name = "Zoe", "Newcomer"
    zoe.save()  # a save in this worker forgets the remembered lists at once
    team = Team.objects.get(name="Front line")
    team.name = "Front desk"
    team.save()
    queue = client.get("/cases/").content.decode()
    page = client.get(f"/cases/{case.reference}/").content.decode()
    for body in (queue, page):
        assert '<option value="zoe">Zoe Newcomer</option>' in body
        assert '<option value="Front desk">Front desk</option>' in body and ">Front line</option>" not in body
    # a bound filter keeps its selection and errors are shown beside the field, never cached
    filtered = client.get("/cases/", {"tab": "all", "owner": "zoe"}).content.decode()
    assert '<option value="zoe" selected>Zoe Newcomer</option>' in filtered
    bad = client.get("/cases/", {"tab": "all", "customer": "-3"})
    assert bad.status_code == 400 and "field--error" in bad.content.decode()
    assert "field--error" not in client.get("/cases/", {"tab": "all"}).content.decode()


def test_a_change_saved_elsewhere_shows_once_the_lists_expire(
    agent: Staff, customer: Customer, monkeypatch: pytest.MonkeyPatch
) -> None:
    client = signed_in(agent)
    client.get("/cases/")
    Staff.objects.filter(pk=agent.pk).update(first_name="Alicia")  # no signal: as if another worker did it
    assert '<option value="alice">Alicia' not in client.get("/cases/").content.decode()
    monkeypatch.setattr(queries, "REMEMBER_SECONDS", 0.0)
    assert '<option value="alice">Alicia' in client.get("/cases/").content.decode()
    # filtering by someone the remembered list does not know yet reads the list again
    monkeypatch.setattr(queries, "REMEMBER_SECONDS", 3600.0)
    make_staff("yann", Role.AGENT, team="Front line")
    Staff.objects.filter(username="yann").update(first_name="Yann")
    queries._remembered["staff_choices"] = (time.monotonic(), [("alice", "Alicia")])
    assert client.get("/cases/", {"tab": "all", "owner": "yann"}).status_code == 200


@pytest.mark.parametrize("few", [500, 1])  # 1: the path for common words (a condition on rows)
def test_keyword_search_from_the_queue_filter(
    agent: Staff, customer: Customer, monkeypatch: pytest.MonkeyPatch, few: int
) -> None:
    monkeypatch.setattr(queries, "FEW_MATCHES", few)
    services.open_case(
        actor=agent,
        data=CaseInput(
            customer_id=customer.id,
            type="complaint",
            subject="Courier left the parcel outside",
            description="Soaked by the rain; the customer wants a refund",
        ),
    )
    open_case(agent, customer, subject="Courier never came", owner="alice")
    open_case(agent, customer, subject="Invoice shows the wrong address")
    client = signed_in(agent)

    def subjects(**params: str) -> list[str]:
        body = client.get("/cases/", {"tab": "all", **params}).content.decode()
        return [s for s in ("parcel outside", "never came", "wrong address") if s in body]

    assert subjects(words="courier") == ["parcel outside", "never came"]
    assert subjects(words="Courier refu") == ["parcel outside"]  # description; the last word a prefix
    assert subjects(words="invoice") == ["wrong address"]
    assert subjects(words="nothing like this") == []
    assert subjects(words="courier", owner="alice") == ["never came"]  # with the other filters
    mine = client.get("/cases/", {"tab": "mine", "words": "courier"}).content.decode()
    assert "never came" in mine and "parcel outside" not in mine
    assert 'name="words" value="courier"' in mine


def test_home_shows_my_open_cases_their_clocks_and_approvals_waiting(
    agent: Staff, lead: Staff, customer: Customer, complaint_policy: SlaPolicy
) -> None:
    """The home page's cases panel: counts as the queue's filters count, the soonest deadlines
    first, what waits for the member's decision; its statements do not grow with the cases."""
    now = timezone.now()
    hour = timedelta(hours=1)
    fine, risky, late = (open_case(agent, customer, subject=s, owner="alice") for s in ("Fine", "Risky", "Late"))
    open_case(agent, customer, subject="Someone else's")  # not alice's: not counted
    SlaClock.objects.filter(case=fine).update(at_risk_at=now + 8 * hour, due_at=now + 10 * hour)
    SlaClock.objects.filter(case=risky).update(at_risk_at=now - hour, due_at=now + hour)
    SlaClock.objects.filter(case=late).update(at_risk_at=now - 2 * hour, due_at=now - hour)
    services.request_compensation(actor=agent, case_id=late.id, kind="refund", amount="120", currency="GBP")

    counts = queries.my_case_counts(agent.id)
    assert (counts.open, counts.at_risk, counts.breached) == (3, 1, 1)
    at_risk = queries.CaseFilters(owner="alice", open_only=True, at_risk=True)
    breached = queries.CaseFilters(owner="alice", open_only=True, breached=True)
    for filters, expected in ((at_risk, risky), (breached, late)):  # the links' queues show the same cases
        assert list(queries.filtered(filters).values_list("id", flat=True)) == [expected.id]

    body = signed_in(agent).get("/").content.decode()
    assert "My cases" in body and ">3</strong> open" in body and "1 at risk" in body and "1 breached" in body
    assert body.index(late.reference) < body.index(risky.reference) < body.index(fine.reference)
    assert "for you to decide" not in body  # her own request, above her limit
    lead_page = signed_in(lead).get("/").content.decode()
    assert "<strong>1</strong> compensation request for you to decide" in lead_page
    assert "You have no open cases." in lead_page

    client = signed_in(agent)
    client.get("/")
    for n in range(4):
        open_case(agent, customer, subject=f"More {n}", owner="alice")
    with CaptureQueriesContext(connection) as before:
        client.get("/")
    open_case(agent, customer, subject="One more", owner="alice")
    with CaptureQueriesContext(connection) as after:
        page = client.get("/").content.decode()
    assert len(after) == len(before) and "All my cases, soonest deadline first" in page
