"""The one error type of connectors (stable code, message without secrets or paths)."""

from __future__ import annotations

from typing import Any


class ConnectorError(Exception):
    """A failure a steward can act on: ``code`` is stable, ``message`` a sentence without secrets or paths."""

    def __init__(self, code: str, message: str, details: dict[str, Any] | None = None) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.details = details or {}

    def as_dict(self) -> dict[str, Any]:
        return {"code": self.code, "message": self.message}
