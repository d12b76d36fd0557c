"""The new-study wizard keeps everything in a draft until the demographics file is imported: the study is created
by that import (one transaction), so abandoning or failing leaves nothing; a BDT configuration preselects the keys."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from django.core.files.storage import default_storage
from django.core.files.uploadedfile import SimpleUploadedFile
from django.db import connection
from django_tenants.utils import tenant_context

from datasets.ingest_runner import ingest_job_execute
from datasets.models import IngestJob, Study
from datasets.storage import tenant_prefix

pytestmark = pytest.mark.django_db

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures" / "bdt"


def _file(path: Path, name: str | None = None) -> SimpleUploadedFile:
    return SimpleUploadedFile(name or path.name, path.read_bytes())


def _staged_files(tenant) -> list[str]:
    with tenant_context(tenant):
        root = f"{tenant_prefix()}setup/"
    connection.set_schema_to_public()
    if not default_storage.exists(root):
        return []
    folders, _ = default_storage.listdir(root)
    return [name for folder in folders for name in default_storage.listdir(f"{root}{folder}/")[1]]


def _start(client, slug: str, config: Path | None = None) -> None:
    form = {"name": slug.title(), "slug": slug, "engine": "duckdb"}
    if config is not None:
        form["config"] = _file(config, "config.toml")
    assert client.post("/studies/new/", form)["Location"] == "/studies/new/setup/"


def test_a_bdt_config_preselects_the_keys_and_says_what_it_leaves_out(browser) -> None:
    client = browser("steward")
    _start(client, "cross", FIXTURES / "config.toml")
    page = client.get("/studies/new/setup/").content.decode()
    assert "data-config-summary" in page and "ages 18–80, 50 rows per preview page" in page
    assert "state.backend, state.ttl_default, state.enable_user_isolation: query state is kept on the server" in page
    client.post("/studies/new/setup/demographics/", {"file": _file(FIXTURES / "cross_sectional" / "demographics.csv")})
    keys = client.get("/studies/new/setup/").content.decode().replace("&#x27;", "'")
    assert "The session column 'session_num' of config.toml is not in the demographics file" in keys
    assert "the study is cross-sectional" in keys
    for name, value in (("id_column", "ursi"), ("session_column", ""), ("age_column", "age"), ("site_column", "")):
        select = re.search(rf'<select name="{name}".*?</select>', keys, re.S).group(0)
        chosen = re.search(r'<option value="([^"]*)" selected>', select)
        assert (chosen.group(1) if chosen else "") == value, name


def test_a_config_whose_id_column_is_not_in_the_file_falls_back_to_the_suggestion(browser, tmp_path: Path) -> None:
    client = browser("steward")
    _start(client, "fallback", FIXTURES / "config.toml")
    demographics = tmp_path / "demographics.csv"
    demographics.write_text("participant_id,age\nP1,30\n")
    client.post("/studies/new/setup/demographics/", {"file": _file(demographics)})
    page = client.get("/studies/new/setup/").content.decode().replace("&#x27;", "'")
    assert "The id column 'ursi' is not in the file" in page and "The suggested id column is preselected" in page
    assert re.search(r'<option value="participant_id" selected>', page)


def test_an_invalid_config_is_a_form_error_and_nothing_starts(browser) -> None:
    client = browser("steward")
    bad = SimpleUploadedFile("config.toml", b"[data\nprimary_id_column = ")
    response = client.post("/studies/new/", {"name": "Bad", "slug": "bad", "engine": "duckdb", "config": bad})
    assert response.status_code == 422 and "not valid TOML" in response.content.decode()
    assert client.get("/studies/new/setup/")["Location"] == "/studies/new/"


@pytest.mark.parametrize("config", [b'{"data": ' + b"[" * 100_000, b"data = " + b"[" * 100_000])
def test_a_config_nested_too_deeply_is_a_form_error_and_nothing_starts(browser, config: bytes) -> None:
    client = browser("steward")
    deep = SimpleUploadedFile("config.toml", config)
    response = client.post("/studies/new/", {"name": "Deep", "slug": "deep", "engine": "duckdb", "config": deep})
    assert response.status_code == 422 and "more than 64 levels deep" in response.content.decode()
    assert client.get("/studies/new/setup/")["Location"] == "/studies/new/"


def test_the_import_creates_the_study_and_a_failure_returns_to_the_upload(browser, tenant_a, tmp_path: Path) -> None:
    client = browser("steward")
    _start(client, "failing")
    bad = tmp_path / "demographics.csv"
    bad.write_text("id,age\nA,1\nA,2\n")  # duplicate ids
    client.post("/studies/new/setup/demographics/", {"file": _file(bad)})
    assert client.post("/studies/new/setup/keys/", {"id_column": "id", "dataset_name": "demo"}).status_code == 302
    assert _staged_files(tenant_a) == []  # the ingest has its own copy
    importing = client.get("/studies/new/setup/").content.decode()
    with tenant_context(tenant_a):
        job = IngestJob.objects.get(new_study__slug="failing")
        assert job.study_id is None
    connection.set_schema_to_public()
    assert "Importing the demographics table" in importing and f"/studies/new/ingests/{job.pk}/" in importing
    with tenant_context(tenant_a):
        ingest_job_execute(job.pk)
    connection.set_schema_to_public()
    poll = client.get(f"/studies/new/ingests/{job.pk}/", HTTP_HX_REQUEST="true")
    assert poll["HX-Redirect"] == "/studies/new/setup/"
    assert client.get("/studies/new/setup/")["Location"] == "/studies/new/setup/"
    page = client.get("/studies/new/setup/").content.decode()
    assert "No study was created" in page and "Upload the demographics table" in page
    with tenant_context(tenant_a):
        assert not Study.objects.filter(slug="failing").exists()
    # The same draft goes on with a good file, and only then does the study exist.
    good = tmp_path / "good.csv"
    good.write_text("id,age\nA,1\nB,2\n")
    client.post("/studies/new/setup/demographics/", {"file": _file(good)})
    client.post("/studies/new/setup/keys/", {"id_column": "id", "age_column": "age", "dataset_name": "demo"})
    with tenant_context(tenant_a):
        second = IngestJob.objects.filter(new_study__slug="failing").latest("pk")
        ingest_job_execute(second.pk)
        study = Study.objects.get(slug="failing")
        assert (study.id_column, study.age_column, study.demographics.name, study.created_by_id) == (
            "id",
            "age",
            "demo",
            client.user.pk,
        )
    connection.set_schema_to_public()
    assert client.get("/studies/new/setup/")["Location"] == "/studies/failing/setup/"
    assert client.get("/studies/new/setup/")["Location"] == "/studies/new/"  # the draft is gone


def test_cancel_deletes_the_staged_file_and_the_draft(browser, tenant_a) -> None:
    client = browser("steward")
    _start(client, "abandoned")
    client.post("/studies/new/setup/demographics/", {"file": _file(FIXTURES / "rockland" / "demographics.csv")})
    assert len(_staged_files(tenant_a)) == 1
    assert client.post("/studies/new/setup/cancel/")["Location"] == "/studies/"
    assert _staged_files(tenant_a) == []
    assert client.get("/studies/new/setup/")["Location"] == "/studies/new/"


def test_the_draft_and_its_import_are_the_stewards_own(browser, tenant_a) -> None:
    client = browser("steward")
    _start(client, "mine")
    client.post("/studies/new/setup/demographics/", {"file": _file(FIXTURES / "rockland" / "demographics.csv")})
    client.post("/studies/new/setup/keys/", {"id_column": "ursi", "session_column": "session_num", "dataset_name": "d"})
    with tenant_context(tenant_a):
        job = IngestJob.objects.get(new_study__slug="mine")
    connection.set_schema_to_public()
    other = browser("steward")
    assert other.get(f"/studies/new/ingests/{job.pk}/").status_code == 404
    assert other.get("/studies/new/setup/")["Location"] == "/studies/new/"
    analyst = browser("analyst")
    for path in ("/studies/new/setup/", f"/studies/new/ingests/{job.pk}/"):
        assert analyst.get(path).status_code == 403, path
    for path in ("/studies/new/setup/demographics/", "/studies/new/setup/keys/", "/studies/new/setup/cancel/"):
        assert analyst.post(path).status_code == 403, path
