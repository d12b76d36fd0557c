"""The ONE enforcement path for data use: every count, run, row, report, plot and export calls it first.

``spec_access_require`` checks the caller's level on every dataset a spec touches (the demographics table, every
filtered dataset and every dataset with picked columns) and the identifying-column rule, at the moment of use, before
any engine work. ``run_access_require`` does the same for the spec of an existing run (so a grant that expired or
was revoked after the run stops its rows, report, plots and exports at once).

Outcomes: non-members and objects the caller may not see -> 404; members below the analyst role -> 403
``role_insufficient``; a touched dataset below the needed level -> 403 ``access_level_insufficient`` (details: the
needed level and the datasets); an identifying column without the identifying grant -> 403 ``identifying_column``.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from access.levels import Level, level_at_least, level_min
from access.selectors import Explanation, datasets_explain_for_user
from core.errors import Forbidden, NotFound
from datasets.models import Dataset, Study
from tenants.models import Tenant
from tenants.role_checks import role_require
from tenants.roles import Role

ACTION_WORDS: dict[str, str] = {
    Level.COUNT: "count participants",
    Level.QUERY: "see rows",
    Level.EXPORT: "export data",
    Level.MANAGE: "manage access",
}


@dataclass(frozen=True)
class AccessDecision:
    """What the caller may do with the datasets a spec touches."""

    levels: dict[str, Level]
    minimum: Level
    hidden_columns: dict[str, set[str]] = field(default_factory=dict)  # identifying columns the caller may not see

    @property
    def aggregate_only(self) -> bool:
        """True when some touched dataset is at count level (answers are suppressed and rounded)."""
        return not level_at_least(self.minimum, Level.QUERY)


def spec_touched(spec: Any, demographics: str | None) -> tuple[set[str], dict[str, set[str]]]:
    """(datasets, columns named per dataset) of a QuerySpec or its JSON form."""
    data = spec.model_dump(mode="json") if hasattr(spec, "model_dump") else dict(spec or {})
    datasets: set[str] = {demographics} if demographics else set()
    columns: dict[str, set[str]] = {}
    for item in data.get("filters") or []:
        if isinstance(item, Mapping) and isinstance(item.get("dataset"), str):
            datasets.add(item["dataset"])
            if isinstance(item.get("column"), str):
                columns.setdefault(item["dataset"], set()).add(item["column"])
    picks = data.get("columns") or {}
    if isinstance(picks, Mapping):
        for name, picked in picks.items():
            datasets.add(str(name))
            if isinstance(picked, list):
                columns.setdefault(str(name), set()).update(str(c) for c in picked)
    return datasets, columns


def _identifying_columns(dataset: Dataset) -> set[str]:
    return {
        name
        for name, meta in (dataset.column_meta or {}).items()
        if isinstance(meta, Mapping) and meta.get("sensitivity") == "identifying"
    }


def identifying_columns_hidden(
    *, explanations: Mapping[str, Explanation], datasets: Iterable[Dataset]
) -> dict[str, set[str]]:
    """Identifying columns per dataset that the caller may not use (empty sets left out)."""
    hidden: dict[str, set[str]] = {}
    for dataset in datasets:
        explanation = explanations.get(dataset.name)
        if explanation is not None and explanation.identifying:
            continue
        columns = _identifying_columns(dataset)
        if columns:
            hidden[dataset.name] = columns
    return hidden


def datasets_access_require(
    *,
    actor: Any,
    tenant: Tenant,
    study: Study,
    datasets: Iterable[str],
    level: str | Level,
    columns: Mapping[str, Iterable[str]] | None = None,
) -> AccessDecision:
    """Raise unless ``actor`` has ``level`` on every named dataset (and may use every named column)."""
    needed = Level(level)
    role_require(user=actor, tenant=tenant, minimum=Role.ANALYST, action=ACTION_WORDS.get(needed, "use data"))
    explanations = datasets_explain_for_user(user=actor, tenant=tenant, study=study)
    names = sorted(set(datasets))
    levels: dict[str, Level] = {}
    for name in names:
        explanation = explanations.get(name)
        if explanation is None or explanation.level is None:
            continue  # unknown dataset: the spec validation answers (400/422) with its own message
        levels[name] = explanation.level
    short = [name for name, have in levels.items() if not level_at_least(have, needed)]
    if short:
        have_text = ", ".join(f"{name} ({levels[name].value})" for name in short)
        raise Forbidden(
            f"This needs the {needed.value} level on every dataset it uses; you have {have_text}. "
            "Request access from a data steward.",
            code="access_level_insufficient",
            details={
                "needed": needed.value,
                "datasets": [{"dataset": name, "level": levels[name].value} for name in short],
            },
        )
    study_datasets = list(Dataset.objects.filter(study=study))
    hidden = identifying_columns_hidden(explanations=explanations, datasets=study_datasets)
    named = {name: set(cols) for name, cols in (columns or {}).items()}
    blocked = sorted(
        (name, column) for name, cols in named.items() for column in cols if column in hidden.get(name, set())
    )
    if blocked:
        listed = ", ".join(f"{name}.{column}" for name, column in blocked)
        raise Forbidden(
            f"Identifying columns need the query level and an identifying grant: {listed}.",
            code="identifying_column",
            details={"columns": [{"dataset": name, "column": column} for name, column in blocked]},
        )
    minimum = level_min(*levels.values()) if levels else needed
    return AccessDecision(levels=levels, minimum=minimum or needed, hidden_columns=hidden)


def _has_participant_list(spec: Any) -> bool:
    data = spec.model_dump(mode="json") if hasattr(spec, "model_dump") else spec
    return isinstance(data, Mapping) and bool(data.get("participants"))


def spec_access_require(
    *,
    actor: Any,
    tenant: Tenant,
    study: Study,
    spec: Any,
    level: str | Level,
    implied_columns: Mapping[str, Iterable[str]] | None = None,
) -> AccessDecision:
    """Raise unless ``actor`` has ``level`` on every dataset ``spec`` touches and may use every column it names
    (plus ``implied_columns``: columns a result carries without naming them, e.g. a run's demographics columns)."""
    demographics = study.demographics.name if study.demographics_id and study.demographics else None
    datasets, columns = spec_touched(spec, demographics)
    for name, implied in (implied_columns or {}).items():
        columns.setdefault(name, set()).update(implied)
    decision = datasets_access_require(
        actor=actor, tenant=tenant, study=study, datasets=datasets, level=level, columns=columns
    )
    if decision.aggregate_only and _has_participant_list(spec):
        raise Forbidden(
            "Participant ID lists need the query level on every dataset used (they would single people out).",
            code="access_level_insufficient",
            details={"needed": Level.QUERY.value, "datasets": []},
        )
    return decision


def _spec_data(spec: Any) -> dict[str, Any] | None:
    if hasattr(spec, "model_dump"):
        return dict(spec.model_dump(mode="json"))
    return dict(spec) if isinstance(spec, Mapping) else None


def _demographics_of(study: Study) -> Dataset | None:
    return study.demographics if study.demographics_id else None


def run_spec_for_user(*, actor: Any, tenant: Tenant, study: Study, spec: Any) -> tuple[Any, AccessDecision]:
    """Authorize a new run (``query`` level) and return the spec it must run: the caller's hidden identifying
    demographics columns are added to its ``exclude`` list, so the result never contains them (and, being part of
    the spec hash, a result made for a caller who may see them is never shared with one who may not)."""
    decision = spec_access_require(actor=actor, tenant=tenant, study=study, spec=spec, level=Level.QUERY)
    demographics = _demographics_of(study)
    hidden = decision.hidden_columns.get(demographics.name, set()) if demographics is not None else set()
    data = _spec_data(spec)
    if not hidden or data is None:
        return spec, decision
    present = [str(c) for c in data.get("exclude") or [] if isinstance(c, str)]
    data["exclude"] = present + sorted(hidden - set(present))
    return data, decision


def run_hidden_output(*, run: Any) -> dict[str, set[str]]:
    """Identifying demographics columns a run's result carries (those its spec did not exclude)."""
    demographics = _demographics_of(run.study)
    if demographics is None:
        return {}
    excluded = set((run.spec or {}).get("exclude") or []) if isinstance(run.spec, Mapping) else set()
    carried = _identifying_columns(demographics) - excluded
    return {demographics.name: carried} if carried else {}


def run_access_require(*, actor: Any, tenant: Tenant, run: Any, level: str | Level) -> AccessDecision:
    """The same check for an existing run's spec, at the moment its result is used (rows, report, plot, export).

    A result that carries identifying demographics columns (made for someone who may see them, or before the
    column was tagged) is refused to a caller without the identifying grant (403 ``identifying_column``)."""
    if run is None:
        raise NotFound("No such run.")
    carried = run_hidden_output(run=run)
    try:
        return spec_access_require(
            actor=actor, tenant=tenant, study=run.study, spec=run.spec, level=level, implied_columns=carried
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


def run_visible_columns(*, actor: Any, tenant: Tenant, run: Any) -> list[str]:
    """The columns of ``run``'s result the caller may see (``query`` level; for analysis and other readers).

    A run's result holds only columns its creator could see (``run_spec_for_user``) and ``run_access_require``
    refuses results carrying identifying columns the caller may not see, so every column of an allowed run is
    visible; callers use this instead of ``run.columns`` so the rule stays in one place."""
    run_access_require(actor=actor, tenant=tenant, run=run, level=Level.QUERY)
    return [str(c) for c in run.columns or []]


def shown_count_audit(decision: AccessDecision, shown: Mapping[str, Any]) -> dict[str, Any]:
    """Audit details of a count: what the caller was shown, and whether it was protected / suppressed."""
    return {
        "participants": shown.get("participants"),
        "rows": shown.get("rows"),
        "suppressed": bool(shown.get("suppressed", False)),
        "aggregate_only": decision.aggregate_only,
    }
