"""What the database holds, read the same way at backup time (inside the dump's snapshot) and after a restore:
schemas, rows per table, audit chain heads, applied migrations, and the files that lineage names."""

from __future__ import annotations

from collections.abc import Iterator

from django.db import connection
from django_tenants.utils import get_public_schema_name, schema_context
from psycopg import sql

from audit.models import AuditEvent
from audit.verification import audit_chain_verify
from backups.manifest import AuditHead, FileEntry, SchemaState

SYSTEM_SCHEMAS = ("information_schema",)


def database_schemas() -> list[str]:
    """Every user schema of the database (public and one per tenant, plus anything else someone created)."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT nspname FROM pg_namespace WHERE nspname NOT LIKE 'pg\\_%%' AND nspname <> ALL(%s) ORDER BY 1",
            [list(SYSTEM_SCHEMAS)],
        )
        return [row[0] for row in cursor.fetchall()]


def schema_tables(schema: str) -> list[str]:
    """Names of the tables of ``schema``."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
            "WHERE n.nspname = %s AND c.relkind IN ('r', 'p') ORDER BY 1",
            [schema],
        )
        return [row[0] for row in cursor.fetchall()]


def table_counts(schema: str) -> dict[str, int]:
    """Exact row count of every table of ``schema``."""
    counts: dict[str, int] = {}
    with connection.cursor() as cursor:
        for table in schema_tables(schema):
            cursor.execute(sql.Composed([sql.SQL("SELECT count(*) FROM "), sql.Identifier(schema, table)]))
            counts[table] = int(cursor.fetchone()[0])
    return counts


def applied_migrations(schema: str) -> list[str]:
    """``app.migration`` names recorded in the schema's ``django_migrations`` (empty when it has none)."""
    if "django_migrations" not in schema_tables(schema):
        return []
    with connection.cursor() as cursor:
        query = sql.Composed(
            [sql.SQL("SELECT app, name FROM "), sql.Identifier(schema, "django_migrations"), sql.SQL(" ORDER BY 1, 2")]
        )
        cursor.execute(query)
        return [f"{app}.{name}" for app, name in cursor.fetchall()]


def audit_head(schema: str) -> AuditHead | None:
    """The schema's audit chain: its length, its head and whether every link and hash verifies."""
    if AuditEvent._meta.db_table not in schema_tables(schema):
        return None
    with schema_context(schema):
        report = audit_chain_verify()
        head = AuditEvent.objects.order_by("-id").values_list("id", "hash").first()
        events = AuditEvent.objects.count()
    problem = "" if report.ok else f"event {report.first_bad_event}: {report.reason}"
    return AuditHead(
        events=events,
        head_id=head[0] if head else None,
        head_hash=head[1] if head else "",
        verified=report.ok,
        problem=problem,
    )


def schema_state(schema: str) -> SchemaState:
    """Rows per table, audit head and migrations of one schema."""
    return SchemaState(tables=table_counts(schema), audit=audit_head(schema), migrations=applied_migrations(schema))


def tenant_schemas() -> list[str]:
    """Schemas of the tenants (from the tenant table), the ones whose files lineage names."""
    from tenants.models import Tenant

    public = get_public_schema_name()
    return list(Tenant.objects.exclude(schema_name=public).order_by("schema_name").values_list("schema_name", flat=True))


def schema_files(schema: str) -> Iterator[FileEntry]:
    """Files the current tenant schema's lineage names: kept versions' originals and Parquet, run results."""
    from datasets.models import DatasetVersion
    from queries.models import QueryRun, RunStatus

    kept = DatasetVersion.all_objects.filter(files_removed_at__isnull=True).select_related("dataset__study")
    for version in kept.order_by("pk"):
        label = f"{version.dataset.study.slug}/{version.dataset.name} v{version.number}"
        yield FileEntry(
            name=version.original_file,
            sha256=version.sha256,
            size=version.size_bytes,
            schema_name=schema,
            kind="version_original",
            label=f"original of {label}",
        )
        yield FileEntry(
            name=version.parquet_file,
            sha256=version.parquet_sha256,
            size=version.parquet_size_bytes,
            schema_name=schema,
            kind="version_parquet",
            label=f"Parquet of {label}",
        )
    runs = QueryRun.objects.filter(status=RunStatus.SUCCEEDED).exclude(result_file="").order_by("pk")
    for run_id, name, sha, size in runs.values_list("pk", "result_file", "result_sha256", "result_size"):
        yield FileEntry(
            name=name, sha256=sha, size=size or 0, schema_name=schema, kind="run_result", label=f"result of run {run_id}"
        )


def lineage_files() -> list[FileEntry]:
    """Every file that a kept dataset version or a succeeded run names, once per storage name."""
    seen: dict[str, FileEntry] = {}
    for schema in tenant_schemas():
        with schema_context(schema):
            for entry in schema_files(schema):
                seen.setdefault(entry.name, entry)  # a reused result shares its file with the run it came from
    return list(seen.values())
