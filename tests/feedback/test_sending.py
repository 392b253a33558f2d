"""After-case CSAT (CaseResolved → a task with run_after) and relationship cadences."""

from __future__ import annotations

from datetime import timedelta

from django.utils import timezone

from rapport.cases import services as cases
from rapport.feedback import services, tasks
from rapport.feedback.models import FeedbackSettings, Invitation, Survey
from tests.feedback.conftest import make_customer


def test_resolving_a_case_enqueues_csat_after_the_delay(
    lead, agent, customer, django_capture_on_commit_callbacks, manager
) -> None:
    services.create_survey(actor=manager, name="After-case CSAT", kind="csat", trigger="after_case")
    FeedbackSettings.objects.update_or_create(id=1, defaults={"after_case_delay_hours": 2})
    with django_capture_on_commit_callbacks(execute=True):
        case = cases.open_case(
            actor=agent,
            data=cases.CaseInput(
                customer_id=customer.id, type="request", subject="Change my address", owner=agent.username
            ),
        )
    from dj_queue.models import Job  # the default backend keeps the job with its run_after

    ours = Job.objects.filter(task_path__endswith="send_after_case_survey")
    assert not ours.exists()
    with django_capture_on_commit_callbacks(execute=True):
        cases.resolve_case(actor=agent, case_id=case.id)
    (job,) = ours
    assert job.scheduled_at is not None and job.scheduled_at > timezone.now() + timedelta(minutes=100)
    # When it runs: one invitation, tied to the case, and never a second one for it.
    assert tasks.send_after_case_survey.call(case.id) == 1
    assert tasks.send_after_case_survey.call(case.id) == 0
    inv = Invitation.objects.get()
    assert (inv.case_id, inv.purpose, inv.customer_id) == (case.id, "after_case", customer.id)


def test_relationship_survey_invites_its_audience_once_per_cadence(lead, agent, manager) -> None:
    mine = make_customer("Jane Doe", agent)
    make_customer("Former Person", agent, status="former")
    make_customer("Other Manager", manager)
    make_customer("No Consent", agent, consent=False)
    survey = services.create_survey(
        actor=manager,
        name="Quarterly NPS",
        kind="nps",
        trigger="relationship",
        cadence_days=90,
        audience={"status": ["active"], "account_manager": agent.id},
    )
    assert tasks.relationship_surveys.call() == 1
    assert list(Invitation.objects.values_list("customer_id", "purpose")) == [(mine.id, "relationship")]
    assert tasks.relationship_surveys.call() == 0  # not due again for 90 days
    Survey.objects.filter(id=survey.id).update(last_run_at=timezone.now() - timedelta(days=91))
    Invitation.objects.update(created_at=timezone.now() - timedelta(days=91))
    assert tasks.relationship_surveys.call() == 1  # 91 days later, past the 30-day quiet period too
    assert Invitation.objects.filter(customer=mine).count() == 2


def test_the_quiet_period_holds_back_a_cadence_round(lead, agent, manager) -> None:
    jane = make_customer("Jane Doe", agent)
    other = services.create_survey(actor=manager, name="CSAT", kind="csat")
    services.invite(actor=lead, survey_id=other.id, customer_ids=[jane.id])
    services.create_survey(actor=manager, name="Quarterly NPS", kind="nps", trigger="relationship", cadence_days=7)
    assert tasks.relationship_surveys.call() == 0
    assert Invitation.objects.count() == 1
