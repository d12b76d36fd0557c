"""A large CSV export keeps the result's row order and neutralizes formulas (DuckDB writes it in parallel)."""

from __future__ import annotations

import csv
from pathlib import Path

import duckdb

from queries.exports import result_csv_write


def test_large_export_keeps_row_order_and_is_formula_safe(tmp_path: Path) -> None:
    source = tmp_path / "result.parquet"
    duckdb.connect().execute(
        f"""COPY (SELECT lpad(CAST(i AS VARCHAR), 7, '0') AS id, CASE WHEN i % 7 = 0 THEN '=cmd' ELSE 'a' END AS t1,
                  CASE WHEN i % 5 = 0 THEN '+x' ELSE 'b, c' END AS t2, 'row ' || CAST(i AS VARCHAR) AS t3,
                  CASE WHEN i % 11 = 0 THEN 'nan'::DOUBLE ELSE i / 3 END AS f, i AS n
                  FROM range(300000) r(i) ORDER BY i) TO '{source}' (FORMAT parquet, ROW_GROUP_SIZE 100000)"""
    )
    target = tmp_path / "out.csv"
    assert result_csv_write(source, target) == 300_000
    with open(target, newline="", encoding="utf-8") as handle:
        rows = list(csv.reader(handle))
    assert rows[0] == ["id", "t1", "t2", "t3", "f", "n"]
    assert [int(row[5]) for row in rows[1:]] == list(range(300_000))
    assert rows[1][1] == "'=cmd" and rows[1][2] == "'+x" and rows[2][2] == "b, c"
    assert rows[12][4] == "" and rows[1][0] == "0000000"
