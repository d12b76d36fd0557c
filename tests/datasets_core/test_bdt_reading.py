"""BDT's reading rules (Django-free): the demographics header decides which configured key columns are used; the
composite id is derived and checked; BDT configuration files in every form, with meaningless settings ignored."""

from __future__ import annotations

from pathlib import Path

import pytest

from datasets.ingest import IngestError, IngestOptions, KeyColumns, ingest_csv, parse_bdt_config, read_keys

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures" / "bdt"
BDT = KeyColumns(
    id_column="ursi",
    session_column="session_num",
    age_column="age",
    sex_column="sex",
    site_column="all_sites",
    composite_id_column="customID",
)


def _codes(reading) -> list[tuple[str, str]]:
    return [(w.code, w.details.get("key", "")) for w in reading.warnings]


def test_longitudinal_header_keeps_its_keys_and_names_the_site_look_alike() -> None:
    reading = read_keys(BDT, ["ursi", "session_num", "customID", "age", "sex", "all_studies"])
    assert reading.keys == KeyColumns("ursi", "session_num", "age", "sex", None, "customID")
    assert reading.keys.longitudinal
    assert _codes(reading) == [("key_column_unused", "site_column")]
    warning = reading.warnings[0]
    assert warning.details["candidates"] == ["all_studies"]
    assert "'all_studies' looks like a site column" in warning.message
    assert reading.unused == {"site_column": "all_sites"}


def test_cross_sectional_header_leaves_the_session_out() -> None:
    reading = read_keys(BDT, ["ursi", "age", "sex", "height", "weight"])
    assert reading.keys == KeyColumns("ursi", None, "age", "sex", None, None)
    assert not reading.keys.longitudinal
    assert _codes(reading) == [("key_column_unused", "session_column"), ("key_column_unused", "site_column")]
    assert "the study is cross-sectional" in reading.warnings[0].message
    assert reading.warnings[1].details["candidates"] == []


def test_a_configured_column_differing_only_in_case_is_pointed_out() -> None:
    reading = read_keys(BDT, ["ursi", "Age", "sex"], source="config.toml")
    age = next(w for w in reading.warnings if w.details["key"] == "age_column")
    assert "The age column 'age' of config.toml is not in the demographics file" in age.message
    assert "'Age', which differs only in spaces or upper/lower case" in age.message


def test_a_composite_column_without_a_session_is_data() -> None:
    reading = read_keys(BDT, ["ursi", "customID", "age"])
    assert reading.keys.composite_id_column is None
    assert ("composite_id_as_data", "composite_id_column") in _codes(reading)


def test_the_composite_column_is_never_required() -> None:
    reading = read_keys(BDT, ["ursi", "session_num", "age", "sex"])
    assert reading.keys.composite_id_column is None
    assert [w.details["key"] for w in reading.warnings] == ["site_column"]


@pytest.mark.parametrize(
    ("header", "strict", "code", "phrase"),
    [
        (["subject", "session_num"], (), "missing_id_column", "The id column 'ursi' is not in the file"),
        (["URSI", "age"], (), "missing_id_column", "'URSI', which differs only"),
        (["ursi", "visit"], ("session_column",), "missing_session_column", "The session column 'session_num'"),
        (["ursi", "age_years"], ("age_column",), "missing_key_column", "The age column 'age' is not in the file"),
    ],
)
def test_the_id_and_explicit_columns_must_be_in_the_header(header, strict, code, phrase) -> None:
    with pytest.raises(IngestError) as info:
        read_keys(BDT, header, strict=strict)
    assert info.value.code == code and phrase in info.value.message


def test_bdt_config_files_in_every_form_read_the_same() -> None:
    nested = parse_bdt_config((FIXTURES / "config.toml").read_bytes())
    flat = parse_bdt_config((FIXTURES / "config_flat.toml").read_bytes())
    as_json = parse_bdt_config(
        b'{"primary_id_column": "ursi", "session_column": "session_num", "composite_id_column": "customID",'
        b' "age_column": "age", "sex_column": "sex", "study_site_column": "all_sites",'
        b' "default_age_selection": [18, 80], "max_display_rows": 50}'
    )
    assert (nested.layout, flat.layout, as_json.layout) == ("nested", "flat", "json")
    for config in (flat, as_json):
        assert config.study_settings() == nested.study_settings()
        assert (
            config.builder_defaults()
            == nested.builder_defaults()
            == {
                "default_age_min": 18.0,
                "default_age_max": 80.0,
                "display_rows": 50,
            }
        )
    assert nested.ignored == ("data.data_dir", "state.backend", "state.ttl_default", "state.enable_user_isolation")
    assert flat.ignored == ("data_dir",)


def test_sections_without_meaning_are_ignored_never_an_error() -> None:
    config = parse_bdt_config(
        '[data]\nprimary_id_column = "ursi"\nrockland_base_studies = ["Discovery"]\n'
        "[ui]\ndefault_age_range = [0, 120]\ncache_ttl_seconds = 600\n"
        '[state]\nbackend = "redis"\nredis_url = "redis://elsewhere:6379/0"\n[state.extra]\nx = 1\n'
        "[plotting]\n"
    )
    assert config.primary_id_column == "ursi"
    assert config.ignored == (
        "data.rockland_base_studies",
        "ui.default_age_range",
        "ui.cache_ttl_seconds",
        "state.backend",
        "state.redis_url",
        "state.extra",
        "plotting",
    )
    notes = " ".join(config.ignored_notes())
    assert "the age filter's bounds come from the data" in notes and "query state is kept on the server" in notes
    assert "redis://" not in notes  # settings are named, their values never repeated


def test_an_empty_default_age_range_is_refused() -> None:
    with pytest.raises(IngestError) as info:
        parse_bdt_config("[ui]\ndefault_age_min = 80\ndefault_age_max = 18\n")
    assert info.value.code == "invalid_config" and "minimum 80 is above its maximum 18" in info.value.message


def _ingest(tmp_path: Path, text: str) -> list:
    source = tmp_path / "demo.csv"
    source.write_text(text)
    options = IngestOptions(id_column="ursi", session_column="session_num", composite_column="customID")
    return ingest_csv(source, work_dir=tmp_path / "work", options=options).warnings


def test_the_composite_id_is_checked_on_every_row_as_uploaded(tmp_path: Path) -> None:
    good = _ingest(tmp_path, "ursi,session_num,customID\n001,1,001_1\n001,2.0,001_2.0\n")
    assert [w.code for w in good] == ["composite_id_recognised"]  # "001" stays "001", "2.0" stays "2.0"
    bad = _ingest(tmp_path, "ursi,session_num,customID\n001,1,1_1\n002,1,002_1\n003,1,\n")
    mismatch = next(w for w in bad if w.code == "composite_id_mismatch")
    assert mismatch.details == {"column": "customID", "count": 2, "rows": [2, 4]}
    assert "'1_1' where '001_1' was expected" in mismatch.message
