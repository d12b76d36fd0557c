"""The count cache replayed as an attacker would try it: a repeated count is served from the cache only for the same
member, workspace, versions, grants and disclosure level; every answer is still audited and charged; and a cached
count's database work stays bounded (the statements of the request are counted, not timed)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from django.core.cache import cache
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django_tenants.utils import tenant_context

from access.models import Grant
from access.services import grant_revoke
from audit.models import AuditEvent
from datasets.ingest_runner import ingest_job_execute
from datasets.models import DatasetVersion
from tests.conftest import ApiClient
from tests.csv_data import MEMORY_COGNITIVE, MEMORY_DEMOGRAPHICS, MEMORY_FLANKER
from tests.plugins.datasets import csv_upload

pytestmark = pytest.mark.django_db

SPEC = {
    "sites": ["Discovery"],
    "filters": [{"dataset": "cognitive", "column": "working_memory", "op": "gt", "value": 0}],
}
HIDDEN = {"filters": [{"dataset": "cognitive", "column": "score", "op": "lte", "value": 3}]}  # "gov": 3 people

# Statements of a cached count through the API in the test setup: domain, token with its membership, study,
# datasets with their newest versions, grants, and the audit event in its savepoint (savepoint, lock, last hash,
# insert, usage, release). 16 before: two SET search_path, a membership query of its own, a second datasets read
# and a versions query.
CACHED_COUNT_STATEMENTS = 11


@pytest.fixture(autouse=True)
def _fresh_cache() -> None:
    cache.clear()


def _count(client: ApiClient, spec: Any, study: str = "memory") -> Any:
    return client.post(f"/api/v1/studies/{study}/count", spec)


def _numbers(response: Any) -> tuple[int, int]:
    assert response.status_code == 200, response.content
    return response.json()["participants"], response.json()["rows"]


def _count_events(tenant: Any, actor: Any = None) -> list[AuditEvent]:
    with tenant_context(tenant):
        found = AuditEvent.objects.filter(action="query.count").order_by("pk")
        if actor is not None:
            found = found.filter(actor_id=actor.pk)
        events = list(found)
    connection.set_schema_to_public()
    return events


def test_a_cached_count_issues_no_more_statements_than_measured(steward_api: ApiClient, study: str) -> None:
    assert _numbers(_count(steward_api, SPEC)) == _numbers(_count(steward_api, SPEC))  # computed, then cached
    with CaptureQueriesContext(connection) as captured:
        response = _count(steward_api, SPEC)
    assert _numbers(response) == (2, 3)
    statements = [q["sql"] for q in captured.captured_queries]
    assert len(statements) <= CACHED_COUNT_STATEMENTS, "\n".join(statements)
    assert sum('FROM "datasets_dataset"' in sql for sql in statements) == 1  # access check and cache key share it
    assert not any('FROM "datasets_datasetversion"' in sql and "LIMIT 1" not in sql for sql in statements)
    assert sum('INSERT INTO "audit_auditevent"' in sql for sql in statements) == 1  # still audited


def test_revoking_the_grant_between_two_identical_counts_refuses_the_second(
    analyst_at: Callable[[str], ApiClient], gov: str, tenant_a: Any
) -> None:
    analyst = analyst_at("query")
    assert _numbers(_count(analyst, HIDDEN, "gov")) == (3, 3)
    with tenant_context(tenant_a):
        for made in Grant.objects.filter(user=analyst.user):
            grant_revoke(tenant=tenant_a, actor=made.granted_by, grant=made)
    connection.set_schema_to_public()
    refused = _count(analyst, HIDDEN, "gov")
    assert refused.status_code == 403 and refused.json()["error"]["code"] == "access_level_insufficient"
    assert "participants" not in refused.json()
    assert len(_count_events(tenant_a, analyst.user)) == 1  # the refused one has no count event


def test_a_downgrade_to_count_level_between_two_identical_counts_protects_the_second(
    analyst_at: Callable[[str], ApiClient],
    gov: str,
    tenant_a: Any,
    grant: Callable[..., Any],
    steward_api: ApiClient,
) -> None:
    analyst = analyst_at("query")
    assert _numbers(_count(analyst, HIDDEN, "gov")) == (3, 3)  # exact, and now cached for this member
    with tenant_context(tenant_a):
        for made in Grant.objects.filter(user=analyst.user):
            grant_revoke(tenant=tenant_a, actor=made.granted_by, grant=made)
    connection.set_schema_to_public()
    grant(analyst.user, "count")
    again = _count(analyst, HIDDEN, "gov")
    assert again.status_code == 200, again.content
    assert again.json()["suppressed"] is True and again.json()["participants"] is None  # not the cached 3
    events = _count_events(tenant_a, analyst.user)
    assert [e.details["aggregate_only"] for e in events] == [False, True]
    assert [e.details["cached"] for e in events] == [False, False]  # the protected answer was computed apart
    activity = steward_api.get("/api/v1/studies/gov/count-activity").json()
    mine = next(item for item in activity["items"] if item["email"] == analyst.user.email)
    assert mine["used"] == 1  # the count budget was charged for the protected answer


def test_an_aggregate_only_member_never_gets_a_full_members_cached_answer(
    analyst_at: Callable[[str], ApiClient], gov: str, tenant_a: Any
) -> None:
    full, counter = analyst_at("query"), analyst_at("count")
    for _ in range(2):
        assert _numbers(_count(full, HIDDEN, "gov")) == (3, 3)
        protected = _count(counter, HIDDEN, "gov").json()
        assert protected["suppressed"] is True and protected["participants"] is None
    assert [e.details["cached"] for e in _count_events(tenant_a, full.user)] == [False, True]
    assert [e.details["aggregate_only"] for e in _count_events(tenant_a, counter.user)] == [True, True]


def test_a_new_version_between_two_identical_counts_is_counted_and_pinned(
    steward_api: ApiClient, study: str, upload: Any, tenant_a: Any
) -> None:
    spec = {"filters": [{"dataset": "flanker", "column": "accuracy", "op": "gte", "value": 0.5}]}
    assert _numbers(_count(steward_api, spec)) == (3, 3)
    _, ingest = upload("memory", "participant_id,session,accuracy\n001,BAS1,0.55\n", "flanker", kind="measure")
    assert ingest is not None and ingest["status"] == "succeeded", ingest
    assert _numbers(_count(steward_api, spec)) == (1, 1)
    assert _numbers(_count(steward_api, spec)) == (1, 1)
    assert [e.details["cached"] for e in _count_events(tenant_a)] == [False, False, True]


def test_a_deleted_version_is_not_answered_from_the_cache(
    steward_api: ApiClient, study: str, upload: Any, tenant_a: Any
) -> None:
    spec = {"filters": [{"dataset": "flanker", "column": "accuracy", "op": "gte", "value": 0.5}]}
    _, ingest = upload("memory", "participant_id,session,accuracy\n001,BAS1,0.55\n", "flanker", kind="measure")
    assert ingest is not None and ingest["status"] == "succeeded", ingest
    assert _numbers(_count(steward_api, spec)) == (1, 1)  # the newest version, cached
    with tenant_context(tenant_a):
        newest = DatasetVersion.objects.filter(dataset__name="flanker").order_by("-number").first()
        assert newest is not None and newest.number == 2
        newest.deleted_at = newest.created_at
        newest.save(update_fields=["deleted_at"])
    connection.set_schema_to_public()
    assert _numbers(_count(steward_api, spec)) == (3, 3)  # back to version 1, computed again


def _study_in(tenant: Any, steward: ApiClient, files: tuple[tuple[str, str, str], ...]) -> None:
    created = steward.post(
        "/api/v1/studies",
        {
            "slug": "memory",
            "name": "Memory",
            "id_column": "participant_id",
            "session_column": "session",
            "age_column": "age",
            "sex_column": "sex",
            "site_column": "site",
        },
    )
    assert created.status_code == 201, created.content
    for name, text, kind in files:
        response = steward.post(
            "/api/v1/studies/memory/datasets",
            {"file": csv_upload(text, f"{name}.csv"), "name": name, "kind": kind},
            multipart=True,
        )
        assert response.status_code == 202, response.content
        with tenant_context(tenant):
            assert ingest_job_execute(response.json()["ingest"]["id"]).status == "succeeded"
        connection.set_schema_to_public()


MEMORY_FILES = (
    ("demographics", MEMORY_DEMOGRAPHICS, "demographics"),
    ("cognitive", MEMORY_COGNITIVE, "measure"),
    ("flanker", MEMORY_FLANKER, "measure"),
)


def test_the_same_member_and_slug_in_another_workspace_is_never_served_from_this_ones_cache(
    api: Callable[..., ApiClient],
    make_member: Callable[..., Any],
    steward_api: ApiClient,
    study: str,
    tenant_a: Any,
    tenant_b: Any,
) -> None:
    """Same person, same study slug, same files (so the same versions' hashes and the same spec): the cache key
    would be identical but for the workspace."""
    steward_b = api(tenant_b, "steward", user=make_member(tenant_b, "steward", email=steward_api.user.email))
    _study_in(tenant_b, steward_b, MEMORY_FILES)
    hashes = []
    for tenant in (tenant_a, tenant_b):
        with tenant_context(tenant):
            hashes.append(sorted(DatasetVersion.objects.values_list("parquet_sha256", flat=True)))
    connection.set_schema_to_public()
    assert hashes[0] == hashes[1]  # the same content: only the workspace tells the two entries apart
    assert _numbers(_count(steward_api, SPEC)) == _numbers(_count(steward_api, SPEC)) == (2, 3)
    assert _numbers(_count(steward_b, SPEC)) == (2, 3)
    assert [e.details["cached"] for e in _count_events(tenant_a)] == [False, True]
    assert [e.details["cached"] for e in _count_events(tenant_b)] == [False]  # computed in B, audited in B


def test_alternating_workspaces_on_one_connection_each_answer_from_their_own_data(
    api: Callable[..., ApiClient],
    make_member: Callable[..., Any],
    steward_api: ApiClient,
    study: str,
    tenant_a: Any,
    tenant_b: Any,
) -> None:
    """Tenant resolution keeps a connection's search path when it already serves the host's workspace: requests
    alternating between two hosts (one database connection in tests) must still read each workspace's own
    tables, and an unknown host in between must not leave the previous workspace's path behind."""
    steward_b = api(tenant_b, "steward", user=make_member(tenant_b, "steward", email=steward_api.user.email))
    only_one = "participant_id,session,age,sex,site\n001,BAS1,25.5,F,Discovery\n"
    _study_in(tenant_b, steward_b, (("demographics", only_one, "demographics"), *MEMORY_FILES[1:]))
    spec = {"sites": ["Discovery"]}
    unknown = ApiClient(host="nobody.test", token=steward_b.token)
    for _ in range(2):
        assert _numbers(_count(steward_api, spec)) == (3, 4)
        assert _numbers(_count(steward_api, spec)) == (3, 4)  # same workspace again: its path is kept
        assert _numbers(_count(steward_b, spec)) == (1, 1)
        assert _numbers(_count(steward_b, spec)) == (1, 1)
        assert _count(unknown, spec).status_code == 404
        assert _numbers(_count(steward_b, spec)) == (1, 1)
    assert len(_count_events(tenant_a)) == 4 and len(_count_events(tenant_b)) == 6
