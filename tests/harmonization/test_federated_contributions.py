"""Federated counts and runs over studies two labs contributed to a consortium, on the real stack.

Lab A contributes "alpha" (age in years, sex ``F``/``M``), lab B "beta" (age in months, gender ``Female``/``Male``,
two sessions). A consortium steward maps them with variables; the federated answers equal what each lab computes on
its own study with the mapped filters, count-level members get no derivable hidden cell, every federated use is
recorded in the contributing lab's chain, and lowering a ceiling or withdrawing a contribution stops the federated
uses of that study at once.
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pytest
from django.db import connection
from django_tenants.utils import tenant_context

from audit.models import AuditEvent
from audit.verification import audit_chain_verify
from datasets.ingest_runner import ingest_job_execute
from tenants.models import Tenant
from tests.conftest import ApiClient
from tests.harmonization.conftest import AGE, IQ, SEX, _csv, alpha_rows, beta_rows
from tests.plugins.datasets import csv_upload
from tests.plugins.sharing import offer_and_accept

pytestmark = pytest.mark.django_db

HERE = {"alpha": "alpha-a", "beta": "beta-b"}  # lab study -> its slug in the consortium
STUDIES = list(HERE.values())
FILTERS = [{"variable": "age", "op": "between", "value": [30, 60]}, {"variable": "iq", "op": "gte", "value": 95}]
# (federated filters, alpha's own filters, beta's own filters): the mapping written out by hand, run in the labs
CASES = [
    ([], [], []),
    (
        FILTERS,
        [
            {"dataset": "demographics", "column": "age_years", "op": "between", "value": [30, 60]},
            {"dataset": "cognitive", "column": "iq", "op": "gte", "value": 95},
        ],
        [
            {"dataset": "demographics", "column": "age_months", "op": "between", "value": [360, 720]},
            {"dataset": "iq_test", "column": "iq_score", "op": "gte", "value": 95},
        ],
    ),
    (
        [{"variable": "sex", "op": "eq", "value": "female"}, {"variable": "age", "op": "lt", "value": 40.5}],
        [
            {"dataset": "demographics", "column": "sex", "op": "in", "value": ["F"]},
            {"dataset": "demographics", "column": "age_years", "op": "lt", "value": 40.5},
        ],
        [
            {"dataset": "demographics", "column": "gender", "op": "in", "value": ["Female"]},
            {"dataset": "demographics", "column": "age_months", "op": "lt", "value": 486},
        ],
    ),
    (
        [{"variable": "sex", "op": "eq", "value": "male"}, {"variable": "age", "op": "gte", "value": 50}],
        [
            {"dataset": "demographics", "column": "sex", "op": "in", "value": ["M"]},
            {"dataset": "demographics", "column": "age_years", "op": "gte", "value": 50},
        ],
        [
            {"dataset": "demographics", "column": "gender", "op": "in", "value": ["Male"]},
            {"dataset": "demographics", "column": "age_months", "op": "gte", "value": 600},
        ],
    ),
]
OWN_COLUMNS = {"alpha": {"cognitive": ["iq"]}, "beta": {"iq_test": ["iq_score"]}}


def _code(response: Any) -> str:
    return str(response.json()["error"]["code"])


def _lab_study(client: ApiClient, tenant: Tenant, slug: str, files: list[tuple[str, str, str]], **fields: Any) -> None:
    """Create ``slug`` in the lab and ingest its files there (in this process)."""
    made = client.post("/api/v1/studies", {"slug": slug, "name": slug.title(), "id_column": "participant_id", **fields})
    assert made.status_code == 201, made.content
    for name, kind, text in files:
        response = client.post(
            f"/api/v1/studies/{slug}/datasets",
            {"file": csv_upload(text, f"{name}.csv"), "name": name, "kind": kind},
            multipart=True,
        )
        assert response.status_code == 202, response.content
        with tenant_context(tenant):
            ingest_job_execute(response.json()["ingest"]["id"])
        connection.set_schema_to_public()


def _variable(definition: dict[str, Any]) -> dict[str, Any]:
    """A harmonization fixture variable, its sources named by the consortium's slugs."""
    mapped = copy.deepcopy(definition)
    for source in mapped["sources"]:
        source["study"] = HERE[source["study"]]
    return mapped


@dataclass
class Stage:
    """Both labs' stewards, the contributions, and the consortium's steward, analysts and worker."""

    labs: dict[str, ApiClient]
    tenants: dict[str, Tenant]
    contributions: dict[str, int]
    consortium: Tenant
    steward: ApiClient
    querier: ApiClient
    counter: ApiClient
    execute: Callable[[int], str]
    run_in: Callable[[Tenant, int], str]


