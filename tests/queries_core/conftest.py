"""Fixtures for the Django-free query core: fixture studies as Parquet, engines, a private PostgreSQL database.

PostgreSQL: a database of our own (``queries_core_test``, suffixed with the name of the database in ``DATABASE_URL``
when set, so suites of several checkouts on one server never drop each other's) on the server named by
``QUERIES_CORE_PG_DSN`` (default 127.0.0.1:5432 as postgres), dropped and recreated per test session and dropped at
the end. It uses the ICU ``en-US`` collation on purpose, so byte-order sorting has to come from the compiler's
``COLLATE "C"``.
If the server is unreachable the PostgreSQL tests are skipped, except under CI (``CI`` set), where they fail.

Spark: one local SparkSession for the whole test session (``local[2]``, a 1 GB driver, 2 shuffle partitions),
shared by every Spark engine of the tests and stopped at the end. Without Java the Spark tests are skipped, except
under CI, where they fail (``scripts/ensure_java.sh`` installs it).
"""

from __future__ import annotations

import dataclasses
import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlsplit

import duckdb
import psycopg
import pyarrow.parquet as pq
import pytest
from psycopg.conninfo import make_conninfo

from access.disclosure import record_key_table
from queries.core.catalog import ColumnInfo, DatasetInfo, StudyCatalog, StudyKeys
from queries.core.engines.duckdb_engine import DuckDBEngine
from queries.core.engines.participant_store import StoreLocation, store_build
from queries.core.engines.postgres_engine import PostgresEngine
from queries.core.engines.spark_engine import SparkEngine, SparkSettings, spark_session, spark_session_stop
from queries.core.engines.sql_engine import SqlEngine
from tests.queries_core import oracle
from tests.queries_core.studies import build_catalog, sha256_file

PG_BASE_DSN = os.environ.get("QUERIES_CORE_PG_DSN", "host=127.0.0.1 port=5432 user=postgres dbname=postgres")
PG_TEST_DB = "_".join(filter(None, ("queries_core_test", urlsplit(os.environ.get("DATABASE_URL", "")).path.strip("/"))))
PG_SCHEMA = "study_data"


@pytest.fixture(scope="session")
def data_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("queries_core_data")


@pytest.fixture(scope="session")
def catalogs(data_dir: Path) -> dict[str, StudyCatalog]:
    return {key: build_catalog(key, data_dir / key) for key in ("xs", "rk", "vs")}


@pytest.fixture(scope="session")
def oracles() -> dict[str, oracle.Study]:
    return {key: oracle.load(key) for key in ("xs", "rk", "vs")}


def _admin() -> psycopg.Connection:
    return psycopg.connect(PG_BASE_DSN, autocommit=True, connect_timeout=3)


@pytest.fixture(scope="session")
def pg_dsn() -> Iterator[str]:
    try:
        admin = _admin()
    except psycopg.OperationalError as exc:
        if os.environ.get("CI"):
            raise
        pytest.skip(f"PostgreSQL unreachable: {exc}")
    with admin:
        admin.execute(f'DROP DATABASE IF EXISTS "{PG_TEST_DB}" WITH (FORCE)')
        admin.execute(
            f"CREATE DATABASE \"{PG_TEST_DB}\" TEMPLATE template0 ENCODING 'UTF8' "
            "LOCALE_PROVIDER icu ICU_LOCALE 'en-US' LOCALE 'C.UTF-8'"
        )
    dsn = make_conninfo(PG_BASE_DSN, dbname=PG_TEST_DB)
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute(f'CREATE SCHEMA "{PG_SCHEMA}"')
    yield dsn
    with _admin() as admin:
        admin.execute(f'DROP DATABASE IF EXISTS "{PG_TEST_DB}" WITH (FORCE)')


@pytest.fixture(scope="session")
def duck_engine() -> Iterator[DuckDBEngine]:
    engine = DuckDBEngine(memory_limit="512MB", threads=2, timeout_s=30)
    yield engine
    engine.close()


def store_location(directory: Path, *, wide: bool = True) -> StoreLocation:
    """Stores in ``directory``; a missing one is built at once (so the first count already reads it).

    The directory holds the stores of every fixture study and variant the tests count, where the platform has one
    directory per study: a build there would sweep the other studies' stores and the next count of each would
    build it again. So each store is built in a folder of its own and then moved in (the sweep and the fallback to
    a study's newest store are tested on directories of their own, ``test_participant_store.py``)."""

    def build(catalog: StudyCatalog) -> None:
        folder = Path(tempfile.mkdtemp(prefix=".build-", dir=directory))
        try:
            path, _ = store_build(folder, catalog, memory_limit="512MB", threads=2, wide=wide)
            os.replace(path, directory / path.name)
        finally:
            shutil.rmtree(folder, ignore_errors=True)

    return StoreLocation(directory, missing=build)


@pytest.fixture(scope="session")
def store_engine(tmp_path_factory: pytest.TempPathFactory) -> Iterator[DuckDBEngine]:
    """DuckDB reading the participant index store of every version set it counts (built on first use)."""
    engine = DuckDBEngine(
        memory_limit="512MB", threads=2, timeout_s=30, store=store_location(tmp_path_factory.mktemp("stores"))
    )
    yield engine
    engine.close()


