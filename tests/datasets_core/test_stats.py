"""Column statistics against an independent computation in plain Python."""

from __future__ import annotations

import json
import math
import random
import statistics
from collections import Counter
from collections.abc import Callable
from pathlib import Path

import pytest

from datasets.ingest import IngestOptions, IngestResult

from .conftest import GOOD


def _dataset(rows: int, seed: int = 7) -> dict[str, list[str]]:
    rng = random.Random(seed)
    sessions = ["BAS1", "BAS2", "FU1", "FU2", "FU12", "FU3"]
    data: dict[str, list[str]] = {"ursi": [], "session_num": [], "age": [], "count": [], "site": [], "flag": []}
    data.update({"visit_date": [], "note": [], "constant": []})
    for r in range(rows):
        data["ursi"].append(f"SUB{r // 3:05d}")
        data["session_num"].append(sessions[r % 3 + (3 if r % 2 else 0)])
        data["age"].append("" if rng.random() < 0.05 else f"{rng.uniform(18, 80):.2f}")
        data["count"].append(str(rng.randint(-3, 40)))
        data["site"].append(rng.choice(["A", "B", "C", "D", ""]))
        data["flag"].append(rng.choice(["yes", "no", "Yes", ""]))
        data["visit_date"].append(f"2020-{rng.randint(1, 12):02d}-{rng.randint(1, 28):02d}")
        data["note"].append(f"free text {rng.randint(0, 10_000)}")
        data["constant"].append("3.5")
    return data


def _write(path: Path, data: dict[str, list[str]]) -> Path:
    names = list(data)
    lines = [",".join(names)] + [",".join(data[n][r] for n in names) for r in range(len(data[names[0]]))]
    path.write_text("\n".join(lines) + "\n")
    return path


def _histogram(values: list[float], edges: list[float]) -> list[int]:
    lo, nb = edges[0], len(edges) - 1
    width = (edges[-1] - edges[0]) / nb if nb else 0
    counts = [0] * nb
    for v in values:
        index = 0 if width == 0 else min(max(math.floor((v - lo) / width), 0), nb - 1)
        counts[index] += 1
    return counts


@pytest.mark.parametrize("rows", [3000, 12_000], ids=["unpivot_path", "union_path"])
def test_stats_match_an_independent_computation(tmp_path: Path, ingest: Callable[..., IngestResult], rows: int) -> None:
    data = _dataset(rows)
    result = ingest(_write(tmp_path / "d.csv", data), id_column="ursi", session_column="session_num")
    assert result.row_count == rows
    assert result.participants == len(set(data["ursi"]))
    assert result.sessions == ["BAS1", "BAS2", "FU1", "FU2", "FU3", "FU12"]
    for column in result.columns:
        raw = data[column.name]
        present = [v for v in raw if v != ""]
        assert column.missing == rows - len(present), column.name
        if column.type in ("integer", "float"):
            numbers = [float(v) for v in present]
            assert column.distinct == len(set(numbers))
            assert column.min == min(numbers) and column.max == max(numbers)
            assert column.mean == pytest.approx(statistics.fmean(numbers), rel=1e-12)
            assert column.std == pytest.approx(statistics.stdev(numbers), rel=1e-9)
            assert column.histogram is not None and column.top_values is None
            assert sum(column.histogram.counts) == len(numbers)
            assert column.histogram.counts == _histogram(numbers, column.histogram.edges), column.name
        elif column.type == "boolean":
            flags = [v.lower() == "yes" for v in present]
            assert column.distinct == len(set(flags))
            assert {t.value: t.count for t in column.top_values or []} == Counter(flags)
        elif column.type == "date":
            assert (column.min, column.max) == (min(present), max(present))
            assert column.distinct == len(set(present))
        else:
            assert column.distinct == len(set(present))
            assert (column.min, column.max) == (min(present), max(present))
            counts = Counter(present)
            if len(counts) <= 50:
                expected = sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))[:10]
                assert [(t.value, t.count) for t in column.top_values or []] == expected, column.name
            else:
                assert column.top_values is None
    types = dict(result.schema)
    assert types == {
        "ursi": "string",
        "session_num": "string",
        "age": "float",
        "count": "integer",
        "site": "string",
        "flag": "boolean",
        "visit_date": "date",
        "note": "string",
        "constant": "float",
    }
    count = result.column("count")
    assert count.histogram is not None and len(count.histogram.counts) == 20
    constant = result.column("constant")
    assert constant.histogram is not None and constant.histogram.counts == [rows] and constant.std == 0.0
    json.dumps(result.as_dict(), allow_nan=False)


def test_small_integer_range_gets_one_bin_per_value(tmp_path: Path, ingest: Callable[..., IngestResult]) -> None:
    path = _write(tmp_path / "likert.csv", {"id": [f"S{i}" for i in range(7)], "likert": list("1234552")})
    column = ingest(path).column("likert")
    assert column.histogram is not None
    assert column.histogram.edges == [0.5, 1.5, 2.5, 3.5, 4.5, 5.5]
    assert column.histogram.counts == [1, 2, 1, 1, 2]


def test_single_value_column(tmp_path: Path, ingest: Callable[..., IngestResult]) -> None:
    result = ingest(_write(tmp_path / "one.csv", {"id": ["a"], "x": ["2.5"], "s": ["only"]}))
    x = result.column("x")
    assert (x.min, x.max, x.mean, x.std, x.distinct) == (2.5, 2.5, 2.5, None, 1)
    assert x.histogram is not None and x.histogram.counts == [1]
    assert result.column("s").top_values is not None


def test_top_values_threshold_is_configurable(tmp_path: Path, ingest: Callable[..., IngestResult]) -> None:
    path = _write(tmp_path / "t.csv", {"id": [str(i) for i in range(12)], "s": [f"v{i % 6}" for i in range(12)]})
    assert ingest(path, top_values_max_distinct=5).column("s").top_values is None
    top = ingest(path, top_values_max_distinct=6, top_values_limit=3).column("s").top_values
    assert [(t.value, t.count) for t in top or []] == [("v0", 2), ("v1", 2), ("v2", 2)]


def test_as_dict_is_json_ready(ingest: Callable[..., IngestResult]) -> None:
    result = ingest(GOOD / "longitudinal_demographics.csv", id_column="ursi", session_column="session_num")
    payload = json.loads(json.dumps(result.as_dict(), allow_nan=False))
    assert payload["row_count"] == 6 and payload["column_count"] == 5
    assert payload["columns"][2]["name"] == "age" and payload["columns"][2]["type"] == "float"
    assert set(payload["timings"]) >= {"sniff", "parse", "validate", "types", "parquet", "stats", "total"}
    assert len(payload["sha256"]) == 64
    assert IngestOptions().row_group_size >= 100_000
