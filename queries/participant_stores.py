"""The participant index stores of DuckDB studies (``queries.core.engines.participant_store``), Django side.

- **Where**: one folder per study on this node, ``datasets.storage.participant_store_directory``.
- **When built**: on a worker (task ``queries.tasks.participant_store_build``, queue ``ingest``) after a new
  version is registered (ingest, connector sync, import: any new :class:`~datasets.models.DatasetVersion`), and
  when a count finds no store for its version set (the count itself reads Parquet; it never waits for a build).
  Requests for one set are sent once per ten minutes. A build runs with the worker's DuckDB budget
  (``core.budgets``: memory limit, threads, spill directory).
- **Removed**: with the data they hold (a deleted dataset or version, a withdrawn contribution, a purged
  workspace) and by the next build of the study (older version sets).
"""

from __future__ import annotations

import logging
from typing import Any

from celery import current_app
from django.core.cache import cache
from django.db import connection, transaction
from django.db.models.signals import post_save

from core.budgets import engine_budget
from core.errors import ApiError
from datasets.models import DatasetVersion, Engine, Study
from datasets.storage import participant_store_directory
from datasets.study_origins import study_ids_unusable
from queries.core.catalog import StudyCatalog
from queries.core.engines.duckdb_engine import DuckDBEngine
from queries.core.engines.participant_store import StoreLocation, store_build, store_digest, stores_sweep
from queries.execution import engine_create, study_catalog, study_latest_versions, versions_fingerprint

logger = logging.getLogger(__name__)

BUILD_TASK = "queries.tasks.participant_store_build"
REQUEST_SECONDS = 600
#: The engine of :func:`participant_store_wide` only attaches a file (no query).
STORE_CHECK_SECONDS = 5.0


def _schema() -> str:
    return str(connection.schema_name)  # type: ignore[attr-defined]


def participant_store_request(study_pk: int, digest: str = "") -> bool:
    """Queue a build of the study's store (its latest versions) unless one was asked for this set in the last ten
    minutes; returns whether a task was sent. Never raises: a count goes on without the store."""
    key = f"participant-store:{_schema()}:{study_pk}:{digest}"
    try:
        if digest and not cache.add(key, 1, REQUEST_SECONDS):
            return False
        current_app.send_task(BUILD_TASK, args=(study_pk,), kwargs={"schema": _schema()})
    except Exception:
        logger.exception("could not queue the participant index store of study %s", study_pk)
        return False
    return True


def participant_store_location(study: Study) -> StoreLocation:
    """Where a DuckDB engine finds the study's stores; a missing one is asked for (see the module docstring)."""

    def missing(catalog: StudyCatalog) -> None:
        participant_store_request(study.pk, store_digest(catalog))

    return StoreLocation(participant_store_directory(study.pk), missing)


def participant_store_wide(study: Study) -> bool:
    """Whether counts of the study's latest version set read a pre-joined store on this node (a scan without joins:
    fast enough for a live drop-off on studies too large for it over Parquet). Attaches the store to this process's
    DuckDB database if it was not yet (the count that follows reads it); a missing store is asked for."""
    if study.engine != Engine.DUCKDB or study.demographics_id is None:
        return False
    try:
        catalog = study_catalog(study, study_latest_versions(study), with_files=False)
    except ApiError:
        return False
    engine = engine_create(study, timeout_s=STORE_CHECK_SECONDS, store=participant_store_location(study))
    try:
        index = engine.store_index(catalog) if isinstance(engine, DuckDBEngine) else None
    finally:
        engine.close()
    return index is not None and index.wide


def participant_store_build(study_pk: int) -> str:
    """Build the store of the study's latest version set on this node (worker); returns what happened."""
    study = Study.objects.filter(pk=study_pk).select_related("demographics").first()
    if study is None or study.engine != Engine.DUCKDB or study.pk in study_ids_unusable():
        return "skipped"
    versions = study_latest_versions(study)
    try:
        catalog = study_catalog(study, versions)  # the Parquet files into this node's cache
    except ApiError as exc:  # no demographics yet, key columns not matching, a file unavailable
        logger.info("no participant index store for study %s: %s", study_pk, exc.code)
        return "skipped"
    directory = participant_store_directory(study.pk)
    budget = engine_budget()
    path, wrote = store_build(
        directory,
        catalog,
        memory_limit=budget.duckdb_memory_limit,
        threads=budget.threads,
        temp_directory=budget.spill_directory,
    )
    # A version deleted (or added) while the store was written: the set is no longer the study's, and its rows may
    # be deleted data; the file goes (the deletion's own removal may have run before the rename).
    if versions_fingerprint(study_latest_versions(study)) != versions_fingerprint(versions):
        stores_sweep(directory)
        path.unlink(missing_ok=True)
        return "stale"
    return "built" if wrote else "exists"


def _version_saved(sender: Any, instance: DatasetVersion, created: bool = False, **kwargs: Any) -> None:
    """A new version: its study's store is built once the registration commits."""
    if not created:
        return
    study_pk = instance.dataset.study_id
    transaction.on_commit(lambda: participant_store_request(study_pk))


def participant_store_signals_connect() -> None:
    """Connect the build after every new version (from ``QueriesConfig.ready``)."""
    post_save.connect(_version_saved, sender=DatasetVersion, dispatch_uid="queries-participant-store-build")
