"""The node's cache of version files is only a cache: a registered version never depends on it, and workers
seeding the same file at once never spoil each other's copy."""

from __future__ import annotations

import os
import threading
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import duckdb
import pytest
from django_tenants.utils import tenant_context

from datasets.models import DatasetVersion
from datasets.storage import cache_dir, copy_local_into_cache, file_sha256, version_cache_path
from tests.csv_data import UPLOAD_DEMOGRAPHICS as DEMOGRAPHICS
from tests.plugins.datasets import study_files

pytestmark = pytest.mark.django_db


def _unusable_cache(settings: Any, tmp_path: Path) -> None:
    """Point the node's cache below a regular file: creating or writing it fails with a real OSError."""
    blocker = tmp_path / "not-a-directory"
    blocker.write_bytes(b"")
    settings.BDT_CACHE_DIR = blocker / "cache"


def test_a_cache_that_cannot_take_the_file_leaves_the_registered_version_whole(
    steward_api, make_study, upload, tenant_a, settings, tmp_path
) -> None:
    make_study("memory")
    _unusable_cache(settings, tmp_path)
    _, ingest = upload("memory", DEMOGRAPHICS, "demographics", kind="demographics")
    assert ingest["status"] == "succeeded" and ingest["version"] == 1 and ingest["error"] is None
    stored = study_files(tenant_a, "memory")
    assert [name.rsplit("/", 1)[-1] for name in stored] == ["data.parquet", "original.csv"]

    settings.BDT_CACHE_DIR = tmp_path / "cache"  # the node's cache works again, empty: every read is a miss
    with tenant_context(tenant_a):
        version = DatasetVersion.objects.get(dataset__study__slug="memory", dataset__name="demographics", number=1)
        path = version_cache_path(version.parquet_file, version.parquet_sha256)
    assert duckdb.connect().execute("SELECT count(*) FROM read_parquet(?)", [str(path)]).fetchone() == (5,)
    counted = steward_api.post("/api/v1/studies/memory/count", {})
    assert counted.status_code == 200 and counted.json()["participants"] == 3
    detail = steward_api.get("/api/v1/studies/memory/datasets/demographics").json()
    assert detail["latest_version"]["number"] == 1 and detail["latest_version"]["row_count"] == 5


def test_seeding_an_unusable_cache_is_a_miss_not_an_error(settings, tmp_path) -> None:
    source = tmp_path / "result.parquet"
    source.write_bytes(b"result bytes")
    _unusable_cache(settings, tmp_path)
    assert copy_local_into_cache(source, file_sha256(source)) is False
    assert source.read_bytes() == b"result bytes"


def test_two_workers_seeding_the_same_file_at_once_both_succeed_with_an_intact_copy(settings, tmp_path) -> None:
    settings.BDT_CACHE_DIR = tmp_path / "cache"
    source = tmp_path / "data.parquet"
    source.write_bytes(os.urandom(8 * 1024 * 1024))  # large enough for the two copies to overlap
    sha = file_sha256(source)
    target = cache_dir() / f"{sha}.parquet"

    def seed(start: threading.Barrier) -> bool:
        start.wait()
        return copy_local_into_cache(source, sha)

    for _ in range(5):
        target.unlink(missing_ok=True)
        start = threading.Barrier(2)
        with ThreadPoolExecutor(max_workers=2) as pool:
            outcomes = [future.result() for future in [pool.submit(seed, start), pool.submit(seed, start)]]
        assert outcomes == [True, True]
        assert file_sha256(target) == sha
        assert [path.name for path in cache_dir().iterdir()] == [target.name]  # no temporary file left behind
