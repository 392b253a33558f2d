"""Demo cases for ``rapport demo``: a business calendar and service standards, a root-cause
tree, and cases in every state a care team meets (new in a team's queue, owned,
waiting on the customer, handed off, breached, resolved with their root cause, compensation
granted and waiting for approval), all written through the services so every row a real case
has (clocks, history, timeline, audit, notifications) is there."""

from __future__ import annotations

import random
from datetime import datetime, timedelta

from rapport.cases import services
from rapport.cases.models import Case, CaseType, Status
from rapport.customers.models import Channel, Customer, CustomerStatus
from rapport.people.models import Staff

WEEKDAYS = ("mon", "tue", "wed", "thu", "fri")
AGES_DAYS = ((0, 1.5), (0, 3), (3, 10))  # how long ago each round of CASES was opened
ROOT_CAUSES = {
    "Delivery": ("Late", "Lost by courier", "Damaged in transit"),
    "Product": ("Defect", "Not as described"),
    "Service": ("Attitude", "Promise not kept", "Slow answer"),
    "Billing": ("Wrong charge", "Refund delayed"),
}
# (type, subject, description, priority or None for the rules, channel)
CASES: tuple[tuple[str, str, str, str | None, str], ...] = (
    (
        CaseType.COMPLAINT,
        "Parcel not delivered after two weeks",
        "Tracking has said 'in transit' since the 3rd.",
        "high",
        Channel.EMAIL,
    ),
    (
        CaseType.COMPLAINT,
        "Charged twice for one order",
        "Two identical payments on my card statement.",
        "high",
        Channel.PHONE,
    ),
    (CaseType.COMPLAINT, "Rude answer from the help line", "The person I spoke to hung up on me.", None, Channel.PHONE),
    (
        CaseType.COMPLAINT,
        "Blender stopped working after a week",
        "It smells of burning and will not start.",
        None,
        Channel.EMAIL,
    ),
    (
        CaseType.COMPLAINT,
        "Refund promised but never arrived",
        "I returned the jacket a month ago.",
        "urgent",
        Channel.CHAT,
    ),
    (CaseType.COMPLAINT, "Box arrived crushed", "Two of the six glasses were broken.", None, Channel.WEB),
    (CaseType.REQUEST, "Change the delivery address", "Please send it to my office instead.", None, Channel.EMAIL),
    (CaseType.REQUEST, "Copy of last year's invoices", "Our accountant needs them by Friday.", None, Channel.EMAIL),
    (CaseType.REQUEST, "Cancel my subscription", "Moving abroad next month.", None, Channel.PHONE),
    (CaseType.QUESTION, "Does the kettle fit the EU plug?", "", "low", Channel.CHAT),
    (CaseType.QUESTION, "How long does the warranty run?", "Bought in March.", None, Channel.WEB),
    (CaseType.QUESTION, "Can I pay by bank transfer?", "", "low", Channel.EMAIL),
    (CaseType.INCIDENT, "Website checkout shows an error", "Error 500 after entering the card.", "urgent", Channel.WEB),
    (CaseType.INCIDENT, "App will not log in", "Since this morning's update.", "high", Channel.CHAT),
    (CaseType.COMPLIMENT, "Thank you to Amara", "She sorted out my order in five minutes.", "low", Channel.EMAIL),
)


def load_demo_cases(rng: random.Random, now: datetime) -> str:
    """Load the demo cases; returns what was loaded, in words (empty when the demo staff are missing)."""
    staff = {s.username: s for s in Staff.objects.select_related("team").filter(is_active=True)}
    if not {"sam", "priya", "amara", "lucas"} <= staff.keys():
        return ""
    customers = list(
        Customer.objects.filter(status=CustomerStatus.ACTIVE, merged_into__isnull=True)
        .order_by("id")
        .values_list("id", flat=True)[:400]
    )
    if not customers:
        return ""
    causes = _service_standards_and_causes(staff["sam"])
    cases = _open_cases(rng, now, staff, customers)
    _work_on_cases(staff, cases, causes)
    return f"{len(cases)} cases"