@pytest.fixture
def stage(
    steward_api: ApiClient,
    api: Callable[..., ApiClient],
    tenant_a: Tenant,
    tenant_b: Tenant,
    consortium: Tenant,
    cons_steward: ApiClient,
    make_member: Callable[..., Any],
    run_in: Callable[[Tenant, int], str],
    django_capture_on_commit_callbacks: Any,
) -> Stage:
    lab_a, lab_b = steward_api, api(tenant_b, "steward")
    alpha, beta = alpha_rows(), beta_rows()
    _lab_study(
        lab_a,
        tenant_a,
        "alpha",
        [
            ("demographics", "demographics", _csv(alpha, ["participant_id", "age_years", "sex"])),
            ("cognitive", "measure", _csv(alpha, ["participant_id", "iq"])),
        ],
    )
    _lab_study(
        lab_b,
        tenant_b,
        "beta",
        [
            ("demographics", "demographics", _csv(beta, ["participant_id", "session", "age_months", "gender"])),
            ("iq_test", "measure", _csv(beta, ["participant_id", "session", "iq_score"])),
        ],
        session_column="session",
    )
    contributions = {
        "alpha": offer_and_accept(lab_a, cons_steward, "alpha", HERE["alpha"]),
        "beta": offer_and_accept(lab_b, cons_steward, "beta", HERE["beta"]),
    }
    for definition in (AGE, SEX, IQ):
        made = cons_steward.post("/api/v1/variables", _variable(definition))
        assert made.status_code == 201, made.content
    # Consortium analysts: the count level on both studies by default; one of them holds export grants.
    for slug in STUDIES:
        assert cons_steward.post(f"/api/v1/studies/{slug}/defaults", {"level": "count"}).status_code == 201
    querier = api(consortium, "analyst")
    for slug, datasets in ((HERE["alpha"], ("demographics", "cognitive")), (HERE["beta"], ("demographics", "iq_test"))):
        for dataset in datasets:
            granted = cons_steward.post(
                f"/api/v1/studies/{slug}/datasets/{dataset}/grants", {"email": querier.user.email, "level": "export"}
            )
            assert granted.status_code == 201, granted.content
    return Stage(
        labs={"alpha": lab_a, "beta": lab_b},
        tenants={"alpha": tenant_a, "beta": tenant_b},
        contributions=contributions,
        consortium=consortium,
        steward=cons_steward,
        querier=querier,
        counter=api(consortium, "analyst"),
        execute=lambda run_id: run_in(consortium, run_id),
        run_in=run_in,
    )


def _own_counts(stage: Stage, alpha: list[Any], beta: list[Any]) -> dict[str, dict[str, Any]]:
    """Each lab's count of its own study with the mapped filters."""
    own = {}
    for study, filters in (("alpha", alpha), ("beta", beta)):
        response = stage.labs[study].post(f"/api/v1/studies/{study}/count", {"filters": filters})
        assert response.status_code == 200, response.content
        own[HERE[study]] = response.json()
    return own


def _finish(client: ApiClient, run_id: int, execute: Callable[[int], str]) -> dict[str, Any]:
    for part in client.get(f"/api/v1/federated/queries/{run_id}").json()["parts"]:
        if part["run"] is not None:
            assert execute(part["run"]) == "succeeded"
    return client.get(f"/api/v1/federated/queries/{run_id}").json()


def _own_rows(stage: Stage, study: str, alpha: list[Any], beta: list[Any]) -> list[tuple[Any, ...]]:
    """The lab's own run of the mapped spec, in harmonized units by hand, named by the consortium's slug."""
    lab = stage.labs[study]
    spec = {"filters": alpha if study == "alpha" else beta, "columns": OWN_COLUMNS[study]}
    run_id = lab.post(f"/api/v1/studies/{study}/queries", spec).json()["id"]
    assert stage.run_in(stage.tenants[study], run_id) == "succeeded"
    page = lab.get(f"/api/v1/queries/{run_id}/rows?page_size=1000").json()
    rows = [dict(zip(page["columns"], item, strict=True)) for item in page["items"]]
    if study == "alpha":
        sexes = {"F": "female", "M": "male"}
        return [
            (HERE["alpha"], r["participant_id"], "", round(float(r["age_years"]), 9), sexes[r["sex"]], float(r["iq"]))
            for r in rows
        ]
    sexes = {"Female": "female", "Male": "male"}
    return [
        (
            HERE["beta"],
            r["participant_id"],
            r["session"],
            round(r["age_months"] / 12, 9),
            sexes[r["gender"]],
            float(r["iq_score"]),
        )
        for r in rows
    ]


