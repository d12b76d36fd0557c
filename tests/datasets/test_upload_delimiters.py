"""Semicolon-, tab- and pipe-separated uploads (BDT read them with read_csv_auto): detected by default, or given.

The same table in any separator gives the same dataset: columns, types, statistics and the stored Parquet rows;
the original bytes are kept exactly as uploaded.
"""

from __future__ import annotations

import hashlib
import re
from io import StringIO
from pathlib import Path
from typing import Any

import duckdb
import pytest
from django.core.files.storage import default_storage
from django.core.management import call_command
from django.core.management.base import CommandError
from django_tenants.utils import tenant_context

from datasets.models import DatasetVersion, IngestJob
from datasets.storage import version_cache_path
from tests.csv_data import UPLOAD_DEMOGRAPHICS as DEMOGRAPHICS

pytestmark = pytest.mark.django_db
MESSAGE = 'The delimiter must be one of "auto", ",", ";", "tab" or "|".'

MEASURE = (
    "participant_id,session,score,label,when\n"
    '001,BAS1,1.5,"Doe, Jane",2024-01-02\n'
    "001,FU1,,plain,2024-03-04\n"
    '002,BAS1,12.25,"say ""hi""",2024-05-06\n'
)
SEPARATED = {
    ";": (
        "participant_id;session;score;label;when\n"
        "001;BAS1;1.5;Doe, Jane;2024-01-02\n"
        "001;FU1;;plain;2024-03-04\n"
        '002;BAS1;12.25;"say ""hi""";2024-05-06\n'
    ),
    "tab": (
        "participant_id\tsession\tscore\tlabel\twhen\n"
        "001\tBAS1\t1.5\tDoe, Jane\t2024-01-02\n"
        "001\tFU1\t\tplain\t2024-03-04\n"
        '002\tBAS1\t12.25\t"say ""hi"""\t2024-05-06\n'
    ),
    "|": (
        "participant_id|session|score|label|when\n"
        "001|BAS1|1.5|Doe, Jane|2024-01-02\n"
        "001|FU1||plain|2024-03-04\n"
        '002|BAS1|12.25|"say ""hi"""|2024-05-06\n'
    ),
}


@pytest.fixture
def memory(make_study: Any, upload: Any) -> dict[str, Any]:
    study = make_study("memory")
    _, ingest = upload("memory", DEMOGRAPHICS, "demographics", kind="demographics")
    assert ingest["status"] == "succeeded", ingest
    return study


def _version(tenant: Any, dataset: str) -> DatasetVersion:
    with tenant_context(tenant):
        return DatasetVersion.objects.get(dataset__study__slug="memory", dataset__name=dataset, number=1)


def _parquet(version: DatasetVersion) -> tuple[list[tuple[Any, ...]], list[tuple[Any, ...]]]:
    """(schema, rows) of a version's stored Parquet file."""
    path = str(version_cache_path(version.parquet_file, version.parquet_sha256))
    con = duckdb.connect()
    schema = con.execute("SELECT column_name, column_type FROM (DESCRIBE SELECT * FROM read_parquet(?))", [path])
    described = schema.fetchall()
    return described, con.execute("SELECT * FROM read_parquet(?)", [path]).fetchall()


@pytest.mark.parametrize("name", [";", "tab", "|"], ids=["semicolon", "tab", "pipe"])
def test_other_separators_give_the_same_dataset_as_the_comma_file(
    steward_api: Any, memory: Any, upload: Any, tenant_a: Any, name: str
) -> None:
    _, comma = upload("memory", MEASURE, "comma_version")
    _, other = upload("memory", SEPARATED[name], "other_version")
    assert comma["status"] == other["status"] == "succeeded", other
    assert (comma["delimiter_requested"], comma["delimiter"]) == ("auto", ",")
    assert (other["delimiter_requested"], other["delimiter"]) == ("auto", name)

    api_comma = steward_api.get("/api/v1/studies/memory/datasets/comma_version").json()["latest_version"]
    api_other = steward_api.get("/api/v1/studies/memory/datasets/other_version").json()["latest_version"]
    assert api_other["columns"] == api_comma["columns"]
    assert [(c["name"], c["type"]) for c in api_other["columns"]] == [
        ("participant_id", "string"),
        ("session", "string"),
        ("score", "float"),
        ("label", "string"),
        ("when", "date"),
    ]
    assert api_other["row_count"] == api_comma["row_count"] == 3
    assert (api_other["delimiter"], api_other["delimiter_detected"]) == (name, True)
    assert (api_comma["delimiter"], api_comma["delimiter_detected"]) == (",", True)

    comma_version, other_version = _version(tenant_a, "comma_version"), _version(tenant_a, "other_version")
    assert _parquet(other_version) == _parquet(comma_version)
    assert _parquet(other_version)[1][0][3] == "Doe, Jane"
    # The original bytes are kept exactly as uploaded (sha256 of the stored original).
    with default_storage.open(other_version.original_file, "rb") as handle:
        stored = handle.read()
    assert stored == SEPARATED[name].encode()
    assert hashlib.sha256(stored).hexdigest() == other_version.sha256


