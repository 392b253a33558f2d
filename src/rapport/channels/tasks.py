"""Background work of the channels app: thin, id-taking, idempotent."""

from __future__ import annotations

from django.tasks import task

from rapport.channels import imap, inbound, outbound, webhooks


@task()
def send_outbox() -> dict[str, int]:
    """Send every due outbox row in batches, one SMTP connection per batch (queued by wake_sender)."""
    return outbound.send_outbox()


@task()
def send_outbound(outbound_id: int) -> str:
    """Send one outbox row; a row no longer queued is skipped, so a repeat is harmless. (Jobs
    queued before send_outbox existed still name this task.)"""
    return outbound.send(outbound_id)


@task()
def reconcile_outbound() -> int:
    return outbound.reconcile_stuck()


@task()
def poll_imap() -> int:
    """Recurring (see the EMAIL_URL block of settings): fetch new mail from IMAP_URL."""
    return imap.poll_configured()


@task()
def deliver_webhook(delivery_id: int) -> str:
    return webhooks.deliver(delivery_id)


@task()
def process_inbound(helper: bool = False) -> int:
    """Process stored inbound email in batches until none is left (queued by the doors; a
    helper is queued by a drain facing a long backlog)."""
    return inbound.drain(helper=helper)
