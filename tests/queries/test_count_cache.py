"""The count cache: a repeat is served from the cache, but never past the access checks, never for an invalid spec,
and never after the study's keys or data changed."""

from __future__ import annotations

from typing import Any

import pytest
from django.core.cache import cache
from django_tenants.utils import tenant_context

from audit.models import AuditEvent

pytestmark = pytest.mark.django_db

SPEC = {
    "sites": ["Discovery"],
    "filters": [{"dataset": "cognitive", "column": "working_memory", "op": "gt", "value": 0}],
}


@pytest.fixture(autouse=True)
def _fresh_cache() -> None:
    cache.clear()


def _count(client: Any, spec: Any) -> Any:
    return client.post("/api/v1/studies/memory/count", spec)


def _numbers(response: Any) -> dict[str, int]:
    assert response.status_code == 200, response.content
    return {key: response.json()[key] for key in ("participants", "rows")}


def _cached_flags(tenant: Any) -> list[bool]:
    with tenant_context(tenant):
        return [e.details["cached"] for e in AuditEvent.objects.filter(action="query.count").order_by("pk")]


def test_a_repeated_count_is_served_from_the_cache_and_audited(steward_api: Any, study_ro: str, tenant_a: Any) -> None:
    first, second = _count(steward_api, SPEC), _count(steward_api, SPEC)
    assert _numbers(first) == _numbers(second) == {"participants": 2, "rows": 3}  # 001 at BAS1 and FU1, 002 at BAS1
    assert _cached_flags(tenant_a) == [False, True]


def test_a_cached_count_still_checks_the_caller(api: Any, steward_api: Any, study_ro: str, tenant_a: Any) -> None:
    assert _count(steward_api, SPEC).status_code == 200
    viewer = api(tenant_a, "viewer")
    refused = _count(viewer, SPEC)
    assert refused.status_code == 403, refused.content
    assert "participants" not in refused.json()


def test_invalid_specs_are_rejected_even_when_a_valid_one_is_cached(steward_api: Any, study_ro: str) -> None:
    assert _count(steward_api, SPEC).status_code == 200
    unknown = {**SPEC, "filters": [{"dataset": "cognitive", "column": "nope", "op": "gt", "value": 0}]}
    response = _count(steward_api, unknown)
    assert response.status_code == 422 and response.json()["error"]["code"] == "unknown_column"
    malformed = _count(steward_api, {"sites": "Discovery"})
    assert malformed.status_code == 422 and malformed.json()["error"]["code"] == "invalid_spec"


def test_changing_the_site_column_is_not_answered_from_the_cache(steward_api: Any, study: str) -> None:
    spec = {"sites": ["F"]}
    assert _count(steward_api, spec).json()["participants"] == 0  # no site cell holds "F"
    changed = steward_api.patch("/api/v1/studies/memory", {"site_column": "sex", "sex_column": None})
    assert changed.status_code == 200, changed.content
    assert _numbers(_count(steward_api, spec)) == {"participants": 2, "rows": 4}  # 001 and 003 are F


def test_a_new_version_is_not_answered_from_the_cache(steward_api: Any, study: str, upload: Any) -> None:
    spec = {"filters": [{"dataset": "flanker", "column": "accuracy", "op": "gte", "value": 0.5}]}
    assert _count(steward_api, spec).json()["participants"] == 3
    _, ingest = upload("memory", "participant_id,session,accuracy\n001,BAS1,0.55\n", "flanker", kind="measure")
    assert ingest["status"] == "succeeded", ingest
    assert _count(steward_api, spec).json()["participants"] == 1


def test_the_cheap_count_key_is_the_prepared_key(steward_api: Any, study_ro: str, tenant_a: Any) -> None:
    """The key computed before the catalog (cache lookup) is exactly the one of the fully prepared query."""
    from datasets.models import Study
    from queries.core.spec import spec_parse
    from queries.execution import query_count_key, query_prepare

    with tenant_context(tenant_a):
        target = Study.objects.get(slug="memory")
        for spec in (SPEC, {}, {"columns": {"flanker": ["accuracy"], "cognitive": ["note"]}, "shape": "wide"}):
            key = query_count_key(target, spec_parse(spec))
            prepared = query_prepare(
                tenant=tenant_a, study=target, spec=spec_parse(spec), versions=key.pinned_versions()
            )
            assert key.cache_key == prepared.cache_key and key.spec_hash == prepared.spec_hash
            assert key.touched_datasets() == prepared.touched_datasets()


def test_a_members_own_cached_count_never_outlives_their_access(
    api: Any, steward_api: Any, study: str, tenant_a: Any
) -> None:
    """The cache holds a member's exact count; when their level drops (a study default to ``count``), they leave the
    workspace, or come back as a viewer, the same spec is answered from their level at that moment, never from
    what was cached for them before."""
    analyst = api(tenant_a, "analyst")  # the workspace default: export
    exact = _numbers(_count(analyst, SPEC))
    assert _numbers(_count(analyst, SPEC)) == exact
    assert _cached_flags(tenant_a)[-1] is True

    lowered = steward_api.post("/api/v1/studies/memory/defaults", {"level": "count"})
    assert lowered.status_code == 201, lowered.content
    protected = _count(analyst, SPEC).json()
    assert protected["perturbed"] is True and protected["suppressed"] is True  # 2 participants < k: hidden
    assert protected["participants"] is None

    owner = api(tenant_a, "owner")
    assert owner.delete(f"/api/v1/members/{analyst.user.email}").status_code == 204
    assert _count(analyst, SPEC).status_code == 401
    assert owner.post("/api/v1/members", {"email": analyst.user.email, "role": "viewer"}).status_code == 201
    refused = _count(api(tenant_a, "viewer", user=analyst.user), SPEC)
    assert refused.status_code == 403 and "participants" not in refused.json()
