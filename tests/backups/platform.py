"""A small but complete platform, built through the real services, and the facts a restore must give back.

Two workspaces; studies on both engines (DuckDB, PostgreSQL); versions (one deleted, its files removed); runs,
a reused run, a CSV export; a saved query; grants (a member, a team, an expiring one); counts; and the audit
events all of that writes.
"""

from __future__ import annotations

import tempfile
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Any

from django.db import connection
from django.utils import timezone
from django_tenants.utils import schema_context, tenant_context

from access.selectors import dataset_level_for_user
from access.services import grant_create, team_create, team_member_add
from audit.models import AuditEvent
from datasets.deletion_services import dataset_version_delete
from datasets.models import Dataset, DatasetVersion, Study
from datasets.services import ingest_file_sync, study_create
from queries.core.spec import spec_parse
from queries.execution import engine_create, query_prepare
from queries.exports import run_export
from queries.models import QueryExport, QueryRun
from queries.run_worker import query_run_execute
from queries.services import query_count, query_run_create, saved_query_save
from tenants.models import Membership, Tenant, User
from tenants.roles import Role
from tenants.services import membership_set, public_tenant_ensure, tenant_create, user_get_or_create

PASSWORD = "correct-horse-battery-9"
WORKSPACES = (("drill-a", "Drill Lab A", "drill-a.test"), ("drill-b", "Drill Lab B", "drill-b.test"))


def demographics_csv(n: int) -> str:
    rows = ["participant_id,session,age,sex,site"]
    rows += [
        f"P{i:03d},BAS1,{20 + i % 50},{'F' if i % 2 else 'M'},{'North' if i % 3 else 'South'}" for i in range(1, n + 1)
    ]
    rows += [f"P{i:03d},FU1,{21 + i % 50},{'F' if i % 2 else 'M'},North" for i in range(1, n + 1, 4)]
    return "\n".join(rows) + "\n"


def cognitive_csv(n: int, shift: int = 0) -> str:
    rows = ["participant_id,session,memory,note"]
    rows += [f"P{i:03d},BAS1,{90 + (i * 7 + shift) % 40},{'=cmd' if i == 3 else 'ok'}" for i in range(1, n + 1, 2)]
    return "\n".join(rows) + "\n"


@dataclass
class WorkspaceFacts:
    """What one workspace holds after the build (read through the ORM)."""

    schema: str
    counts: dict[str, int]
    participants: dict[str, int]
    run_id: int
    result_sha256: str
    export_sha256: str
    levels: dict[str, dict[str, str | None]]
    audit_head: str


@dataclass
class PlatformFacts:
    workspaces: dict[str, WorkspaceFacts] = field(default_factory=dict)
    users: int = 0
    memberships: int = 0
    public_audit_head: str = ""


def _upload(study: Study, name: str, kind: str, text: str, actor: User) -> None:
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / f"{name}.csv"
        path.write_text(text, encoding="utf-8")
        job = ingest_file_sync(study=study, path=path, dataset_name=name, kind=kind, actor=actor)
    assert job.status == "succeeded", (job.error_code, job.error_message)


def study_participants(study: Study) -> int:
    """Participants of the whole study, counted by the engine itself (no cache, no suppression)."""
    prepared = query_prepare(tenant=connection.tenant, study=study, spec=spec_parse({}))
    engine = engine_create(study, timeout_s=60)
    try:
        return int(engine.count(prepared.validated, prepared.catalog).participants)
    finally:
        engine.close()


