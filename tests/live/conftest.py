"""The live stack (private PostgreSQL + Redis, gunicorn, prefork worker), started once for these tests."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.live.data import cohort_csv, incident_csv, study_with_data
from tests.live.stack import LiveStack, live_stack

#: The worker's budget, scaled for CI: a child may hold 1.5 GB resident and 8 GB of address space (the kernel's
#: ceiling, so a failure cannot starve the machine); stuck work is killed 3 s after its limit.
WORKER_ENV = {
    "BDT_WORKER_MEMORY_LIMIT": "1500MB",
    "BDT_WORKER_ADDRESS_SPACE_LIMIT": "8GB",
    "BDT_ENGINE_KILL_GRACE_SECONDS": "3",
}


@pytest.fixture(scope="session")
def stack() -> Iterator[LiveStack]:
    with live_stack() as started:
        started.start_web()
        started.start_worker(WORKER_ENV)
        yield started


@pytest.fixture(autouse=True)
def _services_up(stack: LiveStack) -> Iterator[None]:
    """Whatever a test broke, the next one starts with every service answering."""
    yield
    if stack.redis_server.process is None or stack.redis_server.process.poll() is not None:
        stack.redis_server.start()
    try:
        stack.postgres.connect("postgres").close()
    except Exception:
        stack.postgres.start()
    if stack.web is None or stack.web.poll() is not None:
        stack.start_web(stack.web_env)
    if stack.worker is None or stack.worker.poll() is not None:
        stack.start_worker(stack.worker_env)


@pytest.fixture(scope="session")
def studies(stack: LiveStack) -> dict[str, str]:
    """lab-x: ``incident`` (10 participants x 1,237 sessions x 8 values), ``cohort`` (20,000 participants);
    lab-y: ``small`` (400 participants)."""
    study_with_data(stack.api("lab-x"), "incident", incident_csv(), sessions=True)
    study_with_data(stack.api("lab-x"), "cohort", cohort_csv(20_000), sessions=False)
    study_with_data(stack.api("lab-y"), "small", cohort_csv(400), sessions=False)
    return {"incident": "incident", "cohort": "cohort", "small": "small"}
