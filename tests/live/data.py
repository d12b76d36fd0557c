"""CSV files for the live-stack tests (generated, deterministic)."""

from __future__ import annotations

from typing import Any

from tests.live.stack import ApiCaller

INCIDENT_PARTICIPANTS, INCIDENT_SESSIONS, INCIDENT_VALUES = 10, 1237, 8


def incident_csv() -> bytes:
    """The incident's study: 10 participants, 1,237 sessions each, 8 value columns (wide: 9,897 columns)."""
    lines = ["participant_id,session," + ",".join(f"m{i}" for i in range(INCIDENT_VALUES))]
    for p in range(INCIDENT_PARTICIPANTS):
        for s in range(INCIDENT_SESSIONS):
            lines.append(f"P{p:02d},S{s}," + ",".join(str((p * 31 + s * 7 + i) % 101) for i in range(INCIDENT_VALUES)))
    return ("\n".join(lines) + "\n").encode()


def cohort_csv(participants: int, *, sessions: int = 1) -> bytes:
    """``participants`` x ``sessions`` rows: age, score, group."""
    header = "participant_id,session,age,score,grp" if sessions > 1 else "participant_id,age,score,grp"
    lines = [header]
    for p in range(participants):
        for s in range(sessions):
            key = f"P{p:06d},S{s}" if sessions > 1 else f"P{p:06d}"
            lines.append(f"{key},{20 + p % 60},{(p * 13 + s) % 997 / 10},{'ABCD'[p % 4]}")
    return ("\n".join(lines) + "\n").encode()


def study_with_data(
    caller: ApiCaller, slug: str, content: bytes, *, sessions: bool, engine: str = "duckdb"
) -> dict[str, Any]:
    """Create a study and ingest its demographics table through the API and the worker."""
    payload: dict[str, Any] = {"slug": slug, "name": slug.title(), "id_column": "participant_id", "engine": engine}
    if sessions:
        payload["session_column"] = "session"
    created = caller.post("/api/v1/studies", payload)
    assert created.status == 201, created.body
    uploaded = caller.upload(slug, "demographics", content, kind="demographics")
    assert uploaded.status == 202, uploaded.body
    done = caller.ingest_done(uploaded.body["ingest"]["id"])
    assert done["status"] == "succeeded", done
    return done
