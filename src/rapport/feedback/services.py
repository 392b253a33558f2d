"""Write use-cases for feedback. Each runs in one transaction, checks permission in here,
writes its audit row and puts every response on the customer's timeline."""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from django.conf import settings
from django.db import connection, transaction
from django.utils import timezone

from rapport.cases.events import CaseResolved
from rapport.cases.models import Case
from rapport.core import audit, events
from rapport.core.errors import InvalidInput, NotFound, PermissionDenied
from rapport.customers.models import ContactPoint, Customer, CustomerStatus, Interaction
from rapport.customers.services import log_interaction
from rapport.feedback import delivery, sentiment
from rapport.feedback.events import FollowUpOpened, ResponseRecorded
from rapport.feedback.models import (
    OPEN_INVITATION,
    SCALES,
    Answer,
    FeedbackSettings,
    FollowUp,
    Invitation,
    InvitationStatus,
    Purpose,
    Question,
    QuestionKind,
    Response,
    ScoreDaily,
    Source,
    Survey,
    SurveyKind,
    SurveyVersion,
    Testimonial,
    TestimonialStatus,
    Trigger,
)
from rapport.people.models import Role, Staff
from rapport.people.permissions import require_role, require_staff

Actor = Staff | None  # None: the system (tasks) or an anonymous respondent


class LinkGone(Exception):
    """A survey link that worked once: used, expired, or its survey withdrawn (HTTP 410)."""


# --- surveys -----------------------------------------------------------------------------

DEFAULT_QUESTIONS = {
    SurveyKind.NPS: "How likely are you to recommend us to a friend or colleague?",
    SurveyKind.CSAT: "How satisfied are you with the help you received?",
    SurveyKind.CES: "How easy was it to get what you needed?",
}
WHY = "What is the main reason for your answer?"


@dataclass
class QuestionInput:
    kind: str
    texts: dict[str, str]
    required: bool = False
    scale_min: int | None = None
    scale_max: int | None = None
    choices: list[str] = field(default_factory=list)


def _clean_questions(kind: str, questions: Sequence[QuestionInput] | None) -> list[QuestionInput]:
    """The kind's score question and a "why" box come first; custom questions follow."""
    out: list[QuestionInput] = []
    if kind in SCALES:
        low, high = SCALES[SurveyKind(kind)]
        out.append(QuestionInput("rating", {"en": DEFAULT_QUESTIONS[SurveyKind(kind)]}, True, low, high))
        out.append(QuestionInput("text", {"en": WHY}))
    errors: dict[str, list[str]] = {}
    for i, q in enumerate(questions or []):
        name = f"questions.{i}"
        if q.kind not in QuestionKind.values:
            errors[f"{name}.kind"] = [f"'{q.kind}' is not one of: {', '.join(QuestionKind.values)}."]
        if not q.texts or not any(str(t).strip() for t in q.texts.values()):
            errors[f"{name}.texts"] = ["Give the question's text in at least one language."]
        if q.kind == "rating":
            q.scale_min = 1 if q.scale_min is None else q.scale_min
            q.scale_max = 5 if q.scale_max is None else q.scale_max
            if not q.scale_min < q.scale_max <= 100:
                errors[f"{name}.scale_max"] = ["The scale must run upwards from scale_min, at most to 100."]
        if q.kind in ("single", "multiple") and len([c for c in q.choices if str(c).strip()]) < 2:
            errors[f"{name}.choices"] = ["Give at least two choices."]
        out.append(q)
    if errors:
        raise InvalidInput(errors)
    if not out:
        raise InvalidInput("A custom survey needs at least one question.", "questions")
    return out


def _write_version(survey: Survey, number: int, texts: dict[str, Any], questions: list[QuestionInput]) -> SurveyVersion:
    version = SurveyVersion.objects.create(survey=survey, number=number, texts=texts)
    _write_questions(version, survey.kind, questions)
    return version


def _write_questions(version: SurveyVersion, kind: str, questions: list[QuestionInput]) -> None:
    Question.objects.bulk_create(
        Question(
            version=version,
            position=i,
            kind=q.kind,
            texts=q.texts,
            required=q.required,
            scale_min=q.scale_min,
            scale_max=q.scale_max,
            choices=[str(c) for c in q.choices],
            is_score=(i == 0 and kind in SCALES),
        )
        for i, q in enumerate(questions)
    )


