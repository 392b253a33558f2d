"""feedback's invitation sender, provided by channels' outbound email."""

from __future__ import annotations

from django.conf import settings

from rapport.channels import outbound
from rapport.channels.models import Channel, ChannelKind
from rapport.customers.models import Customer
from rapport.feedback.delivery import Outgoing


def send_by_email(outgoing: Outgoing) -> bool:
    """Queue the invitation email. False (the invitation stays listed for a person) until an
    email channel is set up (an install that has not configured its email sends nothing on its
    own), or when the address may not get automatic mail now: bouncing, or over the limit."""
    if not Channel.objects.filter(kind=ChannelKind.EMAIL, active=True).exists():
        return False
    name = Customer.objects.filter(id=outgoing.customer_id).values_list("name", flat=True).first() or ""
    row = outbound.queue_survey_invitation(
        invitation_id=outgoing.invitation_id,
        to=outgoing.email,
        language=outgoing.language,
        customer_name=name,
        survey_title=outgoing.subject,
        link=settings.RAPPORT_SITE_URL.rstrip("/") + outgoing.path,
    )
    return row is not None
