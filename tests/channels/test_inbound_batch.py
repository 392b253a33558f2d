"""The worker opens a batch's new cases together (cases.open_cases): the same rows as one by one,
a fallback to one by one when the batch fails, and queries that do not grow per message."""

from __future__ import annotations

import re
from datetime import datetime
from email.message import EmailMessage
from typing import Any

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from rapport.cases import services as cases
from rapport.cases.models import Case, CaseEvent, SlaClock
from rapport.channels import inbound, webhooks
from rapport.channels.models import Channel, InboundMessage, OutboundMessage, WebhookDelivery
from rapport.core.models import AuditEntry
from rapport.customers.models import Interaction
from rapport.customers.services import CustomerInput, create_customer
from rapport.people.models import Staff
from rapport.people.services import create_team
from tests.channels.conftest import email, post_email

pytestmark = pytest.mark.django_db

Chan = tuple[Channel, str]
REF = re.compile(r"C-\d{6}")
PROMISE = re.compile(r"We will answer by [^.]*\.")  # minutes apart between the two runs


def _messages(domain: str, quoted: str) -> list[EmailMessage]:
    """New senders of one domain: plain, bulk, a failed SPF verdict, a stranger quoting someone
    else's case, and one sender over the new-case limit within the batch."""
    msgs = [
        email(sender=f"Ann Lee <ann@{domain}>", subject="Parcel late", body="Where is it?\n"),
        email(sender=f"News <news@{domain}>", subject="Our news", Precedence="bulk"),
        email(sender=f"Sam <sam@{domain}>", subject="Refund", Authentication_Results="mx; spf=fail; dkim=pass"),
        email(sender=f"Eve <eve@{domain}>", subject=f"[{quoted}] about that"),
    ]
    msgs += [email(sender=f"Flood <flood@{domain}>", subject=f"Again {i}") for i in range(12)]
    return msgs


def _normal(value: Any, domain: str, message_ids: dict[str, str]) -> Any:
    if isinstance(value, str):
        for mid, name in message_ids.items():
            value = value.replace(mid, name)
        return PROMISE.sub("<promise>", REF.sub("<ref>", value.replace(domain, "<domain>")))
    if isinstance(value, dict):
        return {k: _normal(v, domain, message_ids) for k, v in value.items()}
    if isinstance(value, list):
        return [_normal(v, domain, message_ids) for v in value]
    return value


def _stored(domain: str) -> list[dict[str, Any]]:
    """What the worker stored for each message of the domain, without ids, times and the domain."""
    rows = list(InboundMessage.objects.filter(sender__endswith=domain).order_by("subject"))
    message_ids = {r.message_id: f"<message {i}>" for i, r in enumerate(rows)}
    out = []
    for row in rows:
        case = Case.objects.filter(id=row.case_id or 0).select_related("team").first()
        item: dict[str, Any] = {"row": [row.status, row.error, row.subject, row.sender, row.new_text]}
        if case is not None:
            opening = Interaction.objects.filter(source_type="case", source_id=case.id).get()
            item["case"] = [case.type, case.subject, case.description, case.channel, case.priority, case.status]
            item["team"] = case.team.name if case.team else None
            item["terms"] = case.sla_terms
            item["linked"] = row.interaction_id == opening.id
            item["timeline"] = [opening.summary, opening.body, opening.channel, opening.direction]
            item["clocks"] = sorted(
                (c.kind, c.target_minutes, _minutes(c.due_at, case.opened_at), _minutes(c.at_risk_at, case.opened_at))
                for c in SlaClock.objects.filter(case=case)
            )
            item["history"] = sorted(
                [e.kind, repr({k: v for k, v in e.data.items() if k != "inbound_id"})]
                for e in CaseEvent.objects.filter(case=case)
            )
            audit = AuditEntry.objects.get(subject_type="case", subject_id=case.id)
            item["audit"] = [audit.action, audit.changes]
            item["acks"] = [
                [o.kind, o.automatic, o.to, o.subject, o.body, o.in_reply_to, o.references, o.channel_id]
                for o in OutboundMessage.objects.filter(case=case)
            ]
        else:
            item["timeline"] = list(
                Interaction.objects.filter(source_type="inbound_email", source_id=row.id).values_list(
                    "summary", "channel", "direction"
                )
            )
        out.append(_normal(item, domain, message_ids))
    return out


