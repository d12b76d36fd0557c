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


def audit_tail(schema: str) -> tuple[int, int | None, str] | None:
    """Length, last id and last hash of the schema's audit chain, read with plain SQL (works on any release's
    schema), or None when the schema has no audit table."""
    table = AuditEvent._meta.db_table
    if table not in schema_tables(schema):
        return None
    with connection.cursor() as cursor:
        cursor.execute(sql.Composed([sql.SQL("SELECT count(*) FROM "), sql.Identifier(schema, table)]))
        events = int(cursor.fetchone()[0])
        cursor.execute(
            sql.Composed(
                [sql.SQL("SELECT id, hash FROM "), sql.Identifier(schema, table), sql.SQL(" ORDER BY id DESC LIMIT 1")]
            )
        )
        head = cursor.fetchone()
    return events, (int(head[0]) if head else None), (str(head[1]) if head else "")


def audit_head(schema: str) -> AuditHead | None:
    """The schema's audit chain: its length, its head and whether every link and hash verifies."""
    tail = audit_tail(schema)
    if tail is None:
        return None
    with schema_context(schema):
        report = audit_chain_verify()
    problem = "" if report.ok else f"event {report.first_bad_event}: {report.reason}"
    return AuditHead(events=tail[0], head_id=tail[1], head_hash=tail[2], verified=report.ok, problem=problem)


def schema_state(schema: str) -> SchemaState:
    """Rows per table, audit head and migrations of one schema."""
    return SchemaState(tables=table_counts(schema), audit=audit_head(schema), migrations=applied_migrations(schema))


def tenant_schemas() -> list[str]:
    """Schemas of the tenants (from the tenant table), the ones whose files lineage names."""
    from tenants.models import Tenant

    public = get_public_schema_name()
    return list(
        Tenant.objects.exclude(schema_name=public).order_by("schema_name").values_list("schema_name", flat=True)
    )


def schema_files(schema: str) -> Iterator[FileEntry]:
    """Files the current tenant schema's lineage names: kept versions' originals and Parquet, run results.

    Reads only the columns it needs, so it also works on a schema an older release wrote.
    """
    from datasets.models import DatasetVersion
    from queries.models import QueryRun, RunStatus

    kept = DatasetVersion.all_objects.filter(files_removed_at__isnull=True).order_by("pk")
    columns = ("dataset__study__slug", "dataset__name", "number", "original_file", "sha256", "size_bytes")
    parquet = ("parquet_file", "parquet_sha256", "parquet_size_bytes")
    for study, dataset, number, original, sha, size, name, parquet_sha, parquet_size in kept.values_list(
        *columns, *parquet
    ):
        label = f"{study}/{dataset} v{number}"
        yield FileEntry(
            name=original,
            sha256=sha,
            size=size,
            schema_name=schema,
            kind="version_original",
            label=f"original of {label}",
        )
        yield FileEntry(
            name=name,
            sha256=parquet_sha,
            size=parquet_size,
            schema_name=schema,
            kind="version_parquet",
            label=f"Parquet of {label}",
        )
    runs = QueryRun.objects.filter(status=RunStatus.SUCCEEDED).exclude(result_file="").order_by("pk")
    for run_id, name, sha, size in runs.values_list("pk", "result_file", "result_sha256", "result_size"):
        yield FileEntry(
            name=name,
            sha256=sha,
            size=size or 0,
            schema_name=schema,
            kind="run_result",
            label=f"result of run {run_id}",
        )


def lineage_files() -> list[FileEntry]:
    """Every file that a kept dataset version or a succeeded run names, once per storage name."""
    seen: dict[str, FileEntry] = {}
    for schema in tenant_schemas():
        with schema_context(schema):
            for entry in schema_files(schema):
                seen.setdefault(entry.name, entry)  # a reused result shares its file with the run it came from
    return list(seen.values())
