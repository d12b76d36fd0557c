"""Saved queries, access requests and the audit log through the client."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from bdt_client import Conflict, InvalidInput, NotFound, PermissionDenied
from tests.client.conftest import COHORT_SPEC, Cohort, cohort_study_create


def test_saved_queries_round_trip(connect: Any, cohort: Cohort) -> None:
    analyst = connect("analyst")
    saved = analyst.saved_queries.create(cohort.slug, "Older, good memory", COHORT_SPEC, description="v1")
    assert (saved.study, saved.shared, saved.description) == (cohort.slug, False, "v1")
    assert {key: saved.spec[key] for key in COHORT_SPEC} == COHORT_SPEC  # stored normalized (defaults filled in)
    assert saved.id in {s.id for s in analyst.saved_queries.list(cohort.slug)}

    changed = analyst.saved_queries.update(saved.id, name="Renamed", spec={"sessions": ["BAS1"]}, shared=True)
    assert (changed.name, changed.spec["sessions"], changed.shared) == ("Renamed", ["BAS1"], True)
    assert analyst.saved_queries.get(saved.id).name == "Renamed"
    assert saved.id in {s.id for s in connect("analyst").saved_queries.list(cohort.slug)}  # shared

    with pytest.raises(InvalidInput) as invalid:
        analyst.saved_queries.create(cohort.slug, "Bad", {"filters": [{"dataset": "nope", "column": "a", "op": "eq"}]})
    assert invalid.value.status == 422

    analyst.saved_queries.delete(saved.id)
    with pytest.raises(NotFound):
        analyst.saved_queries.get(saved.id)


@pytest.fixture(scope="module")
def count_only_study(
    client_tenant: Any, django_db_blocker: Any, tmp_path_factory: pytest.TempPathFactory, make_client_member: Any
) -> str:
    """A cohort study where analysts have only the count level (a study default set by a steward)."""
    from django.db import connection
    from django_tenants.utils import tenant_context

    from access.services import grant_create
    from datasets.models import Study
    from tenants.models import User

    slug = cohort_study_create(client_tenant, django_db_blocker, tmp_path_factory.mktemp("restricted"), "restricted")
    steward = make_client_member("steward")
    with django_db_blocker.unblock(), tenant_context(client_tenant):
        grant_create(
            tenant=client_tenant,
            actor=User.objects.get(pk=steward.pk),
            study=Study.objects.get(slug=slug),
            role="analyst",
            level="count",
            source="study_default",
        )
    connection.set_schema_to_public()
    return slug


@pytest.mark.worker
def test_access_requests_from_request_to_decision(
    celery_worker: Any, connect: Any, count_only_study: str, tmp_path: Any
) -> None:
    analyst, steward = connect("analyst"), connect("steward")
    with pytest.raises(PermissionDenied) as below:  # count level: no rows yet
        analyst.run(count_only_study, COHORT_SPEC).to_arrow()
    assert below.value.code

    asked = analyst.access_requests.create(count_only_study, ["demographics", "memory"], "export", "Memory ageing")
    assert (asked.status, asked.datasets, asked.level) == ("pending", ["demographics", "memory"], "export")
    assert asked.requester == analyst.member.email
    with pytest.raises(Conflict) as again:
        analyst.access_requests.create(count_only_study, ["memory"], "export", "Once more")
    assert again.value.code == "request_pending" and again.value.details == {"request": asked.id}
    with pytest.raises(PermissionDenied):
        analyst.access_requests.decide(asked.id, "approve")

    assert asked.id in {r.id for r in steward.access_requests.list(status="pending")}
    approved = steward.access_requests.decide(
        asked.id,
        "approve",
        level="query",
        reason="Rows, no files",
        expires_at=datetime.now(UTC) + timedelta(days=30),
    )
    assert (approved.status, approved.granted_level, approved.decided_by) == ("approved", "query", steward.member.email)
    assert {grant.level for grant in approved.grants} == {"query"} and approved.expires_at is not None

    run = analyst.run(count_only_study, COHORT_SPEC)  # query level now: rows, but no export
    assert run.to_arrow().num_rows == run.row_count
    with pytest.raises(PermissionDenied) as no_export:
        run.export(tmp_path / "x.csv", purpose="not allowed yet")
    assert no_export.value.status == 403
    assert analyst.access_requests.get(asked.id).status == "approved"

    withdrawn = analyst.access_requests.create(count_only_study, ["memory"], "export", "Files this time")
    assert analyst.access_requests.withdraw(withdrawn.id).status == "withdrawn"
    assert [r.id for r in analyst.access_requests.list(mine=True)][:2] == [withdrawn.id, asked.id]


def test_audit_events_and_verification(connect: Any, cohort: Cohort) -> None:
    analyst, steward = connect("analyst"), connect("steward")
    started = datetime.now(UTC) - timedelta(seconds=5)
    analyst.count(cohort.slug, COHORT_SPEC)
    analyst.count(cohort.slug, {})

    counts = list(steward.audit.events(action="query.count", actor=analyst.member.email, since=started))
    assert len(counts) == 2 and all(e.action == "query.count" and e.actor == analyst.member.email for e in counts)
    assert counts[0].at >= counts[1].at  # newest first
    assert counts[0].prev_hash and counts[0].hash

    assert len(list(steward.audit.events(limit=3))) == 3
    verification = steward.audit.verify()
    assert verification.ok is True and verification.first_bad_event is None and verification.events > 0

    with pytest.raises(PermissionDenied):
        list(analyst.audit.events())
