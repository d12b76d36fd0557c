"""The live drop-off: per filter, who remains after it and who it removes on its own, from one engine pass. Both
engines equal an independent oracle (each number recomputed from sub-specs) and each other, cell keys included."""

from __future__ import annotations

from typing import Any

import pytest

from access.disclosure import KEY_MODULUS, record_key
from queries.core.catalog import StudyCatalog
from queries.core.compiler.dropoff import compile_dropoff
from queries.core.engines.contract import CountResult
from queries.core.engines.sql_engine import SqlEngine
from queries.core.spec import spec_validate
from tests.queries_core import oracle
from tests.queries_core.cases import CASES
from tests.queries_core.conftest import SECRET

# Specs with several filters (the cases have at most two): same-dataset filters, NULL-sensitive conditions, a
# selection before the filters, and filters that remove nobody / everybody.
EXTRA: list[tuple[str, str, dict[str, Any]]] = [
    (
        "xs",
        "five_filters",
        {
            "sites": ["Discovery", "Neurofeedback"],
            "filters": [
                {"dataset": "subjects", "column": "age", "op": "between", "value": [10, 40]},
                {"dataset": "behaviour", "column": "task", "op": "in", "value": ["flanker", "nback"]},
                {"dataset": "behaviour", "column": "rt", "op": "gt", "value": 400},
                {"dataset": "cognitive", "column": "score", "op": "not_null"},
                {"dataset": "subjects", "column": "sex", "op": "ne", "value": 2},
            ],
        },
    ),
    (
        "rk",
        "sessions_and_filters",
        {
            "sessions": ["BAS1", "FU2"],
            "filters": [
                {"dataset": "rockland_demo", "column": "age", "op": "gt", "value": 20},
                {"dataset": "cog", "column": "working_memory", "op": "not_null"},
                {"dataset": "rockland_demo", "column": "age", "op": "lt", "value": 1000},
            ],
        },
    ),
    (
        "rk",
        "nobody_passes",
        {
            "filters": [
                {"dataset": "rockland_demo", "column": "age", "op": "gt", "value": 10_000},
                {"dataset": "cog", "column": "working_memory", "op": "not_null"},
            ]
        },
    ),
]
ALL = CASES + EXTRA


def _ids_and_keys(study: oracle.Study, spec: dict[str, Any]) -> tuple[set[Any], set[tuple[Any, Any]]]:
    rows = oracle.combos(study, spec)
    ids = {demo[study.id] for _, demo, _ in rows}
    keys = {(demo[study.id], demo[study.session] if study.session else None) for _, demo, _ in rows}
    return ids, keys


def _cell(ids: set[Any], keys: set[tuple[Any, Any]]) -> tuple[int, int, int, int]:
    return (
        len(ids),
        len(keys),
        sum(record_key(SECRET, i) for i in ids) % KEY_MODULUS,
        sum(record_key(SECRET, i) for i, _ in keys) % KEY_MODULUS,
    )


def expected(study: oracle.Study, spec: dict[str, Any]) -> tuple[Any, list[Any], list[Any], Any]:
    """(start, remaining per filter, removed alone per filter, the count) as cells, each from sub-specs run by the
    oracle; the drop-off's cells count participants (rows = participants)."""
    filters = spec.get("filters", [])
    base = {k: v for k, v in spec.items() if k != "filters"}

    def people(ids: set[Any]) -> tuple[int, int, int, int]:
        return _cell(ids, {(i, None) for i in ids})

    start = people(_ids_and_keys(study, base)[0])
    remaining = [people(_ids_and_keys(study, {**base, "filters": filters[: i + 1]})[0]) for i in range(len(filters))]
    everyone, merge_keys = _ids_and_keys(study, spec)
    alone = []
    for i in range(len(filters)):
        ids, _ = _ids_and_keys(study, {**base, "filters": filters[:i] + filters[i + 1 :]})
        alone.append(people(ids - everyone))
    return start, remaining, alone, _cell(everyone, merge_keys)


def _got(c: CountResult) -> tuple[int, int, int, int]:
    return (c.participants, c.rows, (c.participants_key or 0) % KEY_MODULUS, (c.rows_key or 0) % KEY_MODULUS)


