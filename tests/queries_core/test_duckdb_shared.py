"""DuckDB engines share one database per process: each has its own cursor, so a cancel, a timeout or a close on
one engine never touches another engine's work, and concurrent threads get correct answers."""

from __future__ import annotations

import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest

from queries.core.catalog import StudyCatalog
from queries.core.engines.contract import CountResult, EngineCancelled, EngineTimeout
from queries.core.engines.duckdb_engine import DuckDBEngine
from queries.core.spec import spec_validate

HEAVY = {"filters": [{"dataset": "heavy_m", "column": "v", "op": "gt", "value": -1}]}


def _in_thread(work: Any) -> tuple[threading.Thread, list[Any]]:
    outcome: list[Any] = []

    def target() -> None:
        try:
            outcome.append(work())
        except BaseException as exc:  # recorded for the assertion
            outcome.append(exc)

    thread = threading.Thread(target=target)
    thread.start()
    return thread, outcome


def test_engines_share_the_database_but_not_the_connection() -> None:
    first, second = DuckDBEngine(threads=2), DuckDBEngine(threads=2)
    try:
        assert first._shared is second._shared
        assert first._con is not second._con
        other = DuckDBEngine(threads=1)  # another configuration gets its own database
        assert other._shared is not first._shared
        other.close()
    finally:
        first.close()
        second.close()


def test_cancel_stops_only_that_engines_query(heavy: StudyCatalog, catalogs: dict[str, StudyCatalog]) -> None:
    victim, bystander = DuckDBEngine(threads=2), DuckDBEngine(threads=2, timeout_s=60)
    try:
        slow, slow_outcome = _in_thread(lambda: victim.count(spec_validate(HEAVY, heavy), heavy))
        other, other_outcome = _in_thread(lambda: bystander.count(spec_validate(HEAVY, heavy), heavy))
        time.sleep(0.4)
        started = time.monotonic()
        victim.cancel()
        slow.join(timeout=10)
        assert isinstance(slow_outcome[0], EngineCancelled), slow_outcome
        assert time.monotonic() - started < 5
        other.join(timeout=120)
        assert other_outcome == [CountResult(participants=2, rows=2)]  # finished, not interrupted
        assert (
            victim.count(spec_validate({}, catalogs["xs"]), catalogs["xs"]).participants == 11
        )  # the cancelled engine stays usable
    finally:
        victim.close()
        bystander.close()


def test_timeout_of_one_engine_leaves_the_others_running(
    heavy: StudyCatalog, catalogs: dict[str, StudyCatalog]
) -> None:
    short, patient = DuckDBEngine(threads=2, timeout_s=0.3), DuckDBEngine(threads=2, timeout_s=60)
    try:
        other, other_outcome = _in_thread(lambda: patient.count(spec_validate(HEAVY, heavy), heavy))
        with pytest.raises(EngineTimeout):
            short.count(spec_validate(HEAVY, heavy), heavy)
        other.join(timeout=120)
        assert other_outcome == [CountResult(participants=2, rows=2)]
    finally:
        short.close()
        patient.close()


def test_closing_an_engine_leaves_the_database_and_its_views(catalogs: dict[str, StudyCatalog]) -> None:
    first = DuckDBEngine(threads=2)
    expected = first.count(spec_validate({}, catalogs["rk"]), catalogs["rk"])
    first.close()
    second = DuckDBEngine(threads=2)
    try:
        assert second.count(spec_validate({}, catalogs["rk"]), catalogs["rk"]) == expected
    finally:
        second.close()


def test_concurrent_engines_in_threads_agree(catalogs: dict[str, StudyCatalog], tmp_path: Path) -> None:
    specs: list[tuple[str, dict[str, Any]]] = [
        ("xs", {}),
        ("rk", {}),
        ("vs", {}),
        ("rk", {"shape": "wide"}),
    ] * 6

    def once(i: int) -> tuple[CountResult, int]:
        study, spec = specs[i]
        engine = DuckDBEngine(threads=2)
        try:
            counted = engine.count(spec_validate(spec, catalogs[study]), catalogs[study])
            rows = engine.run(
                spec_validate(spec, catalogs[study]), catalogs[study], tmp_path / f"r{i}.parquet"
            ).row_count
            return counted, rows
        finally:
            engine.close()

    serial = [once(i) for i in range(4)]
    with ThreadPoolExecutor(max_workers=6) as pool:
        parallel = list(pool.map(once, range(len(specs))))
    assert parallel == serial * 6


def test_a_rewritten_file_is_registered_again(heavy: StudyCatalog, tmp_path: Path) -> None:
    """A view is reused only while its file and catalog columns are what it was built from."""
    import dataclasses

    import duckdb

    demo = heavy.demo
    path = tmp_path / "demo.parquet"
    duckdb.execute(f"COPY (SELECT 'A' AS id, 1.0 AS x) TO '{path}' (FORMAT parquet)")
    catalog = StudyCatalog(heavy.keys, demo.name, {demo.name: dataclasses.replace(demo, parquet_path=str(path))})
    engine = DuckDBEngine(threads=2)
    try:
        assert engine.count(spec_validate({}, catalog), catalog).participants == 1
        time.sleep(0.01)
        duckdb.execute(
            f"COPY (SELECT 'B' || i::VARCHAR AS x_first, 'B' || i::VARCHAR AS id, 2.0 AS x FROM range(3) "
            f"t(i)) TO '{path}' (FORMAT parquet)"
        )
        assert engine.count(spec_validate({}, catalog), catalog).participants == 3
    finally:
        engine.close()


def _count_in_child(catalog: StudyCatalog, answers: Any) -> None:
    engine = DuckDBEngine(threads=2)
    try:
        answers.put(engine.count(spec_validate({}, catalog), catalog))
    finally:
        engine.close()


def test_a_forked_worker_process_opens_its_own_database(catalogs: dict[str, StudyCatalog]) -> None:
    """Celery's prefork pool forks workers: the parent's database must not be used (or closed) by a child."""
    import multiprocessing

    parent = DuckDBEngine(threads=2)
    expected = parent.count(spec_validate({}, catalogs["xs"]), catalogs["xs"])
    context = multiprocessing.get_context("fork")
    answers = context.Queue()
    child = context.Process(target=_count_in_child, args=(catalogs["xs"], answers))
    child.start()
    child.join(timeout=60)
    assert child.exitcode == 0
    assert answers.get(timeout=5) == expected
    assert (
        parent.count(spec_validate({}, catalogs["xs"]), catalogs["xs"]) == expected
    )  # the parent's database is untouched
    parent.close()
