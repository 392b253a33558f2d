"""Opening a case through the API: the answer is built from what was written (no second read),
so it must equal what a later GET says, and the whole open is one transaction, escalation
jobs included."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from dj_queue.models import Job
from django.db import connection
from django.test.utils import CaptureQueriesContext

from rapport.cases import queries, services, sla
from rapport.cases.api import CaseOut, case_json, case_out
from rapport.cases.models import Case, PriorityRule, SlaClock, SlaPolicy
from rapport.cases.services import CaseInput
from rapport.customers.models import Customer
from rapport.people.models import Staff
from tests.conftest import ApiClient, make_staff

pytestmark = pytest.mark.django_db

BODY = {"type": "complaint", "subject": "Parcel arrived broken", "channel": "phone"}


def test_the_created_answer_equals_what_get_returns(
    agent_api: ApiClient, customer: Customer, complaint_policy: SlaPolicy
) -> None:
    created = agent_api.post("/cases", {**BODY, "customer": customer.id, "owner": "alice"})
    assert created.status_code == 201, created.content
    again = agent_api.get(f"/cases/{created.json()['reference']}")
    assert created.json() == again.json()
    assert [c["kind"] for c in created.json()["sla"]] == ["first_response", "resolution"]


def test_case_json_is_what_case_out_validated_as_case_out_gives(
    agent: Staff, admin: Staff, customer: Customer, complaint_policy: SlaPolicy
) -> None:
    """The answers are serialised from case_out's dict without validating it into CaseOut:
    the two must not drift apart (every field, clocks, totals in two currencies, watchers)."""
    data = CaseInput(customer_id=customer.id, type="complaint", subject="S", owner="alice")
    case = services.open_case(actor=agent, data=data)
    case = services.hand_off(actor=agent, case_id=case.id, to_user="ada", reason="Needs an admin")
    services.request_compensation(actor=admin, case_id=case.id, kind="refund", amount="12.5", currency="GBP")
    services.request_compensation(actor=admin, case_id=case.id, kind="voucher", amount="500", currency="JPY")
    case = queries.get_case(case.reference)
    totals = queries.compensation_totals([case.id])[case.id]
    expected = CaseOut.model_validate(case_out(case, totals)).model_dump(mode="json")
    assert json.loads(case_json(case, totals)) == expected
    assert expected["watchers"] == ["alice"] and len(expected["compensation_total"]) == 2 and expected["sla"]


def test_a_migrated_case_given_in_another_zone_answers_in_utc_like_get(
    lead_api: ApiClient, customer: Customer, complaint_policy: SlaPolicy
) -> None:
    opened = (datetime.now(UTC) - timedelta(days=3)).replace(microsecond=0)
    given = opened.astimezone(ZoneInfo("Europe/Paris")).isoformat()
    created = lead_api.post("/cases", {**BODY, "customer": customer.id, "opened_at": given})
    assert created.status_code == 201, created.content
    body = created.json()
    assert body == lead_api.get(f"/cases/{body['reference']}").json()
    assert datetime.fromisoformat(body["opened_at"]) == opened


@pytest.mark.django_db(transaction=True)  # real commits, to see where they fall
def test_opening_writes_clocks_and_their_sweeps_in_one_transaction(
    agent_api: ApiClient, customer: Customer, complaint_policy: SlaPolicy
) -> None:
    with CaptureQueriesContext(connection) as captured:
        created = agent_api.post("/cases", {**BODY, "customer": customer.id})
    assert created.status_code == 201
    clocks = list(SlaClock.objects.filter(case__subject=BODY["subject"]))
    jobs = {j.scheduled_at for j in Job.objects.filter(task_path="rapport.cases.tasks.sweep_clocks")}
    assert jobs == {sla.sweep_minute(at) for clock in clocks for at in (clock.at_risk_at, clock.due_at) if at}
    sql = [q["sql"] for q in captured.captured_queries]
    commits = [i for i, s in enumerate(sql) if s == "COMMIT"]
    job_inserts = [i for i, s in enumerate(sql) if s.startswith('INSERT INTO "dj_queue_jobs"')]
    if connection.vendor == "postgresql":  # SQLite's BEGIN/COMMIT are not captured
        assert len(commits) == 1 and job_inserts and max(job_inserts) < commits[0]


def test_tags_are_read_only_when_a_priority_rule_asks_about_them(
    agent_api: ApiClient, customer: Customer, complaint_policy: SlaPolicy
) -> None:
    def tag_reads() -> int:
        with CaptureQueriesContext(connection) as captured:
            assert agent_api.post("/cases", {**BODY, "customer": customer.id}).status_code == 201
        return sum('"customers_customer_tags"' in q["sql"] for q in captured.captured_queries)

    assert tag_reads() == 0
    PriorityRule.objects.create(position=1, conditions={"customer_tag": "vip"}, priority="urgent")
    assert tag_reads() == 1
    assert Case.objects.order_by("-id").first().priority == "urgent"  # type: ignore[union-attr]


def test_opening_a_case_stays_within_its_query_budget(
    agent_api: ApiClient, agent: Staff, customer: Customer, complaint_policy: SlaPolicy
) -> None:
    agent_api.post("/cases", {**BODY, "customer": customer.id})  # first request: token's last-used stamp
    with CaptureQueriesContext(connection) as captured:
        assert agent_api.post("/cases", {**BODY, "customer": customer.id}).status_code == 201
    # token, customer, rules, policy+calendar, case, clocks, jobs (2 + savepoint), history,
    # timeline (4 with its savepoint), audit, webhook subscriptions and the case for them.
    assert len(captured.captured_queries) <= 22, [q["sql"][:80] for q in captured.captured_queries]


def test_a_listed_case_equals_its_own_answer_and_the_list_reads_do_not_grow(
    agent: Staff, admin: Staff, agent_api: ApiClient, customer: Customer, complaint_policy: SlaPolicy
) -> None:
    """The list reads clocks and watchers in two plain statements, not the one-case path."""
    make_staff("zoe", "agent")
    handed = services.open_case(
        actor=agent, data=CaseInput(customer_id=customer.id, type="complaint", subject="A", owner="zoe")
    )
    services.hand_off(actor=admin, case_id=handed.id, to_user="alice", reason="Alice knows the courier")
    services.hand_off(actor=admin, case_id=handed.id, to_user="ada", reason="Needs an admin")
    services.request_compensation(actor=admin, case_id=handed.id, kind="refund", amount="12.5", currency="GBP")
    plain = services.open_case(actor=agent, data=CaseInput(customer_id=customer.id, type="question", subject="B"))

    def listed(limit: int) -> tuple[list[dict[str, object]], int]:
        with CaptureQueriesContext(connection) as statements:
            answer = agent_api.get(f"/cases?limit={limit}")
        assert answer.status_code == 200, answer.content
        return answer.json()["items"], len(statements)

    listed(1)  # the token's first use of the minute is touched; the later ones are reads only
    items, statements = listed(10)
    assert [i["reference"] for i in items] == [plain.reference, handed.reference]
    for item in items:
        assert item == agent_api.get(f"/cases/{item['reference']}").json()
    assert items[1]["watchers"] == ["alice", "zoe"] and items[1]["compensation_total"] and items[1]["sla"]
    for n in range(3):
        services.open_case(actor=agent, data=CaseInput(customer_id=customer.id, type="question", subject=f"C{n}"))
    assert listed(10)[1] == statements