@pytest.fixture(scope="session")
def tables_store_engine(tmp_path_factory: pytest.TempPathFactory) -> Iterator[DuckDBEngine]:
    """DuckDB reading stores built with one table per version (the layout of studies that cannot be pre-joined)."""
    directory = tmp_path_factory.mktemp("table-stores")
    engine = DuckDBEngine(memory_limit="512MB", threads=2, timeout_s=30, store=store_location(directory, wide=False))
    yield engine
    engine.close()


@pytest.fixture(scope="session")
def pg_engine(pg_dsn: str) -> Iterator[PostgresEngine]:
    engine = PostgresEngine(pg_dsn, schema=PG_SCHEMA, timeout_s=30, batch_size=4, load_batch_size=3)
    yield engine
    engine.close()


SPARK_TEST_SETTINGS = SparkSettings(driver_memory="1g", threads=2, shuffle_partitions=2)


@pytest.fixture(scope="session")
def spark_settings() -> Iterator[SparkSettings]:
    """The settings of the test session's one SparkSession (started here, stopped at the end)."""
    if shutil.which("java") is None and not os.environ.get("JAVA_HOME"):
        if os.environ.get("CI"):
            raise RuntimeError("Java is missing: run scripts/ensure_java.sh")
        pytest.skip("Java is not installed (scripts/ensure_java.sh)")
    spark_session(SPARK_TEST_SETTINGS)
    yield SPARK_TEST_SETTINGS
    spark_session_stop()


@pytest.fixture(scope="session")
def spark_engine(spark_settings: SparkSettings) -> SparkEngine:
    return SparkEngine(spark_settings, timeout_s=120)


ENGINE_FIXTURES = {
    "duckdb": "duck_engine",
    "duckdb_store": "store_engine",
    "postgres": "pg_engine",
    "spark": "spark_engine",
}


@pytest.fixture(params=["duckdb", "duckdb_store", "postgres"])
def engine(request: pytest.FixtureRequest) -> DuckDBEngine | PostgresEngine:
    return request.getfixturevalue(ENGINE_FIXTURES[request.param])


@pytest.fixture(scope="session")
def heavy(tmp_path_factory: pytest.TempPathFactory) -> StudyCatalog:
    """Two participants with 10,000 rows each on both sides: the join has 2 x 10^8 rows (seconds of work)."""
    d = tmp_path_factory.mktemp("heavy")
    con = duckdb.connect()
    con.execute(
        f"COPY (SELECT 'H' || (i % 2)::VARCHAR AS id, (i % 97)::DOUBLE AS x FROM range(20000) t(i)) "
        f"TO '{d}/demo.parquet' (FORMAT parquet)"
    )
    con.execute(
        f"COPY (SELECT 'H' || (i % 2)::VARCHAR AS id, i::BIGINT AS v FROM range(20000) t(i)) "
        f"TO '{d}/m.parquet' (FORMAT parquet)"
    )
    demo = DatasetInfo(
        "heavy_demo",
        "demographics",
        1,
        "a",
        (ColumnInfo("id", "string"), ColumnInfo("x", "float")),
        str(d / "demo.parquet"),
    )
    m = DatasetInfo(
        "heavy_m", "measure", 1, "b", (ColumnInfo("id", "string"), ColumnInfo("v", "integer")), str(d / "m.parquet")
    )
    return StudyCatalog(StudyKeys("id"), "heavy_demo", {"heavy_demo": demo, "heavy_m": m})


SECRET = b"queries-core-test-secret-0123456789abcdef"


@pytest.fixture(scope="session")
def keyed(catalogs: dict[str, StudyCatalog], data_dir: Path) -> dict[str, StudyCatalog]:
    """The fixture studies with a record-key table of their demographics' ids."""
    out = {}
    for key, catalog in catalogs.items():
        demo = catalog.demo
        id_name = catalog.keys.id_column
        ids = pq.read_table(demo.parquet_path, columns=[id_name]).column(0)
        path = data_dir / f"{key}_record_keys.parquet"
        pq.write_table(record_key_table(SECRET, ids, id_name), path)
        info = DatasetInfo(
            name="record_keys",
            kind="measure",
            version=1,
            sha256=sha256_file(path),
            columns=(ColumnInfo(id_name, demo.type_of(id_name)), ColumnInfo("record_key", "integer")),
            parquet_path=str(path),
        )
        out[key] = dataclasses.replace(catalog, record_keys=info)
    return out


@pytest.fixture
def engines(duck_engine: SqlEngine, request: pytest.FixtureRequest) -> list[SqlEngine]:
    """DuckDB (Parquet views, then the participant index store) and PostgreSQL; without PostgreSQL when it is
    unreachable outside CI (pg_dsn skips)."""
    store = request.getfixturevalue("store_engine")
    try:
        return [duck_engine, store, request.getfixturevalue("pg_engine")]
    except pytest.skip.Exception:
        return [duck_engine, store]
