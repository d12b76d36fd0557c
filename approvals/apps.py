from django.apps import AppConfig


class ApprovalsConfig(AppConfig):
    name = "approvals"
    verbose_name = "Access requests, data-use agreements and notifications"

    def ready(self) -> None:
        from approvals import departures  # noqa: F401  (a member who leaves takes their pending requests)