@transaction.atomic
def create_survey(
    *,
    actor: Actor,
    name: str,
    kind: str,
    texts: dict[str, Any] | None = None,
    questions: Sequence[QuestionInput] | None = None,
    trigger: str = Trigger.MANUAL,
    cadence_days: int | None = None,
    audience: dict[str, Any] | None = None,
    anonymous: bool = False,
) -> Survey:
    require_role(actor, Role.MANAGER, "define surveys")
    errors: dict[str, list[str]] = {}
    name = " ".join((name or "").split())
    if not name or len(name) > 200:
        errors["name"] = ["Give the survey a name of at most 200 characters."]
    if kind not in SurveyKind.values:
        errors["kind"] = [f"'{kind}' is not one of: {', '.join(SurveyKind.values)}."]
    if trigger not in Trigger.values:
        errors["trigger"] = [f"'{trigger}' is not one of: {', '.join(Trigger.values)}."]
    if trigger == Trigger.RELATIONSHIP and not cadence_days:
        errors["cadence_days"] = ["A relationship survey needs a cadence in days."]
    if cadence_days is not None and not 1 <= cadence_days <= 3650:
        errors["cadence_days"] = ["The cadence must be between 1 and 3650 days."]
    if errors:
        raise InvalidInput(errors)
    cleaned = _clean_questions(kind, questions)
    survey = Survey.objects.create(
        name=name,
        kind=kind,
        trigger=trigger,
        cadence_days=cadence_days,
        audience=audience or {},
        anonymous=anonymous,
        created_by=actor,
    )
    _write_version(survey, 1, texts or {"en": {"title": name}}, cleaned)
    audit.record(
        actor=actor,
        action="survey.created",
        subject_type="survey",
        subject_id=survey.id,
        changes={"name": name, "kind": kind},
    )
    return survey


@transaction.atomic
def edit_survey(
    *, actor: Actor, survey_id: int, texts: dict[str, Any], questions: Sequence[QuestionInput] | None = None
) -> SurveyVersion:
    """Change what respondents see. A version with answers is never edited: a new one is made,
    and answers keep the version they were given on."""
    require_role(actor, Role.MANAGER, "edit surveys")
    survey = Survey.objects.select_for_update().filter(id=survey_id).first()
    if survey is None:
        raise NotFound(f"No survey with id {survey_id}.")
    current = survey.current_version()
    cleaned = _clean_questions(survey.kind, questions)
    if current is not None and not current.responses.exists():
        # Nobody answered it yet: edit in place, so open links show the new text.
        current.questions.all().delete()
        current.texts = texts
        current.save(update_fields=["texts"])
        _write_questions(current, survey.kind, cleaned)
        version, number = current, current.number
    else:
        number = (current.number + 1) if current else 1
        version = _write_version(survey, number, texts, cleaned)
    audit.record(
        actor=actor, action="survey.edited", subject_type="survey", subject_id=survey.id, changes={"version": number}
    )
    return version


@transaction.atomic
def withdraw_survey(*, actor: Actor, survey_id: int) -> None:
    """Stop a survey: its open links answer a friendly 410 from now on."""
    require_role(actor, Role.MANAGER, "withdraw surveys")
    if not Survey.objects.filter(id=survey_id).update(active=False):
        raise NotFound(f"No survey with id {survey_id}.")
    SurveyVersion.objects.filter(survey_id=survey_id, deleted_at__isnull=True).update(deleted_at=timezone.now())
    audit.record(actor=actor, action="survey.withdrawn", subject_type="survey", subject_id=survey_id)


# --- invitations -------------------------------------------------------------------------


def token_for(salt: str) -> str:
    key = settings.SECRET_KEY.encode()
    return (
        base64.urlsafe_b64encode(hmac.new(key, f"feedback-invitation:{salt}".encode(), hashlib.sha256).digest())
        .decode()
        .rstrip("=")
    )


