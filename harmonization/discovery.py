"""The public discovery catalog: studies their owners or stewards opted in, across every workspace.

What a visitor sees of a discoverable study is metadata only: its workspace, name and description, its datasets with
column names and types (identifying columns left out), the harmonized variables it has a source for, and its
participant count rounded to 10, or nothing when it is below the study's small-cell threshold. No values, no
statistics of individuals. A study that is not discoverable is absent (not listed, not found by search).
"""

from __future__ import annotations

from typing import Any

from django.db import connection
from django.db.models import QuerySet
from django_tenants.utils import get_public_schema_name, tenant_context

from access.suppression import suppression_threshold
from datasets.models import Dataset, Study
from harmonization.models import HarmonizedVariable
from queries.execution import study_latest_versions
from tenants.models import Tenant, frozen_q

ROUND_TO = 10


def shown_participants(participants: int | None, threshold: int) -> int | None:
    """A participant count as the catalog shows it: rounded to 10, None below the threshold k."""
    if participants is None or participants < threshold:
        return None
    return max(ROUND_TO, (participants + ROUND_TO // 2) // ROUND_TO * ROUND_TO)


def _identifying(dataset: Dataset) -> set[str]:
    return {
        name
        for name, meta in (dataset.column_meta or {}).items()
        if isinstance(meta, dict) and meta.get("sensitivity") == "identifying"
    }


def _study_entry(tenant: Tenant, study: Study, variables: list[HarmonizedVariable]) -> dict[str, Any]:
    latest = study_latest_versions(study)
    datasets = []
    for dataset in Dataset.objects.filter(study=study).order_by("kind", "name"):
        version = latest.get(dataset.name)
        hidden = _identifying(dataset)
        columns = [
            {"name": c["name"], "type": c["type"]}
            for c in (version.columns if version else [])
            if c["name"] not in hidden
        ]
        datasets.append({"name": dataset.name, "title": dataset.title, "columns": columns})
    demographics = latest.get(study.demographics.name) if study.demographics else None
    return {
        "workspace": tenant.slug,
        "workspace_name": tenant.name,
        "workspace_kind": tenant.kind,
        "study": study.slug,
        "name": study.name,
        "description": study.description,
        "participants": shown_participants(
            demographics.participants if demographics else None, suppression_threshold(tenant=tenant, study=study)
        ),
        "datasets": datasets,
        "variables": [
            {"name": v.name, "type": v.type, "unit": v.unit, "label": v.label}
            for v in variables
            if any(source.get("study") == study.slug for source in v.sources or [])
        ],
    }


def _listed_workspaces() -> QuerySet[Tenant]:
    """Workspaces whose discoverable studies are shown: not suspended and not scheduled for deletion (those answer
    403 even to their members, who can neither opt out nor read the requests visitors leave)."""
    return Tenant.objects.exclude(schema_name=get_public_schema_name()).exclude(frozen_q())


def catalog_entries() -> list[dict[str, Any]]:
    """Every discoverable study of every listed workspace (workspace, then study name order)."""
    entries: list[dict[str, Any]] = []
    for tenant in _listed_workspaces().order_by("slug"):
        with tenant_context(tenant):
            studies = list(Study.objects.filter(discoverable=True).select_related("demographics").order_by("name"))
            if not studies:
                continue
            variables = list(HarmonizedVariable.objects.order_by("name"))
            entries += [_study_entry(tenant, study, variables) for study in studies]
    connection.set_schema_to_public()  # type: ignore[attr-defined]
    return entries


def _text_of(entry: dict[str, Any]) -> str:
    parts = [entry["workspace"], entry["workspace_name"], entry["study"], entry["name"], entry["description"]]
    for dataset in entry["datasets"]:
        parts += [dataset["name"], dataset["title"], *(c["name"] for c in dataset["columns"])]
    parts += [f"{v['name']} {v['label']}" for v in entry["variables"]]
    return " ".join(str(p) for p in parts).casefold()


def catalog_search(query: str = "") -> list[dict[str, Any]]:
    """Discoverable studies whose metadata holds every word of ``query`` (case-insensitive)."""
    words = [word for word in query.casefold().split() if word][:20]
    entries = catalog_entries()
    if not words:
        return entries
    return [entry for entry in entries if all(word in _text_of(entry) for word in words)]


def catalog_entry(workspace: str, study: str) -> dict[str, Any] | None:
    """One discoverable study, or None (absent and not discoverable are the same answer)."""
    return next((e for e in catalog_entries() if e["workspace"] == workspace and e["study"] == study), None)
