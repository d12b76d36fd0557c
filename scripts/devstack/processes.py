"""Process helpers: liveness (zombies count as dead), graceful stop with escalation, pid records."""

from __future__ import annotations

import contextlib
import os
import signal
import time
from pathlib import Path

import psutil


def pid_alive(pid: int | None) -> bool:
    """True while ``pid`` is a running (non-zombie) process."""
    if not pid or pid <= 0:
        return False
    try:
        return psutil.Process(pid).status() != psutil.STATUS_ZOMBIE
    except (psutil.NoSuchProcess, psutil.AccessDenied):
        return False


def pid_wait_gone(pid: int, timeout: float) -> bool:
    """Wait up to ``timeout`` seconds for ``pid`` to exit; True if it did."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not pid_alive(pid):
            return True
        time.sleep(0.1)
    return not pid_alive(pid)


def pid_stop(pid: int, first_signal: int = signal.SIGTERM, timeout: float = 20.0) -> bool:
    """Send ``first_signal`` to ``pid``, wait, then SIGKILL. True if the process was running."""
    if not pid_alive(pid):
        return False
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, first_signal)
    if not pid_wait_gone(pid, timeout):
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)
        pid_wait_gone(pid, 5.0)
    return True


def group_kill(pgid: int) -> None:
    """SIGKILL whatever is left in process group ``pgid`` (e.g. a worker's pool children)."""
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pgid, signal.SIGKILL)


def pid_record(path: Path, pid: int) -> None:
    """Write ``pid`` and its start time, so a later ``stop`` never signals a recycled pid."""
    try:
        started = psutil.Process(pid).create_time()
    except psutil.NoSuchProcess:
        return
    path.write_text(f"{pid} {started}\n", encoding="utf-8")


def pid_recorded(path: Path) -> int | None:
    """The pid in a record written by :func:`pid_record` if that very process still runs."""
    try:
        pid_text, started_text = path.read_text(encoding="utf-8").split()
        pid, started = int(pid_text), float(started_text)
        process = psutil.Process(pid)
        if abs(process.create_time() - started) > 1.0 or process.status() == psutil.STATUS_ZOMBIE:
            return None
    except (OSError, ValueError, psutil.NoSuchProcess, psutil.AccessDenied):
        return None
    return pid


def pidfile_read(path: Path) -> int | None:
    """The pid in a plain pid file (first token), or None."""
    try:
        return int(path.read_text(encoding="utf-8").split()[0])
    except (OSError, ValueError, IndexError):
        return None
