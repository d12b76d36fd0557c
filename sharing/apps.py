from django.apps import AppConfig


class SharingConfig(AppConfig):
    name = "sharing"
    verbose_name = "Contributions of studies across workspaces"

    def ready(self) -> None:
        from datasets.study_origins import study_origin_source_register
        from sharing import usage  # noqa: F401  (the contributing lab's record of every use)
        from sharing.origins import ContributionOrigins

        study_origin_source_register(ContributionOrigins())
