"""Studies and uploads through the client: streamed multipart, upload then ingest progress, versions, failures."""

from __future__ import annotations

import uuid
from pathlib import Path
from typing import Any

import pytest

from bdt_client import Client, IngestFailed, Progress, TooLarge
from bdt_client.errors import PermissionDenied
from tests.client.conftest import tenant_settings

pytestmark = pytest.mark.worker


def _demographics(path: Path, people: int, *, duplicate: bool = False) -> Path:
    lines = ["participant_id,age,site,notes"]
    lines += [f"S{i:05d},{20 + i % 60},{'North' if i % 2 else 'South'},{'x' * 40}" for i in range(people)]
    if duplicate:
        lines.append(lines[1])
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


@pytest.fixture
def steward(connect: Any) -> Client:
    return connect("steward")


def _new_study(client: Client) -> str:
    slug = f"up-{uuid.uuid4().hex[:8]}"
    study = client.studies.create(slug, "Upload study", id_column="participant_id", description="from the client")
    assert (study.slug, study.longitudinal, study.demographics) == (slug, False, None)
    return slug


def test_create_get_and_change_a_study(steward: Client) -> None:
    slug = _new_study(steward)
    assert steward.studies.get(slug).description == "from the client"
    changed = steward.studies.update(slug, description="changed", site_column="site")
    assert (changed.description, changed.site_column) == ("changed", "site")
    assert slug in {study.slug for study in steward.studies.list()}


def test_upload_reports_bytes_sent_then_ingest_progress(celery_worker: Any, steward: Client, tmp_path: Path) -> None:
    slug = _new_study(steward)
    source = _demographics(tmp_path / "people.csv", 6000)  # ~400 KB: several chunks on the wire
    seen: list[Progress] = []
    job = steward.datasets.upload(slug, source, name="demographics", kind="demographics", progress=seen.append)

    assert job.status == "succeeded" and job.version == 1 and job.dataset == "demographics"
    sent = [p for p in seen if p.phase == "upload"]
    assert len(sent) > 3 and sent[-1].bytes_sent == source.stat().st_size == sent[-1].bytes_total
    assert [p.bytes_sent for p in sent] == sorted(p.bytes_sent for p in sent)
    ingest = [p for p in seen if p.phase == "ingest"]
    assert ingest and seen.index(ingest[0]) > seen.index(sent[-1])  # the ingest follows the upload
    assert ingest[-1].fraction == 1.0 and ingest[-1].ingest is not None and ingest[-1].ingest.status == "succeeded"
    assert [p.fraction for p in ingest] == sorted(p.fraction for p in ingest)

    dataset = steward.datasets.get(slug, "demographics")
    assert dataset.kind == "demographics" and dataset.latest_version is not None
    assert dataset.latest_version.row_count == 6000
    assert {c.name: c.type for c in dataset.latest_version.columns}["age"] == "integer"
    assert steward.studies.get(slug).demographics == "demographics"

    second = steward.upload(
        slug, str(_demographics(tmp_path / "more.csv", 6001)), name="demographics", kind="demographics"
    )
    assert second.version == 2
    versions = steward.datasets.versions(slug, "demographics")
    assert [v.number for v in versions] == [2, 1] and versions[0].row_count == 6001
    assert steward.datasets.version(slug, "demographics", 1).sha256 == versions[1].sha256
    assert [d.name for d in steward.datasets.list(slug)] == ["demographics"]


def test_a_failed_ingest_raises_with_the_platform_reason_and_registers_nothing(
    celery_worker: Any, steward: Client, tmp_path: Path
) -> None:
    slug = _new_study(steward)
    with pytest.raises(IngestFailed) as failed:
        steward.datasets.upload(slug, _demographics(tmp_path / "dup.csv", 20, duplicate=True), kind="demographics")
    assert failed.value.code == "duplicate_keys" and failed.value.message
    assert steward.datasets.list(slug) == []


def test_upload_without_waiting_returns_the_queued_job(celery_worker: Any, steward: Client, tmp_path: Path) -> None:
    slug = _new_study(steward)
    job = steward.datasets.upload(slug, _demographics(tmp_path / "p.csv", 10), kind="demographics", wait=False)
    assert job.dataset == "p" and job.status in {"queued", "running", "succeeded"}
    assert steward.datasets.wait_ingest(job.id).version == 1


def test_too_large_and_not_allowed_uploads(
    steward: Client, connect: Any, tmp_path: Path, client_tenant: Any, django_db_blocker: Any
) -> None:
    slug = _new_study(steward)
    source = _demographics(tmp_path / "big.csv", 3000)
    with tenant_settings(client_tenant, django_db_blocker, upload_max_bytes=10_000), pytest.raises(TooLarge) as big:
        steward.datasets.upload(slug, source, kind="demographics")
    assert big.value.status == 413 and big.value.code == "file_too_large"
    with pytest.raises(PermissionDenied) as refused:
        connect("analyst").datasets.upload(slug, source, kind="demographics")
    assert refused.value.status == 403
    assert steward.datasets.list(slug) == []