def test_decimal_commas_in_a_semicolon_file_are_split_on_the_semicolon(steward_api, memory, upload) -> None:
    text = "participant_id;session;score\n001;BAS1;1,5\n002;BAS1;12,75\n"
    _, ingest = upload("memory", text, "european")
    assert ingest["status"] == "succeeded" and ingest["delimiter"] == ";", ingest
    columns = steward_api.get("/api/v1/studies/memory/datasets/european").json()["latest_version"]["columns"]
    assert [(c["name"], c["type"]) for c in columns] == [
        ("participant_id", "string"),
        ("session", "string"),
        ("score", "string"),  # "1,5" is kept as written, never guessed into 1.5 or 15
    ]


def test_an_explicit_delimiter_overrides_detection(steward_api, memory, upload, tenant_a) -> None:
    _, ingest = upload("memory", SEPARATED[";"], "explicit", delimiter=";")
    assert ingest["status"] == "succeeded"
    assert (ingest["delimiter_requested"], ingest["delimiter"]) == (";", ";")
    version = steward_api.get("/api/v1/studies/memory/datasets/explicit").json()["latest_version"]
    assert (version["delimiter"], version["delimiter_detected"]) == (";", False)

    # Forcing the comma on a semicolon file reads one column: the id column is missing, and the message says why.
    _, forced = upload("memory", SEPARATED[";"], "forced", delimiter=",")
    assert forced["status"] == "failed" and forced["error"]["code"] == "missing_id_column"
    assert "';'" in forced["error"]["message"] and "delimiter" in forced["error"]["message"]
    with tenant_context(tenant_a):
        assert IngestJob.objects.get(dataset_name="forced").delimiter == ","


def test_tab_by_name_or_character(memory, upload) -> None:
    _, by_name = upload("memory", SEPARATED["tab"], "tab_named", delimiter="tab")
    _, by_char = upload("memory", SEPARATED["tab"], "tab_char", delimiter="\t")
    assert by_name["delimiter"] == by_char["delimiter"] == "tab"
    assert by_name["delimiter_requested"] == by_char["delimiter_requested"] == "tab"


@pytest.mark.parametrize("value", ["semicolon;", ";;", ":", "x", '"', "\\t", "space"])
def test_a_bad_delimiter_is_422_and_nothing_is_queued(memory, upload, tenant_a, value: str) -> None:
    response, ingest = upload("memory", MEASURE, "bad", delimiter=value)
    assert ingest is None and response.status_code == 422
    error = response.json()["error"]
    assert error["code"] == "invalid_delimiter"
    assert error["message"] == MESSAGE
    with tenant_context(tenant_a):
        assert not IngestJob.objects.filter(dataset_name="bad").exists()


def test_a_ragged_semicolon_file_names_the_separator(memory, upload) -> None:
    text = "participant_id;session;score\n001;BAS1;1\n002;BAS1;2;3\n003;BAS1;4\n"
    _, ingest = upload("memory", text, "ragged")
    assert ingest["status"] == "failed" and ingest["error"]["code"] == "ragged_rows"
    assert "Row 3 has 4 values" in ingest["error"]["message"]
    assert "semicolon" in ingest["error"]["message"]
    assert ingest["error_details"]["delimiter"] == ";"
    assert ingest["delimiter"] is None  # nothing was registered


def _folder(tmp_path: Path) -> Path:
    folder = tmp_path / "bdt"
    folder.mkdir()
    (folder / "demographics.csv").write_text(
        "participant_id;session;age;sex;site\n"
        "001;BAS1;25,5;F;Discovery\n"
        "001;FU1;26;F;Discovery\n"
        '002;BAS1;31;M;"Discovery;Neurofeedback"\n'
        "003;BAS1;40,25;F;Neurofeedback\n"
        "003;FU1;41;F;Neurofeedback\n"
    )
    (folder / "cognitive.csv").write_text(SEPARATED["tab"])
    return folder


def test_import_folder_detects_each_file_and_accepts_an_override(tenant_a, tmp_path: Path) -> None:
    out = StringIO()
    folder = _folder(tmp_path)
    call_command(
        "import_folder",
        str(folder),
        tenant=tenant_a.slug,
        study="seps",
        id_column="participant_id",
        session_column="session",
        stdout=out,
    )
    assert "demographics.csv -> demographics v1 (5 rows, semicolon-separated)" in out.getvalue()
    assert "cognitive.csv -> cognitive v1 (3 rows, tab-separated)" in out.getvalue()
    with tenant_context(tenant_a):
        version = DatasetVersion.objects.get(dataset__study__slug="seps", dataset__name="cognitive")
        assert [c["name"] for c in version.columns] == ["participant_id", "session", "score", "label", "when"]

    with pytest.raises(CommandError, match=re.escape(MESSAGE)):
        call_command("import_folder", str(folder), tenant=tenant_a.slug, study="seps", delimiter="colon")
    errors = StringIO()
    with pytest.raises(CommandError, match="failed"):
        call_command(
            "import_folder",
            str(folder),
            tenant=tenant_a.slug,
            study="seps2",
            id_column="participant_id",
            delimiter=",",
            stderr=errors,
            stdout=StringIO(),
        )
    assert "missing_id_column" in errors.getvalue()
