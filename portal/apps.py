from django.apps import AppConfig


class PortalConfig(AppConfig):
    name = "portal"
    verbose_name = "Platform portal: workspaces, usage, operator console"

    def ready(self) -> None:
        from portal import metering  # noqa: F401  (usage is metered from the audit trail as it is written)
