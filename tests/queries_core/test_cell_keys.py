"""Cell keys computed in the same engine pass as the count (disclosure control): every engine agrees with a Python
oracle and with DuckDB, and adding the keys changes no count."""

from __future__ import annotations

import itertools
from typing import Any

import pyarrow.parquet as pq
import pytest

from access.disclosure import KEY_MODULUS, record_key
from queries.core.catalog import StudyCatalog
from queries.core.compiler import DIALECTS, compile_count, compile_steps
from queries.core.engines.sql_engine import SqlEngine
from queries.core.spec import spec_validate
from tests.queries_core import oracle
from tests.queries_core.cases import CASES
from tests.queries_core.conftest import ENGINE_FIXTURES, SECRET


@pytest.fixture(params=list(ENGINE_FIXTURES))
def engine(request: pytest.FixtureRequest) -> SqlEngine:
    return request.getfixturevalue(ENGINE_FIXTURES[request.param])


def expected_keys(study: oracle.Study, spec: dict[str, Any]) -> tuple[int, int]:
    """(participants key, rows key) of the oracle's matching set."""
    rows = oracle.combos(study, spec)
    ids = {demo[study.id] for _, demo, _ in rows}
    merge_keys = {(demo[study.id], demo[study.session] if study.session else None) for _, demo, _ in rows}
    return (
        sum(record_key(SECRET, i) for i in ids) % KEY_MODULUS,
        sum(record_key(SECRET, i) for i, _ in merge_keys) % KEY_MODULUS,
    )


@pytest.mark.parametrize(("study", "case", "spec"), CASES, ids=[f"{s}-{c}" for s, c, _ in CASES])
def test_cell_keys_match_the_oracle_on_every_engine(
    engine: SqlEngine,
    duck_engine: SqlEngine,
    catalogs: dict[str, StudyCatalog],
    keyed: dict[str, StudyCatalog],
    oracles: dict[str, oracle.Study],
    study: str,
    case: str,
    spec: dict[str, Any],
) -> None:
    counts = oracle.count(oracles[study], spec)
    keys = expected_keys(oracles[study], spec)
    initial = expected_keys(oracles[study], {})
    got = engine.count(spec_validate(spec, keyed[study]), keyed[study])
    assert (got.participants, got.rows) == counts
    assert (got.participants_key % KEY_MODULUS, got.rows_key % KEY_MODULUS) == keys  # type: ignore[operator]
    plain = engine.steps(spec_validate(spec, catalogs[study]), catalogs[study])
    steps = engine.steps(spec_validate(spec, keyed[study]), keyed[study])
    assert [(s.participants, s.rows) for s in steps] == [(s.participants, s.rows) for s in plain]
    assert (steps[-1].participants_key % KEY_MODULUS, steps[-1].rows_key % KEY_MODULUS) == keys  # type: ignore[operator]
    assert (steps[0].participants_key % KEY_MODULUS, steps[0].rows_key % KEY_MODULUS) == initial  # type: ignore[operator]
    if engine is not duck_engine:  # the same keys for every step as DuckDB
        reference = duck_engine.steps(spec_validate(spec, keyed[study]), keyed[study])
        assert [(s.participants_key, s.rows_key) for s in steps] == [
            (r.participants_key, r.rows_key) for r in reference
        ]


def test_each_step_key_is_the_key_of_its_own_cumulative_spec(
    duck_engine: SqlEngine, keyed: dict[str, StudyCatalog], oracles: dict[str, oracle.Study]
) -> None:
    spec = {
        "sessions": ["BAS1", "FU2"],
        "filters": [
            {"dataset": "rockland_demo", "column": "age", "op": "gt", "value": 20},
            {"dataset": "cog", "column": "working_memory", "op": "not_null"},
        ],
    }
    steps = duck_engine.steps(spec_validate(spec, keyed["rk"]), keyed["rk"])
    prefixes = [{}, {"sessions": spec["sessions"]}]
    prefixes += [{"sessions": spec["sessions"], "filters": spec["filters"][:i]} for i in (1, 2)]
    for step, prefix in zip(steps, prefixes, strict=True):
        got = (step.participants_key % KEY_MODULUS, step.rows_key % KEY_MODULUS)  # type: ignore[operator]
        assert got == expected_keys(oracles["rk"], prefix)


def test_the_secret_and_the_record_keys_never_appear_in_the_sql(keyed: dict[str, StudyCatalog]) -> None:
    keys = pq.read_table(keyed["rk"].record_keys.parquet_path).column(1).to_pylist()  # type: ignore[union-attr]
    for dialect in DIALECTS:
        texts = [
            compile_count(spec_validate({}, keyed["rk"]), keyed["rk"], dialect),
            compile_steps(spec_validate({}, keyed["rk"]), keyed["rk"], dialect).sql,
        ]
        for text in texts:
            assert SECRET.decode() not in text
            assert not any(str(key) in text for key in keys if key > 999)


def test_record_keys_are_fixed_per_participant_and_spread_over_the_key_range() -> None:
    ids = [f"P{i:05d}" for i in range(2000)]
    keys = [record_key(SECRET, i) for i in ids]
    assert keys == [record_key(SECRET, i) for i in ids]  # fixed
    assert len(set(keys)) == len(keys)  # no collisions among 2,000
    assert all(0 <= k < KEY_MODULUS for k in keys)
    quarters = [sum(1 for k in keys if q * KEY_MODULUS // 4 <= k < (q + 1) * KEY_MODULUS // 4) for q in range(4)]
    assert all(400 < n < 600 for n in quarters)  # about uniform
    assert record_key(b"another-secret-entirely-different-0000", "P00001") != record_key(SECRET, "P00001")
    assert not any(a == b for a, b in itertools.pairwise(keys))
