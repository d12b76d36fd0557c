"""The ONE access check of the analysis app (statistics, plots, selections, profiles).

Every view and API handler of this app gets its run through :func:`analysis_run_get`: the run must be visible to
the caller (``queries.selectors.run_get_for_user``, else 404) and the caller needs ``level`` on every dataset the
run read, checked at use time by the access core (``queries.authorization.run_access_require``, else 403
``access_level_insufficient``). Plots, statistics and profiles need ``query``; a selection export needs ``export``;
crosstabs accept ``count`` and are then suppressed.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from access.levels import Level
from access.suppression import suppression_threshold
from queries.authorization import run_access_require
from queries.models import QueryRun
from queries.selectors import run_get_for_user
from tenants.models import Tenant

COUNT = Level.COUNT.value
QUERY = Level.QUERY.value
EXPORT = Level.EXPORT.value


@dataclass(frozen=True)
class RunAccess:
    """A run the caller may analyse; ``threshold`` is set when they may only see suppressed aggregates."""

    run: QueryRun
    level: str
    threshold: int | None = None

    @property
    def count_only(self) -> bool:
        return self.threshold is not None


def analysis_run_get(*, actor: Any, tenant: Tenant, run_id: int, level: str = QUERY) -> RunAccess:
    """The run (404 if not visible) if the caller has ``level`` on every dataset it read (else 403).

    With ``level=COUNT`` a caller below ``query`` on some dataset gets a :class:`RunAccess` carrying the
    suppression threshold k of the run's study.
    """
    run = run_get_for_user(user=actor, tenant=tenant, run_id=run_id)
    decision = run_access_require(actor=actor, tenant=tenant, run=run, level=level)
    if decision.aggregate_only:
        return RunAccess(run=run, level=COUNT, threshold=suppression_threshold(tenant=tenant, study=run.study))
    return RunAccess(run=run, level=str(decision.minimum))
