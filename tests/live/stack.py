"""A private copy of the whole platform for tests that break things: its own PostgreSQL cluster and Redis server
(``tests.live.servers``), gunicorn serving the web app, and a prefork Celery worker.

Every wait is bounded; everything started is stopped by pid at the end (also when a test fails half-way).
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib import error, request

from tests.live.servers import ROOT, PrivatePostgres, PrivateRedis, free_port, stop_process, wait_for

__all__ = ["ApiCaller", "LiveStack", "Response", "live_stack", "wait_for"]


@dataclass
class Response:
    status: int
    headers: dict[str, str]
    body: Any
    seconds: float


@dataclass
class Member:
    email: str
    token: str


@dataclass
class LiveStack:
    """The private platform. ``members[tenant][role]`` are API callers; hosts are ``<tenant>.test``."""

    base: Path
    postgres: PrivatePostgres
    redis_server: PrivateRedis
    database: str = "bdt_stack"
    members: dict[str, dict[str, Member]] = field(default_factory=dict)
    web: subprocess.Popen[bytes] | None = None
    worker: subprocess.Popen[bytes] | None = None
    web_port: int = 0
    web_env: dict[str, str] = field(default_factory=dict)
    worker_env: dict[str, str] = field(default_factory=dict)
    media: Path = field(init=False)

    def __post_init__(self) -> None:
        self.media = self.base / "media"
        self.logs = self.base / "logs"
        self.logs.mkdir(exist_ok=True)

    # --- environment and commands -------------------------------------------------------------------------
    def env(self, extra: dict[str, str] | None = None) -> dict[str, str]:
        keep = {k: v for k, v in os.environ.items() if not k.startswith(("BDT_", "DJANGO_", "CELERY_"))}
        return {
            **keep,
            "DJANGO_SETTINGS_MODULE": "bdt_project.settings.test",
            "DATABASE_URL": self.postgres.url(self.database),
            "REDIS_URL": self.redis_server.url,
            "BDT_TEST_REDIS_URL": self.redis_server.url,
            "BDT_TEST_MEDIA_ROOT": str(self.media),
            "BDT_WORK_DIR": str(self.base / "work"),
            "BDT_CACHE_DIR": str(self.base / "cache"),
            "BDT_ENV_FILE": str(self.base / "no.env"),
            "BDT_CONFIG_FILE": str(self.base / "no-bdt.toml"),
            "PYTHONUNBUFFERED": "1",
            **(extra or {}),
        }

    def manage(self, *args: str, timeout: float = 300) -> str:
        done = subprocess.run(
            [sys.executable, "manage.py", *args],
            cwd=ROOT,
            env=self.env(),
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )
        if done.returncode != 0:
            raise AssertionError(f"manage.py {args[0]} failed:\n{done.stdout[-2000:]}\n{done.stderr[-4000:]}")
        return done.stdout

    def python(self, code: str, timeout: float = 120) -> str:
        """Run Django code against the private stack (``manage.py shell -c``); returns stdout."""
        return self.manage("shell", "-c", code, timeout=timeout)

    def bootstrap(self) -> None:
        with self.postgres.connect("postgres") as conn:
            conn.execute(f'CREATE DATABASE "{self.database}"')
        self.manage("migrate_schemas", "--shared", "--noinput")
        output = self.python(BOOTSTRAP)
        self.members = {
            tenant: {role: Member(**member) for role, member in roles.items()}
            for tenant, roles in json.loads(output.strip().splitlines()[-1]).items()
        }

    # --- processes ------------------------------------------------------------------------------------------
    def start_web(self, extra: dict[str, str] | None = None) -> None:
        """gunicorn (2 processes x 4 threads) serving the app, as in production."""
        self.stop_web()
        self.web_port, self.web_env = free_port(), dict(extra or {})
        log = open(self.logs / "web.log", "ab")  # noqa: SIM115 - closed with the process
        self.web = subprocess.Popen(
            [
                sys.executable, "-m", "gunicorn", "bdt_project.wsgi:application", "--bind",
                f"127.0.0.1:{self.web_port}", "--worker-class", "gthread", "--workers", "2", "--threads", "4",
                "--timeout", "120", "--graceful-timeout", "5",
            ],
            cwd=ROOT, env=self.env(extra), stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
        )  # fmt: skip
        wait_for(lambda: self._health_answers(), timeout=60, what="gunicorn serving health")

    def _health_answers(self) -> bool:
        if self.web is not None and self.web.poll() is not None:
            raise AssertionError(f"gunicorn exited with {self.web.returncode}; see {self.logs / 'web.log'}")
        try:
            return self.get("/api/v1/health", host="platform.test", timeout=2).status in (200, 503)
        except OSError:
            return False

    def stop_web(self) -> None:
        stop_process(self.web)
        self.web = None

    def start_worker(self, extra: dict[str, str] | None = None, concurrency: int = 2) -> None:
        """A prefork Celery worker on every queue (the production pool)."""
        self.stop_worker()
        self.worker_env = dict(extra or {})
        log_path = self.logs / f"worker-{uuid.uuid4().hex[:6]}.log"
        log = open(log_path, "wb")  # noqa: SIM115 - closed with the process
        self.worker_log = log_path
        self.worker = subprocess.Popen(
            [
                sys.executable, "-m", "celery", "-A", "bdt_project", "worker", "-Q",
                "default,ingest,queries,interactive", "--pool", "prefork", "--concurrency", str(concurrency),
                "--loglevel", "INFO", "--without-gossip", "--without-mingle", "--without-heartbeat",
                "-n", f"live-{uuid.uuid4().hex[:6]}@localhost",
            ],
            cwd=ROOT, env=self.env(extra), stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
        )  # fmt: skip

        def ready() -> bool:
            if self.worker is not None and self.worker.poll() is not None:
                raise AssertionError(f"celery worker exited; see {log_path}")
            return " ready." in log_path.read_text(errors="replace")

        wait_for(ready, timeout=60, what="celery worker ready")

    def stop_worker(self) -> None:
        stop_process(self.worker, timeout=30)
        self.worker = None

    def worker_children(self) -> list[int]:
        if self.worker is None:
            return []
        try:
            text = Path(f"/proc/{self.worker.pid}/task/{self.worker.pid}/children").read_text()
        except OSError:
            return []
        return [int(pid) for pid in text.split()]

    def shutdown(self) -> None:
        self.stop_web()
        self.stop_worker()
        self.redis_server.stop()
        self.postgres.shutdown()

    # --- HTTP ---------------------------------------------------------------------------------------------
    def call(
        self,
        method: str,
        path: str,
        *,
        host: str,
        token: str | None = None,
        payload: Any = None,
        files: dict[str, tuple[str, bytes]] | None = None,
        form: dict[str, str] | None = None,
        timeout: float = 60,
    ) -> Response:
        headers = {"Host": host}
        data: bytes | None = None
        if token:
            headers["Authorization"] = f"Bearer {token}"
        if files is not None:
            boundary = uuid.uuid4().hex
            parts: list[bytes] = []
            for name, value in (form or {}).items():
                parts.append(
                    f'--{boundary}\r\nContent-Disposition: form-data; name="{name}"\r\n\r\n{value}\r\n'.encode()
                )
            for name, (filename, content) in files.items():
                head = (
                    f'--{boundary}\r\nContent-Disposition: form-data; name="{name}"; filename="{filename}"\r\n'
                    "Content-Type: text/csv\r\n\r\n"
                )
                parts.append(head.encode() + content + b"\r\n")
            data = b"".join(parts) + f"--{boundary}--\r\n".encode()
            headers["Content-Type"] = f"multipart/form-data; boundary={boundary}"
        elif payload is not None:
            data = json.dumps(payload).encode()
            headers["Content-Type"] = "application/json"
        url = f"http://127.0.0.1:{self.web_port}{path}"
        started = time.monotonic()
        try:
            with request.urlopen(request.Request(url, data=data, headers=headers, method=method), timeout=timeout) as r:
                status, raw, answer_headers = r.status, r.read(), dict(r.headers)
        except error.HTTPError as exc:
            status, raw, answer_headers = exc.code, exc.read(), dict(exc.headers)
        seconds = time.monotonic() - started
        try:
            body: Any = json.loads(raw) if raw else None
        except ValueError:
            body = raw
        return Response(status, answer_headers, body, seconds)

    def get(self, path: str, *, host: str, token: str | None = None, timeout: float = 60) -> Response:
        return self.call("GET", path, host=host, token=token, timeout=timeout)

    def api(self, tenant: str, role: str = "owner") -> ApiCaller:
        return ApiCaller(self, f"{tenant}.test", self.members[tenant][role].token)


@dataclass
class ApiCaller:
    """One member's API calls on their tenant's host."""

    stack: LiveStack
    host: str
    token: str

    def get(self, path: str, timeout: float = 60) -> Response:
        return self.stack.call("GET", path, host=self.host, token=self.token, timeout=timeout)

    def post(self, path: str, payload: Any = None, timeout: float = 60) -> Response:
        return self.stack.call("POST", path, host=self.host, token=self.token, payload=payload, timeout=timeout)

    def patch(self, path: str, payload: Any) -> Response:
        return self.stack.call("PATCH", path, host=self.host, token=self.token, payload=payload)

    def upload(self, study: str, name: str, content: bytes, kind: str = "measure") -> Response:
        return self.stack.call(
            "POST",
            f"/api/v1/studies/{study}/datasets",
            host=self.host,
            token=self.token,
            files={"file": (f"{name}.csv", content)},
            form={"name": name, "kind": kind},
            timeout=120,
        )

    def ingest_done(self, ingest_id: int, timeout: float = 120) -> dict[str, Any]:
        def finished() -> dict[str, Any] | None:
            body = self.get(f"/api/v1/ingests/{ingest_id}").body
            return body if isinstance(body, dict) and body.get("status") in ("succeeded", "failed") else None

        return dict(wait_for(finished, timeout=timeout, what=f"ingest {ingest_id} finished", step=0.2))

    def run_done(self, run_id: int, timeout: float = 180) -> dict[str, Any]:
        def finished() -> dict[str, Any] | None:
            body = self.get(f"/api/v1/queries/{run_id}").body
            return (
                body if isinstance(body, dict) and body.get("status") in ("succeeded", "failed", "cancelled") else None
            )

        return dict(wait_for(finished, timeout=timeout, what=f"run {run_id} finished", step=0.2))

    def run_status(self, run_id: int) -> str:
        return str(self.get(f"/api/v1/queries/{run_id}").body["status"])


BOOTSTRAP = """
import json
from django.db import connection
from tenants.services import membership_set, public_tenant_ensure, tenant_create, user_get_or_create
from tenants.tokens import api_token_create
public_tenant_ensure()
members = {}
for slug in ("lab-x", "lab-y"):
    tenant = tenant_create(slug=slug, name=slug.title(), domain=f"{slug}.test").tenant
    members[slug] = {}
    for role, membership in (("owner", "owner"), ("analyst", "analyst"), ("other", "analyst")):
        email = f"{role}@{slug}.test"
        user = user_get_or_create(email=email, password="live-stack-password-1")
        membership_set(tenant=tenant, user=user, role=membership)
        connection.set_schema_to_public()
        token = api_token_create(user=user, tenant=tenant, name="live").plaintext
        connection.set_schema_to_public()
        members[slug][role] = {"email": email, "token": token}
print(json.dumps(members))
"""


@contextlib.contextmanager
def live_stack() -> Iterator[LiveStack]:
    """Start the private servers and the platform on them; stop everything at the end."""
    base = Path(tempfile.mkdtemp(prefix="bdt-live-"))
    base.chmod(0o755)  # the postgres user must reach its data directory
    stack = LiveStack(base=base, postgres=PrivatePostgres(base), redis_server=PrivateRedis(base))
    try:
        stack.postgres.init()
        stack.postgres.start()
        stack.redis_server.start()
        stack.bootstrap()
        yield stack
    finally:
        stack.shutdown()
        keep = os.environ.get("BDT_KEEP_LIVE_STACK")
        if not keep:
            with contextlib.suppress(OSError):
                subprocess.run(["umount", "-l", str(base / "media")], capture_output=True, timeout=20, check=False)
            shutil.rmtree(base, ignore_errors=True)
