"""The only bridge between Django models and the Django-free query core.

It pins dataset versions, builds the engine's catalog from them, validates specs with the tenant's limits, and
creates engines configured from the ConfigProvider. Services call it; nothing else touches the engines.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Literal

import psycopg
from django.db import connection
from django.db.models import OuterRef, QuerySet, Subquery
from psycopg.conninfo import make_conninfo

from access.record_keys import record_keys_file
from core.budgets import engine_budget, size_text
from core.column_types import ColumnType
from core.config import config_get
from core.errors import RETRY_AFTER_SECONDS, ApiError, Conflict, InvalidInput
from datasets.models import Dataset, DatasetVersion, Engine, Study
from datasets.storage import version_cache_path
from datasets.study_keys import study_keys_require
from queries.core.catalog import CatalogError, ColumnInfo, DatasetInfo, StudyCatalog, StudyKeys
from queries.core.engines.contract import EngineError
from queries.core.engines.duckdb_engine import DuckDBEngine
from queries.core.engines.participant_store import StoreLocation
from queries.core.engines.postgres_engine import PostgresEngine
from queries.core.engines.spark_engine import SparkEngine, SparkSettings
from queries.core.estimate import (
    InteractiveEstimate,
    InteractiveKind,
    OverBudget,
    RunEstimate,
    estimate_interactive,
    estimate_run,
    interactive_budget_check,
    run_budget_check,
)
from queries.core.spec import (
    QuerySpec,
    SpecError,
    SpecLimits,
    ValidatedSpec,
    spec_hash,
    spec_parse,
    spec_use,
    spec_validate,
)
from tenants.models import Tenant


@dataclass(frozen=True)
class PreparedQuery:
    """A validated spec with the exact versions it will read, prepared for ``tenant`` (whose limits apply)."""

    tenant: Tenant
    study: Study
    spec: QuerySpec
    validated: ValidatedSpec
    catalog: StudyCatalog
    versions: dict[str, DatasetVersion]
    spec_hash: str
    cache_key: str

    def touched_datasets(self) -> set[str]:
        """Datasets the spec names (filters and columns) plus the demographics table."""
        return set(spec_use(self.spec, self.catalog.demographics).datasets)


def _versions_newest_first(study: Study) -> QuerySet[DatasetVersion]:
    return DatasetVersion.objects.filter(dataset__study=study, dataset__deleted_at__isnull=True).order_by(
        "dataset_id", "-number"
    )


def study_latest_versions(study: Study) -> dict[str, DatasetVersion]:
    """The newest version of every dataset of the study that has one."""
    versions: dict[str, DatasetVersion] = {}
    for version in _versions_newest_first(study).select_related("dataset"):
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
        row_count=version.row_count,
    )


def record_keys_info(study: Study, demographics: DatasetVersion) -> DatasetInfo:
    """The record-key table of the demographics version as the engines read it (disclosure control)."""
    keys = record_keys_file(study, demographics)
    id_type: ColumnType = next((c["type"] for c in demographics.columns if c["name"] == study.id_column), "string")
    return DatasetInfo(
        name="record_keys",
        kind="measure",
        version=demographics.number,
        sha256=keys.digest,
        columns=(ColumnInfo(name=keys.id_column, type=id_type), ColumnInfo(name=keys.key_column, type="integer")),
        parquet_path=str(keys.path),
    )


def study_catalog(
    study: Study, versions: dict[str, DatasetVersion], *, with_files: bool = True, keyed: bool = False
) -> StudyCatalog:
    """The engine's view of the study at these versions (``with_files`` fetches Parquet into the local cache;
    ``keyed`` adds the record keys of the demographics version, so counts and reports also return cell keys: what
    aggregate-only callers are answered with)."""
    if study.demographics is None or study.demographics.name not in versions:
        raise Conflict("This study has no demographics table yet; upload it first.", code="no_demographics")
    study_keys_require(study, versions)  # 409 study_keys_invalid (never an inconsistent catalog)
    keys = StudyKeys(
        id_column=study.id_column,
        session_column=study.session_column or None,
        age_column=study.age_column or None,
        sex_column=study.sex_column or None,
        site_column=study.site_column or None,
        composite_column=study.composite_id_column or None,
    )
    try:
        return StudyCatalog(
            keys=keys,
            demographics=study.demographics.name,
            datasets={name: _dataset_info(version, with_files=with_files) for name, version in versions.items()},
            record_keys=record_keys_info(study, versions[study.demographics.name]) if with_files and keyed else None,
        )
    except CatalogError as exc:  # e.g. a new demographics version without the configured age column
        raise Conflict(
            f"The study's key columns do not match its tables ({exc}); an owner or steward can fix the study settings.",
            code="study_keys_invalid",
        ) from exc


def versions_fingerprint(versions: dict[str, DatasetVersion]) -> str:
    """A digest of the pinned versions (dataset name + content hash), order-independent."""
    return _fingerprint({name: version.parquet_sha256 for name, version in versions.items()})


def _fingerprint(hashes: dict[str, str]) -> str:
    parts = sorted(f"{name}:{sha}" for name, sha in hashes.items())
    return hashlib.sha256("\n".join(parts).encode()).hexdigest()


def spec_error_to_api(exc: SpecError) -> InvalidInput:
    """A spec problem as the API's 422 error with the spec's own code."""
    return InvalidInput(exc.message, code=exc.code, details=dict(exc.details or {}))


def _cache_key(study: Study, digest: str, used: dict[str, str]) -> str:
    """Spec hash + the content hashes of the versions it reads (dataset name -> Parquet sha256) + the study's key
    columns (they change what a spec means: the site column can be re-pointed) + the engine."""
    keys = "\x00".join(
        getattr(study, name) or ""
        for name in ("id_column", "session_column", "age_column", "sex_column", "site_column", "composite_id_column")
    )
    material = f"{digest}|{_fingerprint(used)}|{keys}|{study.engine}"
    return hashlib.sha256(material.encode()).hexdigest()


@dataclass(frozen=True)
class CountKey:
    """What a count's cache entry is keyed by, computed without the catalog (no file access, no validation)."""

    spec: QuerySpec
    spec_hash: str
    cache_key: str
    version_ids: dict[str, int]  # dataset name -> its latest version's pk (what a miss pins)
    datasets: frozenset[str]  # names the spec touches, demographics included

    def touched_datasets(self) -> set[str]:
        """Datasets the spec names (filters and columns) plus the demographics table."""
        return set(self.datasets)

    def pinned_versions(self) -> dict[str, DatasetVersion]:
        """The versions the key was computed for, loaded in full (for the catalog of a cache miss)."""
        found = DatasetVersion.objects.filter(pk__in=self.version_ids.values()).select_related("dataset")
        return {version.dataset.name: version for version in found}


