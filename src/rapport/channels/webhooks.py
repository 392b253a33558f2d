"""Webhooks out: domain events, signed, delivered with retries, logged per subscription.

Signature: ``X-Rapport-Signature: sha256=<hex HMAC-SHA256(secret, "<timestamp>.<body>")>`` with
``X-Rapport-Timestamp`` (Unix seconds), so a receiver can refuse replays outside a window.

SSRF defence: the host is resolved once, every address must be public (not private,
loopback, link-local, reserved, multicast or unspecified) unless an admin allowed private
targets for that subscription, and the connection goes to the address that was checked (no
second lookup a DNS rebinding could change). Redirects are not followed.
"""

from __future__ import annotations

import hashlib
import hmac
import http.client
import ipaddress
import json
import logging
import secrets
import socket
import ssl
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from datetime import timedelta
from typing import Any
from urllib.parse import urlsplit

from django.db import transaction
from django.db.models.signals import post_delete, post_save
from django.utils import timezone

from rapport.channels.models import (
    WEBHOOK_EVENTS,
    DeliveryStatus,
    WebhookDelivery,
    WebhookSubscription,
)
from rapport.core import audit
from rapport.core.errors import InvalidInput, NotFound
from rapport.people.models import Role, Staff
from rapport.people.permissions import require_role

log = logging.getLogger(__name__)
MAX_ATTEMPTS = 8
BACKOFF_SECONDS = 30
TIMEOUT_SECONDS = 10


class Refused(Exception):
    """The target is not allowed (SSRF defence) or not a usable URL."""


@transaction.atomic
def create_subscription(
    *,
    actor: Staff,
    url: str,
    events: list[str],
    allow_private: bool = False,
) -> tuple[WebhookSubscription, str]:
    require_role(actor, Role.ADMIN, "configure webhooks")
    errors: dict[str, list[str]] = {}
    parts = urlsplit(url or "")
    if parts.scheme not in ("http", "https") or not parts.hostname:
        errors["url"] = ["Give an http:// or https:// address."]
    unknown = sorted(set(events) - set(WEBHOOK_EVENTS))
    if not events or unknown:
        errors["events"] = [f"Choose events from: {', '.join(WEBHOOK_EVENTS)}."]
    if errors:
        raise InvalidInput(errors)
    secret = "whsec_" + secrets.token_urlsafe(32)
    subscription = WebhookSubscription.objects.create(
        url=url, events=sorted(set(events)), secret=secret, allow_private=allow_private, created_by=actor
    )
    audit.record(
        actor=actor,
        action="webhook.created",
        subject_type="webhook",
        subject_id=subscription.id,
        changes={"url": url, "events": subscription.events, "allow_private": allow_private},
    )
    return subscription, secret


def deliveries(*, actor: Staff, subscription_id: int, limit: int = 50) -> list[WebhookDelivery]:
    require_role(actor, Role.ADMIN, "see webhook deliveries")
    if not WebhookSubscription.objects.filter(id=subscription_id).exists():
        raise NotFound("No such webhook.")
    return list(WebhookDelivery.objects.filter(subscription_id=subscription_id).order_by("-created_at", "-id")[:limit])


def publish(event: str, data: dict[str, Any] | Callable[[], dict[str, Any]]) -> list[int]:
    """Log one delivery per subscriber and enqueue them (called after the event's commit).
    ``data`` may be a function: it is read only when someone subscribes to the event."""
    subscribers = [s for s in _active_subscriptions() if event in s.events]
    if not subscribers:
        return []
    payload = {"event": event, "data": data() if callable(data) else data, "sent_at": timezone.now().isoformat()}
    rows = WebhookDelivery.objects.bulk_create(
        WebhookDelivery(subscription=s, event=event, payload=payload) for s in subscribers
    )
    for row in rows:
        _enqueue(row.id)
    return [row.id for row in rows]


