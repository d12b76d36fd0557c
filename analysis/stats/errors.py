"""The one error type of the statistics service: a code and a sentence that are safe to show."""

from __future__ import annotations

from typing import Any


class StatsError(ValueError):
    """Input a statistic cannot be computed on (answered as 422 with ``code``)."""

    def __init__(self, code: str, message: str, details: dict[str, Any] | None = None) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.details = details or {}
