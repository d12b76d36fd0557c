"""Long interactive reads never hold a web process's engine slot without bound: a read of a result is stopped at
its time limit (504 ``timeout``, as a count), and a user's admission lease stays held exactly while its work runs,
however long, then is released (a flood cannot take more slots by outlasting the lease)."""

from __future__ import annotations

import threading
from typing import Any

import duckdb
import pytest

from core import admission
from core.admission import TooBusy, interactive_slot
from queries import results
from queries.results import ReadTimeout, timed_reader

pytestmark = pytest.mark.django_db

#: A statement that runs until it is interrupted (a cross join counted row by row: no shortcut in DuckDB).
ENDLESS = "SELECT count(*) FROM range(1000000000) a, range(1000000) b WHERE (a.range + b.range) % 7 = 3"


def test_a_read_past_its_time_limit_is_interrupted_with_the_timeout_error() -> None:
    with timed_reader(0.5) as reader, pytest.raises(ReadTimeout) as info:
        reader.fetchall(ENDLESS)
    assert info.value.status == 504 and info.value.code == "timeout"
    assert "0.5 s" in info.value.message and "SELECT" not in info.value.message
    with timed_reader(5) as reader:  # the reader answers the next read
        assert reader.fetchall("SELECT 42") == [(42,)]


def test_a_read_inside_a_slot_past_the_limit_answers_504_and_frees_the_slot(
    monkeypatch: pytest.MonkeyPatch, tenant_a: Any, api: Any
) -> None:
    """The default read limit (lowered here) applies to every reader; the slot is free once the read stopped."""
    user = api(tenant_a, "analyst").user
    monkeypatch.setattr(results, "READ_TIMEOUT_SECONDS", 0.2)
    with interactive_slot(tenant=tenant_a, user=user), timed_reader() as reader, pytest.raises(ReadTimeout):
        reader.fetchall(ENDLESS)
    with interactive_slot(tenant=tenant_a, user=user), interactive_slot(tenant=tenant_a, user=user):
        pass  # both of the user's slots are free again


def test_a_lease_is_held_while_its_long_work_runs_then_released(
    monkeypatch: pytest.MonkeyPatch, tenant_a: Any, api: Any
) -> None:
    """Leases lowered to 1 s: two operations of a user run a real DuckDB statement for longer than that; a third
    is refused all along (the leases did not lapse), and admitted once the work ended."""
    monkeypatch.setattr(admission, "LEASE_SECONDS", 1)
    monkeypatch.setattr(admission, "RENEW_SECONDS", 0.2)
    user = api(tenant_a, "analyst").user  # interactive_per_user = 2
    cons = [duckdb.connect(), duckdb.connect()]
    started = [threading.Event(), threading.Event()]
    errors: list[BaseException] = []

    def work(i: int) -> None:
        try:
            with interactive_slot(tenant=tenant_a, user=user):
                started[i].set()
                with pytest.raises(duckdb.InterruptException):
                    cons[i].execute(ENDLESS).fetchall()
        except BaseException as exc:  # reported by the test
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(i,)) for i in range(2)]
    for thread in threads:
        thread.start()
    try:
        assert all(event.wait(10) for event in started)
        for _ in range(3):  # 3 s: three times the lease
            threading.Event().wait(1)
            with pytest.raises(TooBusy) as info, interactive_slot(tenant=tenant_a, user=user):
                pass
            assert info.value.status == 429 and info.value.code == "too_many_concurrent"
    finally:
        for con in cons:
            con.interrupt()
        for thread in threads:
            thread.join(30)
    assert not errors and not any(thread.is_alive() for thread in threads)
    with interactive_slot(tenant=tenant_a, user=user), interactive_slot(tenant=tenant_a, user=user):
        pass  # both released when the work ended
