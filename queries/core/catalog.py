"""What a query may touch: the study's key columns and the pinned dataset versions with their schemas.

Plain frozen dataclasses, no Django. ``queries.execution`` builds a :class:`StudyCatalog` from the models; the spec
validator, the compiler and the engines only ever see this.

Physical naming (shared by the compiler and both engines, so it lives here):
- a dataset version is a table/view named :func:`physical_table_name` (``dv_<name>_v<version>_<hash>``);
- its columns are exposed under positional names ``c0``, ``c1``, ... (index in :attr:`DatasetInfo.columns`, i.e.
  file order) plus :data:`ROW_ORDINAL` (0-based row number in the Parquet file). Real column names therefore only
  appear in SQL as quoted output aliases, which keeps research headers of any shape (spaces, quotes, SQL words,
  unicode, >63 bytes, names differing only in case) working on both engines.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Literal

from core.column_types import COLUMN_TYPES, ColumnType

DatasetKind = Literal["demographics", "measure"]

#: Name of the physical column holding the 0-based row number of the source file (both engines).
ROW_ORDINAL = "__row"

#: The participant index store (DuckDB, ``queries.core.engines.participant_store``): its dictionary of participant
#: ids (``id`` -> dense integer ``pid``) and the ``pid`` / ``sid`` (session code) columns every indexed table has.
INDEX_IDS = "ids"
INDEX_PID = "pid"
INDEX_SID = "sid"
#: The store's pre-joined table (when every dataset has at most one row per merge key): one row per demographics row,
#: ``pid``, ``sid`` and every dataset's columns (named by :func:`wide_column`).
INDEX_WIDE = "wide"

_PG_MAX_IDENTIFIER = 63


class CatalogError(ValueError):
    """The catalog itself is inconsistent (a programming/config error, not a user error)."""


def _check_name(kind: str, name: str) -> None:
    if not isinstance(name, str) or not name or "\x00" in name:
        raise CatalogError(f"invalid {kind} name: {name!r}")


@dataclass(frozen=True)
class StudyKeys:
    """Key columns of a study. ``session_column`` None = cross-sectional (merge key = id). ``composite_column`` is
    BDT's derived ``<id>_<session>`` column: a key (never filtered on or output), present or not in a table."""

    id_column: str
    session_column: str | None = None
    age_column: str | None = None
    sex_column: str | None = None
    site_column: str | None = None
    composite_column: str | None = None

    @property
    def longitudinal(self) -> bool:
        return self.session_column is not None


@dataclass(frozen=True)
class ColumnInfo:
    """One column of a dataset version (statistics are optional and informational)."""

    name: str
    type: ColumnType
    min: float | int | str | None = None
    max: float | int | str | None = None
    distinct: int | None = None

    def __post_init__(self) -> None:
        _check_name("column", self.name)
        if self.type not in COLUMN_TYPES:
            raise CatalogError(f"column {self.name!r}: unknown type {self.type!r}")


@dataclass(frozen=True)
class DatasetInfo:
    """One pinned dataset version. ``columns`` are in file order and include the key columns."""

    name: str
    kind: DatasetKind
    version: int
    sha256: str
    columns: tuple[ColumnInfo, ...]
    parquet_path: str | None = None
    pg_table: str | None = None
    row_count: int | None = None  # from the version's statistics (estimates only)
    _index: Mapping[str, int] = field(init=False, repr=False, compare=False, hash=False)

    def __post_init__(self) -> None:
        _check_name("dataset", self.name)
        if self.kind not in ("demographics", "measure"):
            raise CatalogError(f"dataset {self.name!r}: unknown kind {self.kind!r}")
        index: dict[str, int] = {}
        for i, col in enumerate(self.columns):
            if col.name in index:
                raise CatalogError(f"dataset {self.name!r}: duplicate column {col.name!r}")
            index[col.name] = i
        object.__setattr__(self, "columns", tuple(self.columns))
        object.__setattr__(self, "_index", index)

    def column(self, name: str) -> ColumnInfo | None:
        i = self._index.get(name)
        return None if i is None else self.columns[i]

    def type_of(self, name: str) -> ColumnType:
        """Type of column ``name`` (KeyError if absent)."""
        return self.columns[self._index[name]].type

    def position(self, name: str) -> int:
        """Index of ``name`` in :attr:`columns` (KeyError if absent)."""
        return self._index[name]

    def has(self, name: str | None) -> bool:
        return name is not None and name in self._index


