"""Nothing half-created: on every path the study and its first demographics version are created together, so a
refused import leaves no study, dataset, version or stored file behind (only the failed job, with its reason)."""

from __future__ import annotations

from pathlib import Path

import pytest
from django.conf import settings
from django.core.files.uploadedfile import SimpleUploadedFile
from django_tenants.utils import tenant_context

from audit.models import AuditEvent
from datasets.models import Dataset, DatasetVersion, IngestJob, Study
from tests.bdt_compat.conftest import PATHS
from tests.bdt_compat.oracle import FIXTURES

pytestmark = pytest.mark.django_db


def _folder(tmp_path: Path, demographics: str) -> Path:
    folder = tmp_path / "refused"
    folder.mkdir()
    (folder / "demographics.csv").write_text(demographics)
    (folder / "cognitive.csv").write_text("ursi,session_num,score\nSUB001,BAS1,1\n")
    return folder


def _stored_files() -> list[str]:
    root = Path(settings.MEDIA_ROOT)
    return sorted(str(p.relative_to(root)) for p in root.rglob("*") if p.is_file()) if root.exists() else []


def _nothing_left(tenant, slug: str) -> None:
    with tenant_context(tenant):
        assert not Study.objects.filter(slug=slug).exists()
        assert not Dataset.objects.exists() and not DatasetVersion.objects.exists()
        assert not AuditEvent.objects.filter(action="study.created").exists()
        job = IngestJob.objects.get(new_study__slug=slug)
        assert job.status == "failed" and job.study_id is None and job.version_id is None
    assert [name for name in _stored_files() if "/setup/" not in name] == []


BAD = {
    "no id column": ("subject,session_num,age\nS1,BAS1,30\n", "missing_id_column", "'ursi'"),
    "duplicate keys": ("ursi,session_num,age\nS1,BAS1,30\nS1,BAS1,31\n", "duplicate_keys", "'S1'"),
    "empty ids": ("ursi,age\nS1,30\n,31\n", "empty_ids", "row 3"),
}


CASES = [(path, case) for path in PATHS for case in sorted(BAD) if not (path == "wizard" and case == "no id column")]


@pytest.mark.parametrize(("path", "case"), CASES)
def test_a_refused_demographics_file_leaves_no_study(
    import_bdt, steward, tenant_a, tmp_path: Path, path: str, case: str
) -> None:
    """(In the wizard the id column is chosen from the header, so a configured id the file lacks is no refusal:
    the keys step says so and preselects the suggested one.)"""
    text, code, phrase = BAD[case]
    result = import_bdt(path, _folder(tmp_path, text))
    assert not result.created
    assert phrase in result.messages.replace("&#x27;", "'")
    _nothing_left(tenant_a, result.slug)
    assert steward.get(f"/api/v1/studies/{result.slug}").status_code == 404
    with tenant_context(tenant_a):
        assert IngestJob.objects.get(new_study__slug=result.slug).error_code == code
    if path == "wizard":
        assert "No study was created" in result.messages and "Upload the demographics table" in result.messages


@pytest.mark.parametrize("path", ["import_folder", "api"])
def test_an_explicit_key_column_missing_from_the_header_is_refused(import_bdt, tenant_a, path: str) -> None:
    result = import_bdt(path, FIXTURES / "rockland", keys={"site_column": "all_sites"})
    assert not result.created
    assert "The site column 'all_sites' is not in the file" in result.messages
    assert "all_studies" in result.messages  # its columns are listed
    _nothing_left(tenant_a, result.slug)


def test_the_wizard_offers_only_header_columns(steward_page, tenant_a) -> None:
    steward_page.post("/studies/new/", {"name": "W", "slug": "wizard-only", "engine": "duckdb"})
    demographics = (FIXTURES / "rockland" / "demographics.csv").read_bytes()
    steward_page.post(
        "/studies/new/setup/demographics/", {"file": SimpleUploadedFile("demographics.csv", demographics)}
    )
    keys = {"id_column": "ursi", "session_column": "session_num", "site_column": "all_sites", "dataset_name": "demo"}
    refused = steward_page.post("/studies/new/setup/keys/", keys)
    assert refused.status_code == 422 and "Select a valid choice" in refused.content.decode()
    with tenant_context(tenant_a):
        assert not Study.objects.filter(slug="wizard-only").exists() and not IngestJob.objects.exists()


def test_a_study_created_meanwhile_under_the_same_slug_wins_and_the_import_registers_nothing(
    steward, run_job, tenant_a
) -> None:
    def form() -> dict:
        return {
            "slug": "race",
            "config": SimpleUploadedFile("config.toml", (FIXTURES / "config.toml").read_bytes()),
            "demographics": SimpleUploadedFile(
                "demographics.csv", (FIXTURES / "rockland" / "demographics.csv").read_bytes()
            ),
        }

    accepted = steward.post("/api/v1/studies/import", form(), multipart=True)
    assert accepted.status_code == 202
    again = steward.post("/api/v1/studies/import", form(), multipart=True)
    assert again.status_code == 409 and again.json()["error"]["code"] == "study_exists"  # the first is pending
    plain = steward.post("/api/v1/studies", {"slug": "race", "name": "Race", "id_column": "ursi"})
    assert plain.status_code == 409 and "is being imported" in plain.json()["error"]["message"]
    with tenant_context(tenant_a):
        Study.objects.create(slug="race", name="Other", id_column="ursi")
    job = run_job(accepted.json()["ingest"]["id"])
    assert job.status == "failed" and job.error_code == "study_exists"
    with tenant_context(tenant_a):
        study = Study.objects.get(slug="race")
        assert study.name == "Other" and not Dataset.objects.filter(study=study).exists()
    assert [name for name in _stored_files() if "/setup/" not in name] == []


def test_only_stewards_import_and_an_import_stays_in_its_workspace(api, steward, tenant_a, tenant_b) -> None:
    def form(slug: str) -> dict:
        return {
            "slug": slug,
            "demographics": SimpleUploadedFile(
                "demographics.csv", (FIXTURES / "rockland" / "demographics.csv").read_bytes()
            ),
            "config": SimpleUploadedFile("config.toml", (FIXTURES / "config.toml").read_bytes()),
        }

    analyst = api(tenant_a, "analyst").post("/api/v1/studies/import", form("sneaky"), multipart=True)
    assert analyst.status_code == 403 and analyst.json()["error"]["code"] == "role_insufficient"
    accepted = steward.post("/api/v1/studies/import", form("ours"), multipart=True)
    assert accepted.status_code == 202 and accepted.json()["config"]["ignored"][:2] == [
        "data.data_dir",
        "state.backend",
    ]
    other_lab = api(tenant_b, "owner")
    assert other_lab.get(f"/api/v1/ingests/{accepted.json()['ingest']['id']}").status_code == 404
    with tenant_context(tenant_a):
        assert not IngestJob.objects.filter(new_study__slug="sneaky").exists()
    broken = steward.post(
        "/api/v1/studies/import",
        {**form("bad-config"), "config": SimpleUploadedFile("config.toml", b"primary_id_column = 5")},
        multipart=True,
    )
    assert broken.status_code == 422 and broken.json()["error"]["code"] == "invalid_config"
    assert "'primary_id_column' must be text" in broken.json()["error"]["message"]
