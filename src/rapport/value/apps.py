from django.apps import AppConfig


class ValueConfig(AppConfig):
    name = "rapport.value"
    label = "value"
    verbose_name = "Value"

    def ready(self) -> None:
        from rapport.customers.panels import register_panel
        from rapport.customers.services import register_merge_step
        from rapport.value import services, views

        register_merge_step(services.move_orders_on_merge)
        register_panel("value", views.customer_panel)
