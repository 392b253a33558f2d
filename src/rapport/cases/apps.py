from django.apps import AppConfig


class CasesConfig(AppConfig):
    name = "rapport.cases"
    label = "cases"
    verbose_name = "Cases"

    def ready(self) -> None:
        from rapport.cases import services
        from rapport.customers.services import register_merge_step

        register_merge_step(services.move_cases_on_merge)
