"""A platform's data as the oldest supported release (backups.releases.OLDEST_SUPPORTED) stored it, written with
that release's historical models (never the current ones, which may have columns the old schema lacks).

When OLDEST_SUPPORTED moves to a newer release, update the field names here to that release's models.
"""

from __future__ import annotations

import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import duckdb
from django.apps.registry import Apps
from django.contrib.auth.hashers import make_password
from django.core.files import File
from django.core.files.storage import default_storage
from django.utils import timezone

from audit.services import audit_event_digest
from datasets.ingest.options import IngestOptions
from datasets.ingest.pipeline import ingest_csv
from queries.core.spec import spec_hash
from tests.backups.platform import PASSWORD, cognitive_csv, demographics_csv

LEGACY = {"slug": "legacy", "schema": "t_legacy", "domain": "legacy.test", "name": "Legacy Lab"}
SPEC = {
    "filters": [{"dataset": "demographics", "column": "age", "op": "gte", "value": 30}],
    "columns": {"cognitive": ["memory"]},
}


@dataclass
class LegacyFacts:
    """What was loaded, to compare with after the upgrade."""

    participants: dict[str, int] = field(default_factory=dict)
    run_rows: dict[int, int] = field(default_factory=dict)
    audit_heads: dict[str, str] = field(default_factory=dict)
    users: dict[str, int] = field(default_factory=dict)


def _chain(apps: Apps, events: list[dict[str, Any]]) -> str:
    """Append events to the schema's audit chain the way the audit service did; returns the head hash."""
    model = apps.get_model("audit", "AuditEvent")
    last = model.objects.order_by("-id").values_list("hash", flat=True).first() or ""
    for fields in events:
        event = model(at=timezone.now(), actor_email=fields.pop("actor_email", ""), prev_hash=last, **fields)
        event.hash = audit_event_digest(event)  # type: ignore[arg-type]
        event.save(force_insert=True)
        last = event.hash
    return str(last)


def public_load(apps: Apps, facts: LegacyFacts) -> None:
    """Users, the legacy tenant with its domain and memberships, and the platform audit event of its creation."""
    user_model = apps.get_model("tenants", "User")
    for role in ("steward", "analyst"):
        user = user_model.objects.create(email=f"{role}@legacy.example.org", password=make_password(PASSWORD))
        facts.users[role] = user.pk
    tenant = apps.get_model("tenants", "Tenant").objects.create(
        schema_name=LEGACY["schema"], slug=LEGACY["slug"], name=LEGACY["name"], settings={}
    )
    apps.get_model("tenants", "Domain").objects.create(domain=LEGACY["domain"], tenant=tenant, is_primary=True)
    membership = apps.get_model("tenants", "Membership")
    membership.objects.create(user_id=facts.users["steward"], tenant=tenant, role="steward")
    membership.objects.create(user_id=facts.users["analyst"], tenant=tenant, role="analyst")
    event = {"action": "tenant.created", "target_type": "tenants.tenant", "target_id": str(tenant.pk),
             "target_repr": LEGACY["name"], "details": {"domain": LEGACY["domain"]}}  # fmt: skip
    facts.audit_heads["public"] = _chain(apps, [event])


def _version(apps: Apps, dataset: Any, text: str, steward: int, work: Path) -> Any:
    work.mkdir(parents=True, exist_ok=True)
    source = work / f"{dataset.name}.csv"
    source.write_text(text, encoding="utf-8")
    study = dataset.study
    options = IngestOptions(id_column=study.id_column, session_column=study.session_column)
    result = ingest_csv(source, work_dir=work / dataset.name, options=options)
    base = f"tenants/{LEGACY['schema']}/studies/{study.slug}/{dataset.name}/v1"
    for name, path in ((f"{base}/original.csv", source), (f"{base}/data.parquet", result.parquet_path)):
        with open(path, "rb") as handle:
            default_storage.save(name, File(handle))
    return apps.get_model("datasets", "DatasetVersion").objects.create(
        dataset=dataset, number=1, sha256=result.sha256, parquet_sha256=_sha(result.parquet_path),
        original_filename=source.name, original_file=f"{base}/original.csv", parquet_file=f"{base}/data.parquet",
        size_bytes=result.size_bytes, parquet_size_bytes=result.parquet_path.stat().st_size, encoding=result.encoding,
        delimiter=result.delimiter, delimiter_detected=result.delimiter_detected, row_count=result.row_count,
        participants=result.participants or 0, sessions=list(result.sessions),
        columns=[column.as_dict() for column in result.columns], created_by_id=steward,
    )  # fmt: skip


def _sha(path: Path) -> str:
    from datasets.storage import file_sha256

    return file_sha256(path)


