"""How the settings page names, groups and measures the workspace settings (``core.config.SETTINGS``).

Keys stay the identifiers of the API and the audit log; people read a label, a group, a unit and, for settings
with a fixed set of values, a choice list.
"""

from __future__ import annotations

from dataclasses import dataclass

GIB = 1024**3


@dataclass(frozen=True)
class SettingLabel:
    group: str
    label: str
    unit: str = ""  # shown after the field: "seconds", "GiB" (the field is in GiB, the setting in bytes), ...
    choices: tuple[tuple[str, str], ...] = ()  # (value, words) for a select


PRIVACY = "Privacy and access"
SIGN_IN = "Sign-in and tokens"
STORAGE = "Storage and uploads"
LIMITS = "Query limits"
ANALYSIS = "Analysis"
GROUPS = (PRIVACY, SIGN_IN, STORAGE, LIMITS, ANALYSIS)

LEVEL_CHOICES = (
    ("metadata", "Metadata: catalog and data dictionary only"),
    ("count", "Count: protected counts, no rows"),
    ("query", "Query: rows, runs and plots"),
    ("export", "Export: rows and downloads"),
)

LABELS: dict[str, SettingLabel] = {
    "analyst_default_level": SettingLabel(PRIVACY, "What analysts get without a grant", choices=LEVEL_CHOICES),
    "suppression_threshold": SettingLabel(PRIVACY, "Smallest group shown to count-only access", "participants"),
    "disclosure_max_noise": SettingLabel(PRIVACY, "Largest noise added to protected counts", "participants"),
    "disclosure_noise_variance": SettingLabel(PRIVACY, "Spread (variance) of that noise"),
    "count_budget_result_sets": SettingLabel(PRIVACY, "Different questions a count-only analyst may ask", "per window"),
    "count_budget_window_hours": SettingLabel(PRIVACY, "Length of that window", "hours"),
    "mfa_required": SettingLabel(SIGN_IN, "Require two-factor sign-in for every member"),
    "token_default_expiry_days": SettingLabel(SIGN_IN, "New API tokens last", "days"),
    "token_max_expiry_days": SettingLabel(SIGN_IN, "Longest an API token may last", "days"),
    "invitation_expiry_days": SettingLabel(SIGN_IN, "Invitation links stay valid for", "days"),
    "api_rate_limit": SettingLabel(SIGN_IN, "API requests per caller", "e.g. 1200/m"),
    "storage_quota_bytes": SettingLabel(STORAGE, "Storage for dataset files", "GiB"),
    "upload_max_bytes": SettingLabel(STORAGE, "Largest upload", "GiB"),
    "max_columns": SettingLabel(STORAGE, "Most columns in a dataset", "columns"),
    "setup_upload_retention_hours": SettingLabel(STORAGE, "Unfinished wizard uploads are kept for", "hours"),
    "count_timeout_seconds": SettingLabel(LIMITS, "Live count time limit", "seconds"),
    "query_timeout_seconds": SettingLabel(LIMITS, "Query run time limit", "seconds"),
    "max_result_rows": SettingLabel(LIMITS, "Most rows in a result", "rows"),
    "max_result_cells": SettingLabel(LIMITS, "Most cells in a result", "cells"),
    "max_concurrent_runs": SettingLabel(LIMITS, "Runs computing at once (workspace)", "runs"),
    "max_queued_runs": SettingLabel(LIMITS, "Runs waiting or computing (workspace)", "runs"),
    "max_queued_runs_per_user": SettingLabel(LIMITS, "Runs waiting or computing (per member)", "runs"),
    "interactive_per_user": SettingLabel(LIMITS, "Counts and previews at once (per member)", "requests"),
    "interactive_per_tenant": SettingLabel(LIMITS, "Counts and previews at once (workspace)", "requests"),
    "interactive_max_work": SettingLabel(LIMITS, "Largest count (rows scanned × conditions)", "evaluations"),
    "interactive_max_participants": SettingLabel(LIMITS, "Longest participant list in a count", "ids"),
    "analysis_sample_rows": SettingLabel(ANALYSIS, "Statistics and plots sample above", "rows"),
    "analysis_max_groups": SettingLabel(ANALYSIS, "Most groups in a comparison or crosstab", "groups"),
    "analysis_max_facets": SettingLabel(ANALYSIS, "Most panels in one plot", "panels"),
}


def label_of(key: str) -> SettingLabel:
    """The label of ``key`` (a setting added without one is listed under the limits by its key)."""
    return LABELS.get(key, SettingLabel(LIMITS, key.replace("_", " ").capitalize()))


def in_gib(key: str) -> bool:
    return label_of(key).unit == "GiB"


def bytes_as_gib(value: object) -> str:
    """A byte count as the GiB field shows it (``200``, ``1.5``); other values as text."""
    if isinstance(value, int) and not isinstance(value, bool):
        return f"{value / GIB:.3f}".rstrip("0").rstrip(".")
    return "" if value is None else str(value)


def gib_as_bytes(text: str) -> str:
    """A GiB field's text as the setting's byte count (text that is no number is passed on for the error)."""
    try:
        amount = float(text)
    except ValueError:
        return text
    return str(round(amount * GIB)) if amount == amount and abs(amount) != float("inf") else text
