"""Surveys and their versions, invitations, responses, the closed loop and testimonials."""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models import Q

from rapport.cases.models import Case
from rapport.customers.models import Customer, Interaction
from rapport.people.models import Team


class SurveyKind(models.TextChoices):
    NPS = "nps", "Net Promoter Score (0–10)"
    CSAT = "csat", "Customer satisfaction (1–5)"
    CES = "ces", "Customer effort (1–7)"
    CUSTOM = "custom", "Custom"


# The scale of the score question of each standard kind.
SCALES = {SurveyKind.NPS: (0, 10), SurveyKind.CSAT: (1, 5), SurveyKind.CES: (1, 7)}


class Trigger(models.TextChoices):
    MANUAL = "manual", "Sent by hand or through the API"
    AFTER_CASE = "after_case", "After a case is resolved"
    RELATIONSHIP = "relationship", "On a cadence to an audience"


class FeedbackSettings(models.Model):
    """One row (id 1): the standards the feedback programme runs on."""

    quiet_days = models.PositiveIntegerField(default=30)  # nobody is surveyed more often
    after_case_delay_hours = models.PositiveIntegerField(default=24)
    follow_up_hours = models.PositiveIntegerField(default=48)  # due time of a closed-loop follow-up
    invitation_days = models.PositiveIntegerField(default=30)  # a link expires after this

    def __str__(self) -> str:
        return f"Feedback settings (quiet period {self.quiet_days} days)"

    @classmethod
    def current(cls) -> FeedbackSettings:
        row, _ = cls.objects.get_or_create(id=1)
        return row


class Survey(models.Model):
    name = models.CharField(max_length=200)
    kind = models.CharField(max_length=8, choices=SurveyKind.choices)
    trigger = models.CharField(max_length=16, choices=Trigger.choices, default=Trigger.MANUAL)
    active = models.BooleanField(default=True)
    anonymous = models.BooleanField(default=False)  # public answers carry no identity
    # Relationship surveys: every cadence_days to customers matching the audience
    # ({"status": [...], "tags": [...], "account_manager": id}).
    cadence_days = models.PositiveIntegerField(null=True, blank=True)
    audience = models.JSONField(default=dict, blank=True)
    last_run_at = models.DateTimeField(null=True, blank=True)
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)

    def __str__(self) -> str:
        return self.name

    def current_version(self) -> SurveyVersion:
        return self.versions.filter(deleted_at__isnull=True).order_by("-number").first()  # type: ignore[return-value]


class SurveyVersion(models.Model):
    """What a respondent saw. Never edited once it has answers: an edit makes a new version."""

    survey = models.ForeignKey(Survey, on_delete=models.CASCADE, related_name="versions")
    number = models.PositiveIntegerField()
    texts = models.JSONField(default=dict)  # {"en": {"title": ..., "intro": ...}, "fr": {...}}
    created_at = models.DateTimeField(auto_now_add=True)
    deleted_at = models.DateTimeField(null=True, blank=True)  # links to it answer 410

    class Meta:
        constraints = [models.UniqueConstraint(fields=["survey", "number"], name="survey_version_once")]

    def __str__(self) -> str:
        return f"{self.survey_id} v{self.number}"

    def text(self, language: str, key: str) -> str:
        for lang in (language, "en", *self.texts):
            if key in self.texts.get(lang, {}):
                return str(self.texts[lang][key])
        return ""


class QuestionKind(models.TextChoices):
    RATING = "rating", "Rating"
    SINGLE = "single", "Single choice"
    MULTIPLE = "multiple", "Multiple choice"
    TEXT = "text", "Free text"


class Question(models.Model):
    version = models.ForeignKey(SurveyVersion, on_delete=models.CASCADE, related_name="questions")
    position = models.PositiveIntegerField()
    kind = models.CharField(max_length=8, choices=QuestionKind.choices)
    texts = models.JSONField(default=dict)  # {"en": "How likely...", "fr": "..."}
    scale_min = models.IntegerField(null=True, blank=True)
    scale_max = models.IntegerField(null=True, blank=True)
    choices = models.JSONField(default=list, blank=True)
    required = models.BooleanField(default=False)
    is_score = models.BooleanField(default=False)  # the survey's headline number (NPS, CSAT, CES)

    class Meta:
        ordering = ["position"]

    def __str__(self) -> str:
        return self.text("en")

    def text(self, language: str) -> str:
        return str(self.texts.get(language) or self.texts.get("en") or next(iter(self.texts.values()), ""))


