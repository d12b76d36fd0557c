"""Stacking the per-study results of a federated run into one result in harmonized units.

Each part's result is an ordinary run's Parquet file (read through ``queries.results.run_result_path``); the stacked
file has ``study``, ``participant_id`` (text), ``session`` (text; null for cross-sectional studies) and one column per
variable: numbers as ``value * scale + offset`` (double), categories through their recode map (a value without an
entry is missing), a variable the study has no source for is missing. Parts keep their rows' order, in the order the
studies were asked for. The SQL is built as an AST (sqlglot): names are quoted identifiers, values literals.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlglot import exp

from core.parquet_reader import parquet_reader
from harmonization.mapping import Source, Variable, harmonized_value, source_key

SQL_TYPES = {"number": "DOUBLE", "string": "VARCHAR", "boolean": "BOOLEAN"}
FIXED_COLUMNS = ("study", "participant_id", "session")


@dataclass(frozen=True)
class PartFile:
    """One study's result: where it is and what its columns are called."""

    study: str
    path: Path
    id_column: str
    session_column: str | None
    columns: dict[str, str]  # variable -> column of this result holding its source
    source_types: dict[str, str]  # variable -> the source column's type


def _literal(value: Any) -> exp.Expression:
    if isinstance(value, bool):
        return exp.true() if value else exp.false()
    if isinstance(value, int | float):
        return exp.Literal.number(value)
    return exp.Literal.string(str(value))


def _cast(expression: exp.Expression, variable: Variable) -> exp.Expression:
    return exp.cast(expression, SQL_TYPES[variable.type])


def harmonized_expression(variable: Variable, source: Source | None, column: str | None, source_type: str) -> Any:
    """The expression of ``variable`` in one part (NULL of the variable's type without a source)."""
    if source is None or column is None:
        return _cast(exp.null(), variable)
    value = exp.column(column, quoted=True)
    if variable.type == "number":
        scale, offset = source.linear
        number: exp.Expression = exp.cast(value, "DOUBLE")
        if scale != 1.0:
            number = exp.Mul(this=number, expression=_literal(scale))
        if offset != 0.0:
            number = exp.Add(this=number, expression=_literal(offset))
        return number
    if source.recode is None:
        return _cast(value, variable)
    ifs = [
        exp.If(
            this=exp.EQ(this=value, expression=_literal(source_key(key, source_type))),
            true=_literal(harmonized_value(variable, text)),
        )
        for key, text in source.recode.items()
    ]
    return _cast(exp.Case(ifs=ifs, default=exp.null()), variable)


def _part_select(part: PartFile, index: int, variables: Sequence[Variable]) -> exp.Select:
    session: exp.Expression = (
        exp.cast(exp.column(part.session_column, quoted=True), "VARCHAR")
        if part.session_column
        else exp.cast(exp.null(), "VARCHAR")
    )
    projection = [
        exp.alias_(exp.Literal.string(part.study), "study", quoted=True),
        exp.alias_(exp.cast(exp.column(part.id_column, quoted=True), "VARCHAR"), "participant_id", quoted=True),
        exp.alias_(session, "session", quoted=True),
    ]
    for variable in variables:
        column = part.columns.get(variable.name)
        source = variable.source_for(part.study) if column is not None else None
        expression = harmonized_expression(variable, source, column, part.source_types.get(variable.name, ""))
        projection.append(exp.alias_(expression, f"v{len(projection)}", quoted=True))
    projection.append(exp.alias_(exp.Literal.number(index), "_part", quoted=True))
    projection.append(exp.alias_(exp.column("file_row_number"), "_row", quoted=True))
    reader = exp.func(
        "read_parquet",
        exp.Literal.string(str(part.path)),
        exp.EQ(this=exp.column("file_row_number"), expression=exp.true()),
    )
    return exp.select(*projection).from_(reader)


def stack_write(parts: Sequence[PartFile], variables: Sequence[Variable], target: Path) -> tuple[int, list[str]]:
    """Write the stacked result of ``parts`` to ``target`` (Parquet); returns (rows, column names)."""
    names = [*FIXED_COLUMNS, *(variable.name for variable in variables)]
    inner = [f"v{i}" for i in range(3, 3 + len(variables))]
    if parts:
        union: exp.Query = _part_select(parts[0], 0, variables)
        for index, part in enumerate(parts[1:], start=1):
            union = exp.union(union, _part_select(part, index, variables), distinct=False)
        stacked = exp.select(
            *[
                exp.alias_(exp.column(col, quoted=True), name, quoted=True)
                for col, name in zip(["study", "participant_id", "session", *inner], names, strict=True)
            ]
        ).from_(union.subquery("parts"))
        stacked = stacked.order_by(exp.column("_part", quoted=True), exp.column("_row", quoted=True))
    else:
        empty = [exp.alias_(exp.cast(exp.null(), "VARCHAR"), name, quoted=True) for name in FIXED_COLUMNS]
        empty += [exp.alias_(_cast(exp.null(), v), v.name, quoted=True) for v in variables]
        stacked = exp.select(*empty).where(exp.false())
    statement = (
        f"COPY ({stacked.sql(dialect='duckdb')}) TO {exp.Literal.string(str(target)).sql(dialect='duckdb')} "
        "(FORMAT parquet, COMPRESSION zstd)"
    )
    with parquet_reader() as con:
        con.execute(statement)
        row = con.execute(
            exp.select(exp.Count(this=exp.Star()))
            .from_(exp.func("read_parquet", exp.Literal.string(str(target))))
            .sql(dialect="duckdb")
        ).fetchone()
    return (int(row[0]) if row else 0), names
