"""The audit log as CSV: one row per event, streamed, formula-safe (cells cannot start a spreadsheet formula)."""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterable, Iterator

from django.db.models import QuerySet

from audit.models import AuditEvent
from core.csv_safety import csv_safe

CSV_FIELDS = [
    "id",
    "at",
    "actor",
    "action",
    "target_type",
    "target_id",
    "target",
    "details",
    "ip",
    "user_agent",
    "request_id",
    "hash",
    "prev_hash",
]
CHUNK_ROWS = 1000


def _row(event: AuditEvent) -> list[object]:
    return [
        event.pk,
        event.at.isoformat(),
        event.actor_email,
        event.action,
        event.target_type,
        event.target_id,
        event.target_repr,
        json.dumps(event.details, sort_keys=True, ensure_ascii=False, default=str),
        event.ip or "",
        event.user_agent,
        event.request_id,
        event.hash,
        event.prev_hash,
    ]


def audit_csv_lines(events: QuerySet[AuditEvent] | Iterable[AuditEvent]) -> Iterator[str]:
    """CSV text of ``events`` in chunks: a header, then one line per event (every cell neutralized)."""
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(CSV_FIELDS)
    source = events.iterator(chunk_size=CHUNK_ROWS) if isinstance(events, QuerySet) else events
    for count, event in enumerate(source, start=1):
        writer.writerow([csv_safe(value) for value in _row(event)])
        if count % CHUNK_ROWS == 0:
            yield buffer.getvalue()
            buffer.seek(0)
            buffer.truncate()
    yield buffer.getvalue()
