from django.apps import AppConfig


class AccessConfig(AppConfig):
    name = "access"
    verbose_name = "Dataset access levels, grants and teams"

    def ready(self) -> None:
        from access import receivers  # noqa: F401  (member removal and dataset registration)