def _run(apps: Apps, study: Any, versions: dict[str, Any], steward: int, work: Path, number: int) -> Any:
    """A succeeded run of SPEC with a result file (rows of the demographics aged 30 or more)."""
    demographics = default_storage.path(versions["demographics"].parquet_file)
    result = work / f"result-{number}.parquet"
    with duckdb.connect() as con:
        con.execute(
            "COPY (SELECT participant_id, session, age FROM read_parquet(?) WHERE age >= 30 "
            "ORDER BY participant_id, session) TO '" + str(result) + "' (FORMAT parquet)",
            [demographics],
        )
        rows = int(con.execute("SELECT count(*) FROM read_parquet(?)", [str(result)]).fetchone()[0])
    run = apps.get_model("queries", "QueryRun").objects.create(
        study=study, spec=SPEC, spec_hash=spec_hash(SPEC), cache_key="0" * 64, shape="long", engine=study.engine,
        status="succeeded", row_count=rows, columns=["participant_id", "session", "age"],
        column_types=["string", "string", "integer"], created_by_id=steward, started_at=timezone.now(),
        finished_at=timezone.now(),
    )  # fmt: skip
    name = f"tenants/{LEGACY['schema']}/runs/{run.pk}/result.parquet"
    with open(result, "rb") as handle:
        default_storage.save(name, File(handle))
    run.result_file, run.result_sha256, run.result_size = name, _sha(result), result.stat().st_size
    run.save()
    pin = apps.get_model("queries", "QueryRunVersion")
    for dataset_name, version in sorted(versions.items()):
        pin.objects.create(run=run, version=version, dataset_name=dataset_name, number=1, sha256=version.sha256)
    return run


def tenant_load(apps: Apps, facts: LegacyFacts) -> None:
    """Two studies (DuckDB and PostgreSQL engines) with versions, runs, an export, a saved query, a grant, and the
    audit events of all of it, in the legacy tenant's schema."""
    steward, analyst = facts.users["steward"], facts.users["analyst"]
    study_model = apps.get_model("datasets", "Study")
    dataset_model = apps.get_model("datasets", "Dataset")
    events: list[dict[str, Any]] = []
    with tempfile.TemporaryDirectory() as folder:
        work = Path(folder)
        for slug, engine, size in (("memory", "duckdb", 24), ("motion", "postgres", 16)):
            study = study_model.objects.create(
                slug=slug, name=slug.title(), id_column="participant_id", session_column="session",
                age_column="age", sex_column="sex", engine=engine, created_by_id=steward,
            )  # fmt: skip
            versions = {}
            for name, kind, text in (("demographics", "demographics", demographics_csv(size)),
                                     ("cognitive", "measure", cognitive_csv(size))):  # fmt: skip
                dataset = dataset_model.objects.create(study=study, name=name, kind=kind)
                versions[name] = _version(apps, dataset, text, steward, work / slug)
                events.append({"action": "dataset_version.created", "actor_id": steward,
                               "target_type": "datasets.datasetversion", "target_id": str(versions[name].pk),
                               "details": {"study": slug, "dataset": name, "version": 1}})  # fmt: skip
            study.demographics = dataset_model.objects.get(study=study, name="demographics")
            study.save()
            facts.participants[slug] = size
            run = _run(apps, study, versions, steward, work, len(facts.run_rows))
            facts.run_rows[run.pk] = run.row_count
            events.append({"action": "query.run_created", "actor_id": steward, "target_type": "queries.queryrun",
                           "target_id": str(run.pk), "details": {"study": slug, "spec": SPEC}})  # fmt: skip
        memory = study_model.objects.get(slug="memory")
        run = apps.get_model("queries", "QueryRun").objects.get(study=memory)
        apps.get_model("queries", "QueryExport").objects.create(
            run=run, format="csv", filename="cognitive_long.csv", rows=run.row_count, sha256="1" * 64,
            purpose="legacy export", created_by_id=analyst,
        )  # fmt: skip
        apps.get_model("queries", "SavedQuery").objects.create(
            study=memory, name="Older adults", spec=SPEC, owner_id=analyst, shared=True
        )
        cognitive = dataset_model.objects.get(study=memory, name="cognitive")
        grant = apps.get_model("access", "Grant").objects.create(
            study=memory, dataset=cognitive, user_id=analyst, level="export", granted_by_id=steward
        )
        events += [
            {"action": "query.exported", "actor_id": analyst, "target_type": "queries.queryrun",
             "target_id": str(run.pk), "details": {"format": "csv", "purpose": "legacy export"}},
            {"action": "grant.created", "actor_id": steward, "target_type": "access.grant",
             "target_id": str(grant.pk), "details": {"level": "export", "dataset": "cognitive"}},
        ]  # fmt: skip
    facts.audit_heads[LEGACY["schema"]] = _chain(apps, events)