def _service_standards_and_causes(manager: Staff) -> dict[str, int]:
    calendar = services.create_calendar(
        actor=manager,
        name="UK office",
        timezone_name="Europe/London",
        weekly_hours={day: [["09:00", "17:30"]] for day in WEEKDAYS},
        holidays={"country": "GB", "subdivision": "ENG"},
    )
    for case_type, priority, first, resolution in (
        ("", "", 480, 4800),  # everything else: a working day to answer, ten to resolve
        (CaseType.COMPLAINT, "", 240, 2400),
        (CaseType.COMPLAINT, "high", 120, 1440),
        (CaseType.COMPLAINT, "urgent", 60, 960),
        (CaseType.INCIDENT, "urgent", 30, 480),
    ):
        name = " ".join(filter(None, [str(case_type).capitalize(), priority, "cases"])) if case_type else "All cases"
        services.create_sla_policy(
            actor=manager,
            name=name,
            calendar_id=calendar.id,
            case_type=case_type,
            priority=priority,
            first_response_minutes=first,
            next_response_minutes=first * 2,
            resolution_minutes=resolution,
        )
    causes: dict[str, int] = {}
    for parent_name, children in ROOT_CAUSES.items():
        parent = services.create_root_cause(actor=manager, name=parent_name)
        for child in children:
            causes[child] = services.create_root_cause(actor=manager, name=child, parent_id=parent.id).id
    return causes


def _open_cases(rng: random.Random, now: datetime, staff: dict[str, Staff], customers: list[int]) -> list[int]:
    """Each case three times, mostly from the last few days, opened by a lead (only leads may
    date a case in the past)."""
    owners = [None, None, "amara", "lucas", "kofi", "diego", "hana", "fiona", "maya"]
    inputs = []
    for i in range(3):
        for case_type, subject, description, priority, channel in CASES:
            owner = rng.choice(owners)
            inputs.append(
                services.CaseInput(
                    customer_id=rng.choice(customers),
                    type=case_type,
                    subject=subject,
                    description=description,
                    channel=channel,
                    priority=priority,
                    owner=owner if owner in staff else None,
                    team=None if owner else rng.choice(["Front line", "Complaints", "Key accounts"]),
                    status=Status.WAITING_CUSTOMER if owner and rng.random() < 0.15 else None,
                    opened_at=now - timedelta(days=rng.uniform(*AGES_DAYS[i])),
                )
            )
    inputs.sort(key=lambda data: data.opened_at or now)
    return [case.id for case in services.open_cases(actor=staff["priya"], inputs=inputs)]


def _work_on_cases(staff: dict[str, Staff], case_ids: list[int], causes: dict[str, int]) -> None:
    """What the team did with them: replies and resolutions on the older ones, a hand-off,
    compensation granted and compensation waiting for a lead's approval."""
    owners = dict(Case.objects.filter(id__in=case_ids).values_list("id", "owner__username"))
    cause_ids = list(causes.values())
    for n, case_id in enumerate(case_ids[: len(case_ids) // 2 : 3]):  # the older half: answered and resolved
        owner = staff.get(owners[case_id] or "")
        if owner is None:
            owner = staff["lucas"]
            services.claim_case(actor=owner, case_id=case_id)
        services.add_message(
            actor=owner,
            case_id=case_id,
            kind="public",
            body="Thank you for telling us. I have looked into it and put it right.",
            handling_seconds=300,
        )
        statement = "Recorded with its cause so the team can see the pattern."
        services.resolve_case(
            actor=owner, case_id=case_id, root_cause_id=cause_ids[n % len(cause_ids)], statement=statement
        )
    # The newest case someone other than Amara owns: its owner hands it on and keeps watching.
    newest = next((i for i in reversed(case_ids) if owners[i] not in (None, "amara")), case_ids[-1])
    services.hand_off(actor=staff["priya"], case_id=newest, to_user="amara", reason="Amara knows this customer.")
    services.add_message(actor=staff["amara"], case_id=newest, kind="internal", body="Asked the courier for the scan.")
    for kind, amount, description in (
        ("voucher", "20.00", "Sorry for the wait."),
        ("refund", "180.00", "Full refund of the order."),  # above an agent's limit: waits for a lead
        ("gift", None, "Flowers for the spoilt birthday."),
    ):
        services.request_compensation(
            actor=staff["amara"],
            case_id=newest,
            kind=kind,
            amount=amount,
            currency="GBP" if amount else "",
            description=description,
        )