def spec_read(payload: Any) -> QuerySpec:
    """Parse a spec from its JSON form (the one parse of a request's spec); 422 with the spec's code when it is not
    a spec. Everything after this takes the typed :class:`QuerySpec`."""
    try:
        return spec_parse(payload)
    except SpecError as exc:
        raise spec_error_to_api(exc) from exc


def study_datasets_latest(study: Study) -> list[Dataset]:
    """The study's live datasets by name, each annotated with its newest live version (``latest_version_id``,
    ``latest_parquet_sha256``; None without one): one query serving both a count's access check and its cache key,
    so both see the same snapshot."""
    newest = DatasetVersion.objects.filter(dataset=OuterRef("pk")).order_by("-number")
    return list(
        Dataset.objects.filter(study=study)
        .annotate(
            latest_version_id=Subquery(newest.values("pk")[:1]),
            latest_parquet_sha256=Subquery(newest.values("parquet_sha256")[:1]),
        )
        .order_by("name")
    )


def _latest_of(study: Study, datasets: Sequence[Dataset] | None) -> dict[str, tuple[int, int, str]]:
    """Dataset name -> (dataset pk, newest live version pk, its Parquet sha256), for datasets with a version."""
    latest: dict[str, tuple[int, int, str]] = {}
    if datasets is None:
        for name, dataset_id, version_id, sha in _versions_newest_first(study).values_list(
            "dataset__name", "dataset_id", "pk", "parquet_sha256"
        ):
            latest.setdefault(name, (dataset_id, version_id, sha))
        return latest
    for dataset in datasets:
        annotated = hasattr(dataset, "latest_version_id") and hasattr(dataset, "latest_parquet_sha256")
        if not annotated or dataset.study_id != study.pk or dataset.deleted_at is not None:
            raise ValueError("datasets must be the study's live datasets from study_datasets_latest")
        newest: int | None = dataset.latest_version_id  # type: ignore[attr-defined]
        if newest is not None:
            latest.setdefault(dataset.name, (dataset.pk, newest, dataset.latest_parquet_sha256))  # type: ignore[attr-defined]
    return latest


def query_count_key(study: Study, spec: QuerySpec, datasets: Sequence[Dataset] | None = None) -> CountKey:
    """The cache key of a count of ``spec`` at the study's latest versions (one light query: names and hashes; none
    when ``datasets`` come from :func:`study_datasets_latest` of this request).

    A cached answer implies the spec was valid for exactly these versions and keys, so a hit needs no catalog.
    """
    latest = _latest_of(study, datasets)
    demographics = next((n for n, (ds, _, _) in latest.items() if ds == study.demographics_id), "")
    names = spec_use(spec, demographics).datasets
    digest = spec_hash(spec)
    used = {name: latest[name][2] for name in names if name in latest}
    version_ids = {name: version_id for name, (_, version_id, _) in latest.items()}
    return CountKey(spec, digest, _cache_key(study, digest, used), version_ids, frozenset(names))


