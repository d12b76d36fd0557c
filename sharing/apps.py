from typing import Any

from django.apps import AppConfig
from django.db.models.signals import pre_delete


class SharingConfig(AppConfig):
    name = "sharing"
    verbose_name = "Contributions of studies across workspaces"

    def ready(self) -> None:
        from datasets.study_origins import study_origin_source_register
        from sharing import departures, usage  # noqa: F401  (members who leave; the lab's record of every use)
        from sharing.origins import ContributionOrigins

        study_origin_source_register(ContributionOrigins())
        pre_delete.connect(_workspace_deleted, sender="tenants.Tenant", dispatch_uid="sharing.lab_deleted")


def _workspace_deleted(sender: type, instance: Any, **kwargs: Any) -> None:
    """A workspace is about to be deleted: the contributions it made or received stay on record, withdrawn."""
    from sharing.services import contributions_of_deleted_lab, contributions_to_deleted_consortium

    contributions_of_deleted_lab(instance)
    contributions_to_deleted_consortium(instance)
