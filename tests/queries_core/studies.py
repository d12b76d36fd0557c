"""Fixture studies: CSV folders + column types -> typed Parquet files (DuckDB COPY) + StudyCatalog."""

from __future__ import annotations

import csv
import hashlib
from dataclasses import dataclass
from pathlib import Path

import duckdb

from core.column_types import ColumnType
from queries.core.catalog import ColumnInfo, DatasetInfo, StudyCatalog, StudyKeys

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "queries"

DUCK_TYPES: dict[str, str] = {
    "integer": "BIGINT",
    "float": "DOUBLE",
    "string": "VARCHAR",
    "boolean": "BOOLEAN",
    "date": "DATE",
    "timestamp": "TIMESTAMP",
}

LONG_HEADER = "a very long research header name that is well beyond sixty-three bytes (ü)"
UNICODE_HEADER = "Reaktionszeit (ms) – ü"


@dataclass(frozen=True)
class StudyDef:
    folder: str
    keys: StudyKeys
    demographics: str
    types: dict[str, dict[str, ColumnType]]  # dataset -> column -> type (every CSV column)


STUDIES: dict[str, StudyDef] = {
    "xs": StudyDef(
        "cross_sectional",
        StudyKeys("participant_id", None, "age", "sex", "site"),
        "subjects",
        {
            "subjects": {
                "participant_id": "string",
                "age": "float",
                "sex": "integer",
                "site": "string",
                "group by": "string",
                "Größe cm": "float",
                "select": "integer",
                'weird"name': "string",
            },
            "cognitive": {
                "participant_id": "string",
                "memory": "float",
                "attention": "integer",
                "age": "float",
                "score": "float",
                "visit_date": "date",
                "dropout": "boolean",
                "timetable": "string",
                LONG_HEADER: "integer",
                "measured_at": "timestamp",
            },
            "behaviour": {
                "participant_id": "string",
                "task": "string",
                "rt": "float",
                "score": "integer",
                "order": "integer",
                "file_row_number": "integer",
            },
        },
    ),
    "rk": StudyDef(
        "longitudinal",
        StudyKeys("ursi", "session_num", "age", "sex", "all_studies"),
        "rockland_demo",
        {
            "rockland_demo": {
                "ursi": "string",
                "session_num": "string",
                "age": "float",
                "sex": "integer",
                "all_studies": "string",
                "height": "float",
                "weight": "float",
            },
            "cog": {
                "ursi": "string",
                "session_num": "string",
                "working_memory": "float",
                "attention": "integer",
                "weight": "float",
            },
            "flanker": {
                "ursi": "string",
                "session_num": "string",
                "rt_con": "float",
                "acc": "float",
                "order": "integer",
                UNICODE_HEADER: "float",
            },
            "genetics": {"ursi": "string", "apoe": "string"},
        },
    ),
    "vs": StudyDef(
        "visits",
        StudyKeys("subject", "visit"),
        "visits_demo",
        {"visits_demo": {"subject": "integer", "visit": "integer", "score": "float", "group": "string"}},
    ),
}


def csv_header(path: Path) -> list[str]:
    with path.open(newline="", encoding="utf-8") as fh:
        return next(csv.reader(fh))


def _q(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def csv_to_parquet(con: duckdb.DuckDBPyConnection, src: Path, types: dict[str, ColumnType], dst: Path) -> None:
    header = csv_header(src)
    assert header == list(types), (src, header)
    select = ", ".join(f"CAST({_q(c)} AS {DUCK_TYPES[types[c]]}) AS {_q(c)}" for c in header)
    source = f"read_csv('{src}', header=true, all_varchar=true, delim=',', quote='\"', escape='\"')"
    con.execute(f"COPY (SELECT {select} FROM {source}) TO '{dst}' (FORMAT parquet)")


def sha256_file(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def build_catalog(key: str, out_dir: Path) -> StudyCatalog:
    study = STUDIES[key]
    out_dir.mkdir(parents=True, exist_ok=True)
    con = duckdb.connect()
    datasets = {}
    for name, types in study.types.items():
        src = FIXTURES / study.folder / f"{name}.csv"
        dst = out_dir / f"{key}_{name}.parquet"
        csv_to_parquet(con, src, types, dst)
        datasets[name] = DatasetInfo(
            name=name,
            kind="demographics" if name == study.demographics else "measure",
            version=1,
            sha256=sha256_file(dst),
            columns=tuple(ColumnInfo(c, t) for c, t in types.items()),
            parquet_path=str(dst),
        )
    con.close()
    return StudyCatalog(study.keys, study.demographics, datasets)
