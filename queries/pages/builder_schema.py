"""What the query builder offers for a study: datasets, filterable columns with their statistics, sessions, sites.

Everything comes from the latest dataset versions' column profiles (``DatasetVersion.columns``). Where a profile
does not carry every value of a column (``top_values`` holds only the most frequent ones), the distinct values are
read with DuckDB from the version's Parquet file, capped, and cached by the file's sha256.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass, field
from typing import Any

import pyarrow.parquet as pq
from django.core.cache import cache
from sqlglot import exp

from access.catalog_cells import value_cells
from access.disclosure import DisclosureRules, protect_cell
from core.column_types import NUMERIC_TYPES
from core.parquet_reader import parquet_reader
from datasets.models import DatasetVersion, Study
from datasets.storage import version_cache_path
from datasets.study_keys import study_keys_require
from queries.core.spec import SITE_SEPARATORS
from queries.execution import study_latest_versions

ORDERED_TYPES = frozenset({"integer", "float", "date", "timestamp"})
SITE_TOKEN_RE = re.compile("[^" + re.escape(SITE_SEPARATORS) + "]+")
MAX_DISTINCT_SCAN = 5_000  # distinct cells read to find site tokens
MAX_SITE_TOKENS = 500
VALUE_SEARCH_LIMIT = 50
CACHE_SECONDS = 24 * 3600


@dataclass(frozen=True)
class ColumnChoice:
    """A column the builder can filter on or output, with the statistics of its latest version."""

    name: str
    type: str
    min: Any = None
    max: Any = None
    distinct: int | None = None
    missing: int | None = None
    top_values: tuple[tuple[Any, int | None], ...] = ()
    protected: bool = False  # statistics under the disclosure rules (caller below query): never list rare values

    @property
    def ordered(self) -> bool:
        return self.type in ORDERED_TYPES

    @property
    def numeric(self) -> bool:
        return self.type in NUMERIC_TYPES

    @property
    def values_complete(self) -> bool:
        """True when ``top_values`` lists every distinct value of the column."""
        return self.distinct is not None and 0 < self.distinct <= len(self.top_values)

    @property
    def input_type(self) -> str:
        """The HTML input type for one value of this column."""
        return {"integer": "number", "float": "number", "date": "date", "timestamp": "datetime-local"}.get(
            self.type, "text"
        )


@dataclass(frozen=True)
class DatasetChoice:
    name: str
    kind: str
    title: str
    version: DatasetVersion
    columns: tuple[ColumnChoice, ...]  # without the key columns

    def column(self, name: str) -> ColumnChoice | None:
        return next((c for c in self.columns if c.name == name), None)

    @property
    def label(self) -> str:
        return f"{self.name} — {self.title}" if self.title and self.title != self.name else self.name


@dataclass(frozen=True)
class StudySchema:
    """The study as the builder sees it (latest versions)."""

    study: Study
    demographics: str
    datasets: dict[str, DatasetChoice] = field(default_factory=dict)
    sessions: tuple[str, ...] = ()

    @property
    def longitudinal(self) -> bool:
        return self.study.is_longitudinal

    @property
    def ready(self) -> bool:
        return bool(self.demographics) and self.demographics in self.datasets

    @property
    def age(self) -> ColumnChoice | None:
        demo = self.datasets.get(self.demographics)
        column = self.study.age_column
        return demo.column(column) if demo and column else None

    @property
    def measures(self) -> list[DatasetChoice]:
        return [d for name, d in self.datasets.items() if name != self.demographics]

    @property
    def demographics_choice(self) -> DatasetChoice | None:
        return self.datasets.get(self.demographics)

    def column(self, dataset: str, column: str) -> ColumnChoice | None:
        choice = self.datasets.get(dataset)
        return choice.column(column) if choice else None

    def column_type(self, dataset: str, column: str) -> str | None:
        found = self.column(dataset, column)
        return found.type if found else None


def _top_values(raw: Any) -> tuple[tuple[Any, int | None], ...]:
    items: list[tuple[Any, int | None]] = []
    for item in raw or []:
        if isinstance(item, dict):
            items.append((item.get("value"), item.get("count")))
        elif isinstance(item, list | tuple) and len(item) == 2:
            items.append((item[0], item[1]))
    return tuple((v, c) for v, c in items if v is not None)


def _key_columns(study: Study, version: DatasetVersion) -> set[str]:
    names = set(version.column_names())
    keys = {study.id_column}
    if study.session_column and study.session_column in names:
        keys.add(study.session_column)
    if study.composite_id_column:
        keys.add(study.composite_id_column)  # derived from id + session: never a data column
    return keys


def study_schema(study: Study) -> StudySchema:
    """The builder's view of ``study`` at its latest versions (demographics first, then measures by name)."""
    versions = study_latest_versions(study)
    study_keys_require(study, versions)  # 409 study_keys_invalid rather than a page that cannot work
    demographics = study.demographics.name if study.demographics else ""
    ordered = sorted(versions.items(), key=lambda item: (item[0] != demographics, item[0]))
    datasets: dict[str, DatasetChoice] = {}
    for name, version in ordered:
        keys = _key_columns(study, version)
        columns = tuple(
            ColumnChoice(
                name=str(c["name"]),
                type=str(c.get("type", "string")),
                min=c.get("min"),
                max=c.get("max"),
                distinct=c.get("distinct"),
                missing=c.get("missing"),
                top_values=_top_values(c.get("top_values")),
            )
            for c in version.columns
            if c.get("name") not in keys
        )
        datasets[name] = DatasetChoice(
            name=name, kind=version.dataset.kind, title=version.dataset.title, version=version, columns=columns
        )
    sessions: tuple[str, ...] = ()
    if study.is_longitudinal and demographics in versions:
        sessions = tuple(str(s) for s in versions[demographics].sessions or [])
    return StudySchema(study=study, demographics=demographics, datasets=datasets, sessions=sessions)