class InvitationStatus(models.TextChoices):
    LISTED = "listed", "Listed for manual sending"
    SENT = "sent", "Sent"
    ANSWERED = "answered", "Answered"
    EXPIRED = "expired", "Expired"


class Purpose(models.TextChoices):
    AFTER_CASE = "after_case", "After a case"
    RELATIONSHIP = "relationship", "Relationship"
    PROSPECT = "prospect", "Prospect"
    FORMER = "former", "Former customer"
    PUBLIC = "public", "Public link"


OPEN_INVITATION = (InvitationStatus.LISTED, InvitationStatus.SENT)


class Invitation(models.Model):
    """A single-use link (a public link takes many answers). Only the token's SHA-256 digest
    is stored; the token itself is an HMAC of ``salt`` under SECRET_KEY, so staff can list
    the link again for manual sending but a copy of the database alone cannot answer."""

    version = models.ForeignKey(SurveyVersion, on_delete=models.PROTECT, related_name="invitations")
    customer = models.ForeignKey(Customer, null=True, blank=True, on_delete=models.CASCADE, related_name="+")
    case = models.ForeignKey(Case, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    purpose = models.CharField(max_length=16, choices=Purpose.choices)
    salt = models.CharField(max_length=32)
    token_digest = models.CharField(max_length=64, unique=True)
    status = models.CharField(max_length=10, choices=InvitationStatus.choices, default=InvitationStatus.LISTED)
    expires_at = models.DateTimeField()
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)
    sent_at = models.DateTimeField(null=True, blank=True)
    answered_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        indexes = [models.Index(fields=["customer", "-created_at"], name="invitation_customer_recent")]

    def __str__(self) -> str:
        return f"Invitation {self.id} ({self.status})"


class Sentiment(models.TextChoices):
    POSITIVE = "positive", "Positive"
    NEUTRAL = "neutral", "Neutral"
    NEGATIVE = "negative", "Negative"


class Source(models.TextChoices):
    SURVEY = "survey", "Survey"
    UNSOLICITED = "unsolicited", "Unsolicited"


