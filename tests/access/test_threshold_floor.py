"""A study may raise the workspace's small-cell threshold, never lower it; only owners change the workspace's
(issue 10, finding 9). The attack: a steward switched suppression off with ``PATCH studies/X {"suppression_threshold":
1}``, and count-level members saw exact small counts.
"""

from __future__ import annotations

import pytest
from django_tenants.utils import tenant_context

from datasets.models import Study

pytestmark = pytest.mark.django_db

TWELVE = {"filters": [{"dataset": "cognitive", "column": "score", "op": "lte", "value": 12}]}


def test_a_steward_cannot_lower_a_study_below_the_workspace_threshold(
    api, tenant_a, gov, steward_api, analyst_at
) -> None:
    counter = analyst_at("count")
    small = {"filters": [{"dataset": "cognitive", "column": "score", "op": "lte", "value": 3}]}
    attack = steward_api.patch("/api/v1/studies/gov", {"suppression_threshold": 1})
    assert attack.status_code == 422 and attack.json()["error"]["code"] == "threshold_below_workspace"
    assert attack.json()["error"]["details"]["workspace_threshold"] == 10
    assert counter.post("/api/v1/studies/gov/count", small).json()["suppressed"] is True
    low = {"slug": "low", "name": "Low", "id_column": "participant_id", "suppression_threshold": 2}
    created = steward_api.post("/api/v1/studies", low)
    assert created.status_code == 422 and created.json()["error"]["code"] == "threshold_below_workspace"
    raised = steward_api.patch("/api/v1/studies/gov", {"suppression_threshold": 20})
    assert raised.status_code == 200 and raised.json()["suppression_threshold"] == 20
    shown = counter.post("/api/v1/studies/gov/count", TWELVE).json()
    assert shown["suppressed"] is True and shown["threshold"] == 20  # a study may raise it
    assert steward_api.patch("/api/v1/settings", {"suppression_threshold": 1}).status_code == 403  # owners only


def test_the_workspace_floor_wins_over_a_lower_study_value_set_earlier(api, tenant_a, gov, analyst_at) -> None:
    counter = analyst_at("count")
    with tenant_context(tenant_a):  # a value written before the rule existed
        Study.objects.filter(slug="gov").update(suppression_threshold=5)
    owner = api(tenant_a, "owner")
    assert owner.patch("/api/v1/settings", {"suppression_threshold": 15}).status_code == 200
    answer = counter.post("/api/v1/studies/gov/count", TWELVE).json()
    assert answer["suppressed"] is True and answer["threshold"] == 15
