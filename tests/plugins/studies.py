"""The studies several suites share: ``study`` ("memory": longitudinal, demographics and two measure tables) and
``gov`` (60 participants, an identifying column), with the governance helpers around "gov".

"memory" comes two ways. ``study`` registers it through the API in lab A inside the test's transaction (a private
copy: the test may upload, delete, re-key or grant). ``study_ro`` is one committed copy for the whole session, in a
workspace of its own (``lab-memory``), for tests that only read it (counts, runs, exports, pages): a test that asks
for ``study_ro`` gets that workspace as its ``tenant_a`` (tests/conftest.py), so its members, API clients and
``execute`` work there, and its storage root (when the test has its own) receives a copy of the study's files.
After every such test, and at the end of the session, the study's rows, grants and files are compared with what
was registered; any change fails loudly (use ``study`` for a test that changes the study).
"""

from __future__ import annotations

import hashlib
import shutil
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from django.conf import settings as django_settings
from django.db import DatabaseError, connection
from django.test import Client
from django_tenants.utils import tenant_context

from access.models import Grant
from access.services import grant_create
from datasets.models import Dataset, DatasetVersion, Study
from tenants.models import Tenant
from tests.conftest import ApiClient
from tests.csv_data import (
    MEMORY_COGNITIVE,
    MEMORY_DEMOGRAPHICS,
    MEMORY_FLANKER,
    gov_cognitive_csv,
    gov_demographics_csv,
)

MEMORY_FIELDS = {"age_column": "age", "sex_column": "sex", "site_column": "site"}
MEMORY_TABLES = (
    ("demographics", MEMORY_DEMOGRAPHICS, "demographics"),
    ("cognitive", MEMORY_COGNITIVE, "measure"),
    ("flanker", MEMORY_FLANKER, "measure"),
)
SHARED_LAB = ("lab-memory", "Lab Memory", "lab-memory.test")
SHARED_STEWARD = "memory-steward@example.org"


@pytest.fixture
def study(make_study: Any, upload: Any) -> str:
    """Study "memory" in lab A, private to the test (registered through the API inside its transaction)."""
    make_study("memory", **MEMORY_FIELDS)
    for name, text, kind in MEMORY_TABLES:
        _, ingest = upload("memory", text, name, kind=kind)
        assert ingest["status"] == "succeeded", ingest
    return "memory"


@dataclass(frozen=True)
class SharedStudy:
    """The committed read-only "memory": its workspace, its files (storage names, below the session's storage
    root) and the fingerprint every check compares with."""

    tenant: Tenant
    slug: str
    media_root: Path
    files: tuple[str, ...]
    fingerprint: dict[str, Any]


def _shared_fingerprint(tenant: Tenant, slug: str, media_root: Path) -> dict[str, Any]:
    """What must never change: the workspace's settings, the study's rows, datasets, versions and grants (as the
    current connection sees them, a test's open transaction included) and the bytes of the versions' files."""
    with tenant_context(tenant):
        found = Study.objects.filter(slug=slug)
        datasets = Dataset.all_objects.filter(study__slug=slug).order_by("pk")
        versions = DatasetVersion.all_objects.filter(dataset__study__slug=slug).order_by("pk")
        fingerprint = {
            "workspace": list(Tenant.objects.filter(pk=tenant.pk).values("slug", "settings", "kind")),
            "study": list(found.values()),
            "datasets": list(datasets.values()),
            "versions": list(versions.values()),
            "grants": list(Grant.objects.filter(study__slug=slug).order_by("pk").values()),
        }
        names = sorted({n for v in versions for n in (v.original_file, v.parquet_file) if n})
    connection.set_schema_to_public()
    fingerprint["files"] = {name: _sha256(media_root / name) for name in names}
    return fingerprint


def _sha256(path: Path) -> str | None:
    return hashlib.sha256(path.read_bytes()).hexdigest() if path.is_file() else None


def _shared_changes(shared: SharedStudy, keys: tuple[str, ...] = ()) -> list[str]:
    """The parts of the fingerprint (all, or ``keys``) that differ from the registered state. When the connection
    cannot be read (a test left its transaction failed), the files are compared alone."""
    try:
        now = _shared_fingerprint(shared.tenant, shared.slug, shared.media_root)
    except DatabaseError:
        connection.set_schema_to_public()
        files = shared.fingerprint["files"]
        now = {**shared.fingerprint, "files": {name: _sha256(shared.media_root / name) for name in files}}
    return [key for key in keys or tuple(shared.fingerprint) if now.get(key) != shared.fingerprint[key]]


#: What a test on the shared study may not change even inside its rolled-back transaction (the workspace's settings
#: may change there: they are rolled back and not the study's).
STUDY_PARTS = ("study", "datasets", "versions", "grants", "files")