@dataclass(frozen=True)
class StudyCatalog:
    """A study: its keys, the name of its demographics dataset and every dataset a query may touch.

    ``record_keys`` (optional) is a two-column table ``(id, record key)`` with the secret record key of every
    participant of the demographics version (disclosure control's cell-key method): counts and filtering reports
    then also return cell keys. It is never a dataset a spec can name, and runs never read it."""

    keys: StudyKeys
    demographics: str
    datasets: Mapping[str, DatasetInfo]
    record_keys: DatasetInfo | None = None

    def __post_init__(self) -> None:
        object.__setattr__(self, "datasets", dict(self.datasets))
        if self.record_keys is not None and len(self.record_keys.columns) != 2:
            raise CatalogError("the record-key table has exactly two columns: the id and the key")
        for key, ds in self.datasets.items():
            if key != ds.name:
                raise CatalogError(f"dataset registered as {key!r} is named {ds.name!r}")
            if not ds.has(self.keys.id_column):
                raise CatalogError(f"dataset {ds.name!r} lacks the id column {self.keys.id_column!r}")
        demo = self.datasets.get(self.demographics)
        if demo is None:
            raise CatalogError(f"demographics dataset {self.demographics!r} is not in the catalog")
        for role in ("session_column", "age_column", "sex_column", "site_column"):
            name = getattr(self.keys, role)
            if name is not None and not demo.has(name):
                raise CatalogError(f"{role} {name!r} is not a column of the demographics dataset")

    @property
    def longitudinal(self) -> bool:
        return self.keys.longitudinal

    @property
    def demo(self) -> DatasetInfo:
        return self.datasets[self.demographics]

    def dataset(self, name: str) -> DatasetInfo | None:
        return self.datasets.get(name) if isinstance(name, str) else None

    def is_key_column(self, dataset: str, column: str) -> bool:
        """True for the id column, the derived composite id column, and for the session column where it is a
        merge key of ``dataset``."""
        if column == self.keys.id_column or (
            self.keys.composite_column is not None and column == self.keys.composite_column
        ):
            return True
        return column == self.keys.session_column and self.joins_on_session(dataset)

    def joins_on_session(self, dataset: str) -> bool:
        """Longitudinal datasets join on id + session; a dataset without the session column (a per-participant
        table in a longitudinal study) joins on id alone."""
        ds = self.datasets[dataset]
        return self.keys.session_column is not None and ds.has(self.keys.session_column)


def physical_column(dataset: DatasetInfo, column: str) -> str:
    """The positional physical name of ``column`` in both engines (``c<index>``)."""
    return f"c{dataset.position(column)}"


@dataclass(frozen=True)
class StoreIndex:
    """The participant index store a count reads, as the engine attached it (DuckDB database ``name``).

    ``wide``: the store holds the pre-joined table :data:`INDEX_WIDE` instead of one table per version;
    ``unique_keys``: that table has one row per merge key (``pid``, ``sid``), so counts need no DISTINCT;
    ``participants``: how many participant ids the store has (its ``pid`` are ``1..participants``);
    ``record_keys``: for a keyed statement, the engine's table of every ``pid`` of the store with its record key
    (columns ``pid`` and ``c1``, 0 where the id has none), joined on the integer ``pid`` instead of the id text."""

    name: str
    wide: bool = False
    unique_keys: bool = False
    participants: int = 0
    record_keys: str | None = None

    @property
    def bitmaps(self) -> bool:
        """Whether participant sets can be counted as bitmaps over ``1..participants`` (one row per merge key of
        the wide table: the rows passing a condition are its merge keys, their ``pid`` bits its participants)."""
        return self.wide and self.unique_keys and self.participants > 0


def wide_column(dataset: DatasetInfo, physical: str) -> str:
    """The name of ``dataset``'s physical column ``physical`` in the store's pre-joined table."""
    return f"{physical_table_name(dataset)}__{physical}"


def physical_table_name(dataset: DatasetInfo) -> str:
    """Deterministic, sanitized table/view name for one dataset version (at most 63 bytes, ASCII)."""
    digest = hashlib.sha256(f"{dataset.name}\x00{dataset.version}\x00{dataset.sha256}".encode()).hexdigest()[:10]
    stem = re.sub(r"[^a-z0-9_]+", "_", dataset.name.lower()).strip("_") or "dataset"
    suffix = f"_v{dataset.version}_{digest}"
    stem = stem[: _PG_MAX_IDENTIFIER - len("dv_") - len(suffix)]
    return f"dv_{stem}{suffix}"
