"""Waiting for jobs on the platform's workers (query runs, ingests): polling with a growing interval."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TypeVar

from bdt_client.errors import WaitTimeout

T = TypeVar("T")


@dataclass(frozen=True)
class Backoff:
    """Poll after ``first`` seconds, then each time ``factor`` times longer, never more than ``longest``."""

    first: float = 0.25
    factor: float = 1.5
    longest: float = 5.0

    def intervals(self) -> Callable[[], float]:
        current = self.first

        def next_interval() -> float:
            nonlocal current
            value = current
            current = min(self.longest, current * self.factor)
            return value

        return next_interval


def poll_until(
    fetch: Callable[[], T],
    *,
    finished: Callable[[T], bool],
    describe: Callable[[T], tuple[str, int, str]],
    timeout: float | None = None,
    on_update: Callable[[T], None] | None = None,
    backoff: Backoff | None = None,
) -> T:
    """Call ``fetch`` until ``finished`` says so; ``on_update`` sees every state (the first one too).

    ``describe(state)`` -> (kind, id, status), used to report a :class:`WaitTimeout` when ``timeout`` seconds pass.
    """
    deadline = None if timeout is None else time.monotonic() + timeout
    next_interval = (backoff or Backoff()).intervals()
    while True:
        state = fetch()
        if on_update is not None:
            on_update(state)
        if finished(state):
            return state
        pause = next_interval()
        if deadline is not None:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                kind, job_id, status = describe(state)
                raise WaitTimeout(kind, job_id, status, timeout or 0.0)
            pause = min(pause, remaining)
        time.sleep(pause)
