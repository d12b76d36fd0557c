"""The only bridge between Django models and the Django-free query core.

It pins dataset versions, builds the engine's catalog from them, validates specs with the tenant's limits, and
creates engines configured from the ConfigProvider. Services call it; nothing else touches the engines.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import Any

import psycopg
from django.db import connection
from psycopg.conninfo import make_conninfo

from bdt_project.config import config_get
from bdt_project.errors import Conflict, InvalidInput
from datasets.models import DatasetVersion, Engine, Study
from datasets.storage import version_cache_path
from queries.catalog import ColumnInfo, DatasetInfo, StudyCatalog, StudyKeys
from queries.engines.duckdb_engine import DuckDBEngine
from queries.engines.postgres_engine import PostgresEngine
from queries.spec import QuerySpec, SpecError, SpecLimits, ValidatedSpec, spec_hash, spec_parse, spec_validate


@dataclass(frozen=True)
class PreparedQuery:
    """A validated spec with the exact versions it will read."""

    study: Study
    spec: QuerySpec
    validated: ValidatedSpec
    catalog: StudyCatalog
    versions: dict[str, DatasetVersion]
    spec_hash: str
    cache_key: str

    def touched_datasets(self) -> set[str]:
        """Datasets the spec names (filters and columns) plus the demographics table."""
        names = {self.catalog.demographics}
        names.update(f.dataset for f in self.spec.filters)
        names.update(self.spec.columns or {})
        return names


def study_latest_versions(study: Study) -> dict[str, DatasetVersion]:
    """The newest version of every dataset of the study that has one."""
    versions: dict[str, DatasetVersion] = {}
    for version in (
        DatasetVersion.objects.filter(dataset__study=study).select_related("dataset").order_by("dataset_id", "-number")
    ):
        versions.setdefault(version.dataset.name, version)
    return versions


def _dataset_info(version: DatasetVersion, *, with_files: bool) -> DatasetInfo:
    columns = tuple(
        ColumnInfo(
            name=column["name"],
            type=column["type"],
            min=column.get("min"),
            max=column.get("max"),
            distinct=column.get("distinct"),
        )
        for column in version.columns
    )
    return DatasetInfo(
        name=version.dataset.name,
        kind="demographics" if version.dataset.kind == "demographics" else "measure",
        version=version.number,
        sha256=version.parquet_sha256,
        columns=columns,
        parquet_path=str(version_cache_path(version.parquet_file, version.parquet_sha256)) if with_files else None,
    )


def study_catalog(study: Study, versions: dict[str, DatasetVersion], *, with_files: bool = True) -> StudyCatalog:
    """The engine's view of the study at these versions (``with_files`` fetches Parquet into the local cache)."""
    if study.demographics is None or study.demographics.name not in versions:
        raise Conflict("This study has no demographics table yet; upload it first.", code="no_demographics")
    keys = StudyKeys(
        id_column=study.id_column,
        session_column=study.session_column or None,
        age_column=study.age_column or None,
        sex_column=study.sex_column or None,
        site_column=study.site_column or None,
    )
    return StudyCatalog(
        keys=keys,
        demographics=study.demographics.name,
        datasets={name: _dataset_info(version, with_files=with_files) for name, version in versions.items()},
    )


def versions_fingerprint(versions: dict[str, DatasetVersion]) -> str:
    """A digest of the pinned versions (dataset name + content hash), order-independent."""
    parts = sorted(f"{name}:{version.parquet_sha256}" for name, version in versions.items())
    return hashlib.sha256("\n".join(parts).encode()).hexdigest()


def spec_error_to_api(exc: SpecError) -> InvalidInput:
    """A spec problem as the API's 422 error with the spec's own code."""
    return InvalidInput(exc.message, code=exc.code, details=dict(exc.details or {}))


def query_prepare(study: Study, payload: Any, *, versions: dict[str, DatasetVersion] | None = None) -> PreparedQuery:
    """Parse and validate a QuerySpec against the study at its latest (or the given) versions."""
    pinned = versions if versions is not None else study_latest_versions(study)
    catalog = study_catalog(study, pinned)
    tenant = getattr(connection, "tenant", None)
    limits = SpecLimits(max_participants=int(config_get("max_result_rows", tenant)))
    try:
        spec = payload if isinstance(payload, QuerySpec) else spec_parse(payload)
        validated = spec_validate(spec, catalog, limits)
    except SpecError as exc:
        raise spec_error_to_api(exc) from exc
    digest = spec_hash(spec)
    used = {name: pinned[name] for name in _used_datasets(spec, catalog) if name in pinned}
    cache_key = hashlib.sha256(f"{digest}|{versions_fingerprint(used)}|{study.engine}".encode()).hexdigest()
    return PreparedQuery(
        study=study,
        spec=spec,
        validated=validated,
        catalog=catalog,
        versions=used,
        spec_hash=digest,
        cache_key=cache_key,
    )


def _used_datasets(spec: QuerySpec, catalog: StudyCatalog) -> set[str]:
    names = {catalog.demographics}
    names.update(f.dataset for f in spec.filters)
    names.update(spec.columns or {})
    return names


def _pg_connect() -> psycopg.Connection[Any]:
    params = connection.settings_dict
    conninfo = make_conninfo(
        dbname=params["NAME"],
        user=params.get("USER") or None,
        password=params.get("PASSWORD") or None,
        host=params.get("HOST") or None,
        port=str(params.get("PORT") or "") or None,
        connect_timeout=5,
        application_name="bdt-query",
    )
    return psycopg.connect(conninfo)


def engine_create(study: Study, *, timeout_s: float, max_rows: int | None = None) -> DuckDBEngine | PostgresEngine:
    """An engine for the study's configured backend with the tenant's limits."""
    tenant = getattr(connection, "tenant", None)
    if study.engine == Engine.POSTGRES:
        return PostgresEngine(_pg_connect, schema=str(connection.schema_name), timeout_s=timeout_s, max_rows=max_rows)  # type: ignore[attr-defined]
    return DuckDBEngine(
        memory_limit=str(config_get("duckdb_memory_limit", tenant)),
        threads=int(config_get("duckdb_threads", tenant)),
        timeout_s=timeout_s,
        max_rows=max_rows,
    )