class Response(models.Model):
    """One answer to a survey, or one piece of unsolicited feedback."""

    source = models.CharField(max_length=12, choices=Source.choices, default=Source.SURVEY)
    kind = models.CharField(max_length=12)  # the survey's kind (or "unsolicited"), copied for the metrics
    survey = models.ForeignKey(Survey, null=True, blank=True, on_delete=models.PROTECT, related_name="responses")
    version = models.ForeignKey(
        SurveyVersion, null=True, blank=True, on_delete=models.PROTECT, related_name="responses"
    )
    invitation = models.ForeignKey(
        Invitation, null=True, blank=True, on_delete=models.SET_NULL, related_name="responses"
    )
    customer = models.ForeignKey(Customer, null=True, blank=True, on_delete=models.CASCADE, related_name="+")
    case = models.ForeignKey(Case, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    # Who answers for this customer (case owner, else account manager) and their team, at the time.
    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    team = models.ForeignKey(Team, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    channel = models.CharField(max_length=16, default="web")
    language = models.CharField(max_length=16, default="en")
    score = models.SmallIntegerField(null=True, blank=True)
    text = models.TextField(blank=True, default="")  # stored as given; templates escape it
    sentiment = models.FloatField(null=True, blank=True)  # VADER compound, -1..1
    sentiment_label = models.CharField(max_length=8, choices=Sentiment.choices, blank=True, default="")
    keywords = models.JSONField(default=list, blank=True)
    interaction = models.ForeignKey(Interaction, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    captured_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    answered_at = models.DateTimeField()

    class Meta:
        indexes = [
            models.Index(fields=["-answered_at", "-id"], name="response_recent"),
            models.Index(fields=["survey", "-answered_at"], name="response_survey_recent"),
            models.Index(fields=["customer", "-answered_at"], name="response_customer_recent"),
            # Metrics by customer status and tag read a period of one kind from the responses.
            models.Index(fields=["kind", "answered_at"], name="response_kind_time"),
        ]

    def __str__(self) -> str:
        return f"Response {self.id} ({self.kind} {self.score})"


class Answer(models.Model):
    response = models.ForeignKey(Response, on_delete=models.CASCADE, related_name="answers")
    question = models.ForeignKey(Question, on_delete=models.PROTECT, related_name="+")
    number = models.IntegerField(null=True, blank=True)
    text = models.TextField(blank=True, default="")
    choices = models.JSONField(default=list, blank=True)

    def __str__(self) -> str:
        return f"Answer to {self.question_id}"


class ScoreDaily(models.Model):
    """Score counts per UTC day, kind, survey, owner and team, kept in the answering
    transaction. A year of metrics reads at most days × surveys × owners rows instead of
    every response (5M responses → ~100k rows). 0 stands for "none" in the keys so one
    unique index covers them on every database."""

    day = models.DateField()
    kind = models.CharField(max_length=8)
    survey_key = models.BigIntegerField(default=0)
    owner_key = models.BigIntegerField(default=0)
    team_key = models.BigIntegerField(default=0)
    n = models.IntegerField(default=0)
    total = models.BigIntegerField(default=0)  # sum of scores
    total_sq = models.BigIntegerField(default=0)  # sum of squared scores (CES variance)
    c0 = models.IntegerField(default=0)
    c1 = models.IntegerField(default=0)
    c2 = models.IntegerField(default=0)
    c3 = models.IntegerField(default=0)
    c4 = models.IntegerField(default=0)
    c5 = models.IntegerField(default=0)
    c6 = models.IntegerField(default=0)
    c7 = models.IntegerField(default=0)
    c8 = models.IntegerField(default=0)
    c9 = models.IntegerField(default=0)
    c10 = models.IntegerField(default=0)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["kind", "day", "survey_key", "owner_key", "team_key"], name="score_daily_key"
            )
        ]

    def __str__(self) -> str:
        return f"{self.kind} {self.day}: {self.n}"


class FollowUp(models.Model):
    """The closed loop: someone calls back an unhappy customer and records what came of it."""

    customer = models.ForeignKey(Customer, on_delete=models.CASCADE, related_name="+")
    response = models.ForeignKey(Response, null=True, blank=True, on_delete=models.SET_NULL, related_name="follow_ups")
    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    reason = models.CharField(max_length=200)
    due_at = models.DateTimeField()
    outcome = models.TextField(blank=True, default="")
    closed_at = models.DateTimeField(null=True, blank=True)
    closed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        indexes = [models.Index(fields=["owner", "due_at"], condition=Q(closed_at__isnull=True), name="followup_open")]

    def __str__(self) -> str:
        return f"Follow-up {self.id}: {self.reason}"


class TestimonialStatus(models.TextChoices):
    PENDING = "pending", "Waiting for approval"
    APPROVED = "approved", "Approved"
    REJECTED = "rejected", "Rejected"


class Testimonial(models.Model):
    response = models.OneToOneField(
        Response, null=True, blank=True, on_delete=models.CASCADE, related_name="testimonial"
    )
    customer = models.ForeignKey(Customer, null=True, blank=True, on_delete=models.CASCADE, related_name="+")
    quote = models.TextField()
    attribution = models.CharField(max_length=200, blank=True, default="")
    consent_at = models.DateTimeField()
    consent_how = models.CharField(max_length=200)  # "ticked 'you may quote me' on the survey", ...
    status = models.CharField(max_length=10, choices=TestimonialStatus.choices, default=TestimonialStatus.PENDING)
    approved_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    approved_at = models.DateTimeField(null=True, blank=True)
    public = models.BooleanField(default=False)
    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    team = models.ForeignKey(Team, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)

    def __str__(self) -> str:
        return self.quote[:50]
