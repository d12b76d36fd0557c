"""The small-cell threshold k of a study (disclosure control: ``access.protection`` and ``access.disclosure``)."""

from __future__ import annotations

from core.config import config_get
from datasets.models import Study
from datasets.study_origins import study_origin
from tenants.models import Tenant


def suppression_threshold(*, tenant: Tenant | None, study: Study) -> int:
    """k for ``study``: the workspace's threshold (its floor), raised by the study's own when that is higher, and
    for a study another workspace provides, never below the provider's."""
    origin = study_origin(study)
    floor = origin.threshold_floor if origin is not None else 0
    return max(int(config_get("suppression_threshold", tenant)), int(study.suppression_threshold or 0), floor)
