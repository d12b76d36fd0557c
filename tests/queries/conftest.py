"""Fixtures for the query API tests: a longitudinal study with demographics and two measure tables."""

from __future__ import annotations

from typing import Any

import pytest

from tests.datasets.conftest import _isolated_media, make_study, steward_api, upload  # noqa: F401

DEMOGRAPHICS = (
    "participant_id,session,age,sex,site\n"
    "001,BAS1,25.5,F,Discovery;Longitudinal_Adult\n"
    "001,FU1,26.0,F,Discovery;Longitudinal_Adult\n"
    '002,BAS1,31,M,"{Discovery, Neurofeedback}"\n'
    "003,BAS1,40.25,F,Neurofeedback\n"
    "003,FU1,41,F,Neurofeedback\n"
    "004,BAS1,67.5,M,Longitudinal_Adult Discovery\n"
)
COGNITIVE = (
    "participant_id,session,working_memory,note\n"
    '001,BAS1,101.5,=HYPERLINK("x")\n'
    "001,FU1,99,\n"
    "002,BAS1,120,ok\n"
    "003,FU1,90,+1 more\n"
)
FLANKER = "participant_id,session,accuracy\n001,BAS1,0.55\n002,BAS1,0.905\n004,BAS1,0.7\n"


@pytest.fixture
def study(make_study: Any, upload: Any) -> str:  # noqa: F811 - the imported fixtures
    make_study("memory", age_column="age", sex_column="sex", site_column="site")
    for name, text, kind in (
        ("demographics", DEMOGRAPHICS, "demographics"),
        ("cognitive", COGNITIVE, "measure"),
        ("flanker", FLANKER, "measure"),
    ):
        _, ingest = upload("memory", text, name, kind=kind)
        assert ingest["status"] == "succeeded", ingest
    return "memory"
