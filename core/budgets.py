"""Process budgets: the memory, CPU and spill disk that the engine work of this process may use.

Every process has a role. ``worker`` is set by the Celery worker's start-up signals (``bdt_project.celery``);
everything else (the WSGI server, management commands, the test suite) is ``web``. The role picks the process budget
(``worker_memory_limit`` or ``web_memory_limit``) from which the engine settings are derived:

- DuckDB: ``memory_limit`` (``duckdb_memory_limit``, by default half the process budget: the other half is for
  Python, Arrow buffers and DuckDB's own untracked allocations), ``threads`` (``duckdb_threads`` on workers,
  ``web_duckdb_threads`` in the web), and a spill ``temp_directory`` of this process under ``BDT_WORK_DIR``
  capped at ``duckdb_spill_limit``;
- PostgreSQL: ``work_mem`` (``postgres_work_mem``) for engine queries, and ``statement_timeout``
  (``web_statement_timeout_seconds``) on the web process's own sessions;
- Spark: the driver JVM's heap (``spark_driver_memory``, at most the process budget), ``local[threads]`` with the
  DuckDB thread count when no ``spark_master`` is set, ``spark_shuffle_partitions``, and the spill directory as
  ``spark.local.dir``;
- the operating system: worker children get ``RLIMIT_AS`` (``worker_address_space_limit``), so an allocation
  that escapes every other limit fails in that process instead of pushing the machine into swap.

Sizes are written like DuckDB's: ``512MB``, ``6GB`` (powers of 1000) or ``4GiB`` (powers of 1024).
"""

from __future__ import annotations

import logging
import os
import re
import resource
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from django.conf import settings

from core.config import ConfigError, config_get

logger = logging.getLogger(__name__)

Role = Literal["web", "worker"]

_SIZE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([kmgt]?)(i?)b?\s*$", re.IGNORECASE)
_POWERS = {"": 0, "k": 1, "m": 2, "g": 3, "t": 4}
_state: dict[str, Any] = {"role": "web", "pool_child": False, "spill_swept": False}


def size_parse(text: str, *, key: str = "size") -> int:
    """Bytes of a size written like ``512MB``, ``6GB``, ``4GiB`` or ``1048576`` (raises ConfigError)."""
    match = _SIZE.match(str(text))
    if match is None:
        raise ConfigError(f"{key} must be a size such as 512MB or 6GB, not {text!r}")
    number, unit, binary = match.groups()
    base = 1024 if binary else 1000
    value = int(float(number) * base ** _POWERS[unit.lower()])
    if value <= 0:
        raise ConfigError(f"{key} must be larger than zero")
    return value


def size_text(value: int) -> str:
    """A size as DuckDB and PostgreSQL read it, in whole megabytes (``3000MB``)."""
    return f"{max(1, value // 1_000_000)}MB"


def setting_bytes(key: str) -> int:
    """A size setting in bytes."""
    return size_parse(str(config_get(key)), key=key)


def process_role() -> Role:
    """``worker`` inside a Celery worker, else ``web``."""
    return "worker" if _state["role"] == "worker" else "web"


def process_role_set(role: Role) -> None:
    """Declare what this process is (the Celery signals and the WSGI module call this)."""
    _state["role"] = role


def pool_child_mark() -> None:
    """This process is a Celery prefork child: the main process replaces it if it is killed."""
    _state["pool_child"] = True


def may_kill_self() -> bool:
    """Whether stuck work may end by killing this process (only a prefork child; never the web or a solo worker)."""
    return bool(_state["pool_child"])


def process_memory_budget() -> int:
    """The memory budget of this process's role, in bytes."""
    return setting_bytes("worker_memory_limit" if process_role() == "worker" else "web_memory_limit")


