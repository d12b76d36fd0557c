from django.apps import AppConfig


class AccessConfig(AppConfig):
    name = "access"
    verbose_name = "Dataset access levels, grants and teams"