def digest_of(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def survey_path(invitation: Invitation) -> str:
    return f"/s/{token_for(invitation.salt)}/"


@dataclass
class InviteResult:
    invitations: list[tuple[Invitation, str]] = field(default_factory=list)  # (invitation, path)
    refused: list[tuple[int, str]] = field(default_factory=list)  # (customer id, reason)


def _new_invitation(
    version: SurveyVersion,
    purpose: str,
    actor: Actor,
    customer: Customer | None = None,
    case_id: int | None = None,
    days: int = 30,
) -> Invitation:
    salt = secrets.token_hex(16)
    return Invitation.objects.create(
        version=version,
        customer=customer,
        case_id=case_id,
        purpose=purpose,
        salt=salt,
        token_digest=digest_of(token_for(salt)),
        expires_at=timezone.now() + timedelta(days=days),
        created_by=actor,
    )


def _refusal(customer: Customer, emails: dict[int, str], last: dict[int, datetime], quiet_days: int) -> str | None:
    if customer.merged_into_id:
        return "This customer was merged into another record."
    if not customer.consent_email:
        return "The customer has not consented to email."
    if customer.id not in emails:
        return "The customer has no usable email address."
    if customer.id in last:
        return f"Surveyed on {last[customer.id]:%Y-%m-%d}; the quiet period is {quiet_days} days."
    return None


def _purpose_for(customer: Customer) -> str:
    return {CustomerStatus.PROSPECT: Purpose.PROSPECT, CustomerStatus.FORMER: Purpose.FORMER}.get(
        CustomerStatus(customer.status), Purpose.RELATIONSHIP
    )


@transaction.atomic
def invite(
    *,
    actor: Actor,
    survey_id: int,
    customer_ids: Sequence[int] = (),
    public: bool = False,
    case_id: int | None = None,
) -> InviteResult:
    """Invite customers (respecting consent and the quiet period) or make a public link.
    Team leads and above send; ``actor=None`` is the system (cadences, after-case)."""
    if actor is not None:
        require_role(actor, Role.LEAD, "send surveys")
    survey = Survey.objects.filter(id=survey_id).first()
    if survey is None:
        raise NotFound(f"No survey with id {survey_id}.")
    version = survey.current_version()
    if not survey.active or version is None:
        raise InvalidInput("This survey was withdrawn; invite to an active one.", "survey")
    if not public and not customer_ids:
        raise InvalidInput("Give customers to invite, or public: true for a public link.", "customers")
    if public and customer_ids:
        raise InvalidInput("A public link is for anyone: give customers or public, not both.", "public")
    conf = FeedbackSettings.current()
    result = InviteResult()
    if public:
        inv = _new_invitation(version, Purpose.PUBLIC, actor, days=max(conf.invitation_days, 365))
        result.invitations.append((inv, survey_path(inv)))
        audit.record(actor=actor, action="survey.public_link", subject_type="survey", subject_id=survey.id)
        return result
    wanted = list(dict.fromkeys(int(i) for i in customer_ids))
    customers = Customer.objects.in_bulk(wanted)
    missing = [i for i in wanted if i not in customers]
    if missing:
        raise InvalidInput(f"No customers with ids {', '.join(map(str, missing))}.", "customers")
    emails: dict[int, str] = {}
    for cp in ContactPoint.objects.filter(customer_id__in=wanted, kind="email", bouncing=False).order_by(
        "-is_primary", "id"
    ):
        emails.setdefault(cp.customer_id, cp.value)
    since = timezone.now() - timedelta(days=conf.quiet_days)
    last: dict[int, datetime] = {}
    for cid, at in Invitation.objects.filter(customer_id__in=wanted, created_at__gte=since).values_list(
        "customer_id", "created_at"
    ):
        last[cid] = max(at, last.get(cid, at))
    for cid in wanted:
        customer = customers[cid]
        reason = _refusal(customer, emails, last, conf.quiet_days)
        if reason:
            result.refused.append((cid, reason))
            continue
        purpose = Purpose.AFTER_CASE if case_id else _purpose_for(customer)
        inv = _new_invitation(version, purpose, actor, customer, case_id, conf.invitation_days)
        path = survey_path(inv)
        subject = version.text(customer.language, "title") or survey.name
        if delivery.deliver(delivery.Outgoing(inv.id, cid, emails[cid], customer.language, subject, path)):
            inv.status, inv.sent_at = InvitationStatus.SENT, timezone.now()
            inv.save(update_fields=["status", "sent_at"])
            log_interaction(
                actor=None,
                customer_id=cid,
                channel="email",
                direction="out",
                summary=f"Survey sent: {survey.name}"[:300],
                source_type="feedback.invitation",
                source_id=inv.id,
            )
        result.invitations.append((inv, path))
    audit.record(
        actor=actor,
        action="survey.invited",
        subject_type="survey",
        subject_id=survey.id,
        changes={"invited": [i.customer_id for i, _ in result.invitations], "refused": [c for c, _ in result.refused]},
    )
    return result


@transaction.atomic
def mark_sent(*, actor: Actor, invitation_id: int) -> Invitation:
    """Staff sent a listed link by hand: it is on the record like any outbound contact."""
    staff = require_role(actor, Role.LEAD, "send survey links")
    inv = Invitation.objects.select_for_update().select_related("version__survey").filter(id=invitation_id).first()
    if inv is None or inv.customer_id is None:
        raise NotFound(f"No invitation with id {invitation_id}.")
    if inv.status != InvitationStatus.LISTED:
        raise InvalidInput(f"This invitation is already {inv.get_status_display().lower()}.", "status")
    inv.status, inv.sent_at = InvitationStatus.SENT, timezone.now()
    inv.save(update_fields=["status", "sent_at"])
    log_interaction(
        actor=staff,
        customer_id=inv.customer_id,
        channel="email",
        direction="out",
        summary=f"Survey link sent by hand: {inv.version.survey.name}"[:300],
        source_type="feedback.invitation",
        source_id=inv.id,
    )
    audit.record(actor=staff, action="invitation.sent", subject_type="invitation", subject_id=inv.id)
    return inv


def on_case_resolved(event: CaseResolved) -> None:
    """After a case is resolved, ask for CSAT once the configured delay has passed."""
    if not Survey.objects.filter(trigger=Trigger.AFTER_CASE, active=True).exists():
        return
    from rapport.feedback.tasks import send_after_case_survey

    delay = timedelta(hours=FeedbackSettings.current().after_case_delay_hours)
    send_after_case_survey.using(run_after=event.at + delay).enqueue(event.case_id)


def send_after_case(*, case_id: int) -> InviteResult | None:
    """The task's body: idempotent, one invitation per case."""
    case = Case.objects.filter(id=case_id).only("id", "customer_id").first()
    survey = Survey.objects.filter(trigger=Trigger.AFTER_CASE, active=True).order_by("id").first()
    if case is None or survey is None or Invitation.objects.filter(case_id=case_id).exists():
        return None
    return invite(actor=None, survey_id=survey.id, customer_ids=[case.customer_id], case_id=case_id)


def _audience(survey: Survey) -> list[int]:
    return audience_ids(survey.audience or {}, consenting_only=True)


def audience_ids(rules: Mapping[str, Any], *, consenting_only: bool = False) -> list[int]:
    """Live customers matching {"status": [...], "tags": [...], "account_manager": id}. The
    send page keeps non-consenting ones so ``invite`` refuses them with the reason."""
    qs = Customer.objects.live()
    if consenting_only:
        qs = qs.filter(consent_email=True)
    if rules.get("status"):
        qs = qs.filter(status__in=rules["status"])
    if rules.get("tags"):
        qs = qs.filter(tags__name__in=rules["tags"])
    if rules.get("account_manager"):
        qs = qs.filter(account_manager_id=rules["account_manager"])
    return list(qs.values_list("id", flat=True).distinct().order_by("id"))


AUDIENCE_MAX = 5000  # one send from the page runs in one request and one transaction


@transaction.atomic
def invite_audience(
    *,
    actor: Actor,
    survey_id: int,
    status: Sequence[str] = (),
    tags: Sequence[str] = (),
    account_manager: int | None = None,
) -> InviteResult:
    """Send from the staff page to everyone matching the audience (consent and quiet period apply)."""
    require_role(actor, Role.LEAD, "send surveys")
    rules = {"status": list(status), "tags": list(tags), "account_manager": account_manager}
    if not any(rules.values()):
        raise InvalidInput("Choose at least one status, tag or account manager.", "audience")
    ids = audience_ids(rules)
    if not ids:
        raise InvalidInput("No customer matches this audience.", "audience")
    if len(ids) > AUDIENCE_MAX:
        raise InvalidInput(f"{len(ids)} customers match; narrow it to {AUDIENCE_MAX} or make it a cadence.", "audience")
    return invite(actor=actor, survey_id=survey_id, customer_ids=ids)


def run_relationship_surveys(*, now: datetime | None = None) -> dict[int, InviteResult]:
    """Invite each due relationship survey's audience; the quiet period spaces people out."""
    now = now or timezone.now()
    done: dict[int, InviteResult] = {}
    for survey in Survey.objects.filter(trigger=Trigger.RELATIONSHIP, active=True, cadence_days__isnull=False):
        if survey.last_run_at and survey.last_run_at + timedelta(days=survey.cadence_days or 0) > now:
            continue
        with transaction.atomic():
            # Claim the run first, so two schedulers never send the same round twice.
            claimed = Survey.objects.filter(id=survey.id, last_run_at=survey.last_run_at).update(last_run_at=now)
            ids = _audience(survey) if claimed else []
            if ids:
                done[survey.id] = invite(actor=None, survey_id=survey.id, customer_ids=ids)
    return done


# --- answering ---------------------------------------------------------------------------


def open_invitation(token: str) -> Invitation:
    """The invitation behind a link, for showing the form: reads only, records nothing."""
    if not token or len(token) > 64:
        raise NotFound()
    inv = (
        Invitation.objects.select_related("version__survey", "customer__account_manager")
        .filter(token_digest=digest_of(token))
        .first()
    )
    if inv is None or not hmac.compare_digest(inv.token_digest, digest_of(token)):
        raise NotFound()
    if inv.version.deleted_at or not inv.version.survey.active:
        raise LinkGone("withdrawn")
    if inv.status == InvitationStatus.ANSWERED and inv.purpose != Purpose.PUBLIC:
        raise LinkGone("used")
    if inv.status == InvitationStatus.EXPIRED or inv.expires_at <= timezone.now():
        raise LinkGone("expired")
    return inv


def _parse_answers(
    questions: list[Question], raw: Mapping[int, list[str]]
) -> tuple[list[Answer], dict[str, list[str]]]:
    answers: list[Answer] = []
    errors: dict[str, list[str]] = {}
    for q in questions:
        values = [v for v in raw.get(q.id, []) if str(v).strip()]
        key = f"q{q.id}"
        if not values:
            if q.required:
                errors[key] = ["Please answer this question."]
            continue
        if q.kind == QuestionKind.RATING:
            try:
                number = int(values[0])
            except ValueError:
                number = None
            if number is None or not (q.scale_min or 0) <= number <= (q.scale_max or 0):
                errors[key] = [f"Choose a number from {q.scale_min} to {q.scale_max}."]
                continue
            answers.append(Answer(question=q, number=number))
        elif q.kind in (QuestionKind.SINGLE, QuestionKind.MULTIPLE):
            if any(v not in q.choices for v in values) or (q.kind == QuestionKind.SINGLE and len(values) > 1):
                errors[key] = ["Choose from the options shown."]
                continue
            answers.append(Answer(question=q, choices=values))
        else:
            text = str(values[0])
            if len(text) > 5000:
                errors[key] = ["Please keep it under 5,000 characters."]
                continue
            answers.append(Answer(question=q, text=text))
    return answers, errors


def _owner_for(customer: Customer | None, case_id: int | None) -> Staff | None:
    if case_id:
        case = Case.objects.select_related("owner").filter(id=case_id).first()
        if case and case.owner:
            return case.owner
    if customer is not None and customer.account_manager_id:
        return customer.account_manager  # loaded with the invitation on the answer path
    return None


@transaction.atomic
def answer(*, token: str, raw: Mapping[int, list[str]], quote_consent: bool = False) -> Response:
    """Record a respondent's answers. A single-use link is claimed by a conditional UPDATE, so
    of two submits at the same instant exactly one wins; the other gets LinkGone."""
    inv = open_invitation(token)
    questions = list(inv.version.questions.all())
    answers, errors = _parse_answers(questions, raw)
    if errors:
        raise InvalidInput(errors)
    now = timezone.now()
    if inv.purpose != Purpose.PUBLIC:
        claimed = Invitation.objects.filter(id=inv.id, status__in=OPEN_INVITATION, expires_at__gt=now).update(
            status=InvitationStatus.ANSWERED, answered_at=now
        )
        if not claimed:
            raise LinkGone("used")
    score = next((a.number for a in answers if a.question.is_score), None)
    if score is None:  # custom surveys: the first rating stands for the response
        score = next((a.number for a in answers if a.number is not None), None)
    text = "\n\n".join(a.text for a in answers if a.text)
    response = _record(
        source=Source.SURVEY,
        kind=inv.version.survey.kind,
        survey=inv.version.survey,
        version=inv.version,
        invitation=inv,
        customer=inv.customer,
        case_id=inv.case_id,
        score=score,
        text=text,
        channel="web",
        language=inv.customer.language if inv.customer else "en",
        at=now,
    )
    for a in answers:
        a.response = response
    Answer.objects.bulk_create(answers)
    _after_response(response, quote_consent, "ticked 'you may quote me' on the survey form")
    return response


def _record(
    *,
    source: str,
    kind: str,
    survey: Survey | None,
    version: SurveyVersion | None,
    invitation: Invitation | None,
    customer: Customer | None,
    case_id: int | None,
    score: int | None,
    text: str,
    channel: str,
    language: str,
    at: datetime,
    captured_by: Actor = None,
    interaction: Interaction | None = None,
) -> Response:
    owner = _owner_for(customer, case_id)
    scored = sentiment.score(text)
    response = Response.objects.create(
        source=source,
        kind=kind,
        survey=survey,
        version=version,
        invitation=invitation,
        customer=customer,
        case_id=case_id,
        owner=owner,
        team_id=owner.team_id if owner else None,
        channel=channel,
        language=language,
        score=score,
        text=text,
        sentiment=scored.score if scored else None,
        sentiment_label=scored.label if scored else "",
        keywords=scored.keywords if scored else [],
        answered_at=at,
        captured_by=captured_by,
        interaction=interaction,
    )
    if customer is not None and interaction is None:
        label = survey.name if survey else "Feedback"
        summary = f"{label}: {score}" if score is not None else f"{label} received"
        entry = log_interaction(
            actor=None,
            customer_id=customer.id,
            channel="survey" if source == Source.SURVEY else channel,
            direction="in",
            summary=summary[:300],
            body=text,
            occurred_at=at,
            source_type="feedback.response",
            source_id=response.id,
        )
        Response.objects.filter(id=response.id).update(interaction=entry)
        response.interaction = entry
    if source == Source.SURVEY and score is not None and kind in SCALES:
        _count_score(response)
    events.publish(ResponseRecorded(response.id, customer.id if customer else None, score, at))
    return response


COUNT_SQL = """
INSERT INTO {table} (day, kind, survey_key, owner_key, team_key, n, total, total_sq,
                     c0, c1, c2, c3, c4, c5, c6, c7, c8, c9, c10)
VALUES (%s, %s, %s, %s, %s, 1, %s, %s, {ones})
ON CONFLICT (kind, day, survey_key, owner_key, team_key) DO UPDATE SET
  n = {table}.n + 1, total = {table}.total + EXCLUDED.total, total_sq = {table}.total_sq + EXCLUDED.total_sq,
  {col} = {table}.{col} + 1
"""


def _count_score(response: Response) -> None:
    score = int(response.score or 0)
    ones = ", ".join("1" if i == score else "0" for i in range(11))
    sql = COUNT_SQL.format(table=ScoreDaily._meta.db_table, ones=ones, col=f"c{score}")
    with connection.cursor() as cursor:
        cursor.execute(
            sql,
            [
                response.answered_at.date(),
                response.kind,
                response.survey_id or 0,
                response.owner_id or 0,
                response.team_id or 0,
                score,
                score * score,
            ],
        )


def follow_up_reason(response: Response) -> str | None:
    if response.kind == SurveyKind.NPS and response.score is not None and response.score <= 6:
        return f"Detractor: NPS {response.score}"
    if response.kind == SurveyKind.CSAT and response.score is not None and response.score <= 2:
        return f"Dissatisfied: CSAT {response.score}"
    if response.sentiment is not None and response.sentiment <= sentiment.STRONGLY_NEGATIVE:
        return "Strongly negative comment"
    return None


def is_praise(response: Response) -> bool:
    if response.kind == SurveyKind.NPS and response.score is not None:
        return response.score >= 9
    if response.kind == SurveyKind.CSAT and response.score is not None:
        return response.score >= 4
    return response.sentiment_label == "positive"


def _after_response(response: Response, quote_consent: bool, consent_how: str) -> None:
    """Close the loop on unhappy answers; keep happy words, with consent, for approval."""
    reason = follow_up_reason(response)
    if reason and response.customer_id:
        due = response.answered_at + timedelta(hours=FeedbackSettings.current().follow_up_hours)
        fu = FollowUp.objects.create(
            customer_id=response.customer_id, response=response, owner_id=response.owner_id, reason=reason, due_at=due
        )
        audit.record(
            actor=None,
            action="follow_up.opened",
            subject_type="follow_up",
            subject_id=fu.id,
            changes={"reason": reason},
        )
        events.publish(FollowUpOpened(fu.id, fu.customer_id, fu.owner_id, due))
    elif quote_consent and response.text.strip() and is_praise(response):
        customer = response.customer
        anonymous = response.survey is not None and response.survey.anonymous
        Testimonial.objects.create(
            response=response,
            customer=customer,
            quote=response.text.strip(),
            attribution="" if anonymous or customer is None else customer.name,
            consent_at=response.answered_at,
            consent_how=consent_how,
            owner_id=response.owner_id,
            team_id=response.team_id,
        )


# --- unsolicited feedback, the closed loop, testimonials -----------------------------------

FEEDBACK_CHANNELS = ("email", "phone", "letter", "meeting", "chat", "sms", "portal", "web", "social", "other")


@transaction.atomic
def record_feedback(
    *,
    actor: Actor,
    customer_id: int,
    text: str,
    channel: str,
    rating: int | None = None,
    quote_consent: bool = False,
    consent_how: str = "",
) -> Response:
    """Unsolicited feedback (a compliment in an email, a remark on a call). ``rating`` is 1–5."""
    staff = require_staff(actor)
    errors: dict[str, list[str]] = {}
    if not (text or "").strip():
        errors["text"] = ["Write down what the customer said."]
    elif len(text) > 10000:
        errors["text"] = ["Keep it under 10,000 characters."]
    if channel not in FEEDBACK_CHANNELS:
        errors["channel"] = [f"'{channel}' is not one of: {', '.join(FEEDBACK_CHANNELS)}."]
    if rating is not None and not 1 <= rating <= 5:
        errors["rating"] = ["A rating runs from 1 to 5."]
    if quote_consent and not consent_how.strip():
        errors["consent_how"] = ["Say how the customer agreed to be quoted (for example 'by email on 3 May')."]
    if errors:
        raise InvalidInput(errors)
    customer = Customer.objects.filter(id=customer_id).first()
    if customer is None:
        raise NotFound(f"No customer with id {customer_id}.")
    if customer.merged_into_id:
        customer = Customer.objects.get(id=customer.merged_into_id)
    return _unsolicited(staff, customer, text, channel, rating, quote_consent, consent_how, None)


def _unsolicited(
    staff: Staff,
    customer: Customer,
    text: str,
    channel: str,
    rating: int | None,
    quote_consent: bool,
    consent_how: str,
    interaction: Interaction | None,
) -> Response:
    response = _record(
        source=Source.UNSOLICITED,
        kind="unsolicited",
        survey=None,
        version=None,
        invitation=None,
        customer=customer,
        case_id=None,
        score=rating,
        text=text,
        channel=channel,
        language=customer.language,
        at=timezone.now(),
        captured_by=staff,
        interaction=interaction,
    )
    audit.record(
        actor=staff,
        action="feedback.captured",
        subject_type="response",
        subject_id=response.id,
        changes={"customer": customer.id, "channel": channel},
    )
    _after_response(response, quote_consent, consent_how)
    return response


@transaction.atomic
def capture_interaction(*, actor: Actor, interaction_id: int) -> Response:
    """One click on a timeline entry: its words become feedback (once)."""
    staff = require_staff(actor)
    entry = Interaction.objects.select_related("customer").filter(id=interaction_id).first()
    if entry is None:
        raise NotFound(f"No timeline entry with id {interaction_id}.")
    existing = Response.objects.filter(interaction_id=entry.id).first()
    if existing is not None:
        return existing
    text = entry.body.strip() or entry.summary
    channel = entry.channel if entry.channel in FEEDBACK_CHANNELS else "other"
    return _unsolicited(staff, entry.customer, text, channel, None, False, "", entry)


@transaction.atomic
def close_follow_up(*, actor: Actor, follow_up_id: int, outcome: str) -> FollowUp:
    staff = require_staff(actor)
    fu = FollowUp.objects.select_for_update().filter(id=follow_up_id).first()
    if fu is None:
        raise NotFound(f"No follow-up with id {follow_up_id}.")
    if fu.owner_id not in (None, staff.id) and not staff.has_role_at_least(Role.LEAD):
        raise PermissionDenied("Only the follow-up's owner or a team lead may close it.")
    outcome = (outcome or "").strip()
    if not outcome:
        raise InvalidInput("Record what came of the follow-up.", "outcome")
    if fu.closed_at is not None:
        raise InvalidInput("This follow-up is already closed.", "outcome")
    fu.outcome, fu.closed_at, fu.closed_by = outcome, timezone.now(), staff
    fu.save(update_fields=["outcome", "closed_at", "closed_by"])
    log_interaction(
        actor=staff,
        customer_id=fu.customer_id,
        channel="other",
        direction="out",
        summary=f"Feedback follow-up closed: {fu.reason}"[:300],
        body=outcome,
        source_type="feedback.follow_up",
        source_id=fu.id,
    )
    audit.record(
        actor=staff, action="follow_up.closed", subject_type="follow_up", subject_id=fu.id, changes={"outcome": outcome}
    )
    return fu


@transaction.atomic
def decide_testimonial(*, actor: Actor, testimonial_id: int, approve: bool, public: bool = True) -> Testimonial:
    staff = require_role(actor, Role.LEAD, "approve testimonials")
    t = Testimonial.objects.select_for_update().filter(id=testimonial_id).first()
    if t is None:
        raise NotFound(f"No testimonial with id {testimonial_id}.")
    t.status = TestimonialStatus.APPROVED if approve else TestimonialStatus.REJECTED
    t.public = bool(approve and public)
    t.approved_by, t.approved_at = (staff, timezone.now()) if approve else (None, None)
    t.save(update_fields=["status", "public", "approved_by", "approved_at"])
    audit.record(actor=staff, action=f"testimonial.{t.status}", subject_type="testimonial", subject_id=t.id)
    return t


def rebuild_score_counts() -> int:
    """Recompute ScoreDaily from the responses (after an import, or to check the running
    counts). Returns the number of rows written."""
    from django.db.models import Count, F, Q, Sum
    from django.db.models.functions import TruncDate

    counts = {f"c{i}": Count("id", filter=Q(score=i)) for i in range(11)}
    rows = (
        Response.objects.filter(source=Source.SURVEY, kind__in=[k.value for k in SCALES], score__isnull=False)
        .annotate(day=TruncDate("answered_at", tzinfo=UTC))
        .values("day", "kind", "survey_id", "owner_id", "team_id")
        .annotate(nn=Count("id"), t=Sum("score"), tsq=Sum(F("score") * F("score")), **counts)
        .order_by()
    )
    with transaction.atomic():
        ScoreDaily.objects.all().delete()
        objs = (_daily_row(r) for r in rows.iterator(chunk_size=5000))
        written = 0
        batch: list[ScoreDaily] = []
        for obj in objs:
            batch.append(obj)
            if len(batch) == 5000:
                written += len(ScoreDaily.objects.bulk_create(batch))
                batch = []
        written += len(ScoreDaily.objects.bulk_create(batch))
    return written


def _daily_row(r: Mapping[str, Any]) -> ScoreDaily:
    keys = {"survey_key": r["survey_id"] or 0, "owner_key": r["owner_id"] or 0, "team_key": r["team_id"] or 0}
    counts = {f"c{i}": int(r[f"c{i}"]) for i in range(11)}
    return ScoreDaily(
        day=r["day"], kind=r["kind"], n=int(r["nn"]), total=int(r["t"]), total_sq=int(r["tsq"]), **keys, **counts
    )


def move_feedback_on_merge(survivor_id: int, duplicate_id: int) -> None:
    """Runs inside the customers merge transaction: the duplicate's feedback follows it."""
    for model in (Invitation, Response, FollowUp, Testimonial):
        model.objects.filter(customer_id=duplicate_id).update(customer_id=survivor_id)
