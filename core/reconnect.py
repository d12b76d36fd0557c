"""Recording an outcome across a database restart.

A worker that loses its database connection in the middle of a job (PostgreSQL restarted, a failover) must still
leave the job in a clear state: failed with a code, or finished. :func:`with_reconnect` retries the write on a
fresh connection until the database answers again or ``within_seconds`` have passed.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import TypeVar

from django.db import DatabaseError, InterfaceError, OperationalError, connection

logger = logging.getLogger(__name__)
T = TypeVar("T")

RETRY_SECONDS = 0.5


def connection_lost(exc: BaseException | None) -> bool:
    """Whether ``exc`` (or what it was raised from) means the database connection is gone."""
    import psycopg

    seen = 0
    while exc is not None and seen < 10:
        if isinstance(exc, OperationalError | InterfaceError | psycopg.OperationalError | psycopg.InterfaceError):
            return True
        if isinstance(exc, DatabaseError) and "connection" in str(exc).lower():
            return True
        exc, seen = exc.__cause__ or exc.__context__, seen + 1
    return False


def with_reconnect(action: Callable[[], T], *, within_seconds: float = 60.0) -> T:
    """Run ``action``; while the database connection is lost, reconnect and retry (the tenant schema of the
    connection is kept: it is set again on the new connection)."""
    deadline = time.monotonic() + within_seconds
    while True:
        try:
            return action()
        except Exception as exc:
            if not connection_lost(exc) or time.monotonic() >= deadline or connection.in_atomic_block:
                raise
            logger.warning("database connection lost (%s); retrying", type(exc).__name__)
            connection.close()
            time.sleep(RETRY_SECONDS)
