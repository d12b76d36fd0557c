from django.apps import AppConfig


class PortalConfig(AppConfig):
    name = "portal"
    verbose_name = "Platform portal: workspaces, usage, operator console"

    def ready(self) -> None:
        from portal import metering, receivers  # noqa: F401  (usage metering; the new study's analyst level)
