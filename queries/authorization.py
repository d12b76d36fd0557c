"""Where a count, run, report or export is authorized: the typed spec's use (``queries.core.spec.spec_use``) is
checked by access's one enforcement path (``access.enforcement.datasets_access_require``) before any catalog or
engine work, and an existing run's spec again at the moment its result is used (a grant that expired or was revoked
after the run stops its rows, report, plots and exports at once), together with every dataset the run read: a
deleted one is checked against its tombstone's grants and identifying columns, so deletion never widens access.

Outcomes: non-members and objects the caller may not see -> 404; members below the analyst role -> 403
``role_insufficient``; a touched dataset below the needed level -> 403 ``access_level_insufficient``; an identifying
column without the identifying grant -> 403 ``identifying_column``.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from access.enforcement import AccessDecision, datasets_access_require, identifying_columns_of
from access.levels import Level
from core.errors import Forbidden, NotFound
from datasets.models import Dataset, DatasetKind, Study
from queries.core.spec import QuerySpec, spec_parse, spec_use, spec_with_excluded
from queries.models import QueryRun
from tenants.models import Tenant


def _demographics_of(study: Study) -> Dataset | None:
    return study.demographics if study.demographics_id else None


def spec_authorize(
    *,
    actor: Any,
    tenant: Tenant,
    study: Study,
    spec: QuerySpec,
    level: str | Level,
    implied_columns: Mapping[str, Iterable[str]] | None = None,
    study_datasets: Sequence[Dataset] | None = None,
    read_datasets: Iterable[str] = (),
) -> AccessDecision:
    """Raise unless ``actor`` has ``level`` on every dataset ``spec`` touches and may use every column it names
    (plus ``implied_columns``: columns a result carries without naming them, e.g. a run's demographics columns,
    and ``read_datasets``: datasets a run read that its spec may no longer name, e.g. a deleted demographics table).
    ``study_datasets``: the study's live datasets if already read in this request."""
    demographics = _demographics_of(study)
    use = spec_use(spec, demographics.name if demographics is not None else None)
    columns = {name: set(cols) for name, cols in use.columns.items()}
    for name, implied in (implied_columns or {}).items():
        columns.setdefault(name, set()).update(implied)
    return datasets_access_require(
        actor=actor,
        tenant=tenant,
        study=study,
        datasets={*use.datasets, *read_datasets},
        level=level,
        columns=columns,
        participant_list=use.participant_list,
        study_datasets=study_datasets,
    )


def run_spec_authorize(
    *, actor: Any, tenant: Tenant, study: Study, spec: QuerySpec
) -> tuple[QuerySpec, AccessDecision]:
    """Authorize a new run (``query`` level) and return the spec it must run: the caller's hidden identifying
    demographics columns are added to its ``exclude`` list, so the result never contains them (and, being part of
    the spec hash, a result made for a caller who may see them is never shared with one who may not)."""
    decision = spec_authorize(actor=actor, tenant=tenant, study=study, spec=spec, level=Level.QUERY)
    demographics = _demographics_of(study)
    hidden = decision.hidden_columns.get(demographics.name, set()) if demographics is not None else set()
    return (spec_with_excluded(spec, hidden) if hidden else spec), decision


def _run_demographics(run: QueryRun) -> Dataset | None:
    """The study's demographics table, or (once it was deleted) the deleted one the run read."""
    return _demographics_of(run.study) or (
        Dataset.all_objects.filter(pk__in=run.pinned.values("version__dataset_id"), kind=DatasetKind.DEMOGRAPHICS)
        .order_by("pk")
        .first()
    )


def run_hidden_output(*, run: QueryRun) -> dict[str, set[str]]:
    """Identifying demographics columns a run's result carries (those its spec did not exclude)."""
    demographics = _run_demographics(run)
    if demographics is None:
        return {}
    excluded = set((run.spec or {}).get("exclude") or []) if isinstance(run.spec, Mapping) else set()
    carried = identifying_columns_of(demographics) - excluded
    return {demographics.name: carried} if carried else {}


def run_access_require(*, actor: Any, tenant: Tenant, run: QueryRun | None, level: str | Level) -> AccessDecision:
    """The same check for an existing run's spec, at the moment its result is used (rows, report, plot, export).

    A result that carries identifying demographics columns (made for someone who may see them, or before the
    column was tagged) is refused to a caller without the identifying grant (403 ``identifying_column``)."""
    if run is None:
        raise NotFound("No such run.")
    carried = run_hidden_output(run=run)
    try:
        return spec_authorize(
            actor=actor,
            tenant=tenant,
            study=run.study,
            spec=spec_parse(run.spec),
            level=level,
            implied_columns=carried,
            read_datasets=run.pinned.values_list("dataset_name", flat=True),
        )
    except Forbidden as exc:
        if exc.code != "identifying_column" or not carried:
            raise
        raise Forbidden(
            "This result contains identifying columns that need an identifying grant. Run the query again: "
            "your run leaves out the columns you may not see.",
            code="identifying_column",
            details=exc.details,
        ) from exc


def run_visible_columns(*, actor: Any, tenant: Tenant, run: QueryRun) -> list[str]:
    """The columns of ``run``'s result the caller may see (``query`` level; for analysis and other readers).

    A run's result holds only columns its creator could see (:func:`run_spec_authorize`) and
    :func:`run_access_require` refuses results carrying identifying columns the caller may not see, so every column
    of an allowed run is visible; callers use this instead of ``run.columns`` so the rule stays in one place."""
    run_access_require(actor=actor, tenant=tenant, run=run, level=Level.QUERY)
    return [str(c) for c in run.columns or []]