@pytest.mark.parametrize(("federated", "alpha", "beta"), CASES)
def test_federated_count_is_the_sum_of_the_labs_counts(
    stage: Stage, federated: list[Any], alpha: list[Any], beta: list[Any]
) -> None:
    own = _own_counts(stage, alpha, beta)
    for client in (stage.steward, stage.querier):
        response = client.post("/api/v1/federated/count", {"studies": STUDIES, "filters": federated})
        assert response.status_code == 200, response.content
        body = response.json()
        assert body["suppressed"] is False and body["perturbed"] is False
        by_study = {item["study"]: item for item in body["by_study"]}
        for slug in STUDIES:
            assert (by_study[slug]["participants"], by_study[slug]["rows"]) == (
                own[slug]["participants"],
                own[slug]["rows"],
            ), (slug, federated)
        assert body["participants"] == sum(own[slug]["participants"] for slug in STUDIES)
        assert body["rows"] == sum(own[slug]["rows"] for slug in STUDIES)


def test_count_level_member_gets_no_derivable_hidden_cell(stage: Stage) -> None:
    seen_hidden = False
    for federated, alpha, beta in CASES:
        true_of = {slug: own["participants"] for slug, own in _own_counts(stage, alpha, beta).items()}
        response = stage.counter.post("/api/v1/federated/count", {"studies": STUDIES, "filters": federated})
        assert response.status_code == 200, response.content
        body = response.json()
        assert body["perturbed"] is True
        threshold = body["threshold"]
        hidden = [item for item in body["by_study"] if item["suppressed"]]
        for item in body["by_study"]:
            if true_of[item["study"]] < threshold:
                assert item["suppressed"] and item["participants"] is None, (federated, item)
            if item["suppressed"]:
                assert item["participants"] is None and item["rows"] is None
            else:
                assert abs(item["participants"] - true_of[item["study"]]) <= body["max_noise"]
        if body["suppressed"]:
            assert body["participants"] is None and all(item["suppressed"] for item in body["by_study"])
        else:
            assert len(hidden) != 1, (federated, body)  # one hidden cell would be the total minus the shown one
        seen_hidden = seen_hidden or bool(hidden)
    assert seen_hidden  # the cases reach a small cell
    # and rows stay out of reach at the count level
    refused = stage.counter.post("/api/v1/federated/queries", {"studies": STUDIES, "variables": ["age"]})
    assert refused.status_code == 403 and _code(refused) == "access_level_insufficient"


def test_federated_run_rows_are_the_union_of_the_labs_results(stage: Stage) -> None:
    _, alpha, beta = CASES[1]
    payload = {"studies": STUDIES, "filters": FILTERS, "variables": ["age", "sex", "iq"]}
    created = stage.querier.post("/api/v1/federated/queries", payload)
    assert created.status_code == 202, created.content
    body = _finish(stage.querier, created.json()["id"], stage.execute)
    assert body["status"] == "succeeded", body
    assert body["columns"] == ["study", "participant_id", "session", "age", "sex", "iq"]
    page = stage.querier.get(f"/api/v1/federated/queries/{body['id']}/rows?page_size=1000").json()
    stacked = sorted((r[0], r[1], r[2] or "", round(r[3], 9), r[4], r[5]) for r in page["items"])
    expected = sorted(_own_rows(stage, "alpha", alpha, beta) + _own_rows(stage, "beta", alpha, beta))
    assert stacked == expected and page["total"] == body["row_count"] == len(expected) > 0
    assert {row[0] for row in stacked} == set(STUDIES)
    # the consortium's parts pin the labs' own files
    pins = {(p["study"], pin["dataset"], pin["sha256"]) for p in body["parts"] for pin in p["dataset_versions"]}
    for study, tenant in stage.tenants.items():
        versions = stage.labs[study].get(f"/api/v1/studies/{study}/datasets/demographics/versions").json()["items"]
        assert (HERE[study], "demographics", versions[0]["sha256"]) in pins, tenant


def _lab_uses(stage: Stage, study: str) -> list[AuditEvent]:
    """The ``contribution.used`` records in the contributing lab's chain, oldest first."""
    with tenant_context(stage.tenants[study]):
        events = list(
            AuditEvent.objects.filter(action="contribution.used", target_id=str(stage.contributions[study])).order_by(
                "id"
            )
        )
        assert audit_chain_verify().ok
    connection.set_schema_to_public()
    return events


