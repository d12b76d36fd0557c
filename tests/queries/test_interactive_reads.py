"""Long interactive reads never hold a web process's engine slot without bound: a read of a result is stopped at
its time limit (504 ``timeout``, as a count), and a user's admission lease stays held exactly while its work runs,
however long, then is released (a flood cannot take more slots by outlasting the lease)."""

from __future__ import annotations

import threading
from typing import Any

import duckdb
import pytest

from core import admission, parquet_reader
from core.admission import TooBusy, interactive_slot
from core.parquet_reader import ReadTimeout, timed_reader

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
    monkeypatch.setattr(parquet_reader, "READ_TIMEOUT_SECONDS", 0.2)
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


def _summary_expected(values: list[str | None]) -> str:
    """The final summary's text of a text column, as it was computed in Python from every distinct value."""
    counts: dict[str, int] = {}
    for value in values:
        if value is not None:
            counts[value] = counts.get(value, 0) + 1
    top = sorted(counts.items(), key=lambda item: (-item[1], item[0]))
    if not top:
        return "All values missing"
    if len(top) <= 10:
        return f"{len(top)} unique values - " + ", ".join(f"{v}: {n}" for v, n in top[:5])
    return f"{len(top)} unique values, most common: {top[0][0]}"


def test_the_final_summary_counts_text_values_in_sql_with_the_same_text(
    steward_api: Any, make_study: Any, upload: Any, execute: Any
) -> None:
    """A text column with many distinct values (with ties) and one with few: the same summary text as when every
    distinct value was read into Python."""
    many = [f"w{(i * 7) % 23:02d}" if i % 5 else "w00" for i in range(60)]
    few = ["b" if i % 3 else "a" for i in range(60)]
    make_study("words")
    lines = ["participant_id,session,many,few"] + [f"P{i:03d},BAS1,{many[i]},{few[i]}" for i in range(60)]
    _, ingest = upload("words", "\n".join(lines) + "\n", "demographics", kind="demographics")
    assert ingest["status"] == "succeeded", ingest
    run_id = steward_api.post("/api/v1/studies/words/queries", {}).json()["id"]
    assert execute(run_id) == "succeeded"
    summary = {row["column"]: row for row in steward_api.get(f"/api/v1/queries/{run_id}/report").json()["summary"]}
    assert summary["many"]["summary"] == _summary_expected(list(many)) == "23 unique values, most common: w00"
    assert summary["few"]["summary"] == _summary_expected(list(few)) == "2 unique values - b: 40, a: 20"
    assert summary["many"]["count"] == 60 and summary["few"]["missing"] == 0
