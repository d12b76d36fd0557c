"""A workspace with real data for the API fuzzer, served by a real gunicorn (tests/gunicorn_server.py).

Everything is committed in its own tenant (``lab-fuzz``), so the server's processes see it and other tests'
tenants are untouched. The fuzzer signs in as the workspace's owner with a personal access token, so requests get
past authentication and reach the handlers; path parameters are drawn either from the generator or from the ids of
these objects (``FuzzWorld.known``), so handlers also see objects that exist.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from tests.gunicorn_server import LiveServer, server_start


@pytest.fixture(autouse=True)
def _own_storage_root(isolated_media: None) -> None:
    """Every test here gets its own storage root (``isolated_media``)."""


FUZZ_TENANT = ("lab-fuzz", "Lab Fuzz", "lab-fuzz.test")
OWNER = "fuzz-owner@example.org"
ANALYST = "fuzz-analyst@example.org"


@dataclass
class FuzzWorld:
    """The fuzzed workspace: its host, the owner's token, and known values per path parameter.

    ``known`` feeds every operation; ``disposable`` feeds DELETE operations (and anything that would lock the
    fuzzer out: its own token, its own membership), so the objects other operations need survive the run.
    """

    host: str
    token: str
    token_id: int
    known: dict[str, list[Any]] = field(default_factory=dict)
    disposable: dict[str, list[Any]] = field(default_factory=dict)


def _people() -> list[tuple[str, str, str]]:
    rows = []
    for i in range(1, 31):
        for session in ("BAS1", "FU1"):
            rows.append((f"P{i:03d}", session, str(20 + i)))
    return rows


def _csv(path: Path, header: str, rows: list[str]) -> Path:
    path.write_text(header + "\n" + "\n".join(rows) + "\n", encoding="utf-8")
    return path


def world_seed(tmp: Path) -> FuzzWorld:
    """Create the fuzz workspace (committed). Returns what the fuzzer needs."""
    from django.db import connection
    from django_tenants.utils import tenant_context

    from access.services import grant_create, team_create
    from analysis.models import ProfileJob
    from analysis.services import profile_job_execute
    from approvals.services import access_request_create
    from datasets.services import ingest_file_sync, study_create
    from queries.run_worker import query_run_execute
    from queries.services import query_run_create, saved_query_save
    from tenants.members import member_invite
    from tenants.roles import Role
    from tenants.services import membership_set, tenant_create, user_get_or_create
    from tenants.tokens import api_token_create

    slug, name, host = FUZZ_TENANT
    tenant = tenant_create(slug=slug, name=name, domain=host).tenant
    # The fuzzer is fast, not abusive; analysts start at metadata so the seeded access request asks for more.
    tenant.settings = {**(tenant.settings or {}), "api_rate_limit": "100000/m", "analyst_default_level": "metadata"}
    tenant.save(update_fields=["settings"])
    owner = user_get_or_create(email=OWNER, password="fuzz-correct-horse-9")
    analyst = user_get_or_create(email=ANALYST, password="fuzz-correct-horse-9")
    membership_set(tenant=tenant, user=owner, role=Role.OWNER)
    membership_set(tenant=tenant, user=analyst, role=Role.ANALYST)
    created = api_token_create(user=owner, tenant=tenant, name="fuzzer")
    token, token_id = created.plaintext, created.token.pk
    spare_token = api_token_create(user=owner, tenant=tenant, name="spare").token
    people = _people()
    with tenant_context(tenant):
        study = study_create(
            tenant=tenant, actor=None, slug="fuzz", name="Fuzz study", id_column="participant_id",
            session_column="session", age_column="age",
        )  # fmt: skip
        files = {
            "demographics": _csv(tmp / "demographics.csv", "participant_id,session,age", [",".join(p) for p in people]),
            "memory": _csv(
                tmp / "memory.csv", "participant_id,session,score,group",
                [f"{p[0]},{p[1]},{80 + i % 17}.5,{'ab'[i % 2]}" for i, p in enumerate(people)],
            ),
            "scratch": _csv(tmp / "scratch.csv", "participant_id,session,x", [f"{p[0]},{p[1]},1" for p in people]),
        }  # fmt: skip
        for dataset, path in files.items():
            kind = "demographics" if dataset == "demographics" else "measure"
            job = ingest_file_sync(study=study, path=path, dataset_name=dataset, kind=kind)
            assert job.status == "succeeded", job.error_message
        spec = {"filters": [{"dataset": "memory", "column": "score", "op": "gte", "value": 80}],
                "columns": {"memory": ["score", "group"], "demographics": ["age"]}}  # fmt: skip
        run = query_run_create(tenant=tenant, actor=owner, study=study, payload=spec, enqueue=False)
        assert query_run_execute(run.pk) == "succeeded"
        profile = ProfileJob.objects.create(run=run, created_by=owner)
        assert profile_job_execute(profile.pk, tenant=tenant) == "succeeded"
        saved = saved_query_save(tenant=tenant, actor=owner, study=study, name="kept", spec=spec)
        scratch_saved = saved_query_save(tenant=tenant, actor=owner, study=study, name="scratch", spec=spec)
        team = team_create(tenant=tenant, actor=owner, name="Fuzzers", slug="fuzzers")
        scratch_team = team_create(tenant=tenant, actor=owner, name="Scratch team", slug="scratch-team")
        memory = study.datasets.get(name="memory")
        grant = grant_create(tenant=tenant, actor=owner, study=study, dataset=memory, user=analyst, level="query")
        access_request = access_request_create(
            tenant=tenant, actor=analyst, study=study, datasets=["memory"], level="export",
            purpose="Fuzzing the decision endpoints.", accept_terms=True,
        )  # fmt: skip
        invitation = member_invite(tenant=tenant, actor=owner, email="fuzz-invitee@example.org", role="viewer")
        ingest_id = study.ingests.order_by("pk").values_list("pk", flat=True).first()
    connection.set_schema_to_public()
    assert invitation.invitation is not None
    return FuzzWorld(
        host=host,
        token=token,
        token_id=token_id,
        known={
            "study": ["fuzz"],
            "dataset": ["demographics", "memory"],
            "number": [1],
            "run_id": [run.pk],
            "job_id": [profile.pk],
            "saved_id": [saved.pk],
            "ingest_id": [ingest_id],
            "slug": [team.slug],
            "grant_id": [grant.pk],
            "request_id": [access_request.pk],
            "email": [ANALYST],
            "token_id": [spare_token.pk],
            "invitation_id": [invitation.invitation.pk],
        },
        disposable={
            "dataset": ["scratch"],
            "saved_id": [scratch_saved.pk],
            "slug": [scratch_team.slug],
            "email": [ANALYST],
            "token_id": [spare_token.pk],
        },
    )


@pytest.fixture(scope="package")
def fuzz_world(django_db_setup: None, django_db_blocker: Any, tmp_path_factory: pytest.TempPathFactory) -> FuzzWorld:
    from django.db import connections

    with django_db_blocker.unblock():
        try:
            return world_seed(tmp_path_factory.mktemp("fuzz-data"))
        finally:
            connections.close_all()


@pytest.fixture(scope="package")
def fuzz_server(fuzz_world: FuzzWorld, test_db_name: str) -> Iterator[LiveServer]:
    server = server_start(test_db_name, "fuzz")
    yield server
    server.stop()
