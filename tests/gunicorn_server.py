"""A real gunicorn server (separate processes, like production) on the session's test database.

Used by the API fuzzing and the monitoring tests: requests travel over loopback TCP to gunicorn workers that load
the test settings, share the suite's Prometheus metrics directory, and log JSON lines to a file the tests read.
Data the server must see is created committed (``django_db_blocker.unblock()``), in tenants of the tests' own.
"""

from __future__ import annotations

import http.client
import json
import os
import socket
import subprocess
import sys
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from django.conf import settings

ROOT = Path(__file__).resolve().parent.parent


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class LiveServer:
    """A running gunicorn: ``request(host, method, path, ...)`` -> (status, headers, body bytes)."""

    port: int
    process: subprocess.Popen[bytes]
    log_path: Path
    env: Mapping[str, str] = field(default_factory=dict)

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def request(
        self,
        host: str,
        method: str,
        path: str,
        *,
        body: Any = None,
        headers: Mapping[str, str] | None = None,
    ) -> tuple[int, dict[str, str], bytes]:
        connection = http.client.HTTPConnection("127.0.0.1", self.port, timeout=60)
        sent = {"Host": host, **(headers or {})}
        payload = None
        if body is not None:
            payload = json.dumps(body).encode()
            sent.setdefault("Content-Type", "application/json")
        try:
            connection.request(method, path, body=payload, headers=sent)
            response = connection.getresponse()
            return response.status, {k.lower(): v for k, v in response.getheaders()}, response.read()
        finally:
            connection.close()

    def log_lines(self) -> list[dict[str, Any]]:
        """The JSON log lines the server wrote so far (lines that are not JSON are skipped)."""
        lines = []
        for raw in self.log_path.read_text(encoding="utf-8", errors="replace").splitlines():
            if raw.startswith("{"):
                try:
                    lines.append(json.loads(raw))
                except ValueError:
                    continue
        return lines

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()  # our own child, by its pid: graceful shutdown closes DB connections
            try:
                self.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=10)


def server_start(
    db_name: str, name: str, *, workers: int = 2, extra_env: Mapping[str, str] | None = None
) -> LiveServer:
    """Start gunicorn (gthread workers) on a free loopback port against ``db_name``; wait until health answers."""
    port = free_port()
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "bdt_project.settings.test",
        "BDT_TEST_DB_NAME": db_name,
        "DJANGO_LOG_LEVEL": "INFO",
        "DJANGO_LOG_FORMAT": "json",
        **(extra_env or {}),
    }
    env.pop("DJANGO_ALLOW_ASYNC_UNSAFE", None)
    log_path = Path(settings.TEST_LOG_DIR) / f"server-{name}.log"  # per test database: shards run side by side
    log_path.parent.mkdir(parents=True, exist_ok=True)
    log = open(log_path, "wb")  # noqa: SIM115 - handed to the child
    process = subprocess.Popen(
        [
            sys.executable, "-m", "gunicorn", "bdt_project.wsgi:application", "--bind", f"127.0.0.1:{port}",
            "--workers", str(workers), "--threads", "4", "--worker-class", "gthread", "--timeout", "120",
            "--keep-alive", "75",
            "--graceful-timeout", "10",
        ],
        cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT,
    )  # fmt: skip
    log.close()
    server = LiveServer(port=port, process=process, log_path=log_path, env=env)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"gunicorn exited with {process.returncode}; see {log_path}")
        try:
            status, _, _ = server.request("localhost", "GET", "/api/v1/health")
            if status == 200:
                return server
        except OSError:
            pass
        time.sleep(0.3)
    server.stop()
    raise RuntimeError(f"gunicorn did not answer within 60 s; see {log_path}")
