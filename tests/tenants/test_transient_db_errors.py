"""A real deadlock between two transactions is reported as a retryable 503 ("busy"), never as a bare 500."""

from __future__ import annotations

import threading
from typing import Any

from django.db import DatabaseError, connection, connections

from core.errors import database_failure


def _deadlock_once() -> BaseException:
    """Two connections lock two rows in opposite orders; PostgreSQL aborts one of them. Returns that error.

    The probe table is created and dropped here, committed (outside any test transaction).
    """
    with connection.cursor() as cursor:
        cursor.execute("CREATE TABLE IF NOT EXISTS public.bdt_deadlock_probe (id int PRIMARY KEY)")
        cursor.execute("INSERT INTO public.bdt_deadlock_probe VALUES (1), (2) ON CONFLICT DO NOTHING")
    both_locked_first = threading.Barrier(2, timeout=20)
    errors: list[BaseException] = []

    def worker(first: int, second: int) -> None:
        conn = connections.create_connection("default")
        try:
            with conn.cursor() as cursor:
                conn.set_autocommit(False)
                cursor.execute("SELECT id FROM public.bdt_deadlock_probe WHERE id = %s FOR UPDATE", [first])
                both_locked_first.wait()
                cursor.execute("SELECT id FROM public.bdt_deadlock_probe WHERE id = %s FOR UPDATE", [second])
                conn.rollback()
        except DatabaseError as exc:
            errors.append(exc)
            conn.rollback()
        finally:
            conn.close()

    threads = [threading.Thread(target=worker, args=pair) for pair in ((1, 2), (2, 1))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    with connection.cursor() as cursor:
        cursor.execute("DROP TABLE IF EXISTS public.bdt_deadlock_probe")
    assert len(errors) == 1, errors
    return errors[0]


def test_deadlock_is_a_retryable_busy_answer(django_db_setup: None, django_db_blocker: Any) -> None:
    with django_db_blocker.unblock():
        error = _deadlock_once()
    failure = database_failure(error)
    assert failure is not None
    status, code, message = failure
    assert (status, code) == (503, "busy")
    assert "nothing was saved" in message and "Try again" in message


def test_other_database_errors_stay_internal_errors(django_db_setup: None, django_db_blocker: Any) -> None:
    error: Any = None
    with django_db_blocker.unblock():
        try:
            with connection.cursor() as cursor:
                cursor.execute("SELECT 1 / 0")
        except DatabaseError as exc:
            error = exc
    assert error is not None
    assert database_failure(error) is None
