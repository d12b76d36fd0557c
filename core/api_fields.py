"""Input field types shared by the API schemas."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated

from pydantic import AfterValidator


def _in_utc(value: datetime) -> datetime:
    """An aware date-time in UTC: offsets such as ``+16:00`` are valid ISO 8601 but beyond what PostgreSQL stores,
    and a date at the edge of the calendar may not exist in UTC at all (both are invalid input, not a 500)."""
    if value.tzinfo is None:
        return value
    try:
        return value.astimezone(UTC)
    except (OverflowError, ValueError) as exc:
        raise ValueError("date-time out of range") from exc


#: A date-time query or body field (ISO 8601), converted to UTC on input.
ApiDateTime = Annotated[datetime, AfterValidator(_in_utc)]
