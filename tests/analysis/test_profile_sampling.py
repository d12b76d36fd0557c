"""A profile of a result larger than ``analysis_sample_rows`` is built on a fixed-seed sample and says so.

The workspace override (``Tenant.settings``) stands in for a 1M-row result: 60 rows with a limit of 20.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
from django.db import connection
from django_tenants.utils import tenant_context

from analysis.tasks import profile_job_execute_task
from tests.analysis.conftest import SCORE, N

pytestmark = pytest.mark.django_db

LIMIT = 20


def test_profile_above_the_sample_limit_reports_its_sample(analyst, stats_run, tenant_a) -> None:
    tenant_a.settings = {**(tenant_a.settings or {}), "analysis_sample_rows": LIMIT}
    tenant_a.save(update_fields=["settings"])
    started = analyst.post(f"/api/v1/queries/{stats_run}/profiles")
    assert started.status_code == 202, started.content
    job = started.json()["id"]
    with tenant_context(tenant_a):  # the task reads the limit of the tenant it runs for, like on a worker
        assert profile_job_execute_task.apply(args=(job,)).get() == "succeeded"
    connection.set_schema_to_public()

    report = analyst.get(f"/api/v1/profiles/{job}/report.json").json()
    assert report["sample"] == {"rows": N, "used": LIMIT, "sampled": True, "seed": 42}
    assert report["table"]["rows"] == N and report["table"]["cells"] == LIMIT * report["table"]["columns"]
    score = next(c for c in report["columns"] if c["name"] == "score")
    assert score["count"] + score["missing"] == LIMIT
    # The sample is numpy's generator seeded 42 choosing LIMIT of the N result rows (row order = participant order).
    chosen = np.sort(np.random.default_rng(42).choice(N, size=LIMIT, replace=False))
    assert math.isclose(score["numeric"]["mean"], SCORE[chosen].mean(), rel_tol=1e-9)

    html = analyst.get(f"/api/v1/profiles/{job}/report.html").content.decode()
    assert f"a sample of {LIMIT} of {N} rows (seed 42)" in html


def test_profile_within_the_sample_limit_uses_every_row(analyst, stats_run, tenant_a) -> None:
    tenant_a.settings = {**(tenant_a.settings or {}), "analysis_sample_rows": N}
    tenant_a.save(update_fields=["settings"])
    job = analyst.post(f"/api/v1/queries/{stats_run}/profiles").json()["id"]
    with tenant_context(tenant_a):
        assert profile_job_execute_task.apply(args=(job,)).get() == "succeeded"
    connection.set_schema_to_public()
    report = analyst.get(f"/api/v1/profiles/{job}/report.json").json()
    assert report["sample"] == {"rows": N, "used": N, "sampled": False, "seed": 42}
    assert f"all {N} rows" in analyst.get(f"/api/v1/profiles/{job}/report.html").content.decode()
