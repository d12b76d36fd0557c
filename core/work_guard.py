"""A side thread that keeps one piece of engine work (a query run, an ingest) inside its limits.

Every ``poll_seconds`` it sends the heartbeat, asks whether the work was cancelled, and checks the time limit and
this process's resident memory. On the first breach it asks the work to stop (``interrupt(reason)``: DuckDB
interrupt, PostgreSQL cancel). Work stuck in native code may not notice; if it has not stopped after
``grace_seconds``, the guard records the outcome through ``on_kill(reason)`` (status, error, file clean-up) and,
in a Celery prefork child, kills the process: the main process starts a fresh child, and no other work shares the
killed one. Elsewhere (the web, a solo worker, the test suite) it only records the outcome and logs.

The guard's callbacks run in its own thread: they must use their own database connection (Django gives each
thread one) and be safe to call while the work is still running.
"""

from __future__ import annotations

import logging
import os
import signal
import threading
import time
from collections.abc import Callable
from typing import Literal

from core.budgets import may_kill_self, resident_bytes

logger = logging.getLogger(__name__)

Reason = Literal["cancelled", "timeout", "resource_limit"]


class WorkGuard(threading.Thread):
    """Watch one piece of work; see the module docstring. Use as a context manager around the work."""

    def __init__(
        self,
        *,
        name: str,
        interrupt: Callable[[Reason], None],
        on_kill: Callable[[Reason], None],
        grace_seconds: float,
        deadline_seconds: float | None = None,
        memory_limit_bytes: int | None = None,
        cancelled: Callable[[], bool] | None = None,
        heartbeat: Callable[[], None] | None = None,
        heartbeat_seconds: float = 1.0,
        poll_seconds: float = 0.25,
        on_exit: Callable[[], None] | None = None,
    ) -> None:
        super().__init__(daemon=True, name=name)
        self._interrupt, self._on_kill, self._on_exit = interrupt, on_kill, on_exit
        self._cancelled, self._heartbeat = cancelled, heartbeat
        self._grace, self._poll, self._beat_every = grace_seconds, poll_seconds, heartbeat_seconds
        self._memory_limit = memory_limit_bytes
        self._began = time.monotonic()
        self._deadline = None if deadline_seconds is None else self._began + deadline_seconds
        self._done = threading.Event()
        self.reason: Reason | None = None
        self.peak_bytes = 0
        self._stop_asked_at: float | None = None

    def __enter__(self) -> WorkGuard:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.finish()

    def finish(self) -> None:
        """The work ended (any way): stop watching."""
        self._done.set()
        if self.is_alive() and threading.current_thread() is not self:
            self.join(timeout=5)

    def _call(self, callback: Callable[..., object], *args: object) -> object:
        """A callback that fails (the database restarting) is logged; the guard keeps watching."""
        try:
            return callback(*args)
        except Exception:
            logger.warning("%s: %s failed", self.name, getattr(callback, "__name__", "callback"), exc_info=True)
            return None

    def _breach(self, now: float) -> Reason | None:
        if self._cancelled is not None and self._call(self._cancelled):
            return "cancelled"
        if self._deadline is not None and now >= self._deadline:
            return "timeout"
        if self._memory_limit is not None:
            current = resident_bytes()
            self.peak_bytes = max(self.peak_bytes, current)
            if current > self._memory_limit:
                return "resource_limit"
        return None

    def run(self) -> None:
        last_beat = time.monotonic()
        try:
            while not self._done.wait(self._poll):
                now = time.monotonic()
                if self._heartbeat is not None and now - last_beat >= self._beat_every:
                    last_beat = now
                    self._call(self._heartbeat)
                if self.reason is None:
                    reason = self._breach(now)
                    if reason is not None:
                        self.reason, self._stop_asked_at = reason, now
                        logger.warning("%s: %s; asking the engine to stop", self.name, reason)
                        self._call(self._interrupt, reason)
                elif self._stop_asked_at is not None and now - self._stop_asked_at >= self._grace:
                    self._kill()
                    return
        finally:
            if self._on_exit is not None:
                self._on_exit()

    def _kill(self) -> None:
        reason = self.reason or "timeout"
        logger.error("%s: the engine did not stop %.0f s after %s", self.name, self._grace, reason)
        try:
            self._on_kill(reason)
        except Exception:
            logger.exception("%s: could not record the outcome before killing the process", self.name)
        if may_kill_self():
            logger.error("%s: killing worker child %s", self.name, os.getpid())
            os.kill(os.getpid(), signal.SIGKILL)
