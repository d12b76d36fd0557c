"""A BDT data folder imported three ways — ``import_folder``, the API, the wizard pages — each ending with the same
study (every table registered), so the compatibility tests run against any of them."""

from __future__ import annotations

import re
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from io import StringIO
from pathlib import Path
from typing import Any

import pytest
from django.core.cache import cache
from django.core.files.uploadedfile import SimpleUploadedFile
from django.core.management import call_command
from django.core.management.base import CommandError
from django.db import connection
from django.test import Client
from django_tenants.utils import tenant_context

from datasets.ingest_runner import ingest_job_execute
from datasets.models import IngestJob, Study
from tenants.models import Tenant
from tests.bdt_compat.oracle import FIXTURES
from tests.conftest import ApiClient

CONFIG = FIXTURES / "config.toml"
PATHS = ("import_folder", "api", "wizard")


@pytest.fixture(autouse=True)
def _own_media_and_cache(settings: Any, tmp_path: Path) -> None:
    settings.MEDIA_ROOT = tmp_path / "media"
    cache.clear()


def _upload(path: Path, name: str | None = None) -> SimpleUploadedFile:
    return SimpleUploadedFile(name or path.name, path.read_bytes(), content_type="text/csv")


@dataclass
class Imported:
    """What an import path produced: the study slug (None when refused), its messages and the demographics job."""

    slug: str
    created: bool
    messages: str = ""
    job: dict[str, Any] = field(default_factory=dict)


@pytest.fixture
def steward(api: Callable[..., ApiClient], tenant_a: Tenant) -> ApiClient:
    return api(tenant_a, "steward")


@pytest.fixture
def steward_page(page_client: Callable[..., Client], tenant_a: Tenant) -> Client:
    return page_client(tenant_a, "steward")


@pytest.fixture
def run_job(tenant_a: Tenant) -> Callable[[int], IngestJob]:
    def _run(job_id: int) -> IngestJob:
        with tenant_context(tenant_a):
            job = ingest_job_execute(job_id)
            job.study_slug  # noqa: B018 - load the study while in the tenant
        connection.set_schema_to_public()
        return job

    return _run


@pytest.fixture
def study_of(tenant_a: Tenant) -> Callable[[str], Study | None]:
    def _study(slug: str) -> Study | None:
        with tenant_context(tenant_a):
            study = Study.objects.select_related("demographics").filter(slug=slug).first()
        connection.set_schema_to_public()
        return study

    return _study


def _selected(html: str, name: str) -> str:
    select = re.search(rf'<select name="{name}".*?</select>', html, re.S)
    assert select, name
    chosen = re.search(r'<option value="([^"]*)" selected>', select.group(0))
    return chosen.group(1) if chosen else ""


KEY_FIELDS = ("id_column", "session_column", "age_column", "sex_column", "site_column", "composite_id_column")


