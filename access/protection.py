"""Count answers as an aggregate-only caller sees them: the Django side of ``access.disclosure``.

Every count surface hands its true counts here as cells (counts + cell keys from the engine pass or the result
file) and gets back what a caller at the ``count`` level may see — the same function for the live count, the live
and the run filtering report, the run summary, run row counts, crosstabs and the catalog. The rules of a study are
its threshold k (``access.suppression.suppression_threshold``) and the workspace's maximum noise D
(``disclosure_max_noise``) and variance V (``disclosure_noise_variance``).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from access.disclosure import Cell, DisclosureRules, ShownCell, protect_cell
from access.suppression import suppression_threshold
from core.config import config_get
from datasets.models import Study
from datasets.study_origins import study_origin
from tenants.models import Tenant


def disclosure_rules(*, tenant: Tenant | None, study: Study) -> DisclosureRules:
    """Threshold k, maximum noise D and variance V for ``study``."""
    origin = study_origin(study)
    return DisclosureRules.build(
        threshold=suppression_threshold(tenant=tenant, study=study),
        max_noise=max(int(config_get("disclosure_max_noise", tenant)), origin.max_noise_floor if origin else 0),
        variance=max(float(config_get("disclosure_noise_variance", tenant)), origin.variance_floor if origin else 0.0),
    )


def cell_of(counted: Any) -> Cell:
    """A cell from an engine count or step (attributes or a mapping with participants, rows and both keys)."""

    def value(name: str) -> int:
        raw = counted.get(name) if isinstance(counted, Mapping) else getattr(counted, name, None)
        if raw is None:
            raise ValueError(f"the count has no {name}: it was computed without record keys")
        return int(raw)

    return Cell(
        participants=value("participants"),
        rows=value("rows"),
        participants_key=value("participants_key"),
        rows_key=value("rows_key"),
    )


def protection_fields(rules: DisclosureRules) -> dict[str, Any]:
    """What every protected answer says about how it was protected."""
    return {"threshold": rules.threshold, "perturbed": True, "max_noise": rules.max_noise}


def count_shown(cell: Cell, rules: DisclosureRules) -> dict[str, Any]:
    """A count answer: ``{"participants", "rows", "suppressed", "threshold", ...}`` (nulls when suppressed)."""
    shown = protect_cell(cell, rules)
    return {
        "participants": shown.participants,
        "rows": shown.rows,
        "suppressed": shown.suppressed,
        **protection_fields(rules),
    }


def _pct(part: int | None, whole: int | None) -> float | None:
    return round(100.0 * part / whole, 1) if part is not None and whole else None


def steps_shown(
    steps: Sequence[Mapping[str, Any]], cells: Sequence[Cell], rules: DisclosureRules, *, by_rows: bool
) -> list[dict[str, Any]]:
    """Filtering-report steps (``after`` counts rows when ``by_rows``, else participants): each step is a cell of
    its own; ``before`` / ``removed`` / percentages follow from the shown numbers, never from exact ones; a step is
    suppressed when fewer than k participants would be shown (whatever its rows)."""
    protected: list[dict[str, Any]] = []
    first: int | None = None
    previous: int | None = None
    for index, (step, cell) in enumerate(zip(steps, cells, strict=True)):
        shown = protect_cell(cell, rules)
        after = shown.rows if by_rows else shown.participants
        before = previous if index else None
        if index == 0:
            first = after
        removed = before - after if before is not None and after is not None else None
        row = dict(step)
        row.update(
            {
                "before": before,
                "after": after,
                "participants_after": shown.participants,
                "removed": removed,
                "removed_pct": _pct(removed, before),
                "cumulative_pct": round(100.0 - 100.0 * after / first, 1) if after is not None and first else None,
                "suppressed": shown.suppressed,
                **protection_fields(rules),
            }
        )
        protected.append(row)
        previous = after
    return protected


def summary_shown(
    summary: Sequence[Mapping[str, Any]], cells: Sequence[Cell | None], rules: DisclosureRules
) -> list[dict[str, Any]]:
    """A run's final summary: per column only its count of values (a cell: the rows holding a value), no value
    texts, no missing counts (the total minus the count would be exact)."""
    rows: list[dict[str, Any]] = []
    for index, (item, cell) in enumerate(zip(summary, cells, strict=True)):
        shown: ShownCell | None = protect_cell(cell, rules) if cell is not None else None
        count = shown.rows if shown is not None else None
        rows.append(
            {
                "column": item.get("column"),
                "type": item.get("type"),
                "count": count,
                "missing": None,
                "missing_pct": None,
                "summary": (f"about {count} rows" if index == 0 else "not shown (aggregate-only access)")
                if count is not None
                else "not shown (fewer than the threshold)",
                "suppressed": count is None,
            }
        )
    return rows


def dropoff_shown(dropoff: Mapping[str, Any], rules: DisclosureRules | None) -> dict[str, Any]:
    """A count's drop-off as the caller sees it: exact (``rules`` None: query level and above) or every number a
    protected cell of its own (``None`` when suppressed). ``removed`` (in order) follows from the shown numbers,
    never from exact ones. The numbers count participants, perturbed with their participants' key like every count,
    so the last filter's ``remaining`` shows the count's own number.

    ``{"dropoff_start": {"participants"}, "dropoff": [{"filter", "remaining", "removed", "removed_alone"}, ...]}``"""

    def shown(raw: Mapping[str, Any]) -> int | None:
        if rules is None:
            return int(raw["participants"])
        return protect_cell(cell_of(raw), rules).participants

    start = shown(dropoff["start"])
    items: list[dict[str, Any]] = []
    previous = start
    for index, item in enumerate(dropoff["filters"]):
        remaining = shown(item["remaining"])
        items.append(
            {
                "filter": index,
                "remaining": remaining,
                "removed": previous - remaining if previous is not None and remaining is not None else None,
                "removed_alone": shown(item["removed_alone"]),
            }
        )
        previous = remaining
    return {"dropoff_start": {"participants": start}, "dropoff": items}
