"""seed_demo fills a deterministic longitudinal demo study."""

from __future__ import annotations

from io import StringIO
from pathlib import Path

import pytest
from django.core.management import call_command
from django_tenants.utils import tenant_context

from datasets.models import DatasetVersion, Study
from demo.study import demo_files_write
from tenants.models import Tenant

pytestmark = pytest.mark.django_db


def test_demo_files_are_deterministic(tmp_path: Path) -> None:
    for name in "abc":
        (tmp_path / name).mkdir()
    first = demo_files_write(tmp_path / "a", participants=40, seed=7)
    second = demo_files_write(tmp_path / "b", participants=40, seed=7)
    other = demo_files_write(tmp_path / "c", participants=40, seed=8)
    assert all(first[name].read_bytes() == second[name].read_bytes() for name in first)
    assert first["demographics"].read_bytes() != other["demographics"].read_bytes()


def test_seed_demo_builds_a_longitudinal_multi_site_study() -> None:
    call_command("seed_demo", "--tenant", "demo-y", "--participants", "120", stdout=StringIO())
    with tenant_context(Tenant.objects.get(slug="demo-y")):
        study = Study.objects.get(slug="demo-study")
        assert study.is_longitudinal and study.site_column == "site"
        assert sorted(study.datasets.values_list("name", flat=True)) == [
            "cognitive",
            "demographics",
            "flanker",
            "imaging",
            "mood",
        ]
        demographics = DatasetVersion.objects.get(dataset__name="demographics")
        assert demographics.participants == 120
        assert demographics.sessions == ["BAS1", "BAS2", "FU1"]
        assert 120 < demographics.row_count < 360  # some participants skipped a session or dropped out
        age = demographics.column("age")
        assert age["type"] == "float" and age["min"] >= 8
        assert demographics.column("participant_id")["type"] == "string"
