"""The shared read-only study (``study_ro``, tests/plugins/studies.py) is the study ``study`` registers, and its
guard sees every kind of change a test could make to it."""

from __future__ import annotations

import dataclasses
import shutil
from pathlib import Path
from typing import Any

import pytest
from django.db import connection
from django_tenants.utils import tenant_context

from access.services import grant_create
from datasets.models import Dataset, DatasetVersion, Study
from tenants.models import User
from tests.plugins.studies import SHARED_STEWARD, STUDY_PARTS, SharedStudy, _shared_changes

pytestmark = pytest.mark.django_db


def _catalog(tenant: Any) -> list[tuple[Any, ...]]:
    """What a query reads of "memory": the study's keys and each dataset's live version (content and profile)."""
    with tenant_context(tenant):
        study = Study.objects.get(slug="memory")
        keys = (study.id_column, study.session_column, study.age_column, study.sex_column, study.site_column)
        rows: list[tuple[Any, ...]] = [keys, (study.demographics.name if study.demographics else None,)]
        for version in DatasetVersion.objects.filter(dataset__study=study).order_by("dataset__name", "number"):
            rows.append(
                (version.dataset.name, version.dataset.kind, version.number, version.sha256, version.parquet_sha256)
            )
            rows.append((version.row_count, version.participants, version.sessions, version.columns))
    connection.set_schema_to_public()
    return rows


def test_the_shared_study_is_the_study_the_api_registers(
    study: str, tenant_a: Any, _shared_memory: SharedStudy
) -> None:
    assert _catalog(_shared_memory.tenant) == _catalog(tenant_a)
    assert _shared_memory.tenant.slug != tenant_a.slug


def test_a_test_on_the_shared_study_works_in_its_workspace(study_ro: str, tenant_a: Any, steward_api: Any) -> None:
    assert tenant_a.slug == "lab-memory" and study_ro == "memory"
    counted = steward_api.post("/api/v1/studies/memory/count", {})
    assert counted.status_code == 200 and counted.json()["participants"] == 4


def test_the_guard_sees_changed_rows_and_grants(_shared_memory: SharedStudy, db: None) -> None:
    shared = _shared_memory
    assert _shared_changes(shared, STUDY_PARTS) == []
    with tenant_context(shared.tenant):
        Study.objects.filter(slug="memory").update(site_column="")
    connection.set_schema_to_public()
    assert _shared_changes(shared, STUDY_PARTS) == ["study"]
    with tenant_context(shared.tenant):
        Dataset.objects.filter(study__slug="memory", name="flanker").update(column_meta={"rt": {"note": "x"}})
        DatasetVersion.objects.filter(dataset__name="cognitive").update(note="changed")
        grant_create(
            tenant=shared.tenant,
            actor=User.objects.get(email=SHARED_STEWARD),
            study=Study.objects.get(slug="memory"),
            role="analyst",
            level="count",
        )
    connection.set_schema_to_public()
    assert _shared_changes(shared, STUDY_PARTS) == ["study", "datasets", "versions", "grants"]


def test_the_guard_sees_changed_and_missing_files(_shared_memory: SharedStudy, db: None, tmp_path: Path) -> None:
    copy = dataclasses.replace(_shared_memory, media_root=tmp_path)
    for name in copy.fingerprint["files"]:
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(_shared_memory.media_root / name, tmp_path / name)
    assert _shared_changes(copy, ("files",)) == []
    first, *_, last = sorted(copy.fingerprint["files"])
    with (tmp_path / first).open("ab") as handle:
        handle.write(b"\n")
    assert _shared_changes(copy, ("files",)) == ["files"]
    (tmp_path / first).write_bytes((_shared_memory.media_root / first).read_bytes())
    (tmp_path / last).unlink()
    assert _shared_changes(copy, ("files",)) == ["files"]
