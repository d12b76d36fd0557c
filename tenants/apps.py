from django.apps import AppConfig


class TenantsConfig(AppConfig):
    name = "tenants"
    verbose_name = "Tenants and identity"

    def ready(self) -> None:
        from core.monitoring.usage import schema_labeller_register
        from tenants import permissions, signals  # noqa: F401  (guardian rails, login/logout audit receivers)
        from tenants.selectors import tenant_slug_for_schema

        schema_labeller_register(tenant_slug_for_schema)
