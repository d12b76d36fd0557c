"""import_folder: a BDT project folder with its config imports with one command, values exactly as in the files."""

from __future__ import annotations

from io import StringIO
from pathlib import Path

import duckdb
import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django_tenants.utils import tenant_context

from datasets.models import DatasetVersion, Study
from datasets.storage import version_cache_path

pytestmark = pytest.mark.django_db

NESTED_CONFIG = """
[data]
data_dir = "data"
demographics_file = "Demographics.CSV"
primary_id_column = "ursi"
session_column = "session_num"
composite_id_column = "customID"
age_column = "age"
study_site_column = "all_studies"

[ui]
max_display_rows = 50
"""
FLAT_CONFIG = 'demographics_file = "demo.csv"\nprimary_id_column = "subject_id"\nage_column = "age_years"\n'


def _folder(tmp_path: Path) -> Path:
    folder = tmp_path / "bdt"
    folder.mkdir()
    (folder / "Demographics.CSV").write_text(
        "ursi,session_num,age,sex,all_studies,naïve_score\n"
        "001,1,25.5,1.0,Discovery;Longitudinal_Adult,3\n"
        "001,1.0,26,1.0,Discovery;Longitudinal_Adult,4\n"
        '002,BAS1,31.75,2.0,"{Discovery, Neurofeedback}",\n',
        encoding="utf-8",
    )
    (folder / "cognitive.csv").write_text(
        'ursi,session_num,working_memory,comment\n001,1,101.5,"hello, world"\n001,1.0,99,"she said ""no"""\n'
        "002,BAS1,,\n",
        encoding="utf-8",
    )
    (folder / "notes.txt").write_text("not a table")
    return folder


def _rows(name: str) -> list[tuple]:
    version = DatasetVersion.objects.get(dataset__name=name, number=1)
    path = version_cache_path(version.parquet_file, version.parquet_sha256)
    return duckdb.connect().execute("SELECT * FROM read_parquet(?)", [str(path)]).fetchall()


def test_nested_bdt_config_folder_round_trips_exactly(tenant_a, tmp_path: Path) -> None:
    config = tmp_path / "config.toml"
    config.write_text(NESTED_CONFIG)
    out = StringIO()
    call_command(
        "import_folder",
        str(_folder(tmp_path)),
        tenant="lab-a",
        study="rockland",
        config=str(config),
        stdout=out,
        stderr=StringIO(),
    )
    assert "cognitive" in out.getvalue()
    with tenant_context(tenant_a):
        study = Study.objects.get(slug="rockland")
        assert (study.id_column, study.session_column, study.age_column, study.site_column) == (
            "ursi",
            "session_num",
            "age",
            "all_studies",
        )
        assert study.demographics.name == "demographics"
        demo = _rows("demographics")
        assert [row[:2] for row in demo] == [("001", "1"), ("001", "1.0"), ("002", "BAS1")]  # no 1_1.0, no 1
        assert demo[2][4] == "{Discovery, Neurofeedback}" and demo[2][2] == 31.75
        version = DatasetVersion.objects.get(dataset__name="demographics")
        assert "naïve_score" in version.column_names()
        cognitive = _rows("cognitive")
        assert cognitive[0][3] == "hello, world" and cognitive[1][3] == 'she said "no"' and cognitive[2][2] is None


def test_flat_config_creates_a_cross_sectional_study(tenant_a, tmp_path: Path) -> None:
    folder = tmp_path / "flat"
    folder.mkdir()
    (folder / "demo.csv").write_text("subject_id,age_years\nA1,30\nA2,41\n")
    (folder / "iq.csv").write_text("subject_id,iq\nA1,100\nA2,110\n")
    config = tmp_path / "flat.toml"
    config.write_text(FLAT_CONFIG)
    call_command("import_folder", str(folder), tenant="lab-a", study="flat", config=str(config), stdout=StringIO())
    with tenant_context(tenant_a):
        study = Study.objects.get(slug="flat")
        assert study.id_column == "subject_id" and not study.is_longitudinal and study.age_column == "age_years"
        assert sorted(study.datasets.values_list("name", flat=True)) == ["demo", "iq"]