def query_prepare(
    *,
    tenant: Tenant,
    study: Study,
    spec: QuerySpec,
    versions: dict[str, DatasetVersion] | None = None,
    keyed: bool = False,
    purpose: Literal["run", "interactive"] = "run",
) -> PreparedQuery:
    """Validate ``spec`` (parsed once, already authorized) against the study at its latest (or the given) versions,
    with ``tenant``'s limits (``keyed``: with the record keys, for counts and reports answered with the cell-key
    method). Interactive work (counts, reports) takes shorter participant lists than runs
    (``interactive_max_participants``)."""
    pinned = versions if versions is not None else study_latest_versions(study)
    catalog = study_catalog(study, pinned, keyed=keyed)
    longest = "interactive_max_participants" if purpose == "interactive" else "max_result_rows"
    limits = SpecLimits(max_participants=int(config_get(longest, tenant)))
    try:
        validated = spec_validate(spec, catalog, limits)
    except SpecError as exc:
        raise spec_error_to_api(exc) from exc
    digest = spec_hash(spec)
    used = {name: pinned[name] for name in spec_use(spec, catalog.demographics).datasets if name in pinned}
    return PreparedQuery(
        tenant=tenant,
        study=study,
        spec=spec,
        validated=validated,
        catalog=catalog,
        versions=used,
        spec_hash=digest,
        cache_key=_cache_key(study, digest, {name: version.parquet_sha256 for name, version in used.items()}),
    )


def engine_error_to_api(exc: EngineError) -> ApiError:
    """An engine error as the API answers it: 503 + Retry-After when sending it again later will work (the
    database connection was lost), else 422 with the engine's code."""
    if exc.retryable:
        return ApiError(503, exc.code, exc.message, headers={"Retry-After": RETRY_AFTER_SECONDS})
    return ApiError(422, exc.code, exc.message)


def run_estimate_require(prepared: PreparedQuery) -> RunEstimate:
    """The run's result size from the catalog statistics; 422 ``too_large`` when it cannot fit ``max_result_cells``."""
    tenant = prepared.tenant
    estimate = estimate_run(prepared.validated, max_rows=int(config_get("max_result_rows", tenant)))
    try:
        run_budget_check(estimate, max_cells=int(config_get("max_result_cells", tenant)))
    except OverBudget as exc:
        raise InvalidInput(exc.message, code=exc.code, details=exc.details) from exc
    return estimate


def interactive_estimate_require(
    prepared: PreparedQuery, kind: InteractiveKind, *, aggregate_only: bool
) -> InteractiveEstimate:
    """The work of a count or filtering report from the catalog statistics; 422 ``too_large`` when it exceeds
    ``interactive_max_work`` or this process's engine memory. ``aggregate_only``: the caller is answered with the
    cell-key method, so the refusal names no size of the study (no rows, participants or memory)."""
    tenant = prepared.tenant
    estimate = estimate_interactive(prepared.validated, kind)
    memory = engine_budget().duckdb_memory_bytes // 2
    try:
        interactive_budget_check(
            estimate,
            max_work=int(config_get("interactive_max_work", tenant)),
            memory_bytes=memory,
            aggregate_only=aggregate_only,
        )
    except OverBudget as exc:
        raise InvalidInput(exc.message, code=exc.code, details=exc.details) from exc
    return estimate


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


def spark_settings() -> SparkSettings:
    """The SparkSession settings of this process, from its budget (the first Spark engine of the process starts
    the session with them)."""
    budget = engine_budget()
    return SparkSettings(
        master=budget.spark_master,
        driver_memory=budget.spark_driver_memory,
        threads=budget.threads,
        shuffle_partitions=budget.spark_shuffle_partitions,
        local_dir=str(budget.spill_directory),
    )


def engine_create(
    study: Study,
    *,
    timeout_s: float,
    max_rows: int | None = None,
    max_cells: int | None = None,
    store: StoreLocation | None = None,
) -> DuckDBEngine | PostgresEngine | SparkEngine:
    """An engine for the study's configured backend with the tenant's limits and this process's budget
    (``core.budgets``: DuckDB memory, threads and spill directory; PostgreSQL work_mem; Spark driver memory,
    threads and shuffle partitions). ``store``: where DuckDB finds the study's participant index stores
    (``queries.participant_stores.participant_store_location``); without it, DuckDB reads Parquet only."""
    if study.engine == Engine.SPARK:
        return SparkEngine(spark_settings(), timeout_s=timeout_s, max_rows=max_rows, max_cells=max_cells)
    budget = engine_budget()
    if study.engine == Engine.POSTGRES:
        return PostgresEngine(
            _pg_connect,
            schema=str(connection.schema_name),  # type: ignore[attr-defined]
            timeout_s=timeout_s,
            max_rows=max_rows,
            max_cells=max_cells,
            work_mem=budget.postgres_work_mem,
        )
    return DuckDBEngine(
        memory_limit=budget.duckdb_memory_limit,
        threads=budget.threads,
        temp_directory=budget.spill_directory,
        spill_limit=size_text(budget.spill_limit_bytes),
        timeout_s=timeout_s,
        max_rows=max_rows,
        max_cells=max_cells,
        store=store,
    )
