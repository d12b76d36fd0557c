"""The builder's value search below the query level reads a bounded number of values in SQL (never every value of a
column into the web process), keeps the small-cell rule (no value fewer than k participants hold), and is engine work
admitted like a count (a member with every slot busy gets 429)."""

from __future__ import annotations

from typing import Any

import pytest
from django.db import connection
from django_tenants.utils import tenant_context

from access import catalog_cells
from access.catalog_cells import value_cells
from core.admission import interactive_slot
from datasets.models import DatasetVersion

pytestmark = pytest.mark.django_db

HX = {"HTTP_HX_REQUEST": "true"}
SEARCH = {"row": "0", "f-0-dataset": "clinical", "f-0-column": "diagnosis"}


@pytest.fixture
def clinical(gov: str, upload: Any) -> str:
    """60 participants: 47 hold ``common``, 3 ``rare``, and 10 each hold a value of their own (``unique<i>``)."""
    lines = ["participant_id,session,diagnosis"] + [
        f"P{i:03d},BAS1,{'rare' if i <= 3 else 'common' if i <= 50 else f'unique{i}'}" for i in range(1, 61)
    ]
    _, ingest = upload("gov", "\n".join(lines) + "\n", "clinical", kind="measure")
    assert ingest["status"] == "succeeded"
    return "clinical"


def _cells(tenant: Any, **bounds: Any) -> list[tuple[Any, int]]:
    with tenant_context(tenant):
        version = DatasetVersion.objects.get(dataset__study__slug="gov", dataset__name="clinical")
        found = [
            (value, cell.participants)
            for value, cell in value_cells(version.dataset.study, version, "diagnosis", **bounds)
        ]
    connection.set_schema_to_public()  # type: ignore[attr-defined]
    return found


def test_a_column_with_many_values_returns_at_most_the_limit_in_text_order(clinical: str, tenant_a: Any) -> None:
    everything = _cells(tenant_a, limit=100)
    assert len(everything) == 12 and dict(everything)["common"] == 47
    assert _cells(tenant_a, limit=4) == sorted(everything, key=lambda item: str(item[0]))[:4]
    assert _cells(tenant_a, min_participants=10) == [("common", 47)]  # decided in SQL, before any perturbation
    assert _cells(tenant_a, min_participants=3) == [("common", 47), ("rare", 3)]


def test_the_value_search_reads_at_most_its_bound_and_lists_only_common_values(
    clinical: str, analyst_at: Any, browser_of: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(catalog_cells, "VALUE_CELLS_MAX", 2)
    counter = browser_of(analyst_at("count").user)
    found = counter.get("/queries/gov/values/", {**SEARCH, "f-0-q": "o"}, **HX).content.decode()
    assert "common" in found and "rare" not in found and "unique" not in found


def test_the_value_search_waits_for_an_engine_slot_like_a_count(
    clinical: str, analyst_at: Any, browser_of: Any, tenant_a: Any
) -> None:
    user = analyst_at("count").user
    counter = browser_of(user)
    with interactive_slot(tenant=tenant_a, user=user), interactive_slot(tenant=tenant_a, user=user):
        refused = counter.get("/queries/gov/values/", {**SEARCH, "f-0-q": "com"}, **HX)
        assert refused.status_code == 429, refused.content
        assert "value searches" in refused.content.decode()
    assert "common" in counter.get("/queries/gov/values/", {**SEARCH, "f-0-q": "com"}, **HX).content.decode()
