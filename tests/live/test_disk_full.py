"""The storage disk fills up during an ingest and during an export: a clear error, nothing half-written, and the
platform works again once space is free, without a restart.

Storage, scratch and cache directories are put on a small tmpfs of the test's own (mounting needs root; without
it the test is skipped with that reason). The filler file stands for everybody else's data."""

from __future__ import annotations

import contextlib
import os
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.live.conftest import WORKER_ENV
from tests.live.data import cohort_csv, study_with_data
from tests.live.stack import LiveStack

pytestmark = pytest.mark.worker

SIZE_MB = 48


def _free(path: Path) -> int:
    stats = os.statvfs(path)
    return stats.f_bavail * stats.f_frsize


def _fill(path: Path, leave: int) -> Path:
    """Write a filler file so that about ``leave`` bytes stay free."""
    filler = path / "filler.bin"
    filler.unlink(missing_ok=True)
    with open(filler, "wb") as handle:
        handle.truncate(0)
        for size in (1024 * 1024, 64 * 1024, 4 * 1024):  # MiB steps, then finer ones: about ``leave`` stays free
            chunk = b"\0" * size
            while _free(path) - len(chunk) > leave:
                handle.write(chunk)
                handle.flush()
                os.fsync(handle.fileno())
    return filler


@pytest.fixture(scope="module")
def small_disk(stack: LiveStack) -> Iterator[Path]:
    mount = stack.base / "small"
    mount.mkdir()
    done = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={SIZE_MB}m", "tmpfs", str(mount)], capture_output=True)
    if done.returncode != 0:
        pytest.skip(f"a small tmpfs is needed to fill a disk safely: {done.stderr.decode().strip()}")
    disk = {
        "BDT_TEST_MEDIA_ROOT": str(mount / "media"),
        "BDT_WORK_DIR": str(mount / "work"),
        "BDT_CACHE_DIR": str(mount / "cache"),
    }
    try:
        stack.start_web(disk)
        stack.start_worker({**WORKER_ENV, **disk})
        yield mount
    finally:
        stack.start_web()
        stack.start_worker(WORKER_ENV)
        with contextlib.suppress(Exception):
            subprocess.run(["umount", "-l", str(mount)], capture_output=True, timeout=30, check=False)


def _files(mount: Path) -> list[str]:
    return sorted(str(p.relative_to(mount)) for p in mount.rglob("*") if p.is_file() and p.name != "filler.bin")


def _whole_stores(mount: Path) -> list[Path]:
    stores = mount / "cache" / "participant-store"
    files = list(stores.rglob("*.duckdb")) if stores.exists() else []
    return [p for p in files if not p.name.startswith(".")]


def _stores_settled(mount: Path, stores: int, timeout_s: float = 60) -> None:
    """Wait until the worker has written ``stores`` participant index stores and no build is under way (its own
    work, started by each new version, not by the ingest or export under test)."""
    deadline = time.monotonic() + timeout_s
    folder = mount / "cache" / "participant-store"
    while time.monotonic() < deadline:
        building = [p for p in folder.rglob("*") if ".part" in p.name] if folder.exists() else []
        if len(_whole_stores(mount)) >= stores and not building:
            return
        time.sleep(0.2)
    raise AssertionError(f"{stores} participant index stores were not written within {timeout_s} s")


def test_disk_full_during_ingest_registers_nothing(stack: LiveStack, small_disk: Path) -> None:
    owner = stack.api("lab-y")
    stores = len(_whole_stores(small_disk))
    study_with_data(owner, "tight", cohort_csv(2000), sessions=False)
    _stores_settled(small_disk, stores + 1)
    before = _files(small_disk)
    measure = b"participant_id,note\n" + b"".join(b"P%06d,%s\n" % (i, b"x" * 90) for i in range(100_000))
    filler = _fill(small_disk, leave=len(measure) + len(measure) // 2)  # room to stage it, not to register it
    try:
        uploaded = owner.upload("tight", "notes", measure)
        assert uploaded.status == 202, uploaded.body
        failed = owner.ingest_done(uploaded.body["ingest"]["id"])
        assert failed["status"] == "failed" and failed["error"]["code"] == "storage_full", failed
        assert "space" in failed["error"]["message"] and failed["version"] is None
        datasets = owner.get("/api/v1/studies/tight/datasets").body
        names = [d["name"] for d in (datasets["items"] if isinstance(datasets, dict) else datasets)]
        assert "notes" not in names
        assert _files(small_disk) == before  # staged upload, partial copies and scratch files all gone
    finally:
        filler.unlink()
    again = owner.upload("tight", "notes", measure)
    assert owner.ingest_done(again.body["ingest"]["id"])["status"] == "succeeded"


def test_disk_full_during_export_answers_507_and_leaves_nothing(stack: LiveStack, small_disk: Path) -> None:
    owner = stack.api("lab-y")
    stores = len(_whole_stores(small_disk))
    study_with_data(owner, "exported", cohort_csv(60_000), sessions=False)
    _stores_settled(small_disk, stores + 1)
    run = owner.post("/api/v1/studies/exported/queries", {})
    assert owner.run_done(run.body["id"])["status"] == "succeeded"
    before = _files(small_disk)
    filler = _fill(small_disk, leave=256 * 1024)
    try:
        full = owner.get(f"/api/v1/queries/{run.body['id']}/export?format=csv&purpose=testing")
        assert full.status == 507, (full.status, full.body)
        assert full.body["error"]["code"] == "storage_full" and "space" in full.body["error"]["message"]
        assert _files(small_disk) == before  # no partial export left in the scratch directory
        assert stack.get("/api/v1/health", host="lab-y.test").status == 200
    finally:
        filler.unlink()
    export = owner.get(f"/api/v1/queries/{run.body['id']}/export?format=csv&purpose=testing")
    assert export.status == 200 and export.body.startswith(b"participant_id,")  # the same web process recovered
