"""Pages: studies, the study setup wizard, uploads, the catalog, dataset pages and history.

Views are thin: they read through selectors, write through services, and turn the services' errors into pages
(404, 403 with the reason) or form messages (invalid input, conflicts).
"""

from studies.views.catalog import dataset_column_meta, dataset_detail, dataset_dictionary
from studies.views.new_study import (
    study_draft_cancel,
    study_draft_demographics,
    study_draft_discard,
    study_draft_ingest,
    study_draft_keys,
    study_draft_setup,
    study_new,
)
from studies.views.setup import study_setup, study_setup_demographics, study_setup_discard, study_setup_keys
from studies.views.studies import (
    study_detail,
    study_history_view,
    study_keys_repair,
    study_list,
    study_slug_suggestion,
)
from studies.views.uploads import ingest_status, study_upload, upload_check, upload_row

__all__ = [
    "dataset_column_meta",
    "dataset_detail",
    "dataset_dictionary",
    "ingest_status",
    "page_errors",
    "study_detail",
    "study_draft_cancel",
    "study_draft_demographics",
    "study_draft_discard",
    "study_draft_ingest",
    "study_draft_keys",
    "study_draft_setup",
    "study_history_view",
    "study_keys_repair",
    "study_list",
    "study_new",
    "study_setup",
    "study_setup_demographics",
    "study_setup_discard",
    "study_setup_keys",
    "study_slug_suggestion",
    "study_upload",
    "upload_check",
    "upload_row",
]
