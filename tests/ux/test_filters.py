"""Template filters that turn values into words people read: durations and audit event details."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from audit.templatetags.audit_ui import detail_value
from datasets.templatetags.datasets_ui import elapsed

START = datetime(2026, 1, 1, tzinfo=UTC)


def test_elapsed_is_seconds_for_short_runs_and_minutes_or_hours_for_long_ones() -> None:
    assert elapsed(START, START + timedelta(milliseconds=120)) == "0.1 s"
    assert elapsed(START, START + timedelta(seconds=42)) == "42 s"
    assert elapsed(START, START + timedelta(seconds=185)) == "3 min 5 s"
    assert elapsed(START, START + timedelta(minutes=120)) == "2 h"
    assert elapsed(None, START) == "—"


def test_audit_details_are_words_and_json_not_python_values() -> None:
    assert detail_value(None) == "—" and detail_value("") == "—"
    assert detail_value(True) == "yes" and detail_value(False) == "no"
    assert detail_value({"cognitive": [2, "abc"]}) == '{"cognitive": [2, "abc"]}'
    assert detail_value(7) == "7"
