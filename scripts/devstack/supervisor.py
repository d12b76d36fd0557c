"""Child processes of ``run``: each in its own process group, logs under ``.bdt/logs``, stopped on Ctrl-C/SIGTERM."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from types import FrameType
from typing import IO

from .common import DevstackError, Paths, say
from .processes import group_kill, pid_record

STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)


class ShutdownRequested(Exception):
    """Raised in the main thread by the first SIGINT/SIGTERM/SIGHUP."""

    def __init__(self, signum: int) -> None:
        super().__init__(signal.Signals(signum).name)
        self.signum = signum


@dataclass
class Child:
    """A process started by the supervisor."""

    name: str
    popen: subprocess.Popen[bytes]
    log: Path | None
    stop_signal: int = signal.SIGTERM
    stop_timeout: float = 20.0
    ready_marker: str | None = None
    ready_message: str | None = None
    ready: bool = False
    threads: list[threading.Thread] = field(default_factory=list)


def log_rotate(path: Path) -> None:
    """Keep the previous run's log as ``<name>.1``."""
    if path.exists() and path.stat().st_size:
        path.replace(path.with_name(path.name + ".1"))


def log_tail(path: Path, lines: int = 20) -> str:
    """The last ``lines`` lines of a log file."""
    try:
        text = path.read_text(encoding="utf-8", errors="replace")
    except OSError:
        return ""
    return "\n".join(text.splitlines()[-lines:])


def _tee(source: IO[bytes], sink: IO[bytes]) -> None:
    """Copy a child's output line by line to the terminal and to its log file."""
    with contextlib.suppress(OSError, ValueError):
        for line in iter(source.readline, b""):
            sys.stdout.buffer.write(line)
            sys.stdout.buffer.flush()
            sink.write(line)
            sink.flush()
    with contextlib.suppress(OSError):
        sink.close()


class Supervisor:
    """Starts, watches and stops the processes of one ``run``."""

    def __init__(self, paths: Paths, env: Mapping[str, str]) -> None:
        self.paths = paths
        self.env = dict(env)
        self.children: list[Child] = []
        self.stopping = False
        self.force = False
        self.watched: dict[str, Callable[[], bool]] = {}

    # --- signals -------------------------------------------------------------------------------------------
    def signals_install(self) -> None:
        """The first stop signal raises :class:`ShutdownRequested`; later ones only hurry the shutdown."""
        for signum in STOP_SIGNALS:
            signal.signal(signum, self._on_signal)

    def _on_signal(self, signum: int, frame: FrameType | None) -> None:
        if self.stopping:
            self.force = True
            return
        self.stopping = True
        raise ShutdownRequested(signum)

    # --- starting ------------------------------------------------------------------------------------------
    def spawn(
        self,
        name: str,
        argv: Sequence[str],
        *,
        log: Path | None,
        tee: bool = False,
        append: bool = False,
        stop_timeout: float = 20.0,
        ready_marker: str | None = None,
        ready_message: str | None = None,
    ) -> Child:
        """Start ``argv`` in a new session (its own process group), output to ``log`` (and the terminal if ``tee``)."""
        sink: IO[bytes] | None = None
        if log is not None:
            if not append:
                log_rotate(log)
            sink = open(log, "ab")  # noqa: SIM115 - closed below or by the tee thread
        stdout: int | IO[bytes] | None = subprocess.PIPE if tee else sink
        try:
            popen = subprocess.Popen(
                list(argv),
                cwd=self.paths.root,
                env=self.env,
                stdin=subprocess.DEVNULL,
                stdout=stdout,
                stderr=subprocess.STDOUT if stdout is not None else None,
                start_new_session=True,
            )
        except OSError as exc:
            if sink:
                sink.close()
            raise DevstackError(f"could not start {name}: {exc}") from exc
        child = Child(
            name, popen, log, stop_timeout=stop_timeout, ready_marker=ready_marker, ready_message=ready_message
        )
        if tee and popen.stdout is not None and sink is not None:
            thread = threading.Thread(target=_tee, args=(popen.stdout, sink), name=f"tee-{name}", daemon=True)
            thread.start()
            child.threads.append(thread)
        elif sink is not None:
            sink.close()
        self.children.append(child)
        pid_record(self.paths.run_dir / f"{name}.pid", popen.pid)
        return child

    def run_step(self, name: str, title: str, argv: Sequence[str], log: Path) -> str:
        """Run a one-shot command to completion (output appended to ``log``); return its output."""
        offset = log.stat().st_size if log.exists() else 0
        with open(log, "ab") as handle:
            handle.write(f"\n===== {title}: {' '.join(argv[1:])}\n".encode())
        started = time.monotonic()
        child = self.spawn(name, argv, log=log, append=True)
        code = child.popen.wait()
        self._forget(child)
        output = log.read_bytes()[offset:].decode("utf-8", errors="replace")
        if code != 0:
            print("\n".join(output.splitlines()[-25:]), file=sys.stderr)
            raise DevstackError(f"{title} failed (exit code {code}); full output in {self.paths.short(log)}")
        say(f"{title}: done in {time.monotonic() - started:.1f} s")
        return output

    # --- watching ------------------------------------------------------------------------------------------
    def watch(self, interval: float = 0.5) -> str:
        """Block until a child or watched service dies; return a sentence saying which."""
        while True:
            for child in self.children:
                code = child.popen.poll()
                if code is not None:
                    where = (
                        f"; last lines of {self.paths.short(child.log)}:\n{log_tail(child.log)}" if child.log else ""
                    )
                    return f"{child.name} exited unexpectedly (exit code {code}){where}"
                self._ready_check(child)
            for name, alive in self.watched.items():
                if not alive():
                    return f"{name} stopped unexpectedly"
            time.sleep(interval)

    def _ready_check(self, child: Child) -> None:
        if child.ready or not child.ready_marker or child.log is None:
            return
        with contextlib.suppress(OSError):
            if child.ready_marker in child.log.read_text(encoding="utf-8", errors="replace"):
                child.ready = True
                if child.ready_message:
                    say(child.ready_message)

    def alive(self, name: str) -> bool:
        """True while the child called ``name`` runs."""
        return any(child.name == name and child.popen.poll() is None for child in self.children)

    # --- stopping ------------------------------------------------------------------------------------------
    def stop_all(self) -> None:
        """Stop every child, newest first, and wait for each (no orphans: the whole group is killed at the end)."""
        self.stopping = True
        for child in reversed(list(self.children)):
            self._stop(child)

    def _stop(self, child: Child) -> None:
        pid = child.popen.pid
        if child.popen.poll() is None:
            say(f"stopping {child.name} (pid {pid}) ...")
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, child.stop_signal)
            deadline = time.monotonic() + child.stop_timeout
            while child.popen.poll() is None and time.monotonic() < deadline and not self.force:
                time.sleep(0.1)
            if child.popen.poll() is None:
                say(f"{child.name} did not stop in time; killing it")
                group_kill(pid)
            with contextlib.suppress(subprocess.TimeoutExpired):
                child.popen.wait(timeout=10)
        group_kill(pid)  # anything left in its process group (e.g. a worker's pool processes)
        for thread in child.threads:
            thread.join(timeout=5)
        self._forget(child)

    def _forget(self, child: Child) -> None:
        if child in self.children:
            self.children.remove(child)
        record = self.paths.run_dir / f"{child.name}.pid"
        with contextlib.suppress(OSError):
            record.unlink()
