"""Channels: configured mailboxes, every inbound email as received, the outbound outbox and
attachments. Parsing and sending live in inbound.py / outbound.py; models hold no I/O."""

from __future__ import annotations

from django.db import models
from django.db.models import Q


class ChannelKind(models.TextChoices):
    EMAIL = "email", "Email"


class Channel(models.Model):
    """An address customers write to (a brand, a team). The HTTP door authenticates with a
    token whose sha256 digest is kept here; the token itself is shown once."""

    kind = models.CharField(max_length=10, choices=ChannelKind.choices, default=ChannelKind.EMAIL)
    name = models.CharField(max_length=100)
    address = models.CharField(max_length=254, unique=True)  # lower-case
    default_team = models.ForeignKey("people.Team", null=True, blank=True, on_delete=models.PROTECT, related_name="+")
    inbound_token_digest = models.CharField(max_length=64, unique=True)
    active = models.BooleanField(default=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return f"{self.name} <{self.address}>"


class InboundStatus(models.TextChoices):
    RECEIVED = "received", "Received"
    PROCESSED = "processed", "Processed"
    IGNORED = "ignored", "Ignored (no case)"
    UNPROCESSABLE = "unprocessable", "Unprocessable"


class InboundMessage(models.Model):
    """One email exactly as it arrived. ``raw`` is a BinaryField rather than a storage file so
    the bytes and the idempotency keys commit in one transaction: no orphan file when a
    duplicate loses the race, nothing to reconcile after a crash, and backups hold both."""

    channel = models.ForeignKey(Channel, null=True, blank=True, on_delete=models.SET_NULL, related_name="inbound")
    source = models.CharField(max_length=10, default="http")  # http, smtp, imap, form
    raw = models.BinaryField()
    size = models.PositiveIntegerField(default=0)
    content_hash = models.CharField(max_length=64, unique=True)
    message_id = models.CharField(max_length=500, blank=True, default="")
    sender = models.CharField(max_length=254, blank=True, default="")
    subject = models.CharField(max_length=300, blank=True, default="")
    body_text = models.TextField(blank=True, default="")  # the whole text, quoted history included
    new_text = models.TextField(blank=True, default="")  # what this email adds
    body_html = models.TextField(blank=True, default="")  # sanitised with nh3, for display only
    auth_results = models.TextField(blank=True, default="")  # SPF/DKIM verdicts from the provider
    status = models.CharField(max_length=16, choices=InboundStatus.choices, default=InboundStatus.RECEIVED)
    error = models.TextField(blank=True, default="")
    case = models.ForeignKey("cases.Case", null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    interaction = models.ForeignKey(
        "customers.Interaction", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    received_at = models.DateTimeField()
    processed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["message_id"], condition=~Q(message_id=""), name="inbound_message_id_once"),
        ]
        indexes = [
            models.Index(fields=["status", "-received_at"], name="inbound_status"),
            models.Index(fields=["sender", "-received_at"], name="inbound_sender"),
            models.Index(fields=["case", "-received_at"], name="inbound_case"),
        ]

    def __str__(self) -> str:
        return f"{self.sender}: {self.subject}"


class WorkerWakeup(models.Model):
    """One row per queue of work (stored inbound mail, the outbox): whether a task to work
    through it is already queued, so a burst of messages queues one task rather than one per
    message (see inbound.wake_worker / outbound.wake_sender)."""

    name = models.CharField(max_length=20, primary_key=True)
    scheduled = models.BooleanField(default=False)

    def __str__(self) -> str:
        return f"{self.name}: {'scheduled' if self.scheduled else 'idle'}"


class OutboundStatus(models.TextChoices):
    QUEUED = "queued", "Queued"
    SENDING = "sending", "Sending"
    SENT = "sent", "Sent"
    FAILED = "failed", "Failed"


class OutboundMessage(models.Model):
    """The outbox. A row is written in the transaction that decided to send; a task sends it
    (queued → sending → sent), so a message exists iff its cause committed."""

    case = models.ForeignKey("cases.Case", null=True, blank=True, on_delete=models.CASCADE, related_name="+")
    channel = models.ForeignKey(Channel, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    kind = models.CharField(max_length=32, default="reply")  # reply, acknowledgement, update:<kind>
    automatic = models.BooleanField(default=False)
    to = models.CharField(max_length=254)
    subject = models.CharField(max_length=300)
    body = models.TextField()
    message_id = models.CharField(max_length=500, unique=True)
    in_reply_to = models.CharField(max_length=500, blank=True, default="")
    references = models.TextField(blank=True, default="")
    status = models.CharField(max_length=10, choices=OutboundStatus.choices, default=OutboundStatus.QUEUED)
    attempts = models.PositiveSmallIntegerField(default=0)
    last_error = models.TextField(blank=True, default="")
    source_type = models.CharField(max_length=40, blank=True, default="")  # case_message, customer_update
    source_id = models.BigIntegerField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    sending_since = models.DateTimeField(null=True, blank=True)
    retry_at = models.DateTimeField(null=True, blank=True)  # after a "try later" from the server
    sent_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        indexes = [
            models.Index(fields=["status", "created_at"], name="outbound_status"),
            models.Index(fields=["to", "automatic", "-created_at"], name="outbound_to_auto"),
            models.Index(fields=["case", "-created_at"], name="outbound_case"),
        ]
        constraints = [
            # A reply or an outbox row of cases is turned into one email, however often the hook fires.
            models.UniqueConstraint(
                fields=["source_type", "source_id"], condition=~Q(source_type=""), name="outbound_source_once"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.to}: {self.subject}"


class EmailTemplate(models.Model):
    """The wording of one automatic customer email in one language (Django template syntax,
    rendered in a sandbox: see email_templates.py). Kinds without a row use the defaults
    shipped in code."""

    kind = models.CharField(max_length=40)
    language = models.CharField(max_length=16)
    subject = models.CharField(max_length=300)
    body = models.TextField()
    updated_by = models.ForeignKey("people.Staff", null=True, on_delete=models.SET_NULL, related_name="+")
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["kind", "language"], name="email_template_once")]

    def __str__(self) -> str:
        return f"{self.kind} ({self.language})"


class Attachment(models.Model):
    """A file that came with an email or the contact form, under a generated storage name;
    the sender's file name is only a label. A refused file keeps its row and the reason."""

    message = models.ForeignKey(
        InboundMessage, null=True, blank=True, on_delete=models.CASCADE, related_name="attachments"
    )
    case = models.ForeignKey("cases.Case", null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    storage_name = models.CharField(max_length=255, blank=True, default="")
    label = models.CharField(max_length=255)
    content_type = models.CharField(max_length=127)
    size = models.PositiveBigIntegerField()
    refused_reason = models.CharField(max_length=300, blank=True, default="")
    created_at = models.DateTimeField(auto_now_add=True)

    def __str__(self) -> str:
        return self.label


WEBHOOK_EVENTS = ("case.created", "case.updated", "case.resolved", "interaction.created")


class WebhookSubscription(models.Model):
    """An outside system told about events. The secret signs each delivery (HMAC-SHA256); it
    is kept as given because signing needs it, and shown to the admin only once."""

    url = models.URLField(max_length=500)
    events = models.JSONField(default=list)  # a subset of WEBHOOK_EVENTS
    secret = models.CharField(max_length=100)
    allow_private = models.BooleanField(default=False)  # an admin's explicit choice (SSRF defence)
    active = models.BooleanField(default=True)
    created_by = models.ForeignKey("people.Staff", null=True, on_delete=models.SET_NULL, related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)

    def __str__(self) -> str:
        return self.url


class DeliveryStatus(models.TextChoices):
    PENDING = "pending", "Pending"
    DELIVERED = "delivered", "Delivered"
    FAILED = "failed", "Failed"


class WebhookDelivery(models.Model):
    """One event for one subscription: the delivery log, with every attempt's outcome."""

    subscription = models.ForeignKey(WebhookSubscription, on_delete=models.CASCADE, related_name="deliveries")
    event = models.CharField(max_length=40)
    payload = models.JSONField()
    status = models.CharField(max_length=10, choices=DeliveryStatus.choices, default=DeliveryStatus.PENDING)
    attempts = models.PositiveSmallIntegerField(default=0)
    last_status_code = models.PositiveSmallIntegerField(null=True, blank=True)
    last_error = models.TextField(blank=True, default="")
    created_at = models.DateTimeField(auto_now_add=True)
    delivered_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        indexes = [models.Index(fields=["subscription", "-created_at"], name="webhook_delivery_log")]

    def __str__(self) -> str:
        return f"{self.event} → {self.subscription_id} ({self.status})"
