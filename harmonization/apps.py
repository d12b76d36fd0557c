from django.apps import AppConfig


class HarmonizationConfig(AppConfig):
    default_auto_field = "django.db.models.BigAutoField"
    name = "harmonization"
    verbose_name = "Harmonized variables, federated counts and runs, discovery"

    def ready(self) -> None:
        from harmonization import receivers  # noqa: F401  (workers advance federated runs when a part ends)
        from harmonization.run_extension import FEDERATED_RUNS
        from queries.run_extensions import run_extension_register

        run_extension_register(FEDERATED_RUNS)  # federated runs answer at queries/{id} like any run