def _workspace_build(tenant: Tenant, steward: User, analyst: User, colleague: User, size: int) -> None:
    with tenant_context(tenant):
        for slug, engine in (("memory", "duckdb"), ("motion", "postgres")):
            study = study_create(
                tenant=tenant, actor=steward, slug=slug, name=slug.title(), id_column="participant_id",
                session_column="session", age_column="age", sex_column="sex", engine=engine,
            )  # fmt: skip
            _upload(study, "demographics", "demographics", demographics_csv(size), steward)
            _upload(study, "cognitive", "measure", cognitive_csv(size), steward)
        memory = Study.objects.get(slug="memory")
        _upload(memory, "cognitive", "measure", cognitive_csv(size, shift=3), steward)  # v2, read by no run
        unread = DatasetVersion.objects.get(dataset__study=memory, dataset__name="cognitive", number=2)
        dataset_version_delete(tenant=tenant, actor=steward, version=unread)  # its files are removed
        cognitive = Dataset.objects.get(study=memory, name="cognitive")
        team = team_create(tenant=tenant, actor=steward, name="Analysts")
        team_member_add(tenant=tenant, actor=steward, team=team, user=colleague)
        grant_create(tenant=tenant, actor=steward, study=memory, dataset=cognitive, user=analyst, level="export")
        grant_create(tenant=tenant, actor=steward, study=memory, team=team, level="count")
        grant_create(
            tenant=tenant, actor=steward, study=memory, user=colleague, level="query",
            expires_at=timezone.now() + timedelta(days=30), reason="pilot",
        )  # fmt: skip
        spec = {"filters": [{"dataset": "demographics", "column": "age", "op": "gte", "value": 30}],
                "columns": {"cognitive": ["memory", "note"]}}  # fmt: skip
        query_count(tenant=tenant, actor=analyst, study=memory, payload=spec)
        for study in Study.objects.all():
            run = query_run_create(tenant=tenant, actor=steward, study=study, payload=spec, enqueue=False)
            assert query_run_execute(run.pk) == "succeeded"
        reused = query_run_create(tenant=tenant, actor=analyst, study=memory, payload=spec, enqueue=False)
        assert reused.reused_from_id is not None
        run_export(tenant=tenant, run=reused, fmt="csv", purpose="backup drill export", actor=analyst).path.unlink()
        saved_query_save(tenant=tenant, actor=analyst, study=memory, name="Older adults", spec=spec, shared=True)


def _facts(tenant: Tenant, users: dict[str, User]) -> WorkspaceFacts:
    with tenant_context(tenant):
        memory = Study.objects.get(slug="memory")
        run = QueryRun.objects.filter(study=memory, reused_from__isnull=True).get()
        export = QueryExport.objects.get()
        levels = {
            name: {
                ds.name: (
                    str(level) if (level := dataset_level_for_user(user=user, tenant=tenant, dataset=ds)) else None
                )
                for ds in Dataset.objects.filter(study=memory)
            }
            for name, user in users.items()
        }
        from access.models import Grant, Team
        from queries.models import QueryRunVersion, SavedQuery

        counted = {
            model.__name__: model._default_manager.count()
            for model in (Study, Grant, Team, QueryRun, QueryRunVersion, QueryExport, SavedQuery, AuditEvent)
        }
        counted["Dataset"] = Dataset.all_objects.count()
        counted["DatasetVersion"] = DatasetVersion.all_objects.count()
        return WorkspaceFacts(
            schema=tenant.schema_name,
            counts=counted,
            participants={study.slug: study_participants(study) for study in Study.objects.all()},
            run_id=run.pk,
            result_sha256=run.result_sha256,
            export_sha256=export.sha256,
            levels=levels,
            audit_head=AuditEvent.objects.order_by("-id").values_list("hash", flat=True).first() or "",
        )


def workspace_facts(slug: str) -> WorkspaceFacts:
    """The facts of one drill workspace as they are now (in the database the connection points at)."""
    tenant = Tenant.objects.get(slug=slug)
    users = {role: User.objects.get(email=f"{role}@drill.example.org") for role in ("steward", "analyst", "colleague")}
    return _facts(tenant, users)


def platform_facts() -> PlatformFacts:
    facts = PlatformFacts(users=User.objects.count(), memberships=Membership.objects.count())
    for slug, _name, _domain in WORKSPACES:
        facts.workspaces[slug] = workspace_facts(slug)
    with schema_context("public"):
        facts.public_audit_head = AuditEvent.objects.order_by("-id").values_list("hash", flat=True).first() or ""
    return facts


def platform_build(size: int = 40) -> PlatformFacts:
    """Build the drill platform in the (migrated, empty) database the connection points at."""
    public_tenant_ensure()
    users = {
        role: user_get_or_create(email=f"{role}@drill.example.org", password=PASSWORD)
        for role in ("steward", "analyst", "colleague")
    }
    for slug, name, domain in WORKSPACES:
        tenant = tenant_create(slug=slug, name=name, domain=domain).tenant
        membership_set(tenant=tenant, user=users["steward"], role=Role.STEWARD)
        membership_set(tenant=tenant, user=users["analyst"], role=Role.ANALYST)
        membership_set(tenant=tenant, user=users["colleague"], role=Role.ANALYST)
        _workspace_build(tenant, users["steward"], users["analyst"], users["colleague"], size)
    connection.set_schema_to_public()
    return platform_facts()


def drill_user(role: str) -> Any:
    return User.objects.get(email=f"{role}@drill.example.org")