def test_every_federated_use_is_recorded_in_each_labs_chain(stage: Stage) -> None:
    before = {study: len(_lab_uses(stage, study)) for study in HERE}
    querier = stage.querier
    assert querier.post("/api/v1/federated/count", {"studies": STUDIES, "filters": FILTERS}).status_code == 200
    created = querier.post("/api/v1/federated/queries", {"studies": STUDIES, "filters": [], "variables": ["age"]})
    run_id = created.json()["id"]
    assert _finish(querier, run_id, stage.execute)["status"] == "succeeded"
    assert querier.get(f"/api/v1/queries/{run_id}/rows").status_code == 200
    assert querier.get(f"/api/v1/queries/{run_id}/report").status_code == 200
    export = querier.get(f"/api/v1/queries/{run_id}/export?format=csv&purpose=pooled age analysis")
    assert export.status_code == 200
    described = querier.post(f"/api/v1/queries/{run_id}/analysis", {"kind": "describe", "column": "age"})
    assert described.status_code == 200, described.content

    wanted = {
        ("federated.count", "count"),
        ("query.run_created", "run"),
        ("federated.preview", "rows"),
        ("query.report_read", "report"),
        ("federated.exported", "export"),
        ("analysis.computed", "analysis"),
    }
    for study, slug in HERE.items():
        uses = _lab_uses(stage, study)[before[study] :]
        seen = {(e.details["event"], e.details["action"]) for e in uses}
        assert seen == wanted and len(uses) == len(wanted), (study, seen)  # one record for each use, no double
        assert all(e.details["consortium"] == "cons-c" and e.details["consortium_study"] == slug for e in uses)
        assert all(e.details["user"] == querier.user.email for e in uses)
        exported = next(e for e in uses if e.details["action"] == "export")
        assert exported.details["purpose"] == "pooled age analysis"
        report = stage.labs[study].get(f"/api/v1/contributions/{stage.contributions[study]}/usage?page_size=100")
        actions = {item["action"] for item in report.json()["items"][: len(uses)]}
        assert actions == {action for _, action in wanted}
    # a lab's report shows its own contribution only
    other = stage.labs["beta"].get(f"/api/v1/contributions/{stage.contributions['alpha']}/usage")
    assert other.status_code == 404


def test_a_lowered_ceiling_or_a_withdrawal_stops_federated_uses_of_that_study(stage: Stage) -> None:
    querier = stage.querier
    payload = {"studies": STUDIES, "filters": [], "variables": ["age", "sex"]}
    run_id = querier.post("/api/v1/federated/queries", payload).json()["id"]
    assert _finish(querier, run_id, stage.execute)["status"] == "succeeded"
    assert querier.get(f"/api/v1/queries/{run_id}/rows").status_code == 200

    # Lab B lowers its ceiling to count: rows and new runs stop for beta, counts become protected.
    lowered = stage.labs["beta"].patch(f"/api/v1/contributions/{stage.contributions['beta']}", {"level": "count"})
    assert lowered.status_code == 200
    rows = querier.get(f"/api/v1/queries/{run_id}/rows")
    assert rows.status_code == 403 and _code(rows) == "access_level_insufficient"
    assert rows.json()["error"]["details"]["study"] == HERE["beta"]
    export = querier.get(f"/api/v1/federated/queries/{run_id}/export?format=csv&purpose=pooled analysis")
    assert export.status_code == 403 and export.json()["error"]["details"]["study"] == HERE["beta"]
    again = querier.post("/api/v1/federated/queries", payload)
    assert again.status_code == 403 and again.json()["error"]["details"]["study"] == HERE["beta"]
    counted = querier.post("/api/v1/federated/count", {"studies": STUDIES, "filters": []})
    assert counted.status_code == 200 and counted.json()["perturbed"] is True
    assert querier.get(f"/api/v1/queries/{run_id}").json()["row_count"] is None

    # Lab A withdraws alpha: every federated use naming it answers as alpha's own count does.
    single = querier.post(f"/api/v1/studies/{HERE['alpha']}/count", {"filters": []})
    assert single.status_code == 200
    assert stage.labs["alpha"].delete(f"/api/v1/contributions/{stage.contributions['alpha']}").status_code == 200
    single = querier.post(f"/api/v1/studies/{HERE['alpha']}/count", {"filters": []})
    assert single.status_code == 403 and _code(single) == "contribution_withdrawn"
    for response in (
        querier.post("/api/v1/federated/count", {"studies": STUDIES, "filters": []}),
        querier.post("/api/v1/federated/queries", payload),
        querier.get(f"/api/v1/queries/{run_id}/rows"),
        querier.get(f"/api/v1/queries/{run_id}/report"),
        querier.get(f"/api/v1/federated/queries/{run_id}/export?format=csv&purpose=pooled analysis"),
    ):
        assert response.status_code == 403 and _code(response) == "contribution_withdrawn", response.content
        assert response.json()["error"]["details"]["study"] == HERE["alpha"]
    # The other study alone still answers, and nothing of alpha was counted after the withdrawal.
    beta_only = querier.post("/api/v1/federated/count", {"studies": [HERE["beta"]], "filters": []})
    assert beta_only.status_code == 200 and [s["study"] for s in beta_only.json()["by_study"]] == [HERE["beta"]]
    lineage = querier.get(f"/api/v1/queries/{run_id}/lineage")
    assert lineage.status_code == 200 and lineage.json()["run"]["row_count"] is None