def site_tokens_of(cells: list[str]) -> list[str]:
    """The site tokens of multi-valued site cells (``{A, B}``, ``A;B``, ``A B``, ``["A","B"]``), sorted, unique."""
    tokens: set[str] = set()
    for cell in cells:
        tokens.update(SITE_TOKEN_RE.findall(str(cell)))
    return sorted(tokens, key=lambda t: (t.casefold(), t))


def _parquet_column(path: str, column: str) -> str:
    """DuckDB's name for a Parquet column (it renames case-insensitive duplicates)."""
    names = pq.read_schema(path).names
    with parquet_reader() as con:
        duck_names = con.read_parquet(path).columns
    return str(duck_names[names.index(column)])


def value_search_cache_key(
    version: DatasetVersion, column: str, *, search: str, limit: int, rules: DisclosureRules | None, scope: str
) -> str:
    """The cache key of one value search: per member (``scope``), version, column, search, limit and rules."""
    rule = f"{rules.threshold}/{rules.max_noise}/{rules.variance}" if rules is not None else "exact"
    wanted = f"{scope}|{version.parquet_sha256}|{column}|{search.casefold()}|{limit}|{rule}"
    return "qb:distinct:" + hashlib.sha256(wanted.encode()).hexdigest()


def distinct_values(
    version: DatasetVersion,
    column: str,
    *,
    search: str = "",
    limit: int = VALUE_SEARCH_LIMIT,
    rules: DisclosureRules | None = None,
    scope: str = "",
) -> list[str]:
    """Up to ``limit`` distinct non-null values of ``column`` (as text, sorted), containing ``search`` (any case).

    With ``rules`` (callers below ``query``) only values at least k participants hold under the disclosure rules
    (the same perturbed count as everywhere, ``access.catalog_cells.value_cells``), so a value search cannot list
    individuals' values (names, rare diagnoses). ``scope`` (the caller) keeps cached searches per member: another
    member's search never makes yours faster."""
    key = value_search_cache_key(version, column, search=search, limit=limit, rules=rules, scope=scope)
    found = cache.get(key)
    if found is not None:
        return list(found)
    if rules is not None:
        cells = value_cells(version.dataset.study, version, column, search=search, min_participants=rules.threshold)
        values = sorted(str(value) for value, cell in cells if not protect_cell(cell, rules).suppressed)[:limit]
        cache.set(key, values, CACHE_SECONDS)
        return values
    path = str(version_cache_path(version.parquet_file, version.parquet_sha256))
    ident = exp.cast(exp.column(_parquet_column(path, column), quoted=True), "VARCHAR")
    query = exp.select(ident.as_("v")).from_(exp.func("read_parquet", exp.Placeholder()))
    query = query.where(ident.is_(exp.null()).not_())
    params: list[Any] = [path]
    if search:
        query = query.where(exp.func("contains", exp.func("lower", ident), exp.func("lower", exp.Placeholder())))
        params.append(search)
    query = query.group_by(ident)
    sql = query.order_by(exp.column("v")).limit(exp.Placeholder()).sql(dialect="duckdb")
    with parquet_reader() as con:
        rows = con.execute(sql, [*params, limit]).fetchall()
    values = [str(row[0]) for row in rows]
    cache.set(key, values, CACHE_SECONDS)
    return values


def site_options(schema: StudySchema) -> list[str]:
    """The site tokens a user can pick: from the site column's top values when they are complete (or protected:
    then only the common ones), else read from the demographics Parquet with DuckDB (every distinct cell, capped)."""
    study = schema.study
    demo = schema.demographics_choice
    if not study.site_column or demo is None:
        return []
    column = demo.column(study.site_column)
    if column is None:
        return []
    if column.values_complete or column.protected:
        cells = [str(v) for v, _ in column.top_values]
    else:
        cells = distinct_values(demo.version, column.name, limit=MAX_DISTINCT_SCAN)
    return site_tokens_of(cells)[:MAX_SITE_TOKENS]


def value_options(schema: StudySchema, dataset: str, column: str) -> tuple[list[tuple[str, int | None]], bool]:
    """(value, count) options for a categorical filter and whether they are all the column's values. A protected
    column offers only its common values (those at least k participants hold, without counts)."""
    choice = schema.datasets.get(dataset)
    col = choice.column(column) if choice else None
    if choice is None or col is None:
        return [], True
    if col.values_complete or col.protected:
        return [(_text(v), c) for v, c in col.top_values], col.values_complete
    if col.distinct is not None and col.distinct <= VALUE_SEARCH_LIMIT:
        return [(v, None) for v in distinct_values(choice.version, column)], True
    return [(_text(v), c) for v, c in col.top_values], False


def _text(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)
