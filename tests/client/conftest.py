"""The Python client (clients/python) against the live test server (tests/live_server.py) and a real worker.

Everything here is committed (the server's threads cannot see a test transaction), in a workspace of its own
(``lab-client``, served as ``lab-client.localhost``: the client sends ``*.localhost`` to 127.0.0.1), with unique
e-mail addresses and study slugs, so no other test's counts change.
"""

from __future__ import annotations

import csv
import itertools
import os
import shutil
import subprocess
import sys
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from bdt_client import Client, RetryPolicy
from tests.live_server import LiveServer, live_server_running

CLIENT_TENANT = ("lab-client", "Lab Client", "lab-client.localhost")
_serial = itertools.count(1)


@pytest.fixture(scope="package")
def client_tenant(django_db_setup: None, django_db_blocker: Any) -> Any:
    """The client tests' workspace (created once, committed)."""
    from django.db import connection

    from tenants.services import tenant_create

    slug, name, domain = CLIENT_TENANT
    with django_db_blocker.unblock():
        tenant = tenant_create(slug=slug, name=name, domain=domain).tenant
        connection.set_schema_to_public()
    return tenant


@pytest.fixture(autouse=True)
def db(client_tenant: Any) -> None:
    """Replaces pytest-django's ``db`` here: the test database exists, but no test transaction wraps the test
    (the live server's threads could not see its data). Data is created committed, with unique names."""


@pytest.fixture(scope="package")
def live(django_db_setup: None, django_db_blocker: Any) -> Iterator[LiveServer]:
    with live_server_running(django_db_blocker) as server:
        yield server


@pytest.fixture(scope="package")
def workspace_url(live: LiveServer, client_tenant: Any) -> str:
    """The workspace's address as a user gives it to the client."""
    return live.url(CLIENT_TENANT[2], "").rstrip("/")


@dataclass(frozen=True)
class Member:
    email: str
    role: str
    token: str
    pk: int


@pytest.fixture(scope="package")
def make_client_member(client_tenant: Any, django_db_blocker: Any) -> Callable[..., Member]:
    """``make_client_member(role)`` -> a committed member of the client workspace with a personal access token."""
    from django.db import connection

    from tenants.services import membership_set, user_get_or_create
    from tenants.tokens import api_token_create

    def _make(role: str = "analyst") -> Member:
        email = f"client-{role}-{next(_serial)}-{uuid.uuid4().hex[:6]}@example.org"
        with django_db_blocker.unblock():
            user = user_get_or_create(email=email, password="client-correct-horse-9")
            membership_set(tenant=client_tenant, user=user, role=role)
            created = api_token_create(user=user, tenant=client_tenant, name="client tests", expires_days=None)
            connection.set_schema_to_public()
        return Member(email=email, role=role, token=created.plaintext, pk=user.pk)

    return _make


@pytest.fixture
def connect(workspace_url: str, make_client_member: Callable[..., Member]) -> Iterator[Callable[..., Client]]:
    """``connect(role="analyst", **options)`` -> a Client for a new member with that role (closed after the test)."""
    opened: list[Client] = []

    def _connect(role: str = "analyst", member: Member | None = None, **options: Any) -> Client:
        who = member or make_client_member(role)
        options.setdefault("retry", RetryPolicy(max_retries=3, max_wait=10.0, backoff=0.2))
        client = Client(workspace_url, who.token, **options)
        client.member = who  # type: ignore[attr-defined]
        opened.append(client)
        return client

    yield _connect
    for client in opened:
        client.close()


@contextmanager
def tenant_settings(tenant: Any, django_db_blocker: Any, **overrides: Any) -> Iterator[None]:
    """Workspace setting overrides (e.g. ``api_rate_limit``) for the duration of a block, then restored."""
    from tenants.models import Tenant

    with django_db_blocker.unblock():
        before = dict(Tenant.objects.get(pk=tenant.pk).settings or {})
        Tenant.objects.filter(pk=tenant.pk).update(settings={**before, **overrides})
    try:
        yield
    finally:
        with django_db_blocker.unblock():
            Tenant.objects.filter(pk=tenant.pk).update(settings=before)


# --- A committed cohort study with known data ---------------------------------------------------------------------

PEOPLE = 40
SESSIONS = ("BAS1", "FU1")


def cohort_tables() -> dict[str, list[dict[str, Any]]]:
    """Deterministic demographics (age, sex, site, visit date) and memory scores, for two sessions."""
    demographics, memory = [], []
    for i in range(1, PEOPLE + 1):
        for offset, session in enumerate(SESSIONS):
            pid = f"P{i:03d}"
            demographics.append(
                {
                    "participant_id": pid,
                    "session": session,
                    "age": 20 + (i * 7) % 50 + offset,
                    "sex": "F" if i % 2 else "M",
                    "site": "North" if i % 3 else "South",
                    "visit_date": f"2023-{1 + i % 12:02d}-{1 + i % 28:02d}",
                }
            )
            if (i + offset) % 5:  # some sessions without a memory test
                memory.append({"participant_id": pid, "session": session, "score": round((i * 13) % 100 + 0.5, 1)})
    return {"demographics": demographics, "memory": memory}


