from django.apps import AppConfig


class ValueConfig(AppConfig):
    name = "rapport.value"
    label = "value"
    verbose_name = "Value"

    def ready(self) -> None:
        from rapport.cases.services import register_team_route
        from rapport.cases.views import register_case_note
        from rapport.customers.forms import register_filter_choices
        from rapport.customers.panels import register_panel
        from rapport.customers.services import register_merge_step
        from rapport.value import queries, services, views

        register_merge_step(services.move_orders_on_merge)
        register_panel("value", views.customer_panel)
        register_team_route(queries.dedicated_team)  # the dedicated helpline of a care tier
        register_case_note("value", views.case_note)
        register_filter_choices("segment", queries.segment_choices)
        register_filter_choices("tier", queries.tier_choices)