def _minutes(later: datetime | None, earlier: datetime) -> int | None:
    return round((later - earlier).total_seconds() / 60) if later else None


def _drain(channel: Chan, domain: str, quoted: str) -> None:
    for msg in _messages(domain, quoted):
        assert post_email(channel[1], msg).status_code == 202
    assert inbound.drain() == 16


def test_a_batch_opens_its_cases_together_and_stores_what_one_by_one_stores(
    channel: Chan, policy: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    channel[0].default_team = create_team(actor=None, name="Support")
    channel[0].save()
    someone = create_customer(actor=None, data=CustomerInput(name="Someone", emails=["someone@example.com"]))
    quoted = cases.open_case(actor=None, data=cases.CaseInput(someone.id, "question", "Theirs")).reference
    calls: list[int] = []
    real = cases.open_cases_with_clocks

    def counted(**kwargs: Any) -> list[tuple[Case, list[SlaClock]]]:
        calls.append(len(kwargs["inputs"]))
        return real(**kwargs)

    monkeypatch.setattr(cases, "open_cases_with_clocks", counted)
    _drain(channel, "together.example", quoted)
    assert calls == [14]  # ann, news, sam, eve and ten of flood's twelve

    def broken(**kwargs: Any) -> list[tuple[Case, list[SlaClock]]]:
        if len(kwargs["inputs"]) > 1:  # the batch fails; a case opened alone is a batch of one
            raise RuntimeError("the batch insert failed")
        return real(**kwargs)

    monkeypatch.setattr(cases, "open_cases_with_clocks", broken)  # every message then opens its case alone
    _drain(channel, "alone.example", quoted)
    together, alone = _stored("together.example"), _stored("alone.example")
    assert together == alone
    # The comparison compares something:
    by_subject = {item["row"][2]: item for item in together}
    ann = by_subject["Parcel late"]
    assert ann["acks"] and ann["linked"] and ann["team"] == "Support" and len(ann["clocks"]) == 2
    assert not by_subject["Our news"]["acks"]  # bulk mail: a case, no automatic answer
    assert any(kind == "sender_verdict" for kind, _ in by_subject["Refund"]["history"])
    assert any(kind == "flagged" for kind, _ in by_subject["[<ref>] about that"]["history"])
    flood = [item for item in together if item["row"][3] == "flood@<domain>"]
    assert sum(1 for item in flood if "case" in item) == 10 and sum(1 for item in flood if item.get("acks")) == 3
    assert sum(1 for item in flood if item["row"][0] == "ignored") == 2


def test_the_worker_s_queries_do_not_grow_with_new_cases_beyond_a_few_per_message(channel: Chan, policy: None) -> None:
    def queries(n: int, domain: str) -> int:
        for i in range(n):
            post_email(channel[1], email(sender=f"s{i}@{domain}", subject=f"Help {i}"))
        with CaptureQueriesContext(connection) as captured:
            assert inbound.drain() == n
        return len(captured.captured_queries)

    small, large = queries(5, "small.example"), queries(45, "large.example")
    assert Case.objects.count() == 50
    # Left per message: its savepoint (two statements) and its acknowledgement's row.
    assert (large - small) / 40 <= 4


@pytest.mark.django_db(transaction=True)  # real commits: the events run after the batch's commit
def test_webhook_subscriptions_are_read_once_per_batch(channel: Chan, admin: Staff) -> None:
    webhooks.create_subscription(
        actor=admin, url="http://127.0.0.1:9/", events=["case.created", "interaction.created"], allow_private=True
    )
    for i in range(5):
        post_email(channel[1], email(sender=f"w{i}@example.org", subject=f"Hook {i}"))
    with CaptureQueriesContext(connection) as captured:
        assert inbound.process_pending() == 5
    reads = [q for q in captured.captured_queries if 'FROM "channels_webhooksubscription"' in q["sql"]]
    assert len(reads) == 1
    assert WebhookDelivery.objects.filter(event="case.created").count() == 5
    assert WebhookDelivery.objects.filter(event="interaction.created").count() == 5
