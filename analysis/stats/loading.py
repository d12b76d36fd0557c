"""Reading columns of a result Parquet file, whole or as a deterministic sample, keyed by row number.

The row key of a result row is its 0-based position in the (immutable, content-addressed) result file. Plots carry
it with every point, so a selection maps back to rows by key, whatever traces, colours or facets split the points.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
import pyarrow as pa
import pyarrow.parquet as pq

from analysis.stats.errors import StatsError

SAMPLE_SEED = 42
BATCH_ROWS = 65_536
IntArray = npt.NDArray[np.int64]


@dataclass(frozen=True)
class Frame:
    """Some columns of a result (all rows, or a sample), with each row's key (row number in the file)."""

    columns: dict[str, list[Any]]
    keys: IntArray
    total_rows: int
    sampled: bool
    seed: int = SAMPLE_SEED
    types: dict[str, str] = field(default_factory=dict)

    @property
    def size(self) -> int:
        return int(self.keys.size)

    def sample_info(self) -> dict[str, Any]:
        """What the statistics were computed on (shown to the user)."""
        return {"rows": self.total_rows, "used": self.size, "sampled": self.sampled, "seed": self.seed}


def sample_keys(total: int, limit: int, seed: int = SAMPLE_SEED) -> IntArray | None:
    """Sorted row numbers of a fixed-seed sample of ``limit`` rows, or None when all ``total`` rows fit."""
    if total <= limit:
        return None
    chosen = np.random.default_rng(seed).choice(total, size=limit, replace=False)
    return np.sort(chosen.astype(np.int64))


def _take(path: Path, names: Sequence[str], keys: IntArray | None) -> tuple[pa.Table, IntArray]:
    source = pq.ParquetFile(path)
    total = source.metadata.num_rows
    if not names:
        taken = keys if keys is not None else np.arange(total, dtype=np.int64)
        return pa.table({}), taken
    parts: list[pa.RecordBatch] = []
    start = 0
    for batch in source.iter_batches(batch_size=BATCH_ROWS, columns=list(names)):
        end = start + batch.num_rows
        if keys is None:
            parts.append(batch)
        else:
            low, high = np.searchsorted(keys, [start, end])
            if high > low:
                parts.append(batch.take(pa.array(keys[low:high] - start)))
        start = end
    schema = pa.schema([source.schema_arrow.field(name) for name in names])
    table = pa.Table.from_batches(parts, schema=schema)
    return table, (keys if keys is not None else np.arange(total, dtype=np.int64))


def frame_load(
    path: Path, names: Sequence[str], types: dict[str, str], *, limit: int, seed: int = SAMPLE_SEED
) -> Frame:
    """Columns ``names`` of the result at ``path``: every row, or a fixed-seed sample of ``limit`` rows."""
    available = set(pq.read_schema(path).names)
    unique = list(dict.fromkeys(names))
    for name in unique:
        if name not in available:
            raise StatsError("unknown_column", f"{name!r} is not a column of this result.", {"column": name})
    total = pq.ParquetFile(path).metadata.num_rows
    keys = sample_keys(total, limit, seed)
    table, taken = _take(path, unique, keys)
    return Frame(
        columns={name: table.column(name).to_pylist() for name in unique},
        keys=taken,
        total_rows=total,
        sampled=keys is not None,
        seed=seed,
        types={name: types.get(name, "string") for name in unique},
    )


def frame_chunks(
    path: Path, names: Sequence[str], types: dict[str, str], *, limit: int, width: int, seed: int = SAMPLE_SEED
) -> Iterator[Frame]:
    """Like :func:`frame_load`, ``width`` columns at a time (same rows in every chunk): a wide result is never held
    in memory as Python objects all at once."""
    available = set(pq.read_schema(path).names)
    unique = list(dict.fromkeys(names))
    for name in unique:
        if name not in available:
            raise StatsError("unknown_column", f"{name!r} is not a column of this result.", {"column": name})
    total = pq.ParquetFile(path).metadata.num_rows
    keys = sample_keys(total, limit, seed)
    for start in range(0, max(len(unique), 1), width):
        chunk = unique[start : start + width]
        table, taken = _take(path, chunk, keys)
        yield Frame(
            columns={name: table.column(name).to_pylist() for name in chunk},
            keys=taken,
            total_rows=total,
            sampled=keys is not None,
            seed=seed,
            types={name: types.get(name, "string") for name in chunk},
        )


def rows_by_keys(path: Path, keys: Sequence[int]) -> tuple[list[str], list[int], list[list[Any]]]:
    """Every column of the rows with the given keys, in key order (keys outside the file are an error)."""
    total = pq.ParquetFile(path).metadata.num_rows
    wanted = np.unique(np.asarray(list(keys), dtype=np.int64))
    if wanted.size and (wanted[0] < 0 or wanted[-1] >= total):
        raise StatsError("unknown_rows", "Some selected rows are not rows of this result.")
    names = pq.read_schema(path).names
    table, taken = _take(path, names, wanted)
    columns = [table.column(name).to_pylist() for name in names]
    return list(names), [int(k) for k in taken], [list(row) for row in zip(*columns, strict=True)] if columns else []


def pair_counts(
    path: Path, row: str, column: str, *, max_pairs: int, reader: Callable[[], AbstractContextManager[Any]]
) -> list[tuple[Any, Any, int]]:
    """Exact counts of every (row value, column value) pair over the whole result (NULLs included).

    At most ``max_pairs`` pairs are read; more raise ``too_many_groups``. ``reader`` opens a DuckDB cursor (the
    platform passes ``core.parquet_reader.parquet_reader``: this module stays Django-free).
    """
    from sqlglot import exp

    source = exp.func("read_parquet", exp.Placeholder())
    left, right = exp.column(row, quoted=True), exp.column(column, quoted=True)
    query = (
        exp.select(left.as_("r", quoted=True), right.as_("c", quoted=True), exp.func("count").as_("n", quoted=True))
        .from_(source)
        .group_by(exp.Literal.number(1), exp.Literal.number(2))
        .limit(exp.Placeholder())
    )
    with reader() as con:
        found = con.execute(query.sql(dialect="duckdb"), [str(path), max_pairs + 1]).fetchall()
    if len(found) > max_pairs:
        raise StatsError(
            "too_many_groups",
            f"{row!r} x {column!r} has more than {max_pairs} combinations of values: too many for a table.",
            {"maximum": max_pairs},
        )
    return [(r, c, int(n)) for r, c, n in found]
