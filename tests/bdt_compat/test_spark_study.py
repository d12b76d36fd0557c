"""A study on the Spark engine, imported through the API, counts and runs with the results BDT's semantics give
(the independent oracle), exactly as the DuckDB studies of ``test_import_paths`` do."""

from __future__ import annotations

import os
import shutil

import pytest

from tenants.models import Tenant
from tests.bdt_compat.oracle import Layout, normalized
from tests.bdt_compat.test_import_paths import LAYOUTS, _filter, scenarios

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _java_and_spark_timeouts(tenant_a: Tenant) -> None:
    """Java is required; a Spark statement takes seconds (the first ones in a fresh JVM more, on a loaded machine
    tens of seconds), so the workspace gives counts the time a Spark workspace would be configured with."""
    if shutil.which("java") is None and not os.environ.get("JAVA_HOME"):
        if os.environ.get("CI"):
            raise RuntimeError("Java is missing: run scripts/ensure_java.sh")
        pytest.skip("Java is not installed (scripts/ensure_java.sh)")
    tenant_a.settings = {**(tenant_a.settings or {}), "count_timeout_seconds": 300}
    tenant_a.save(update_fields=["settings"])


@pytest.mark.parametrize("layout", LAYOUTS)
def test_a_spark_study_counts_and_runs_as_bdt_reads_it(import_bdt, steward, study_of, execute, layout: str) -> None:
    data = Layout(layout)
    result = import_bdt("api", data.folder, keys={"engine": "spark"})
    assert result.created, result.messages
    study = study_of(result.slug)
    assert study is not None and study.engine == "spark"
    assert steward.get(f"/api/v1/studies/{result.slug}").json()["engine"] == "spark"

    for filters, spec in scenarios(data):
        response = steward.post(f"/api/v1/studies/{result.slug}/count", spec)
        assert response.status_code == 200, (spec, response.content)
        got = response.json()
        assert (got["participants"], got["rows"]) == data.count(**filters), spec

    picks = {
        name: [c for c in rows[0] if c not in ("ursi", "session_num", "customID")]
        for name, rows in data.measures.items()
    }
    spec = {"filters": [_filter("demographics", "age", 18, 80)], "columns": picks}
    created = steward.post(f"/api/v1/studies/{result.slug}/queries", spec)
    assert created.status_code == 202, created.content
    assert execute(created.json()["id"]) == "succeeded"
    rows = steward.get(f"/api/v1/queries/{created.json()['id']}/rows?page_size=1000").json()
    columns, expected = data.output(picks, age=(18.0, 80.0))
    assert rows["columns"] == columns
    assert normalized(rows["items"]) == expected


def test_an_unknown_engine_is_refused_and_imports_nothing(import_bdt, study_of) -> None:
    result = import_bdt("api", Layout("cross_sectional").folder, keys={"engine": "hadoop"})
    assert not result.created and study_of(result.slug) is None
