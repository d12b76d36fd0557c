"""Specs run against the engines and checked against the oracle (id -> (study, spec))."""

from __future__ import annotations

from typing import Any

from tests.queries_core.studies import LONG_HEADER, UNICODE_HEADER

INJECTION = "x' OR 1=1 --"

XS: dict[str, dict[str, Any]] = {
    "all": {},
    "site_one": {"sites": ["Discovery"]},
    "sites_or": {"sites": ["Neurofeedback", "A"]},
    "site_case_sensitive": {"sites": ["discovery"]},
    "age_fraction": {"filters": [{"dataset": "subjects", "column": "age", "op": "between", "value": [17.5, 29.999]}]},
    "age_open": {"filters": [{"dataset": "subjects", "column": "age", "op": "gt", "value": 28.25}]},
    "memory_between": {
        "filters": [{"dataset": "cognitive", "column": "memory", "op": "between", "value": [0.55, 0.905]}],
        "columns": {"cognitive": ["memory", "age", "score"]},
    },
    "in_several": {
        "filters": [{"dataset": "behaviour", "column": "task", "op": "in", "value": ["flanker", "nback", "zzz"]}],
        "columns": {"behaviour": ["task", "rt", "score"]},
    },
    "same_row": {
        "filters": [
            {"dataset": "behaviour", "column": "task", "op": "eq", "value": "flanker"},
            {"dataset": "behaviour", "column": "rt", "op": "gt", "value": 440},
        ],
        "columns": {"behaviour": ["task", "rt"]},
    },
    "participants": {"participants": ["P01", "007", "nope"], "columns": {"behaviour": ["task"]}},
    "not_in_ne": {
        "filters": [
            {"dataset": "behaviour", "column": "task", "op": "not_in", "value": ["stroop"]},
            {"dataset": "subjects", "column": "sex", "op": "ne", "value": 2},
        ]
    },
    "is_null_missing_rows": {"filters": [{"dataset": "cognitive", "column": "score", "op": "is_null"}]},
    "not_null": {"filters": [{"dataset": "cognitive", "column": "attention", "op": "not_null"}]},
    "date_gte": {
        "filters": [{"dataset": "cognitive", "column": "visit_date", "op": "gte", "value": "2020-06-01"}],
        "columns": {"cognitive": ["visit_date"]},
    },
    "timestamp_between": {
        "filters": [
            {
                "dataset": "cognitive",
                "column": "measured_at",
                "op": "between",
                "value": ["2020-02-01T14:00:00.25", "2021-01-01 12:00:00"],
            }
        ],
        "columns": {"cognitive": ["measured_at"]},
    },
    "boolean_eq": {
        "filters": [{"dataset": "cognitive", "column": "dropout", "op": "eq", "value": False}],
        "columns": {"cognitive": ["dropout", "timetable"]},
    },
    "sql_word_columns": {
        "filters": [
            {"dataset": "subjects", "column": "group by", "op": "eq", "value": "ctrl"},
            {"dataset": "subjects", "column": "select", "op": "lte", "value": 9},
        ]
    },
    "quote_value_is_data": {
        "filters": [{"dataset": "subjects", "column": 'weird"name', "op": "eq", "value": INJECTION}],
    },
    "quote_value_in_measure": {
        "filters": [
            {"dataset": "behaviour", "column": "task", "op": "in", "value": [INJECTION, "'; DROP TABLE x; --"]}
        ],
        "columns": {"behaviour": ["task"]},
    },
    "same_named_columns": {"columns": {"cognitive": ["score", "age", "memory"], "behaviour": ["score", "order"]}},
    "long_header_and_shadow": {
        "filters": [{"dataset": "cognitive", "column": LONG_HEADER, "op": "gte", "value": 3}],
        "columns": {"cognitive": [LONG_HEADER], "behaviour": ["file_row_number", "rt"]},
    },
    "everything": {
        "sites": ["Discovery", "Neurofeedback"],
        "participants": ["P01", "P02", "P03", "P06", "p11", "P10"],
        "filters": [
            {"dataset": "subjects", "column": "age", "op": "between", "value": [17, 35.5]},
            {"dataset": "cognitive", "column": "memory", "op": "gte", "value": 0.3},
            {"dataset": "behaviour", "column": "rt", "op": "lt", "value": 600},
        ],
        "columns": {"behaviour": ["rt", "task"], "cognitive": ["memory"]},
    },
}

RK: dict[str, dict[str, Any]] = {
    "all": {},
    "sessions": {"sessions": ["BAS1", "FU12"]},
    "sites": {"sites": ["Discovery"]},
    "site_and_session": {"sites": ["Longitudinal_Adult"], "sessions": ["BAS2", "FU2"]},
    "cog_between": {
        "filters": [{"dataset": "cog", "column": "working_memory", "op": "between", "value": [0.55, 0.8]}],
        "columns": {"cog": ["working_memory", "weight"]},
    },
    "same_row_two_filters": {
        "filters": [
            {"dataset": "cog", "column": "working_memory", "op": "gte", "value": 0.78},
            {"dataset": "cog", "column": "attention", "op": "lte", "value": 15},
        ],
        "columns": {"cog": ["working_memory", "attention"]},
    },
    "flanker_fraction": {
        "filters": [{"dataset": "flanker", "column": "acc", "op": "between", "value": [0.6, 0.905]}],
        "columns": {"flanker": ["rt_con", "acc", "order", UNICODE_HEADER]},
    },
    "per_participant_dataset": {
        "filters": [{"dataset": "genetics", "column": "apoe", "op": "in", "value": ["e3/e3"]}],
        "columns": {"genetics": ["apoe"]},
    },
    "participants_sessions": {"participants": ["A00004", "a00006"], "sessions": ["FU12"]},
    "two_datasets": {
        "filters": [{"dataset": "rockland_demo", "column": "age", "op": "lt", "value": 30}],
        "columns": {"cog": ["weight", "working_memory"], "flanker": ["acc"]},
    },
    "consolidate": {"columns": {"cog": ["working_memory"]}, "consolidate_baseline": True},
    "no_age_filter_missing_age_kept": {"columns": {"genetics": ["apoe"], "cog": ["attention"]}},
}

VS: dict[str, dict[str, Any]] = {
    "all": {},
    "consolidate": {"consolidate_baseline": True},
    "sessions_mixed_types": {"sessions": ["1", 2, "10"]},
    "score_filter": {"filters": [{"dataset": "visits_demo", "column": "score", "op": "gte", "value": 11}]},
}

CASES: list[tuple[str, str, dict[str, Any]]] = (
    [("xs", k, v) for k, v in XS.items()]
    + [("rk", k, v) for k, v in RK.items()]
    + [("vs", k, v) for k, v in VS.items()]
)
LONGITUDINAL_CASES = [c for c in CASES if c[0] != "xs"]
