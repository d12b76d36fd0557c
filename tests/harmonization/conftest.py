"""Two differently coded studies of one workspace and the variables that map them.

"alpha" is cross-sectional: ``age_years``, sex ``F``/``M``, a ``cognitive`` table with ``iq``. "beta" is
longitudinal (sessions BAS and FU1): ``age_months``, ``gender`` ``Female``/``Male``, an ``iq_test`` table with
``iq_score``. The variables: ``age`` (years; beta's months scaled by 1/12), ``sex`` (``female``/``male`` through
recode maps) and ``iq``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from tests.conftest import ApiClient


def alpha_rows() -> list[dict[str, Any]]:
    return [
        {
            "participant_id": f"A{i:03d}",
            "age_years": 20 + (i * 7) % 60,
            "sex": "F" if i % 2 else "M",
            "iq": 80 + (i * 13) % 50 + 0.5,
        }
        for i in range(1, 41)
    ]


def beta_rows() -> list[dict[str, Any]]:
    rows = []
    for i in range(1, 31):
        for step, session in enumerate(("BAS", "FU1")):
            rows.append(
                {
                    "participant_id": f"B{i:03d}",
                    "session": session,
                    "age_months": (20 + (i * 5) % 60) * 12 + 6 * step,
                    "gender": "Female" if i % 3 else "Male",
                    "iq_score": 85 + (i * 11 + step * 3) % 45,
                }
            )
    return rows


def _csv(rows: list[dict[str, Any]], columns: list[str]) -> str:
    return "\n".join([",".join(columns), *(",".join(str(row[c]) for c in columns) for row in rows)]) + "\n"


AGE = {
    "name": "age",
    "type": "number",
    "label": "Age at visit",
    "unit": "years",
    "sources": [
        {"study": "alpha", "dataset": "demographics", "column": "age_years"},
        {"study": "beta", "dataset": "demographics", "column": "age_months", "scale": 1 / 12},
    ],
}
SEX = {
    "name": "sex",
    "type": "string",
    "label": "Sex",
    "sources": [
        {"study": "alpha", "dataset": "demographics", "column": "sex", "recode": {"F": "female", "M": "male"}},
        {
            "study": "beta",
            "dataset": "demographics",
            "column": "gender",
            "recode": {"Female": "female", "Male": "male"},
        },
    ],
}
IQ = {
    "name": "iq",
    "type": "number",
    "label": "Full-scale IQ",
    "sources": [
        {"study": "alpha", "dataset": "cognitive", "column": "iq"},
        {"study": "beta", "dataset": "iq_test", "column": "iq_score"},
    ],
}


@pytest.fixture
def two_studies(make_study: Callable[..., Any], upload: Callable[..., Any]) -> tuple[str, str]:
    make_study("alpha", session_column=None)
    make_study("beta")
    alpha, beta = alpha_rows(), beta_rows()
    for study, name, kind, text in (
        ("alpha", "demographics", "demographics", _csv(alpha, ["participant_id", "age_years", "sex"])),
        ("alpha", "cognitive", "measure", _csv(alpha, ["participant_id", "iq"])),
        ("beta", "demographics", "demographics", _csv(beta, ["participant_id", "session", "age_months", "gender"])),
        ("beta", "iq_test", "measure", _csv(beta, ["participant_id", "session", "iq_score"])),
    ):
        _, ingest = upload(study, text, name, kind=kind)
        assert ingest and ingest["status"] == "succeeded", ingest
    return "alpha", "beta"


@pytest.fixture
def variables(two_studies: tuple[str, str], steward_api: ApiClient) -> ApiClient:
    """The three variables, defined by the fixture steward."""
    for definition in (AGE, SEX, IQ):
        response = steward_api.post("/api/v1/variables", definition)
        assert response.status_code == 201, response.content
    return steward_api
