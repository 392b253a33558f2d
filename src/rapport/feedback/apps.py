from django.apps import AppConfig


class FeedbackConfig(AppConfig):
    name = "rapport.feedback"
    label = "feedback"
    verbose_name = "Feedback"

    def ready(self) -> None:
        from rapport.cases.events import CaseResolved
        from rapport.core import events
        from rapport.customers.panels import register_panel
        from rapport.customers.services import register_merge_step
        from rapport.feedback import services, views

        events.subscribe(CaseResolved, services.on_case_resolved)
        register_panel("feedback", views.customer_panel)
        register_merge_step(services.move_feedback_on_merge)
