"""A cross-sectional study "stats" (60 participants) with a finished run, and the same values as plain arrays for
independent computations."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import pytest

from tests.conftest import ApiClient


@pytest.fixture(autouse=True)
def _own_storage_root(isolated_media: None) -> None:
    """Every test here gets its own storage root (``isolated_media``)."""


N = 60
_rng = np.random.default_rng(7)
AGE = np.round(_rng.uniform(20, 70, N), 1)
GROUP = np.array(["A", "B", "C"])[np.arange(N) % 3]
SCORE = np.round(0.5 * AGE + np.where(GROUP == "B", 6.0, 0.0) + _rng.normal(0, 4, N), 3)
IDS = [f"P{i:03d}" for i in range(1, N + 1)]
NOTE = ["=cmd|' /C calc'!A0" if i % 10 == 0 else "ok" for i in range(N)]


def demographics_csv() -> str:
    lines = ["participant_id,age,grp,score,uid,cohort,const,note"]
    for i in range(N):
        lines.append(f'{IDS[i]},{AGE[i]},{GROUP[i]},{SCORE[i]},U{i},X,5,"{NOTE[i]}"')
    return "\n".join(lines) + "\n"


EXTRA = "participant_id,late\nP001,1.5\nP002,2.5\n"
PHANTOM = "participant_id,phantom_value\nZ1,1.0\nZ2,2.0\nZ3,3.5\n"


@pytest.fixture
def stats_study(make_study: Any, upload: Any) -> str:
    make_study("stats", session_column=None, age_column="age")
    for name, text, kind in (("demographics", demographics_csv(), "demographics"), ("extra", EXTRA, "measure"),
                             ("phantom", PHANTOM, "measure")):  # fmt: skip
        _, ingest = upload("stats", text, name, kind=kind)
        assert ingest["status"] == "succeeded", ingest
    return "stats"


SPEC = {"columns": {"extra": ["late"], "phantom": ["phantom_value"]}}


@pytest.fixture
def analyst(api: Callable[..., ApiClient], tenant_a: Any) -> ApiClient:
    return api(tenant_a, "analyst")


@pytest.fixture
def stats_run(stats_study: str, analyst: ApiClient, execute: Callable[[int], str]) -> int:
    """A succeeded run of the analyst over every participant (demographics + late + phantom_value)."""
    response = analyst.post("/api/v1/studies/stats/queries", SPEC)
    assert response.status_code == 202, response.content
    run_id = int(response.json()["id"])
    assert execute(run_id) == "succeeded"
    return run_id
