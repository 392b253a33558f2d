from __future__ import annotations

from django.apps import AppConfig


class WiringConfig(AppConfig):
    name = "rapport.wiring"
    label = "wiring"
    verbose_name = "Wiring between apps"

    def ready(self) -> None:
        from rapport.feedback import delivery
        from rapport.wiring import invitations

        # Survey invitations go out by email through channels' outbox (same transaction as
        # the invitation; sent after commit, at most once) instead of waiting to be sent by hand.
        delivery.register_sender("channels.email", invitations.send_by_email)