_remembered: ContextVar[dict[str, list[WebhookSubscription]] | None] = ContextVar(
    "webhook_subscriptions_remembered", default=None
)
# Every case opened and every contact logged asks who subscribes; each worker keeps the answer
# this long, and forgets it at once when a subscription changes in the same process. Elsewhere
# a new subscription may miss up to this much of its first events, and a switched-off one gets
# deliveries logged that are then not sent (deliver checks).
KEEP_SUBSCRIPTIONS_SECONDS = 2.0
_kept: dict[str, tuple[float, list[WebhookSubscription]]] = {}


@contextmanager
def remembered() -> Iterator[None]:
    """Within the block the active subscriptions are read once: a worker's batch publishes an
    event or two per message after its commit, and would otherwise read them for each."""
    token = _remembered.set({})
    try:
        yield
    finally:
        _remembered.reset(token)


def _active_subscriptions() -> list[WebhookSubscription]:
    memo = _remembered.get()
    if memo is not None:
        if "active" not in memo:
            memo["active"] = list(WebhookSubscription.objects.filter(active=True))
        return memo["active"]
    kept = _kept.get("active")
    if kept is not None and time.monotonic() - kept[0] < KEEP_SUBSCRIPTIONS_SECONDS:
        return kept[1]
    active = list(WebhookSubscription.objects.filter(active=True))
    _kept["active"] = (time.monotonic(), active)
    return active


def forget_subscriptions(**_: Any) -> None:
    _kept.clear()


post_save.connect(forget_subscriptions, sender=WebhookSubscription, dispatch_uid="webhooks-forget-save")
post_delete.connect(forget_subscriptions, sender=WebhookSubscription, dispatch_uid="webhooks-forget-delete")


def _enqueue(delivery_id: int, delay: int = 0) -> None:
    from rapport.channels.tasks import deliver_webhook

    task = deliver_webhook.using(run_after=timezone.now() + timedelta(seconds=delay)) if delay else deliver_webhook
    task.enqueue(delivery_id)


def sign(secret: str, timestamp: int, body: bytes) -> str:
    return "sha256=" + hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256).hexdigest()


def check_target(url: str, allow_private: bool) -> tuple[str, int, str]:
    """(host, port, address to connect to) or Refused."""
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise Refused("not an http(s) URL")
    port = parts.port or (443 if parts.scheme == "https" else 80)
    try:
        infos = socket.getaddrinfo(parts.hostname, port, type=socket.SOCK_STREAM)
    except socket.gaierror as exc:
        raise Refused(f"cannot resolve {parts.hostname}: {exc}") from exc
    addresses = [ipaddress.ip_address(info[4][0]) for info in infos]
    if not allow_private:
        for address in addresses:
            if not address.is_global or address.is_multicast:
                raise Refused(
                    f"{parts.hostname} resolves to a non-public address ({address}); "
                    "an admin must allow private targets for this webhook"
                )
    return parts.hostname, port, str(addresses[0])


class _PinnedHTTP(http.client.HTTPConnection):
    def __init__(self, host: str, port: int, address: str) -> None:
        super().__init__(host, port, timeout=TIMEOUT_SECONDS)
        self._address = address

    def connect(self) -> None:
        self.sock = socket.create_connection((self._address, self.port), self.timeout)


class _PinnedHTTPS(http.client.HTTPSConnection):
    def __init__(self, host: str, port: int, address: str) -> None:
        super().__init__(host, port, timeout=TIMEOUT_SECONDS, context=ssl.create_default_context())
        self._address = address

    def connect(self) -> None:
        raw = socket.create_connection((self._address, self.port), self.timeout)
        self.sock = self._context.wrap_socket(raw, server_hostname=self.host)  # type: ignore[attr-defined]


