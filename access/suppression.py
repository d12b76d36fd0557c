"""Aggregate-only privacy: small-cell suppression and seeded rounding for callers at the count level.

For a caller whose level on some touched dataset is ``count``:

- a count below the study's threshold k (``Study.suppression_threshold`` or the workspace's
  ``suppression_threshold``) is not shown: ``{"participants": null, "rows": null, "suppressed": true, "threshold": k}``;
- any other count is perturbed by a deterministic offset in ``[-b/2, b/2]`` and rounded to a multiple of the base b
  (``count_rounding_base``), and never shown below k. The offset is an HMAC of the server secret, the schema and
  the query's cache key (spec hash + pinned version hashes) and the position of the number, so the same query on the
  same data always gives the same answer (repeating cannot average the noise away), and because every answer is a
  multiple of b, two queries differing by a group smaller than b cannot show that group's exact size.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Mapping
from typing import Any

from django.conf import settings
from django.db import connection

from bdt_project.config import config_get
from datasets.models import Study
from tenants.models import Tenant


def suppression_threshold(*, tenant: Tenant | None, study: Study) -> int:
    """k for ``study``: the workspace's threshold (its floor), raised by the study's own when that is higher."""
    return max(int(config_get("suppression_threshold", tenant)), int(study.suppression_threshold or 0))


def rounding_base(*, tenant: Tenant | None) -> int:
    """b: aggregate-only counts are multiples of it."""
    return int(config_get("count_rounding_base", tenant))


def _offset(seed: str, label: str, base: int) -> int:
    """A deterministic integer in [-(b//2), b//2] for (seed, label)."""
    if base <= 1:
        return 0
    secret = str(settings.SECRET_KEY).encode()
    schema = str(getattr(connection, "schema_name", ""))
    digest = hmac.new(secret, f"{schema}|{seed}|{label}".encode(), hashlib.sha256).digest()
    return int.from_bytes(digest[:8], "big") % (2 * (base // 2) + 1) - base // 2


def protect_number(value: int | None, *, seed: str, label: str, threshold: int, base: int) -> int | None:
    """One count as an aggregate-only caller sees it (None = suppressed)."""
    if value is None or value < threshold:
        return None
    if base <= 1:
        return int(value)
    noisy = value + _offset(seed, label, base)
    rounded = int(base * round(noisy / base))
    return max(rounded, base * -(-threshold // base))


def count_protect(result: Mapping[str, Any], *, tenant: Tenant | None, study: Study, seed: str) -> dict[str, Any]:
    """A count answer ``{"participants", "rows"}`` as an aggregate-only caller sees it."""
    k = suppression_threshold(tenant=tenant, study=study)
    base = rounding_base(tenant=tenant)
    participants = result.get("participants")
    if participants is None or int(participants) < k:
        return {"participants": None, "rows": None, "suppressed": True, "threshold": k}
    rows = result.get("rows")
    return {
        "participants": protect_number(int(participants), seed=seed, label="participants", threshold=k, base=base),
        "rows": protect_number(int(rows), seed=seed, label="rows", threshold=k, base=base)
        if rows is not None
        else None,
        "suppressed": False,
        "threshold": k,
        "rounded_to": base,
    }


def steps_protect(
    steps: list[dict[str, Any]], *, tenant: Tenant | None, study: Study, seed: str
) -> list[dict[str, Any]]:
    """Filtering-report steps (before/after/removed/%) as an aggregate-only caller sees them."""
    k = suppression_threshold(tenant=tenant, study=study)
    base = rounding_base(tenant=tenant)
    protected: list[dict[str, Any]] = []
    first: int | None = None
    previous: int | None = None
    for index, step in enumerate(steps):
        after = protect_number(step.get("after"), seed=seed, label=f"step{index}", threshold=k, base=base)
        extra = step.get("participants_after")
        people = (
            protect_number(extra, seed=seed, label=f"step{index}p", threshold=k, base=base)
            if extra is not None
            else None
        )
        before = previous if index else after
        if index == 0:
            first = after
        removed = before - after if before is not None and after is not None else None
        row = dict(step)
        row.update(
            {
                "before": before,
                "after": after,
                "removed": removed,
                "removed_pct": round(100.0 * removed / before, 1) if removed is not None and before else None,
                "cumulative_pct": round(100.0 * after / first, 1) if after is not None and first else None,
                "suppressed": after is None,
                "threshold": k,
            }
        )
        if "participants_after" in row:
            row["participants_after"] = people
        protected.append(row)
        previous = after
    return protected


def summary_protect(
    summary: list[dict[str, Any]], *, tenant: Tenant | None, study: Study, seed: str
) -> list[dict[str, Any]]:
    """The final data summary without value-level text and with protected counts."""
    k = suppression_threshold(tenant=tenant, study=study)
    base = rounding_base(tenant=tenant)
    rows = []
    for index, item in enumerate(summary):
        count = item.get("count")
        shown = protect_number(count, seed=seed, label=f"summary{index}", threshold=k, base=base)
        rows.append(
            {
                "column": item.get("column"),
                "type": item.get("type"),
                "count": shown,
                "missing": None,
                "missing_pct": None,
                "summary": None
                if shown is None
                else f"about {shown}"
                if not index
                else "not shown (aggregate-only access)",
                "suppressed": shown is None,
            }
        )
    return rows


def crosstab_protect(table: Mapping[str, Any], *, tenant: Tenant | None, study: Study, seed: str) -> dict[str, Any]:
    """A contingency table (``counts``, ``row_totals``, ``column_totals``, ``total``) as an aggregate-only caller
    sees it: every cell and margin below k suppressed, every other one rounded with its own seeded offset — so a
    hidden cell cannot be recovered as a margin minus the shown cells of its row or column."""
    k = suppression_threshold(tenant=tenant, study=study)
    base = rounding_base(tenant=tenant)
    rows = [str(level) for level in table.get("row_levels") or []]
    columns = [str(level) for level in table.get("column_levels") or []]
    key = f"{seed}|crosstab|{table.get('row')}|{table.get('column')}"

    def shown(value: Any, label: str) -> int | None:
        if value is None:
            return None
        if int(value) == 0:
            return 0  # an empty cell: nobody to protect, and the levels themselves are shown
        return protect_number(int(value), seed=key, label=label, threshold=k, base=base)

    protected = dict(table)
    protected["counts"] = [
        [shown(value, f"cell|{rows[i]}|{columns[j]}") for j, value in enumerate(line)]
        for i, line in enumerate(table.get("counts") or [])
    ]
    protected["row_totals"] = [shown(v, f"row|{rows[i]}") for i, v in enumerate(table.get("row_totals") or [])]
    protected["column_totals"] = [
        shown(v, f"column|{columns[j]}") for j, v in enumerate(table.get("column_totals") or [])
    ]
    protected["total"] = shown(table.get("total"), "total")
    protected.update({"suppressed": True, "threshold": k, "rounded_to": base})
    protected.pop("chi2", None)
    return protected
