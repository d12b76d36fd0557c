"""`make run` serves like production: a real gunicorn (started here with the exact command line `make run` uses),
DEBUG off, static files served by WhiteNoise, and no database connection leak under concurrent requests.

The development server used to start a thread per request, and each thread left a PostgreSQL connection behind:
six-way concurrency ended in 500s (``too many clients``). gunicorn's threads are a fixed pool, so the number of
connections it holds is bounded by processes x threads whatever the load.
"""

from __future__ import annotations

import http.client
import os
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest
from django.conf import settings
from django.db import connection

from tenants.models import Tenant
from tenants.roles import Role
from tenants.services import membership_set, user_get_or_create
from tenants.tokens import api_token_create
from tests.conftest import TENANT_A

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "scripts"))

from devstack.run import web_command  # noqa: E402  (scripts/devstack is not an installed package)

WORKERS, THREADS = 2, 3
CONCURRENCY, ROUNDS = 12, 5


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _request(port: int, path: str, host: str, token: str | None = None) -> tuple[int, dict[str, str], bytes]:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
    try:
        headers = {"Host": host}
        if token:
            headers["Authorization"] = f"Bearer {token}"
        conn.request("GET", path, headers=headers)
        response = conn.getresponse()
        return response.status, {k.lower(): v for k, v in response.getheaders()}, response.read()
    finally:
        conn.close()


@pytest.fixture(scope="module")
def served(django_db_setup: None, django_db_blocker: Any, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    """A committed member with a token, and gunicorn serving the test database like `make run` does."""
    with django_db_blocker.unblock():
        tenant = Tenant.objects.get(slug=TENANT_A[0])
        user = user_get_or_create(email=f"serving-{uuid.uuid4().hex[:8]}@example.org")
        membership_set(tenant=tenant, user=user, role=Role.ANALYST)
        token = api_token_create(user=user, tenant=tenant, name="serving").plaintext
        connection.set_schema_to_public()
        db = connection.settings_dict
    app_name = f"bdt-serving-{uuid.uuid4().hex[:8]}"
    static_root = tmp_path_factory.mktemp("static")
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "bdt_project.settings.local",  # what `make run` serves with
        "DATABASE_URL": (
            f"postgres://{db['USER']}@{db['HOST'] or '127.0.0.1'}:{db['PORT'] or 5432}/{db['NAME']}"
            f"?application_name={app_name}"
        ),
        "REDIS_URL": settings.CACHES["default"]["LOCATION"],
        "DJANGO_STATIC_ROOT": str(static_root),
        "DJANGO_DEBUG": "0",  # what `make run` sets for its children
        "BDT_DEV_WEB_WORKERS": str(WORKERS),
        "BDT_DEV_WEB_THREADS": str(THREADS),
        "PYTHONUNBUFFERED": "1",
    }
    subprocess.run(
        [sys.executable, "manage.py", "collectstatic", "--noinput", "-v", "0"], cwd=ROOT, env=env, check=True
    )
    port = _free_port()
    log = open(tmp_path_factory.mktemp("gunicorn") / "web.log", "wb")  # noqa: SIM115
    argv = web_command(sys.executable, "127.0.0.1", port, dev=False, environ=env)
    process = subprocess.Popen(argv, cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    try:
        deadline = time.monotonic() + 90
        while True:
            assert process.poll() is None, f"gunicorn exited with {process.returncode}; see {log.name}"
            try:
                if _request(port, "/api/v1/health", "lab-a.test")[0] == 200:
                    break
            except OSError:
                pass
            assert time.monotonic() < deadline, f"gunicorn did not answer within 90 s; see {log.name}"
            time.sleep(0.3)
        yield type("Served", (), {"port": port, "token": token, "argv": argv, "app_name": app_name, "log": log.name})
    finally:
        process.terminate()
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, 9)
            process.wait(timeout=5)
        log.close()


def _connections(django_db_blocker: Any, app_name: str) -> int:
    with django_db_blocker.unblock(), connection.cursor() as cursor:
        cursor.execute("SELECT count(*) FROM pg_stat_activity WHERE application_name = %s", [app_name])
        return int(cursor.fetchone()[0])


def test_make_run_serves_with_gunicorn_and_the_dev_mode_with_autoreload() -> None:
    production = web_command("python", "127.0.0.1", 8000, dev=False, environ={})
    assert production[1:4] == ["-m", "gunicorn", "bdt_project.wsgi:application"]
    assert "gthread" in production and "--noreload" not in production
    development = web_command("python", "127.0.0.1", 8000, dev=True, environ={})
    assert development[1:3] == ["manage.py", "runserver"] and "--noreload" not in development  # autoreload on


def test_concurrent_requests_neither_fail_nor_leak_connections(served: Any, django_db_blocker: Any) -> None:
    statuses: list[int] = []
    most = 0
    with ThreadPoolExecutor(max_workers=CONCURRENCY) as pool:
        for _ in range(ROUNDS):
            paths = ["/api/v1/me", "/api/v1/studies", "/", "/api/v1/no-such-endpoint"] * (CONCURRENCY // 4)
            results = list(pool.map(lambda p: _request(served.port, p, "lab-a.test", served.token), paths))
            statuses += [status for status, _, _ in results]
            most = max(most, _connections(django_db_blocker, served.app_name))
    assert len(statuses) == CONCURRENCY * ROUNDS
    assert not [s for s in statuses if s >= 500], statuses
    assert statuses.count(200) >= CONCURRENCY * ROUNDS // 2  # /me and /studies answer; / redirects; 404 for the rest
    # A fixed pool: never more connections than gunicorn has threads, however many requests were served.
    assert 0 < most <= WORKERS * THREADS, most


def test_debug_is_off_and_static_files_are_served(served: Any) -> None:
    status, _, body = _request(served.port, "/no-such-page/", "platform.test")
    assert status == 404 and b"URLconf" not in body and b"no-such-page" not in body  # DEBUG lists URL patterns
    status, headers, body = _request(served.port, "/static/css/app.css", "lab-a.test")
    assert status == 200 and headers["content-type"].startswith("text/css")
    assert body == (ROOT / "static" / "css" / "app.css").read_bytes()
    assert "max-age" in headers.get("cache-control", "")  # WhiteNoise's caching headers


def test_host_names_are_case_insensitive_on_the_real_server(served: Any) -> None:
    lower = _request(served.port, "/api/v1/me", "lab-a.test", served.token)
    upper = _request(served.port, "/api/v1/me", "LAB-A.Test", served.token)
    assert lower[0] == upper[0] == 200 and lower[2] == upper[2]
