"""Where a study stands in the setup wizard (create -> demographics -> keys -> importing -> measures -> done)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from datasets.models import Dataset, DatasetKind, DatasetVersion, IngestJob, IngestStatus, Study

STEP_CREATE = "create"
STEP_DEMOGRAPHICS = "demographics"
STEP_KEYS = "keys"
STEP_IMPORTING = "importing"
STEP_MEASURES = "measures"
STEP_DONE = "done"

WIZARD_STEPS: list[tuple[str, str]] = [
    (STEP_CREATE, "Create the study"),
    (STEP_DEMOGRAPHICS, "Upload demographics"),
    (STEP_KEYS, "Confirm key columns"),
    (STEP_MEASURES, "Upload measures"),
]


@dataclass
class SetupState:
    """Where a study stands in its setup, and the facts each wizard step shows."""

    step: str
    demographics_version: DatasetVersion | None = None
    demographics_job: IngestJob | None = None
    measure_count: int = 0

    @property
    def is_complete(self) -> bool:
        return self.step == STEP_DONE

    @property
    def has_data(self) -> bool:
        return self.demographics_version is not None

    @property
    def failed_job(self) -> IngestJob | None:
        job = self.demographics_job
        return job if job is not None and job.status == IngestStatus.FAILED else None

    def steps(self) -> list[dict[str, Any]]:
        """The wizard's steps with their state (done / current / todo) for the step indicator."""
        current = STEP_KEYS if self.step == STEP_IMPORTING else self.step
        order = [key for key, _ in WIZARD_STEPS]
        position = order.index(current) if current in order else len(order)
        return [
            {
                "key": key,
                "label": label,
                "number": index + 1,
                "state": "done" if index < position else ("current" if index == position else "todo"),
            }
            for index, (key, label) in enumerate(WIZARD_STEPS)
        ]


def study_setup_state(study: Study, *, staged: bool = False) -> SetupState:
    """The wizard step a study is at. ``staged``: a demographics file waits for its key columns to be confirmed.

    Like BDT, a study holding only its demographics table is not fully set up (the measures step follows).
    """
    demographics_version = study.demographics.latest_version() if study.demographics_id else None  # type: ignore[union-attr]
    measure_count = (
        Dataset.objects.filter(study=study, kind=DatasetKind.MEASURE, versions__isnull=False).distinct().count()
    )
    job = IngestJob.objects.filter(study=study, kind=DatasetKind.DEMOGRAPHICS).order_by("-created_at").first()
    state = SetupState(
        step=STEP_DEMOGRAPHICS,
        demographics_version=demographics_version,
        demographics_job=job,
        measure_count=measure_count,
    )
    if demographics_version is not None:
        state.step = STEP_DONE if measure_count else STEP_MEASURES
    elif study.keys_confirmed and job is not None and not job.is_finished and not staged:
        state.step = STEP_IMPORTING
    elif staged:
        state.step = STEP_KEYS
    return state