@pytest.mark.parametrize(
    ("args", "message"),
    [
        ({"tenant": "nope"}, "No tenant"),
        ({"study": "new-one"}, "give --config or --id-column"),
    ],
)
def test_bad_arguments(tenant_a, tmp_path: Path, args: dict, message: str) -> None:
    options = {"tenant": "lab-a", "study": "x", **args}
    with pytest.raises(CommandError, match=message):
        call_command("import_folder", str(_folder(tmp_path)), stdout=StringIO(), **options)


def test_invalid_config_and_missing_folder(tenant_a, tmp_path: Path) -> None:
    bad = tmp_path / "bad.toml"
    bad.write_text("[data\nprimary_id_column = ")
    with pytest.raises(CommandError, match="Cannot read"):
        call_command("import_folder", str(_folder(tmp_path)), tenant="lab-a", study="x", config=str(bad))
    with pytest.raises(CommandError, match="is not a folder"):
        call_command("import_folder", str(tmp_path / "missing"), tenant="lab-a", study="x", id_column="id")


def test_failing_measure_is_reported_and_others_imported(tenant_a, tmp_path: Path) -> None:
    folder = _folder(tmp_path)
    (folder / "broken.csv").write_text('ursi,session_num,x\n001,1,"unclosed\n')
    config = tmp_path / "config.toml"
    config.write_text(NESTED_CONFIG)
    err = StringIO()
    with pytest.raises(CommandError, match="1 file"):
        call_command(
            "import_folder", str(folder), tenant="lab-a", study="rk", config=str(config), stdout=StringIO(), stderr=err
        )
    assert "broken.csv" in err.getvalue()
    with tenant_context(tenant_a):
        assert sorted(Study.objects.get(slug="rk").datasets.values_list("name", flat=True)) == [
            "cognitive",
            "demographics",
        ]


BDT_FIXTURES = Path(__file__).resolve().parent.parent / "fixtures" / "bdt"


def test_what_the_command_says_about_a_bdt_project(tenant_a, tmp_path: Path) -> None:
    out = StringIO()
    call_command(
        "import_folder",
        str(BDT_FIXTURES / "cross_sectional"),
        tenant="lab-a",
        study="xs",
        config=str(BDT_FIXTURES / "config.toml"),
        stdout=out,
        stderr=StringIO(),
    )
    text = out.getvalue()
    assert "Read a BDT configuration (nested form)." in text
    assert "Ignored state.backend, state.ttl_default, state.enable_user_isolation" in text
    assert "note: The session column 'session_num' of the configuration is not in the demographics file" in text
    assert "note: The site column 'all_sites'" in text
    assert "Created study 'xs': cross-sectional (rows merge on ursi)." in text
    assert "cognitive.csv -> cognitive v1 (5 rows)" in text
    # Run again on the existing study: the same files add nothing new, and say so.
    again = StringIO()
    call_command("import_folder", str(BDT_FIXTURES / "cross_sectional"), tenant="lab-a", study="xs", stdout=again)
    assert again.getvalue().count("identical to version 1") == 2
    with tenant_context(tenant_a):
        assert DatasetVersion.objects.filter(dataset__study__slug="xs").count() == 2


def test_a_refused_demographics_file_creates_no_study(tenant_a, tmp_path: Path) -> None:
    folder = tmp_path / "bad"
    folder.mkdir()
    (folder / "demographics.csv").write_text("ursi,age\nA,30\nA,31\n")
    (folder / "cognitive.csv").write_text("ursi,score\nA,1\n")
    err = StringIO()
    with pytest.raises(CommandError, match="nothing was imported and no study was created"):
        call_command("import_folder", str(folder), tenant="lab-a", study="bad", id_column="ursi", stderr=err)
    assert "appears more than once" in err.getvalue()
    with tenant_context(tenant_a):
        assert not Study.objects.filter(slug="bad").exists()
