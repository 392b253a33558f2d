from django.apps import AppConfig


class CasesConfig(AppConfig):
    name = "rapport.cases"
    label = "cases"
    verbose_name = "Cases"

    def ready(self) -> None:
        from rapport.cases import demo, services, views
        from rapport.customers.demo import register_demo_part
        from rapport.customers.panels import register_home_panel, register_panel
        from rapport.customers.services import register_merge_step

        register_merge_step(services.move_cases_on_merge)
        register_demo_part(demo.load_demo_cases)
        register_panel("cases", views.customer_panel)
        register_home_panel("cases", views.home_panel)
