"""Formula-safe CSV cells: every CSV the platform writes (exports, dictionaries, the audit log) passes its cells
through :func:`csv_safe`, so no cell can start a spreadsheet formula."""

from __future__ import annotations

from typing import Any

FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")  # first characters that make a spreadsheet cell a formula


def csv_safe(value: Any) -> Any:
    """Neutralize spreadsheet formulas (OWASP): prefix cells starting with = + - @ tab or CR with a quote."""
    if isinstance(value, str) and value[:1] in FORMULA_STARTS:
        return "'" + value
    return value