COHORT_SPEC: dict[str, Any] = {
    "filters": [
        {"dataset": "demographics", "column": "age", "op": "between", "value": [30, 60]},
        {"dataset": "memory", "column": "score", "op": "gte", "value": 40},
    ],
    "columns": {"memory": ["score"]},
}


def cohort_expected_keys() -> set[tuple[str, str]]:
    """The (participant, session) keys COHORT_SPEC selects, computed from the data (not by the platform)."""
    tables = cohort_tables()
    ages = {(r["participant_id"], r["session"]): r["age"] for r in tables["demographics"]}
    return {
        (r["participant_id"], r["session"])
        for r in tables["memory"]
        if r["score"] >= 40 and 30 <= ages[(r["participant_id"], r["session"])] <= 60
    }


def write_csv(path: Path, rows: list[dict[str, Any]]) -> Path:
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    return path


@dataclass(frozen=True)
class Cohort:
    slug: str
    expected_keys: set[tuple[str, str]] = field(default_factory=cohort_expected_keys)


def cohort_study_create(tenant: Any, django_db_blocker: Any, folder: Path, prefix: str = "cohort") -> str:
    """A committed longitudinal study ``<prefix>-<hex>`` with the tables of :func:`cohort_tables`; its slug."""
    from django.db import connection
    from django_tenants.utils import tenant_context

    from datasets.services import ingest_file_sync, study_create

    slug = f"{prefix}-{uuid.uuid4().hex[:6]}"
    with django_db_blocker.unblock(), tenant_context(tenant):
        study = study_create(
            tenant=tenant,
            actor=None,
            slug=slug,
            name=f"Client {prefix}",
            id_column="participant_id",
            session_column="session",
            age_column="age",
            sex_column="sex",
            site_column="site",
        )
        for name, rows in cohort_tables().items():
            kind = "demographics" if name == "demographics" else "measure"
            path = write_csv(folder / f"{slug}-{name}.csv", rows)
            job = ingest_file_sync(study=study, path=path, dataset_name=name, kind=kind)
            assert job.version is not None, job.error_message
    connection.set_schema_to_public()
    return slug


@pytest.fixture(scope="package")
def cohort(client_tenant: Any, django_db_blocker: Any, tmp_path_factory: pytest.TempPathFactory) -> Cohort:
    """The shared cohort study (every analyst has the default export level on it)."""
    return Cohort(slug=cohort_study_create(client_tenant, django_db_blocker, tmp_path_factory.mktemp("cohort")))


# --- The `bdt` command ------------------------------------------------------------------------------------------


@dataclass
class CliResult:
    code: int
    out: str
    err: str


class BdtCli:
    """Runs the installed ``bdt`` command in a subprocess, with a config file of its own (``BDT_CONFIG``) and no
    BDT_* variables of this process: ``bdt_cli(*args, env={...}, stdin=None)`` -> CliResult."""

    def __init__(self, home: Path) -> None:
        command = shutil.which("bdt", path=str(Path(sys.executable).parent))
        assert command, "the bdt command is missing: pip install -e ./clients/python (make test installs it)"
        self.command = command
        self.home = home

    def environment(self, extra: dict[str, str] | None = None) -> dict[str, str]:
        base = {k: v for k, v in os.environ.items() if not k.startswith("BDT_")}
        home = str(self.home)
        base.update({"HOME": home, "XDG_CONFIG_HOME": f"{home}/.config", "BDT_CONFIG": f"{home}/bdt.toml"})
        return {**base, **(extra or {})}

    def __call__(self, *args: str, env: dict[str, str] | None = None, stdin: str | None = None) -> CliResult:
        done = subprocess.run(
            [self.command, *args],
            env=self.environment(env),
            input=stdin,
            capture_output=True,
            text=True,
            timeout=300,
            check=False,
        )
        return CliResult(done.returncode, done.stdout, done.stderr)

    def start(self, *args: str, env: dict[str, str] | None = None) -> subprocess.Popen[str]:
        """The command running in the background (stdout and stderr piped)."""
        return subprocess.Popen(
            [self.command, *args],
            env=self.environment(env),
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )


@pytest.fixture
def bdt_cli(tmp_path: Path) -> BdtCli:
    home = tmp_path / "home"
    home.mkdir()
    return BdtCli(home)


def queued_run_create(tenant: Any, django_db_blocker: Any, member: Member, study: str) -> int:
    """A committed run of ``member`` that no worker will ever pick up (it is never enqueued): it stays queued."""
    from django.db import connection
    from django_tenants.utils import tenant_context

    from datasets.models import Study
    from queries.services import query_run_create
    from tenants.models import User

    with django_db_blocker.unblock(), tenant_context(tenant):
        run = query_run_create(
            tenant=tenant,
            actor=User.objects.get(pk=member.pk),
            study=Study.objects.get(slug=study),
            payload={"columns": {"memory": ["score"]}, "shape": "wide"},
            reuse=False,
            enqueue=False,
        )
    connection.set_schema_to_public()
    return run.pk