@dataclass(frozen=True)
class EngineBudget:
    """What one engine of this process may use."""

    process_bytes: int
    duckdb_memory_bytes: int
    threads: int
    spill_directory: Path
    spill_limit_bytes: int
    postgres_work_mem: str  # in PostgreSQL's syntax, e.g. "65536kB"
    spark_driver_memory_bytes: int = 1_000_000_000
    spark_shuffle_partitions: int = 4
    spark_master: str | None = None  # None: local[threads]

    @property
    def spark_driver_memory(self) -> str:
        """In the JVM's syntax (``1000m``)."""
        return f"{max(256, self.spark_driver_memory_bytes // 1_000_000)}m"

    @property
    def duckdb_memory_limit(self) -> str:
        return size_text(self.duckdb_memory_bytes)

    def duckdb_config(self) -> dict[str, Any]:
        """Connection configuration for ``duckdb.connect``: limits, spill directory, no extension downloads."""
        return {
            "memory_limit": self.duckdb_memory_limit,
            "threads": self.threads,
            "temp_directory": str(self.spill_directory),
            "max_temp_directory_size": size_text(self.spill_limit_bytes),
            "autoinstall_known_extensions": False,
            "autoload_known_extensions": False,
        }


def engine_budget() -> EngineBudget:
    """The engine budget of this process, from the current configuration."""
    process = process_memory_budget()
    configured = str(config_get("duckdb_memory_limit")).strip().lower()
    duck = process // 2 if configured in {"", "auto"} else size_parse(configured, key="duckdb_memory_limit")
    threads = int(config_get("duckdb_threads" if process_role() == "worker" else "web_duckdb_threads"))
    work_mem = size_parse(str(config_get("postgres_work_mem")), key="postgres_work_mem")
    return EngineBudget(
        process_bytes=process,
        duckdb_memory_bytes=min(duck, process),
        threads=threads,
        spill_directory=spill_directory(),
        spill_limit_bytes=setting_bytes("duckdb_spill_limit"),
        postgres_work_mem=f"{max(64, work_mem // 1024)}kB",
        spark_driver_memory_bytes=min(process, setting_bytes("spark_driver_memory")),
        spark_shuffle_partitions=int(config_get("spark_shuffle_partitions")),
        spark_master=str(config_get("spark_master")).strip() or None,
    )


def spill_root() -> Path:
    return Path(getattr(settings, "BDT_WORK_DIR", settings.BASE_DIR / ".bdt" / "work")) / "spill"


def spill_directory() -> Path:
    """This process's DuckDB spill directory (``<BDT_WORK_DIR>/spill/<pid>``); directories that processes which
    no longer exist left behind are removed the first time a process asks."""
    root = spill_root()
    if not _state["spill_swept"]:
        _state["spill_swept"] = True
        if root.is_dir():
            for child in root.iterdir():
                if child.name.isdigit() and not Path(f"/proc/{child.name}").exists():
                    shutil.rmtree(child, ignore_errors=True)
    path = root / str(os.getpid())
    path.mkdir(parents=True, exist_ok=True)
    return path


def address_space_ceiling_apply() -> int:
    """Cap this process's address space (``RLIMIT_AS``) at ``worker_address_space_limit``; children inherit it.
    Returns the limit in bytes."""
    limit = setting_bytes("worker_address_space_limit")
    _, hard = resource.getrlimit(resource.RLIMIT_AS)
    if hard != resource.RLIM_INFINITY:
        limit = min(limit, hard)
    resource.setrlimit(resource.RLIMIT_AS, (limit, hard))
    logger.info("address space of worker processes capped at %s", size_text(limit))
    return limit


_PAGE = os.sysconf("SC_PAGE_SIZE")


def resident_bytes(pid: int | None = None) -> int:
    """Resident memory of a process (this one by default), from /proc; 0 if it is gone."""
    try:
        with open(f"/proc/{pid or 'self'}/statm", encoding="ascii") as handle:
            return int(handle.read().split()[1]) * _PAGE
    except (OSError, IndexError, ValueError):
        return 0


def web_database_sessions_limit() -> None:
    """Give every database session of this (web) process ``statement_timeout``, so no page or API call can hold a
    database backend for longer than ``web_statement_timeout_seconds``."""
    from django.db.backends.signals import connection_created

    seconds = float(config_get("web_statement_timeout_seconds"))
    if seconds <= 0:
        return

    def _limit(sender: Any, connection: Any, **kwargs: Any) -> None:
        with connection.cursor() as cursor:
            cursor.execute("SELECT set_config('statement_timeout', %s, false)", [str(int(seconds * 1000))])

    connection_created.connect(_limit, weak=False, dispatch_uid="bdt-web-statement-timeout")
