from django.apps import AppConfig


class HarmonizationConfig(AppConfig):
    default_auto_field = "django.db.models.BigAutoField"
    name = "harmonization"
    verbose_name = "Harmonized variables, federated counts and runs, discovery"
