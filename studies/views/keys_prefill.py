"""The wizard's preselected key columns: from a BDT configuration (read the way BDT reads it), the study's own, or
suggestions from the header, plus the notes the keys step shows."""

from __future__ import annotations

from dataclasses import dataclass, field, replace

from datasets.ingest import BdtConfig, IngestError, KeyColumns, dataset_slug, read_keys, suggest_key_columns
from datasets.ingest.keys import words
from datasets.models import Study

ROLE_OF = {
    "id_column": "id",
    "session_column": "session",
    "age_column": "age",
    "sex_column": "sex",
    "site_column": "site",
}


@dataclass
class KeyPrefill:
    """Initial values of the keys form and what the page says about them."""

    initial: dict[str, str]
    notes: list[str] = field(default_factory=list)


def _composite_guess(header: list[str], session: str) -> str:
    """BDT's customID-style column when the data is longitudinal."""
    if not session:
        return ""
    return next((name for name in header if words(name) == ["custom", "id"]), "")


def key_prefill(
    header: list[str],
    filename: str,
    *,
    study: Study | None = None,
    config: BdtConfig | None = None,
    config_name: str = "the configuration",
) -> KeyPrefill:
    """The key columns to preselect for a demographics file with ``header``."""
    suggested = suggest_key_columns(header)
    notes: list[str] = []
    if config is not None:
        configured = KeyColumns.from_mapping(config.with_bdt_defaults().study_settings())
        try:
            reading = read_keys(configured, header, source=config_name, where="below")
        except IngestError as exc:
            notes.append(f"{exc.message} The suggested id column is preselected instead.")
            fallback = replace(configured, id_column=suggested.id or header[0])
            reading = read_keys(fallback, header, source=config_name, where="below")
        notes.extend(warning.message for warning in reading.warnings)
        initial = {role: value or "" for role, value in reading.keys.as_dict().items()}
    else:
        initial = {}
        for key, attribute in ROLE_OF.items():
            current = getattr(study, key) if study is not None else ""
            guess = getattr(suggested, attribute, None)
            initial[key] = current if current and current in header else (guess if guess in header else "")
        current = study.composite_id_column if study is not None else ""
        initial["composite_id_column"] = (
            current if current and current in header else _composite_guess(header, initial["session_column"])
        )
    if study is not None and study.demographics_id:
        initial["dataset_name"] = study.demographics.name  # type: ignore[union-attr]
    else:
        initial["dataset_name"] = (config.demographics_slug if config else None) or dataset_slug(filename)
    return KeyPrefill(initial=initial, notes=notes)
