"""Result rows (JSON pages) as a pyarrow Table or a pandas DataFrame, typed by the run's column types.

pyarrow and pandas are optional: ``pip install 'bdt-client[pandas]'`` (or ``[arrow]``).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import pandas
    import pyarrow


def _pyarrow() -> Any:
    try:
        import pyarrow
    except ImportError as exc:  # pragma: no cover - depends on the environment
        raise ImportError("Results as tables need pyarrow: pip install 'bdt-client[arrow]'") from exc
    return pyarrow


def arrow_type(pa: Any, column_type: str) -> Any:
    """The Arrow type of a platform column type (integer, float, string, boolean, date, timestamp)."""
    return {
        "integer": pa.int64(),
        "float": pa.float64(),
        "string": pa.string(),
        "boolean": pa.bool_(),
        "date": pa.date32(),
        "timestamp": pa.timestamp("us"),
    }.get(column_type)


def _column(pa: Any, values: list[Any], column_type: str | None) -> Any:
    wanted = arrow_type(pa, column_type) if column_type else None
    if wanted is None:
        return pa.array(values)  # a type this client does not know yet: let Arrow infer it
    if column_type in {"date", "timestamp"}:  # ISO text in JSON
        return pa.array(values, type=pa.string()).cast(wanted)
    return pa.array(values, type=wanted)


def rows_to_arrow(columns: Sequence[str], column_types: Sequence[str], rows: Sequence[Sequence[Any]]) -> pyarrow.Table:
    """A Table from row lists; ``column_types`` may be shorter than ``columns`` (missing types are inferred)."""
    pa = _pyarrow()
    arrays = [
        _column(pa, [row[index] for row in rows], column_types[index] if index < len(column_types) else None)
        for index in range(len(columns))
    ]
    return pa.Table.from_arrays(arrays, names=list(columns))


def arrow_to_pandas(table: pyarrow.Table) -> pandas.DataFrame:
    """A DataFrame with nullable integer/boolean columns (so a missing value never turns 3 into 3.0)."""
    try:
        import pandas as pd
    except ImportError as exc:  # pragma: no cover - depends on the environment
        raise ImportError("Results as DataFrames need pandas: pip install 'bdt-client[pandas]'") from exc
    pa = _pyarrow()
    mapping = {pa.int64(): pd.Int64Dtype(), pa.bool_(): pd.BooleanDtype()}
    return table.to_pandas(types_mapper=mapping.get)
