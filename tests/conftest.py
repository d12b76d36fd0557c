"""Shared fixtures: real PostgreSQL (schemas), real Redis, tenants created once per session, API clients."""

from __future__ import annotations

import itertools
import shutil
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import redis
from django.conf import settings
from django.db import connection
from django.test import Client

from tenants.models import Tenant, User
from tenants.roles import Role
from tenants.services import membership_set, public_tenant_ensure, tenant_create, user_get_or_create
from tenants.tokens import api_token_create

pytest_plugins = [
    "tests.worker",
    "tests.plugins.datasets",
    "tests.plugins.studies",
    "tests.plugins.sharing",
    "tests.plugins.connectors",
    "tests.plugins.backups",
]

TENANT_A = ("lab-a", "Lab A", "lab-a.test")
TENANT_B = ("lab-b", "Lab B", "lab-b.test")
_counter = itertools.count(1)


@pytest.fixture(scope="session")
def django_db_setup(
    request: pytest.FixtureRequest, django_test_environment: None, django_db_blocker: Any
) -> Iterator[None]:
    """Create the test database (always: worker and browser tests need it without the django_db mark), then the
    public tenant and two lab tenants, committed, for the whole session."""
    from django.test.utils import setup_databases, teardown_databases

    redis.Redis.from_url(settings.CELERY_BROKER_URL).flushdb()
    shutil.rmtree(settings.MEDIA_ROOT, ignore_errors=True)  # files of an earlier run of this database
    for folder in (settings.BDT_CACHE_DIR, settings.BDT_WORK_DIR):  # and its cache and scratch (the test settings')
        if Path(folder).parent.name in {"test-cache", "test-work"}:
            shutil.rmtree(folder, ignore_errors=True)
    with django_db_blocker.unblock():
        db_cfg = setup_databases(verbosity=0, interactive=False, aliases={"default"}, serialized_aliases=set())
        public_tenant_ensure()
        for slug, name, domain in (TENANT_A, TENANT_B):
            tenant_create(slug=slug, name=name, domain=domain)
        connection.set_schema_to_public()
    yield
    with django_db_blocker.unblock():
        connection.set_schema_to_public()
        teardown_databases(db_cfg, verbosity=0)


@pytest.fixture(autouse=True)
def _public_schema_after_test() -> Iterator[None]:
    yield
    connection.set_schema_to_public()


@pytest.fixture
def tenant_a(request: pytest.FixtureRequest, django_db_setup: None, django_db_blocker: Any) -> Tenant:
    """Lab A; for a test on the shared read-only study (``study_ro``, tests/plugins/studies.py), that study's
    workspace, so the test's members, clients and runs are where the study is."""
    slug = request.getfixturevalue("_shared_memory").tenant.slug if "study_ro" in request.fixturenames else TENANT_A[0]
    with django_db_blocker.unblock():
        return Tenant.objects.get(slug=slug)


@pytest.fixture
def tenant_b(django_db_setup: None, django_db_blocker: Any) -> Tenant:
    with django_db_blocker.unblock():
        return Tenant.objects.get(slug=TENANT_B[0])


def unique_email(prefix: str = "user") -> str:
    """An e-mail address no other test uses."""
    return f"{prefix}{next(_counter)}@example.org"


PASSWORD = "correct-horse-battery-9"


@pytest.fixture
def make_member(db: None) -> Callable[..., User]:
    """Create a user with a password and make them a member of ``tenant`` with ``role``."""

    def _make(tenant: Tenant, role: str = Role.ANALYST, email: str | None = None) -> User:
        user = user_get_or_create(email=email or unique_email(role), password=PASSWORD)
        membership_set(tenant=tenant, user=user, role=role)
        connection.set_schema_to_public()
        return user

    return _make


@pytest.fixture
def page_client(make_member: Callable[..., User]) -> Callable[..., Client]:
    """``page_client(tenant, role, host=None)`` -> a test client signed in (session) as a new member of ``tenant``
    with ``role``, sending its requests to ``host`` (default: the tenant's own host). ``client.user`` is the member."""

    def _make(tenant: Tenant, role: str = Role.ANALYST, host: str | None = None) -> Client:
        user = make_member(tenant, role)
        client = Client(HTTP_HOST=host or tenant.primary_domain_name() or "")
        assert client.login(email=user.email, password=PASSWORD)
        client.user = user  # type: ignore[attr-defined]
        return client

    return _make


@pytest.fixture
def execute(tenant_a: Tenant) -> Callable[[int], str]:
    """``execute(run_id)``: run a queued query run of lab A to the end in this process (the worker path has its own
    tests); returns the final status."""
    from django_tenants.utils import tenant_context

    from queries.run_worker import query_run_execute

    def _execute(run_id: int) -> str:
        with tenant_context(tenant_a):
            status = query_run_execute(run_id)
        connection.set_schema_to_public()
        return status

    return _execute


@pytest.fixture
def make_token(db: None) -> Callable[..., str]:
    """Create a personal access token for a member; returns the plaintext."""

    def _make(user: User, tenant: Tenant, days: int | None = None) -> str:
        created = api_token_create(user=user, tenant=tenant, name="test", expires_days=days)
        connection.set_schema_to_public()
        return created.plaintext

    return _make


@dataclass
class ApiClient:
    """A Django test client speaking to one tenant host, optionally with a bearer token."""

    host: str
    token: str | None = None
    client: Client | None = None

    def __post_init__(self) -> None:
        self.client = self.client or Client(HTTP_HOST=self.host)

    def _headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"} if self.token else {}

    def get(self, path: str, **kwargs: Any) -> Any:
        return self.client.get(path, headers=self._headers(), **kwargs)  # type: ignore[union-attr]

    def delete(self, path: str, **kwargs: Any) -> Any:
        return self.client.delete(path, headers=self._headers(), **kwargs)  # type: ignore[union-attr]

    def post(self, path: str, data: Any = None, *, multipart: bool = False, **kwargs: Any) -> Any:
        """POST JSON by default; ``multipart=True`` sends ``data`` as a form (file uploads)."""
        if not multipart:
            kwargs.setdefault("content_type", "application/json")
        return self.client.post(path, data, headers=self._headers(), **kwargs)  # type: ignore[union-attr]

    def patch(self, path: str, data: Any = None, **kwargs: Any) -> Any:
        return self.client.patch(path, data, headers=self._headers(), content_type="application/json", **kwargs)  # type: ignore[union-attr]

    def put(self, path: str, data: Any = None, **kwargs: Any) -> Any:
        return self.client.put(path, data, headers=self._headers(), content_type="application/json", **kwargs)  # type: ignore[union-attr]


@pytest.fixture
def api(make_member: Callable[..., User], make_token: Callable[..., str]) -> Callable[..., ApiClient]:
    """``api(tenant, role)`` -> an ApiClient for a fresh member of ``tenant`` with ``role``."""

    def _make(tenant: Tenant, role: str = Role.ANALYST, user: User | None = None) -> ApiClient:
        member = user or make_member(tenant, role)
        token = make_token(member, tenant)
        client = ApiClient(host=tenant.primary_domain_name() or "", token=token)
        client.user = member  # type: ignore[attr-defined]
        return client

    return _make
