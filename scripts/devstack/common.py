"""Paths, errors, console output and the ``.env`` / state files shared by the devstack modules."""

from __future__ import annotations

import importlib.util
import json
import os
import re
import secrets
import socket
import sys
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent.parent
BASE_PACKAGES = ("django", "psycopg", "redis", "dotenv", "dj_database_url", "celery", "psutil")
INSTALL_HINT = (
    "install the locked dependencies: {python} -m pip install -r requirements/base.txt -r requirements/dev.txt"
)


class DevstackError(Exception):
    """A failure reported as one line (no traceback) before exiting non-zero."""


@dataclass(frozen=True)
class Paths:
    """Where the checkout, its state directory (``.bdt/``) and its ``.env`` live."""

    root: Path
    state: Path
    env_file: Path

    @classmethod
    def from_environ(cls, environ: Mapping[str, str], root: Path = ROOT) -> Paths:
        """Honour ``BDT_STATE_DIR`` and ``BDT_ENV_FILE`` like the settings do (relative paths: from the checkout)."""
        state = Path(environ.get("BDT_STATE_DIR") or root / ".bdt")
        env_file = Path(environ.get("BDT_ENV_FILE") or root / ".env")
        return cls(root=root, state=(root / state).resolve(), env_file=(root / env_file).resolve())

    @property
    def logs(self) -> Path:
        """Log files of the processes ``run`` starts."""
        return self.state / "logs"

    @property
    def run_dir(self) -> Path:
        """Pid and lock files."""
        return self.state / "run"

    @property
    def pgdata(self) -> Path:
        """Data directory of the embedded PostgreSQL."""
        return self.state / "postgres"

    @property
    def redis_dir(self) -> Path:
        """Config, pid and dump files of the embedded Redis."""
        return self.state / "redis"

    @property
    def state_file(self) -> Path:
        """What kind of server each URL in ``.env`` points to (``local``, ``embedded``, ``env``)."""
        return self.state / "devstack.json"

    def ensure(self) -> None:
        """Create the state, log and run directories."""
        for path in (self.state, self.logs, self.run_dir):
            path.mkdir(parents=True, exist_ok=True)

    def short(self, path: Path) -> str:
        """``path`` relative to the checkout when inside it (for messages)."""
        try:
            return str(path.relative_to(self.root))
        except ValueError:
            return str(path)


def say(message: str) -> None:
    """Print a progress line."""
    print(f"[devstack] {message}", flush=True)


def warn(message: str) -> None:
    """Print a warning line to stderr."""
    print(f"[devstack] warning: {message}", file=sys.stderr, flush=True)


def one_line(exc: BaseException | str) -> str:
    """The first non-empty line of an exception message (libpq messages span several lines)."""
    text = str(exc).strip()
    return text.splitlines()[0].strip() if text else type(exc).__name__


def require_modules(names: Iterable[str]) -> None:
    """Fail with one line naming every missing package of the running interpreter."""
    missing = [name for name in names if importlib.util.find_spec(name) is None]
    if missing:
        raise DevstackError(
            f"the Python environment at {sys.prefix} lacks {', '.join(missing)}; "
            + INSTALL_HINT.format(python=sys.executable)
        )


# --- .env ----------------------------------------------------------------------------------------------------
_ENV_LINE = re.compile(r"^\s*(?:export\s+)?([A-Za-z_][A-Za-z0-9_]*)\s*=")


def env_file_read(path: Path) -> dict[str, str]:
    """The variables of a ``.env`` file (empty if absent)."""
    if not path.is_file():
        return {}
    from dotenv import dotenv_values

    return {key: value for key, value in dotenv_values(path).items() if value is not None}


def env_file_update(path: Path, values: Mapping[str, str]) -> None:
    """Set ``values`` in ``path``, keeping every other line (comments, the user's own variables) as it was."""
    lines = (
        path.read_text(encoding="utf-8").splitlines()
        if path.is_file()
        else [
            "# Written by scripts/devstack.py (make run): the services this checkout uses.",
            "# Real environment variables win over this file. Delete it to rediscover services.",
        ]
    )
    pending = dict(values)
    for index, line in enumerate(lines):
        match = _ENV_LINE.match(line)
        if match and match.group(1) in pending:
            key = match.group(1)
            lines[index] = f"{key}={_env_quote(pending.pop(key))}"
    lines.extend(f"{key}={_env_quote(value)}" for key, value in pending.items())
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text("\n".join(lines) + "\n", encoding="utf-8")
    tmp.replace(path)


def _env_quote(value: str) -> str:
    """Single-quote a value when it holds characters python-dotenv would interpret."""
    if re.fullmatch(r"[A-Za-z0-9_@%+=:,./?&-]*", value):
        return value
    return "'" + value.replace("'", "\\'") + "'"


def metrics_dir_reset(paths: Paths, environ: Mapping[str, str]) -> None:
    """Empty the Prometheus multiprocess directory before the stack starts (stale process files would add up)."""
    import shutil

    shutil.rmtree(environ.get("PROMETHEUS_MULTIPROC_DIR") or paths.state / "metrics", ignore_errors=True)


def secret_key_new() -> str:
    """A random Django secret key (67 URL-safe characters)."""
    return secrets.token_urlsafe(50)


# --- state file ----------------------------------------------------------------------------------------------
def state_load(paths: Paths) -> dict[str, Any]:
    """The recorded kind of each saved service (``{}`` if missing or unreadable)."""
    try:
        data = json.loads(paths.state_file.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def state_save(paths: Paths, data: Mapping[str, Any]) -> None:
    """Write the state file atomically."""
    paths.ensure()
    tmp = paths.state_file.with_name(paths.state_file.name + ".tmp")
    tmp.write_text(json.dumps(data, indent=2, sort_keys=True) + "\n", encoding="utf-8")
    tmp.replace(paths.state_file)


# --- TCP ports -----------------------------------------------------------------------------------------------
def port_busy(host: str, port: int) -> bool:
    """True when ``host:port`` cannot be bound (another server listens there)."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host, port))
        except OSError:
            return True
    return False


def port_free_pick(host: str = "127.0.0.1") -> int:
    """A TCP port the kernel considers free right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


def url_redact(url: str) -> str:
    """``url`` with any password replaced by ``***``."""
    return re.sub(r"(://[^:/@]*):[^@/]+@", r"\1:***@", url)


def env_flag(environ: Mapping[str, str], name: str) -> bool:
    """Read a boolean environment variable (1/true/yes/on)."""
    return environ.get(name, "").strip().lower() in {"1", "true", "yes", "on"}


def python_executable() -> str:
    """The interpreter for child processes: the one running devstack (the venv's, via the Makefile)."""
    return sys.executable or os.environ.get("PYTHON", "python3")


@dataclass
class Service:
    """One backing service as chosen by discovery."""

    name: str  # "PostgreSQL" or "Redis"
    url: str
    kind: str  # "env" (from the environment), "saved" (from .env), "local" or "embedded"
    detail: str  # human description for the summary
    started_here: bool = False  # an embedded server this invocation started (and must stop)
    pid: int | None = None  # pid of an embedded server

    def describe(self) -> str:
        """One line for the summary, e.g. ``local server 127.0.0.1:5432, database bdt``."""
        return self.detail
