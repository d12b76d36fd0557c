from django.apps import AppConfig


class TenantsConfig(AppConfig):
    name = "tenants"
    verbose_name = "Tenants and identity"

    def ready(self) -> None:
        from tenants import permissions, signals  # noqa: F401  (guardian rails, login/logout audit receivers)
