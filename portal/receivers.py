"""The study wizard's "who can see this study?": the level chosen for analysts becomes the study's default in the
transaction that registers the study's first table, so the study is never open wider than chosen, not even for a
moment. If the default cannot be set (the creator lost the steward role meanwhile), the registration fails."""

from __future__ import annotations

from typing import Any

from django.db import connection
from django.dispatch import receiver

from access.models import Grant
from access.services import grant_create
from datasets.events import dataset_registered
from datasets.models import Dataset, IngestJob
from tenants.roles import Role


@receiver(dataset_registered, dispatch_uid="portal.study_default_level")
def _study_default_level(sender: Any, *, dataset: Dataset, **kwargs: Any) -> None:
    study = dataset.study
    job = (
        IngestJob.objects.filter(study=study, new_study__has_key="study_default_level")
        .order_by("-pk")
        .only("new_study", "created_by")
        .first()
    )
    if job is None or Grant.objects.filter(study=study, role=Role.ANALYST).exists():
        return
    grant_create(
        tenant=connection.tenant,  # type: ignore[attr-defined]
        actor=job.created_by,
        study=study,
        role=Role.ANALYST,
        level=str(job.new_study["study_default_level"]),
        reason="Chosen when the study was created (who can see this study?).",
        source="study_default",
    )