@pytest.fixture
def import_bdt(
    steward: ApiClient,
    steward_page: Client,
    run_job: Callable[[int], IngestJob],
    tenant_a: Tenant,
    tmp_path: Path,
) -> Callable[..., Imported]:
    """``import_bdt(path, folder, config=CONFIG, keys={...}, measures=True)`` -> :class:`Imported`.

    ``keys`` are explicit choices (the command's flags, the API's fields, the wizard's selects); otherwise each path
    takes what the configuration gives, as a researcher would.
    """

    def _import(
        path: str, folder: Path, config: Path | None = CONFIG, keys: dict[str, str] | None = None, measures: bool = True
    ) -> Imported:
        slug = f"bdt-{path.replace('_', '-')}-{uuid.uuid4().hex[:8]}"
        keys = keys or {}
        if path == "import_folder":
            return _by_command(slug, folder, config, keys, measures)
        if path == "api":
            return _by_api(slug, folder, config, keys, measures)
        return _by_wizard(slug, folder, config, keys, measures)

    def _by_command(slug: str, folder: Path, config: Path | None, keys: dict[str, str], measures: bool) -> Imported:
        source = folder
        if not measures:  # a copy of the folder holding only the demographics file
            source = tmp_path / f"{slug}-demographics-only"
            source.mkdir()
            (source / "demographics.csv").write_bytes((folder / "demographics.csv").read_bytes())
        out, err = StringIO(), StringIO()
        options: dict[str, Any] = {f"{key}": value for key, value in keys.items()}
        if config is not None:
            options["config"] = str(config)
        try:
            call_command("import_folder", str(source), tenant="lab-a", study=slug, stdout=out, stderr=err, **options)
        except CommandError as exc:
            return Imported(slug, False, out.getvalue() + err.getvalue() + str(exc))
        return Imported(slug, True, out.getvalue() + err.getvalue())

    def _by_api(slug: str, folder: Path, config: Path | None, keys: dict[str, str], measures: bool) -> Imported:
        form: dict[str, Any] = {
            "slug": slug,
            "name": f"BDT {slug}",
            "demographics": _upload(folder / "demographics.csv"),
        }
        if config is not None:
            form["config"] = SimpleUploadedFile("config.toml", config.read_bytes())
        form.update(keys)
        accepted = steward.post("/api/v1/studies/import", form, multipart=True)
        if accepted.status_code != 202:
            return Imported(slug, False, accepted.content.decode(), accepted.json())
        run_job(accepted.json()["ingest"]["id"])
        job = steward.get(f"/api/v1/ingests/{accepted.json()['ingest']['id']}").json()
        if job["status"] != "succeeded":
            return Imported(slug, False, job["error"]["message"], job)
        if measures:
            for table in sorted(folder.glob("*.csv")):
                if table.stem == "demographics":
                    continue
                response = steward.post(
                    f"/api/v1/studies/{slug}/datasets",
                    {"file": _upload(table), "name": table.stem, "kind": "measure"},
                    multipart=True,
                )
                assert response.status_code == 202, response.content
                run_job(response.json()["ingest"]["id"])
        return Imported(slug, True, " ".join(w["message"] for w in job["warnings"]), job)

    def _by_wizard(slug: str, folder: Path, config: Path | None, keys: dict[str, str], measures: bool) -> Imported:
        client = steward_page
        form: dict[str, Any] = {"name": f"BDT {slug}", "slug": slug, "engine": "duckdb"}
        if config is not None:
            form["config"] = SimpleUploadedFile("config.toml", config.read_bytes())
        assert client.post("/studies/new/", form)["Location"] == "/studies/new/setup/"
        staged = client.post("/studies/new/setup/demographics/", {"file": _upload(folder / "demographics.csv")})
        assert staged.status_code == 302, staged.content.decode()[:2000]
        page = client.get("/studies/new/setup/").content.decode()
        chosen = {name: _selected(page, name) for name in KEY_FIELDS}
        chosen.update(keys)
        dataset = re.search(r'name="dataset_name"[^>]*value="([^"]*)"', page)
        confirmed = client.post(
            "/studies/new/setup/keys/", {**chosen, "dataset_name": dataset.group(1) if dataset else "demographics"}
        )
        assert confirmed.status_code == 302, confirmed.content.decode()[:3000]
        with tenant_context(tenant_a):
            job_id = IngestJob.objects.get(new_study__slug=slug).pk
        connection.set_schema_to_public()
        job = run_job(job_id)
        landing = client.get("/studies/new/setup/")
        if job.status != "succeeded":  # back to the demographics step, with the reason
            assert landing["Location"] == "/studies/new/setup/"
            retry = client.get("/studies/new/setup/")
            assert retry.status_code == 200
            return Imported(slug, False, page + retry.content.decode(), {"error": job.error_message})
        assert landing["Location"] == f"/studies/{slug}/setup/"
        if measures:
            for table in sorted(folder.glob("*.csv")):
                if table.stem == "demographics":
                    continue
                response = client.post(
                    f"/studies/{slug}/upload/", {"file": _upload(table), "name": table.stem, "kind": "measure"}
                )
                assert response.status_code == 202, response.content.decode()
                with tenant_context(tenant_a):
                    measure_job = IngestJob.objects.filter(study__slug=slug, dataset_name=table.stem).get().pk
                connection.set_schema_to_public()
                assert run_job(measure_job).status == "succeeded"
        return Imported(slug, True, page, {"warnings": job.warnings})

    return _import
