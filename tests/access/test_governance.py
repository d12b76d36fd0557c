"""Count-only privacy, identifying columns, expiry at use, grants/explain/teams API and its bad input."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.db import connection
from django.utils import timezone
from django_tenants.utils import tenant_context

from access.models import DatasetUserObjectPermission, Grant
from access.services import grants_expire
from audit.models import AuditEvent
from tests.plugins.studies import tag_identifying

pytestmark = pytest.mark.django_db

ALL = {"filters": []}
SMALL = {"filters": [{"dataset": "cognitive", "column": "score", "op": "lte", "value": 3}]}  # 3 participants
BIG = {"filters": [{"dataset": "cognitive", "column": "score", "op": "lte", "value": 43}]}  # 43 participants
BIG_MINUS_TWO = {"filters": [{"dataset": "cognitive", "column": "score", "op": "lte", "value": 41}]}  # 41


def test_count_only_small_counts_are_suppressed_and_large_ones_perturbed(gov, analyst_at, api, tenant_a) -> None:
    counter = analyst_at("count")
    small = counter.post("/api/v1/studies/gov/count", SMALL)
    assert small.status_code == 200
    contract = {"participants": None, "rows": None, "suppressed": True, "threshold": 10}
    assert {key: small.json()[key] for key in contract} == contract
    big = counter.post("/api/v1/studies/gov/count", BIG).json()
    assert big["suppressed"] is False and abs(big["participants"] - 43) <= 3 and big["perturbed"] is True
    assert big["max_noise"] == 3 and big["rows"] == big["participants"]  # one session each: the same set
    # Repeating gives the same answer (the noise is a function of the set of participants): nothing to average.
    assert [counter.post("/api/v1/studies/gov/count", BIG).json() for _ in range(3)] == [big] * 3
    # A query-level analyst sees exact numbers.
    exact = analyst_at("query").post("/api/v1/studies/gov/count", BIG).json()
    assert exact["participants"] == 43 and not exact.get("suppressed") and not exact["perturbed"]
    with tenant_context(tenant_a):
        event = AuditEvent.objects.filter(action="query.count", actor_id=counter.user.pk).order_by("-id").first()
        first = AuditEvent.objects.filter(action="query.count", actor_id=counter.user.pk).order_by("id").first()
    connection.set_schema_to_public()
    assert event is not None and event.details["suppressed"] is False and event.details["aggregate_only"] is True
    assert first is not None and first.details["suppressed"] is True and first.details["spec"]["filters"]


def test_differencing_two_specs_cannot_reveal_a_small_group(gov, analyst_at) -> None:
    counter = analyst_at("count")
    a = counter.post("/api/v1/studies/gov/count", BIG).json()["participants"]
    b = counter.post("/api/v1/studies/gov/count", BIG_MINUS_TWO).json()["participants"]
    # Each answer carries its own noise, fixed by its own set: the difference is 2 plus the difference of two
    # independent noises (tests/access/test_disclosure_attacks.py replays the attack on many pairs).
    assert abs(a - 43) <= 3 and abs(b - 41) <= 3


def test_count_only_user_gets_no_rows_anywhere(gov, analyst_at, execute, steward_api) -> None:
    counter = analyst_at("count")
    spec = {**BIG, "columns": {"cognitive": ["score"]}}
    denied = counter.post("/api/v1/studies/gov/queries", spec)
    assert denied.status_code == 403 and denied.json()["error"]["code"] == "access_level_insufficient"
    assert denied.json()["error"]["details"]["needed"] == "query"
    saved = counter.post("/api/v1/studies/gov/saved-queries", {"name": "mine", "spec": spec})
    assert saved.status_code == 403 and saved.json()["error"]["code"] == "access_level_insufficient"
    # Someone else's run: invisible (404), never rows.
    run = steward_api.post("/api/v1/studies/gov/queries", spec).json()["id"]
    assert execute(run) == "succeeded"
    for path in (f"/queries/{run}/rows", f"/queries/{run}/report", f"/queries/{run}/export?purpose=x"):
        assert counter.get(f"/api/v1{path}").status_code == 404
    assert counter.post(f"/api/v1/queries/{run}/rerun").status_code == 404
    # Participant lists would single people out.
    listed = counter.post("/api/v1/studies/gov/count", {"participants": ["P001"]})
    assert listed.status_code == 403 and listed.json()["error"]["code"] == "access_level_insufficient"


def test_live_filtering_report_is_suppressed_for_count_only(gov, analyst_at) -> None:
    counter = analyst_at("count")
    spec = {"filters": [BIG["filters"][0], {"dataset": "cognitive", "column": "score", "op": "lte", "value": 3}]}
    report = counter.post("/api/v1/studies/gov/report", spec)
    assert report.status_code == 200, report.content
    steps = report.json()["steps"]
    assert report.json()["aggregate_only"] is True
    assert abs(steps[0]["after"] - 60) <= 3 and steps[-1]["after"] is None and steps[-1]["suppressed"] is True
    exact = analyst_at("query").post("/api/v1/studies/gov/report", spec).json()["steps"]
    assert [s["after"] for s in exact] == [60, 43, 3]


def test_run_report_after_a_downgrade_is_protected_and_rows_stop(gov, analyst_at, grant, execute, tenant_a) -> None:
    client = analyst_at("query")
    run = client.post("/api/v1/studies/gov/queries", {**SMALL, "columns": {"cognitive": ["score"]}}).json()["id"]
    assert execute(run) == "succeeded"
    assert client.get(f"/api/v1/queries/{run}/rows").status_code == 200
    with tenant_context(tenant_a):
        Grant.objects.filter(user_id=client.user.pk).update(expires_at=timezone.now() - timedelta(seconds=1))
    connection.set_schema_to_public()
    # Expired a second ago, the cleanup task has not run: denied at once.
    rows = client.get(f"/api/v1/queries/{run}/rows")
    assert rows.status_code == 403 and rows.json()["error"]["code"] == "access_level_insufficient"
    grant(client.user, "count")
    report = client.get(f"/api/v1/queries/{run}/report").json()
    assert report["aggregate_only"] is True
    exact = [60, 3]  # the run's steps: everyone, then the 3 of SMALL (suppressed below k)
    assert [step["after"] is None for step in report["steps"]] == [False, True]
    assert abs(report["steps"][0]["after"] - exact[0]) <= 3 and report["steps"][0]["perturbed"] is True
    assert all(item["missing"] is None for item in report["summary"])


def test_expiry_bites_without_the_cleanup_task_and_the_task_audits_it(gov, analyst_at, tenant_a) -> None:
    client = analyst_at("query")
    assert client.post("/api/v1/studies/gov/count", BIG).json()["participants"] == 43
    with tenant_context(tenant_a):
        Grant.objects.filter(user_id=client.user.pk).update(expires_at=timezone.now() - timedelta(seconds=1))
    connection.set_schema_to_public()
    denied = client.post("/api/v1/studies/gov/count", BIG)
    assert denied.status_code == 403 and denied.json()["error"]["details"]["needed"] == "count"
    with tenant_context(tenant_a):
        assert DatasetUserObjectPermission.objects.filter(user_id=client.user.pk).exists()  # mirror not yet cleaned
        assert grants_expire() == 1
        assert grants_expire() == 0  # audited once
        event = AuditEvent.objects.filter(action="grant.expired").order_by("-id").first()
        assert event is not None and event.details["user"] == client.user.email
        assert not DatasetUserObjectPermission.objects.filter(user_id=client.user.pk).exists()
    connection.set_schema_to_public()


def test_identifying_columns_need_query_and_an_identifying_grant(gov, analyst_at, grant, tenant_a) -> None:
    tag_identifying(tenant_a, "gov", "cognitive", "score")
    client = analyst_at("export")
    spec = {"filters": [], "columns": {"cognitive": ["score"]}}
    denied = client.post("/api/v1/studies/gov/queries", spec)
    assert denied.status_code == 403 and denied.json()["error"]["code"] == "identifying_column"
    assert denied.json()["error"]["details"]["columns"] == [{"dataset": "cognitive", "column": "score"}]
    filtered = client.post("/api/v1/studies/gov/count", BIG)
    assert filtered.status_code == 403 and filtered.json()["error"]["code"] == "identifying_column"
    grant(client.user, "query", dataset="cognitive", identifying=True)
    assert client.post("/api/v1/studies/gov/queries", spec).status_code == 202
    explained = client.get(f"/api/v1/access/explain?email={client.user.email}&study=gov&dataset=cognitive").json()
    assert explained["identifying"] is True and explained["level"] == "export"


def test_grants_api_create_list_revoke_and_guardian_mirror(gov, steward_api, api, tenant_a) -> None:
    analyst = api(tenant_a, "analyst")
    when = (timezone.now() + timedelta(days=30)).isoformat()
    created = steward_api.post(
        "/api/v1/studies/gov/datasets/cognitive/grants",
        {"email": analyst.user.email, "level": "query", "expires_at": when, "reason": "project X"},
    )
    assert created.status_code == 201, created.content
    body = created.json()
    assert body["level"] == "query" and body["status"] == "active" and body["email"] == analyst.user.email
    listed = steward_api.get("/api/v1/studies/gov/datasets/cognitive/grants").json()
    assert [g["id"] for g in listed] == [body["id"]]
    with tenant_context(tenant_a):
        codes = set(
            DatasetUserObjectPermission.objects.filter(user_id=analyst.user.pk).values_list(
                "permission__codename", flat=True
            )
        )
    connection.set_schema_to_public()
    assert codes == {"access_count", "access_query"}
    explained = steward_api.get(f"/api/v1/access/explain?email={analyst.user.email}&study=gov&dataset=cognitive")
    assert explained.status_code == 200
    sources = {r["source"] for r in explained.json()["reasons"]}
    assert sources == {"tenant_default", "direct"} and explained.json()["level"] == "export"
    gone = steward_api.delete(f"/api/v1/studies/gov/datasets/cognitive/grants/{body['id']}")
    assert gone.status_code == 204
    again = steward_api.delete(f"/api/v1/studies/gov/datasets/cognitive/grants/{body['id']}")
    assert again.status_code == 409 and again.json()["error"]["code"] == "grant_revoked"
    assert steward_api.get("/api/v1/studies/gov/datasets/cognitive/grants").json()[0]["status"] == "revoked"


@pytest.mark.parametrize(
    ("payload", "status", "code"),
    [
        ({"level": "query"}, 422, "invalid_grantee"),
        ({"email": "x@example.org", "team": "t", "level": "query"}, 422, "invalid_grantee"),
        ({"email": "nobody@example.org", "level": "query"}, 404, "not_found"),
        ({"email": "@analyst", "level": "superuser"}, 422, "invalid_level"),
        ({"email": "@analyst", "level": "count", "identifying": True}, 422, "invalid_identifying"),
        ({"email": "@analyst", "level": "query", "expires_at": "2001-01-01T00:00:00Z"}, 422, "invalid_expiry"),
        ({"email": "@viewer", "level": "query"}, 422, "grantee_is_viewer"),
        ({"team": "no-such-team", "level": "query"}, 404, "not_found"),
    ],
)
def test_grant_bad_input(gov, steward_api, api, tenant_a, payload, status, code) -> None:
    if payload.get("email", "").startswith("@"):
        payload = {**payload, "email": api(tenant_a, payload["email"][1:]).user.email}
    response = steward_api.post("/api/v1/studies/gov/datasets/cognitive/grants", payload)
    assert response.status_code == status, response.content
    assert response.json()["error"]["code"] == code
    assert response.json()["error"]["message"]


def test_forged_and_foreign_ids_answer_404(gov, steward_api, api, tenant_a, tenant_b, grant) -> None:
    analyst = api(tenant_a, "analyst")
    made = grant(analyst.user, "query", dataset="cognitive")
    foreign = api(tenant_b, "steward")
    paths = [
        "/api/v1/studies/gov/datasets/cognitive/grants",
        f"/api/v1/access/explain?email={analyst.user.email}&study=gov&dataset=cognitive",
    ]
    for path in paths:
        assert foreign.get(path).status_code == 404
    assert foreign.delete(f"/api/v1/studies/gov/datasets/cognitive/grants/{made.pk}").status_code == 404
    assert steward_api.delete(f"/api/v1/studies/gov/datasets/demographics/grants/{made.pk}").status_code == 404
    assert steward_api.delete("/api/v1/studies/gov/datasets/cognitive/grants/987654").status_code == 404
    assert steward_api.get("/api/v1/studies/nope/datasets/cognitive/grants").status_code == 404
    assert steward_api.get("/api/v1/studies/gov/datasets/nope/grants").status_code == 404
    assert (
        steward_api.get("/api/v1/access/explain?email=nobody@example.org&study=gov&dataset=cognitive").status_code
        == 404
    )
    assert (
        steward_api.get(f"/api/v1/access/explain?email={foreign.user.email}&study=gov&dataset=cognitive").status_code
        == 404
    )
    # An analyst may explain only themselves.
    other = api(tenant_a, "analyst")
    assert (
        other.get(f"/api/v1/access/explain?email={analyst.user.email}&study=gov&dataset=cognitive").status_code == 403
    )


def test_teams_grant_levels_to_their_members(gov, steward_api, api, tenant_a, analyst_at) -> None:
    member = analyst_at("metadata")
    assert member.post("/api/v1/studies/gov/count", BIG).status_code == 403
    team = steward_api.post("/api/v1/teams", {"name": "Imaging core"})
    assert team.status_code == 201 and team.json()["slug"] == "imaging-core"
    assert steward_api.post("/api/v1/teams", {"name": "Imaging core"}).status_code == 409
    added = steward_api.post("/api/v1/teams/imaging-core/members", {"email": member.user.email})
    assert added.status_code == 201 and added.json()["members"] == [member.user.email]
    for path in ("cognitive", "demographics"):
        made = steward_api.post(
            f"/api/v1/studies/gov/datasets/{path}/grants", {"team": "imaging-core", "level": "count"}
        )
        assert made.status_code == 201
    assert abs(member.post("/api/v1/studies/gov/count", BIG).json()["participants"] - 43) <= 3
    reasons = member.get(f"/api/v1/access/explain?email={member.user.email}&study=gov&dataset=cognitive").json()
    assert any(r["source"] == "team" and r["active"] for r in reasons["reasons"])
    assert steward_api.delete(f"/api/v1/teams/imaging-core/members/{member.user.email}").status_code == 204
    assert member.post("/api/v1/studies/gov/count", BIG).status_code == 403
    assert api(tenant_a, "analyst").post("/api/v1/teams", {"name": "Mine"}).status_code == 403
    assert steward_api.get("/api/v1/teams/nope").status_code == 404


def test_deleting_a_team_ends_its_grants_on_record(gov, steward_api, tenant_a, analyst_at) -> None:
    """Deleting a team ends its members' access at once and records the end of each of its grants (``grant.revoked``,
    ``details.reason`` ``team_deleted``), so the trail never shows a grant created and never ended. Before, the
    grants disappeared with the team and the audit log still read as if the team's access were live."""
    member = analyst_at("metadata")
    assert steward_api.post("/api/v1/teams", {"name": "Short lived"}).status_code == 201
    assert steward_api.post("/api/v1/teams/short-lived/members", {"email": member.user.email}).status_code == 201
    made = [
        steward_api.post(f"/api/v1/studies/gov/datasets/{d}/grants", {"team": "short-lived", "level": "count"}).json()
        for d in ("cognitive", "demographics")
    ]
    assert member.post("/api/v1/studies/gov/count", BIG).status_code == 200
    assert steward_api.delete("/api/v1/teams/short-lived").status_code == 204
    assert member.post("/api/v1/studies/gov/count", BIG).status_code == 403
    revoked = steward_api.get("/api/v1/audit?action=grant.revoked").json()["items"]
    ended = {int(e["target"]["id"]): e["details"].get("reason") for e in revoked}
    assert ended == {grant["id"]: "team_deleted" for grant in made}
