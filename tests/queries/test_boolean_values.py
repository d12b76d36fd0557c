"""A yes/no column takes filter values as the source file spells them (yes/no, y/n, true/false, 1/0, any case):
over the API, in a JSON or TOML import, and the builder offers the choices in words."""

from __future__ import annotations

import json

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile

pytestmark = pytest.mark.django_db

DEMOGRAPHICS = "participant_id,age\n" + "".join(f"P{i:02d},{20 + i}\n" for i in range(1, 31))
HABITS = "participant_id,smoker\n" + "".join(f"P{i:02d},{'yes' if i <= 12 else 'no'}\n" for i in range(1, 31))


@pytest.fixture
def habits(make_study, upload) -> str:
    make_study("habits", session_column="", age_column="age")
    for name, text, kind in (("demographics", DEMOGRAPHICS, "demographics"), ("habits", HABITS, "measure")):
        _, ingest = upload("habits", text, name, kind=kind)
        assert ingest["status"] == "succeeded", ingest
    return "habits"


def _count(client, value, op="eq") -> tuple[int, dict]:
    spec = {"filters": [{"dataset": "habits", "column": "smoker", "op": op, "value": value}]}
    response = client.post("/api/v1/studies/habits/count", spec)
    return response.status_code, response.json()


def test_api_accepts_the_spellings_of_the_file(habits, steward_api) -> None:
    columns = steward_api.get("/api/v1/studies/habits/datasets/habits").json()
    assert any(c["name"] == "smoker" and c["type"] == "boolean" for c in columns["latest_version"]["columns"])
    for value in ("yes", "YES", "y", "true", "1", 1, True):
        status, body = _count(steward_api, value)
        assert status == 200 and body["participants"] == 12, (value, body)
    for value in ("no", "N", "False", "0", 0, False):
        status, body = _count(steward_api, value)
        assert status == 200 and body["participants"] == 18, (value, body)
    status, body = _count(steward_api, ["Yes", "no"], op="in")
    assert status == 200 and body["participants"] == 30


@pytest.mark.parametrize("value", ["maybe", "yes please", 2, 0.5, ""])
def test_api_refuses_other_values_with_the_accepted_spellings(habits, steward_api, value) -> None:
    status, body = _count(steward_api, value)
    assert status == 422 and body["error"]["code"] == "invalid_value"
    assert "yes/no" in body["error"]["message"]


def test_imports_accept_the_spellings(habits, page_client, tenant_a) -> None:
    analyst = page_client(tenant_a, "analyst", host=tenant_a.primary_domain_name())
    spec = {"filters": [{"dataset": "habits", "column": "smoker", "op": "eq", "value": "yes"}]}
    good = analyst.post("/queries/habits/import/", {"file": SimpleUploadedFile("q.json", json.dumps(spec).encode())})
    assert good.status_code == 302, good.content.decode()[:2000]
    toml = (
        '[[phenotypic_filters]]\ntable = "habits"\ncolumn = "smoker"\nfilter_type = "comparison"\n'
        'op = "eq"\nvalue = "No"\nenabled = true\n'
    )
    imported = analyst.post("/queries/habits/import/", {"file": SimpleUploadedFile("q.toml", toml.encode())})
    assert imported.status_code == 302, imported.content.decode()[:2000]
    page = analyst.get("/queries/habits/").content.decode()
    assert '<option value="false" selected' in page
    assert "no (false)" in page and "yes (true)" in page
