"""Participant index stores of a study on the platform: counts answer the same before and after the build and read
the store once it exists; a new version, a deleted version or dataset, and a withdrawn or purged workspace never
leave a store answering or lying on disk with the data."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from django.conf import settings as django_settings
from django.core.cache import cache
from django.db import connection
from django_tenants.utils import tenant_context

from datasets.models import Study
from datasets.storage import participant_store_directory, tenant_participant_stores_remove
from queries.core.engines.duckdb_engine import DuckDBEngine
from queries.core.engines.participant_store import store_file
from queries.core.spec import spec_parse
from queries.execution import engine_create, query_prepare
from queries.participant_stores import participant_store_build, participant_store_location

pytestmark = pytest.mark.django_db

SPEC = {"filters": [{"dataset": "flanker", "column": "accuracy", "op": "gte", "value": 0.5}]}


@pytest.fixture(autouse=True)
def _own_cache(settings: Any, tmp_path: Path) -> None:
    settings.BDT_CACHE_DIR = tmp_path / "cache"
    cache.clear()


def _count(client: Any, spec: Any = SPEC) -> dict[str, int]:
    cache.clear()  # every count here is computed by the engine
    response = client.post("/api/v1/studies/memory/count", spec)
    assert response.status_code == 200, response.content
    return {key: response.json()[key] for key in ("participants", "rows")}


def _engine_count(tenant: Any, spec: Any = SPEC) -> tuple[tuple[int, int], str | None, Path]:
    """The count as the count service computes it, with the store the engine read (None: Parquet)."""
    with tenant_context(tenant):
        study = Study.objects.get(slug="memory")
        prepared = query_prepare(tenant=tenant, study=study, spec=spec_parse(spec), purpose="interactive")
        engine = engine_create(study, timeout_s=30, store=participant_store_location(study))
        assert isinstance(engine, DuckDBEngine)
        try:
            got = engine.count(prepared.validated, prepared.catalog)
        finally:
            engine.close()
        path = store_file(participant_store_directory(study.pk), prepared.catalog)
    connection.set_schema_to_public()  # type: ignore[attr-defined]
    return (got.participants, got.rows), engine.index_used, path


def _build(tenant: Any) -> str:
    """What the worker's task runs (queries.tasks.participant_store_build), in the tenant's schema."""
    with tenant_context(tenant):
        outcome = participant_store_build(Study.objects.get(slug="memory").pk)
    connection.set_schema_to_public()  # type: ignore[attr-defined]
    return outcome


def _study_directory(tenant: Any) -> Path:
    with tenant_context(tenant):
        path = participant_store_directory(Study.objects.get(slug="memory").pk)
    connection.set_schema_to_public()  # type: ignore[attr-defined]
    return path


def test_a_count_reads_the_store_once_built_and_answers_the_same(steward_api: Any, study: str, tenant_a: Any) -> None:
    before = _count(steward_api)
    counted, used, path = _engine_count(tenant_a)
    assert used is None and not path.exists()  # no store yet: Parquet, and a build was asked for
    # The build was asked for once for this set (a worker of the session may already have taken the task).
    with tenant_context(tenant_a):
        pk = Study.objects.get(slug="memory").pk
        asked = cache.get(f"participant-store:{tenant_a.schema_name}:{pk}:{path.stem}")
    connection.set_schema_to_public()  # type: ignore[attr-defined]
    assert asked == 1
    assert _build(tenant_a) == "built" and path.exists()
    assert _build(tenant_a) == "exists"
    assert _count(steward_api) == before == {"participants": 3, "rows": 3}
    counted_after, used, _ = _engine_count(tenant_a)
    assert counted_after == counted and used == path.stem


def test_a_store_of_older_versions_never_answers_after_a_new_version(
    steward_api: Any, study: str, tenant_a: Any, upload: Any
) -> None:
    _build(tenant_a)
    _, used, old = _engine_count(tenant_a)
    assert used == old.stem
    _, ingest = upload("memory", "participant_id,session,accuracy\n001,BAS1,0.55\n", "flanker", kind="measure")
    assert ingest is not None and ingest["status"] == "succeeded", ingest
    counted, used, new = _engine_count(tenant_a)
    assert counted == (1, 1) and used is None and new != old  # the new set has no store yet: Parquet
    assert _count(steward_api) == {"participants": 1, "rows": 1}
    assert _build(tenant_a) == "built"
    assert not old.exists() and new.exists()  # the older set's store went with the build of the new one
    assert _engine_count(tenant_a)[1] == new.stem


@pytest.mark.parametrize("what", ["version", "dataset"])
def test_deleting_data_removes_the_stores_that_hold_it(
    steward_api: Any,
    study: str,
    tenant_a: Any,
    upload: Any,
    what: str,
    django_capture_on_commit_callbacks: Any,
) -> None:
    _, ingest = upload("memory", "participant_id,session,accuracy\n001,BAS1,0.55\n", "flanker", kind="measure")
    assert ingest is not None and ingest["status"] == "succeeded"
    _build(tenant_a)
    directory = _study_directory(tenant_a)
    assert [p.suffix for p in directory.iterdir()] == [".duckdb"]
    url = "/api/v1/studies/memory/datasets/flanker" + ("/versions/2" if what == "version" else "")
    with django_capture_on_commit_callbacks(execute=True):
        response = steward_api.delete(url)
    assert response.status_code == 200, response.content
    assert not directory.exists()  # no file of the study holds the deleted rows any more
    if what == "version":  # counts go on over Parquet at the remaining versions
        counted, used, _ = _engine_count(tenant_a)
        assert counted == (3, 3) and used is None
    else:
        refused = steward_api.post("/api/v1/studies/memory/count", SPEC)
        assert refused.status_code == 422, refused.content
        counted, used, _ = _engine_count(tenant_a, {})
        assert used is None


def test_a_purged_workspace_leaves_no_store(study: str, tenant_a: Any) -> None:
    _build(tenant_a)
    directory = _study_directory(tenant_a)
    assert directory.exists()
    tenant_participant_stores_remove(tenant_a.schema_name)  # what workspace_purge calls after dropping the schema
    assert not directory.exists() and not directory.parent.exists()
    tenant_participant_stores_remove("../..")  # never a path outside the stores
    assert Path(django_settings.BDT_CACHE_DIR).exists()