def deliver(delivery_id: int) -> str:
    """One attempt. 2xx: delivered. Anything else: retried with backoff, then failed."""
    row = WebhookDelivery.objects.select_related("subscription").filter(id=delivery_id).first()
    if row is None or row.status != DeliveryStatus.PENDING:
        return "skipped"
    subscription = row.subscription
    if not subscription.active:  # switched off after the delivery was logged
        return _finish(row, DeliveryStatus.FAILED, None, "not sent: the webhook was switched off")
    body = json.dumps(row.payload, separators=(",", ":")).encode()
    timestamp = int(time.time())
    row.attempts += 1
    try:
        host, port, address = check_target(subscription.url, subscription.allow_private)
    except Refused as exc:
        return _finish(row, DeliveryStatus.FAILED, None, f"refused: {exc}")  # not retried: it will not change
    parts = urlsplit(subscription.url)
    connection_class = _PinnedHTTPS if parts.scheme == "https" else _PinnedHTTP
    connection = connection_class(host, port, address)
    try:
        connection.request(
            "POST",
            (parts.path or "/") + (f"?{parts.query}" if parts.query else ""),
            body=body,
            headers={
                "Content-Type": "application/json",
                "User-Agent": "Rapport-Webhooks/1",
                "X-Rapport-Event": row.event,
                "X-Rapport-Delivery": str(row.id),
                "X-Rapport-Timestamp": str(timestamp),
                "X-Rapport-Signature": sign(subscription.secret, timestamp, body),
            },
        )
        response = connection.getresponse()
        response.read(65536)
        code = response.status
    except OSError as exc:
        return _retry(row, None, f"{type(exc).__name__}: {exc}")
    finally:
        connection.close()
    if 200 <= code < 300:
        return _finish(row, DeliveryStatus.DELIVERED, code, "")
    return _retry(row, code, f"HTTP {code}")


def _retry(row: WebhookDelivery, code: int | None, error: str) -> str:
    if row.attempts >= MAX_ATTEMPTS:
        return _finish(row, DeliveryStatus.FAILED, code, f"gave up after {row.attempts} attempts: {error}")
    _finish(row, DeliveryStatus.PENDING, code, error)
    _enqueue(row.id, BACKOFF_SECONDS * 2 ** (row.attempts - 1))
    return DeliveryStatus.PENDING


def _finish(row: WebhookDelivery, status: str, code: int | None, error: str) -> str:
    row.status, row.last_status_code, row.last_error = status, code, error[:2000]
    if status == DeliveryStatus.DELIVERED:
        row.delivered_at = timezone.now()
    row.save(update_fields=["status", "attempts", "last_status_code", "last_error", "delivered_at"])
    return status


# --- event subscriptions (wired in apps.ready) -----------------------------------------


def safely(handler: Any) -> Any:
    """Run after the publisher's commit: a webhook problem must never break the publisher."""

    def run(event: Any) -> None:
        try:
            handler(event)
        except Exception:
            log.exception("webhook fan-out failed for %r", event)

    return run


def on_case_opened(event: Any) -> None:
    publish("case.created", lambda: _case_data(event.case_id))


def on_case_handed_off(event: Any) -> None:
    publish("case.updated", lambda: _case_data(event.case_id) | {"change": "handed_off"})


def on_case_resolved(event: Any) -> None:
    publish("case.resolved", lambda: _case_data(event.case_id))


def on_interaction(event: Any) -> None:
    publish(
        "interaction.created",
        {
            "interaction_id": event.interaction_id,
            "customer_id": event.customer_id,
            "channel": event.channel,
            "at": event.at.isoformat(),
        },
    )


def _case_data(case_id: int) -> dict[str, Any]:
    from rapport.cases.models import Case

    case = Case.objects.filter(id=case_id).select_related("owner").first()
    if case is None:
        return {"case_id": case_id}
    return {
        "case_id": case.id,
        "reference": case.reference,
        "customer_id": case.customer_id,
        "type": case.type,
        "status": case.status,
        "priority": case.priority,
        "owner": case.owner.username if case.owner else None,
    }