@pytest.fixture(scope="session")
def _shared_memory(django_db_setup: None, django_db_blocker: Any) -> Iterator[SharedStudy]:
    """Register "memory" once, committed, in workspace ``lab-memory``; check at the end that it is unchanged."""
    from datasets.services import ingest_file_sync, study_create
    from tenants.roles import Role
    from tenants.services import membership_set, tenant_create, user_get_or_create
    from tests.datasets.storage_walk import walk

    media_root = Path(django_settings.MEDIA_ROOT)
    slug, name, domain = SHARED_LAB
    with django_db_blocker.unblock():
        tenant = tenant_create(slug=slug, name=name, domain=domain).tenant
        steward = user_get_or_create(email=SHARED_STEWARD, password="memory-correct-horse-9")
        membership_set(tenant=tenant, user=steward, role=Role.STEWARD)
        source = media_root.parent / f"{media_root.name}-memory-csv"
        source.mkdir(parents=True, exist_ok=True)
        with tenant_context(tenant):
            made = study_create(
                tenant=tenant,
                actor=steward,
                slug="memory",
                name="Memory",
                id_column="participant_id",
                session_column="session",
                **MEMORY_FIELDS,
            )
            for table, text, kind in MEMORY_TABLES:
                path = source / f"{table}.csv"
                path.write_text(text, encoding="utf-8")
                job = ingest_file_sync(study=made, path=path, dataset_name=table, kind=kind, actor=steward)
                assert job.status == "succeeded", job.error_message
            files = tuple(sorted(walk(f"tenants/{tenant.schema_name}/")))
        connection.set_schema_to_public()
        shutil.rmtree(source, ignore_errors=True)
        shared = SharedStudy(tenant, "memory", media_root, files, _shared_fingerprint(tenant, "memory", media_root))
    yield shared
    with django_db_blocker.unblock():
        changed = _shared_changes(shared)
    assert not changed, f"the shared read-only study 'memory' was changed during the session: {changed}"


@pytest.fixture
def study_ro(request: pytest.FixtureRequest, _shared_memory: SharedStudy, db: None) -> Iterator[str]:
    """Study "memory", committed once for the session, for tests that only read it (see the module docstring):
    the test's ``tenant_a`` is its workspace. Fails the test that changes it."""
    if "isolated_media" in request.fixturenames:
        request.getfixturevalue("isolated_media")
    root = Path(django_settings.MEDIA_ROOT)
    if root != _shared_memory.media_root:  # the test's own storage root: give it the study's files
        for name in _shared_memory.files:
            (root / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(_shared_memory.media_root / name, root / name)
    yield _shared_memory.slug
    changed = _shared_changes(_shared_memory, STUDY_PARTS)
    if changed:
        pytest.fail(
            f"{request.node.nodeid} changed the shared read-only study 'memory' ({', '.join(changed)}): "
            "a test that changes the study uses `study` (a private copy)",
            pytrace=False,
        )


@pytest.fixture
def gov(make_study: Any, upload: Any, tenant_a: Any) -> str:
    """Study "gov": 60 participants; demographics (with an identifying ``name``) and a ``cognitive`` measure."""
    make_study("gov", age_column="age", sex_column="sex")
    for name, text, kind in (
        ("demographics", gov_demographics_csv(), "demographics"),
        ("cognitive", gov_cognitive_csv(), "measure"),
    ):
        _, ingest = upload("gov", text, name, kind=kind)
        assert ingest["status"] == "succeeded", ingest
    return "gov"


def tag_identifying(tenant: Any, study: str, dataset: str, column: str) -> None:
    """Mark a column as identifying (the catalog's sensitivity tag)."""
    with tenant_context(tenant):
        ds = Dataset.objects.get(study__slug=study, name=dataset)
        ds.column_meta = {**ds.column_meta, column: {"sensitivity": "identifying"}}
        ds.save()
    connection.set_schema_to_public()


@pytest.fixture
def grant(tenant_a: Any, steward_api: ApiClient) -> Callable[..., Any]:
    """``grant(user, level, dataset=None|name, **kw)``: a grant by the fixture steward, through the service."""

    def _grant(
        user: Any = None, level: str = "query", dataset: str | None = None, study: str = "gov", **kw: Any
    ) -> Any:
        with tenant_context(tenant_a):
            target = Study.objects.get(slug=study)
            ds = Dataset.objects.get(study=target, name=dataset) if dataset else None
            made = grant_create(
                tenant=tenant_a, actor=steward_api.user, study=target, dataset=ds, user=user, level=level, **kw
            )
        connection.set_schema_to_public()
        return made

    return _grant


@pytest.fixture
def consortium_default(steward_api: ApiClient) -> Callable[[str], None]:
    """Set the study default for analysts (e.g. "metadata", like a consortium workspace)."""

    def _set(level: str = "metadata", study: str = "gov") -> None:
        response = steward_api.post(f"/api/v1/studies/{study}/defaults", {"level": level})
        assert response.status_code == 201, response.content

    return _set


@pytest.fixture
def analyst_at(
    api: Callable[..., ApiClient], tenant_a: Any, grant: Callable[..., Any], consortium_default: Callable[[str], None]
) -> Callable[[str], ApiClient]:
    """``analyst_at(level)``: an analyst whose level on every dataset of "gov" is exactly ``level``
    (the study default is set to metadata first)."""
    state = {"default_set": False}

    def _make(level: str) -> ApiClient:
        if not state["default_set"]:
            consortium_default("metadata")
            state["default_set"] = True
        client = api(tenant_a, "analyst")
        if level != "metadata":
            grant(client.user, level)
        return client

    return _make


@pytest.fixture
def browser_of(tenant_a: Any) -> Callable[[Any], Client]:
    """``browser_of(user)``: a signed-in browser (test client on lab A's host) for an existing member."""

    def _make(user: Any) -> Client:
        client = Client(HTTP_HOST=tenant_a.primary_domain_name() or "lab-a.test")
        client.force_login(user)
        client.user = user  # type: ignore[attr-defined]
        return client

    return _make
