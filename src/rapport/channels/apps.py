from django.apps import AppConfig


class ChannelsConfig(AppConfig):
    name = "rapport.channels"
    label = "channels"
    verbose_name = "Channels"

    def ready(self) -> None:
        # cases writes public replies and its CustomerUpdate outbox without knowing about
        # email; we turn each new row into an outbound email in the same transaction, so
        # an email exists exactly when the reply committed.
        from django.db.models.signals import post_save

        from rapport.cases.models import CaseMessage, CustomerUpdate
        from rapport.channels import outbound

        def message_saved(sender: type, instance: CaseMessage, created: bool, **kwargs: object) -> None:
            if created and not kwargs.get("raw"):
                outbound.on_case_message(instance)

        def update_saved(sender: type, instance: CustomerUpdate, created: bool, **kwargs: object) -> None:
            if created and not kwargs.get("raw"):
                outbound.queue_customer_update(instance)

        post_save.connect(message_saved, sender=CaseMessage, dispatch_uid="channels.case_message", weak=False)
        self._subscribe_webhooks()
        post_save.connect(update_saved, sender=CustomerUpdate, dispatch_uid="channels.customer_update", weak=False)

    @staticmethod
    def _subscribe_webhooks() -> None:
        from rapport.cases.events import CaseHandedOff, CaseOpened, CaseResolved
        from rapport.channels import webhooks
        from rapport.core import events
        from rapport.customers.events import InteractionLogged

        wiring = (
            (CaseOpened, webhooks.on_case_opened),
            (CaseHandedOff, webhooks.on_case_handed_off),
            (CaseResolved, webhooks.on_case_resolved),
            (InteractionLogged, webhooks.on_interaction),
        )
        for event_type, handler in wiring:
            events.subscribe(event_type, webhooks.safely(handler))