@pytest.mark.parametrize(("study", "case", "spec"), ALL, ids=[f"{s}-{c}" for s, c, _ in ALL])
def test_dropoff_matches_the_oracle_on_both_engines(
    engines: list[SqlEngine],
    catalogs: dict[str, StudyCatalog],
    keyed: dict[str, StudyCatalog],
    oracles: dict[str, oracle.Study],
    study: str,
    case: str,
    spec: dict[str, Any],
) -> None:
    start, remaining, alone, total = expected(oracles[study], spec)
    for engine in engines:
        got = engine.dropoff(spec_validate(spec, keyed[study]), keyed[study])
        assert _got(got.start) == start, engine.dialect
        assert [_got(f.remaining) for f in got.filters] == remaining, engine.dialect
        assert [_got(f.removed_alone) for f in got.filters] == alone, engine.dialect
        assert [f.filter for f in got.filters] == list(range(len(spec.get("filters", []))))
        # The drop-off's total is the count of the whole spec, keys included (so both show the same number).
        count = engine.count(spec_validate(spec, keyed[study]), keyed[study])
        assert _got(got.total) == _got(count) == total, engine.dialect
        # Without record keys: the same counts, no keys.
        plain = engine.dropoff(spec_validate(spec, catalogs[study]), catalogs[study])
        assert [(f.remaining.participants, f.removed_alone.participants) for f in plain.filters] == [
            (f.remaining.participants, f.removed_alone.participants) for f in got.filters
        ]
        assert (plain.total.participants, plain.total.rows) == (count.participants, count.rows)
        assert plain.start.participants_key is None


def test_dropoff_is_one_statement_with_each_condition_once(catalogs: dict[str, StudyCatalog]) -> None:
    spec = EXTRA[0][2]
    catalog = catalogs["xs"]
    for dialect in ("duckdb", "postgres"):
        sql = compile_dropoff(spec_validate(spec, catalog), catalog, dialect).sql  # type: ignore[arg-type]
        assert sql.count("SELECT") < 20
        assert sql.count("'flanker'") == 1  # the condition is evaluated once per row, then reused as a boolean


def test_more_filters_than_one_mask_holds(
    engines: list[SqlEngine], keyed: dict[str, StudyCatalog], oracles: dict[str, oracle.Study]
) -> None:
    """Past 62 filters the per-filter bits go to a second mask: the 64th filter is the only one to remove someone."""
    no_op = {"dataset": "behaviour", "column": "rt", "op": "lt", "value": 100_000}
    decisive = {"dataset": "subjects", "column": "age", "op": "lt", "value": 28.25}
    spec = {"filters": [no_op] * 63 + [decisive] + [no_op] * 6}
    start, remaining, alone, _ = expected(oracles["xs"], spec)
    assert alone[63][0] > 0 and all(a[0] == 0 for i, a in enumerate(alone) if i != 63)
    for engine in engines:
        got = engine.dropoff(spec_validate(spec, keyed["xs"]), keyed["xs"])
        assert _got(got.start) == start
        assert [_got(f.remaining) for f in got.filters] == remaining, engine.dialect
        assert [_got(f.removed_alone) for f in got.filters] == alone, engine.dialect


SPARK_CASES = [c for c in ALL if c[2].get("filters")][:6]


@pytest.mark.parametrize(("study", "case", "spec"), SPARK_CASES, ids=[f"{s}-{c}" for s, c, _ in SPARK_CASES])
def test_dropoff_on_spark_matches_the_oracle(
    spark_engine: SqlEngine,
    keyed: dict[str, StudyCatalog],
    oracles: dict[str, oracle.Study],
    study: str,
    case: str,
    spec: dict[str, Any],
) -> None:
    """A Spark study's builder asks the same drop-off: the spark dialect gives the oracle's cells, keys included."""
    start, remaining, alone, total = expected(oracles[study], spec)
    got = spark_engine.dropoff(spec_validate(spec, keyed[study]), keyed[study])
    assert _got(got.start) == start
    assert [_got(f.remaining) for f in got.filters] == remaining
    assert [_got(f.removed_alone) for f in got.filters] == alone
    assert _got(got.total) == total
