"""The ONE enforcement path for data use: every count, run, row, report, plot and export calls it first.

:func:`datasets_access_require` checks the caller's level on every dataset a use touches and the identifying-column
and participant-list rules, at the moment of use, before any engine work. What a query spec touches is computed by the
queries app (``queries.core.spec.spec_use``), which calls this from ``queries.authorization``.

Outcomes: non-members and objects the caller may not see -> 404; members below the analyst role -> 403
``role_insufficient``; a touched dataset below the needed level -> 403 ``access_level_insufficient`` (details: the
needed level and the datasets); an identifying column without the identifying grant -> 403 ``identifying_column``.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from access.levels import Level, level_at_least, level_min
from access.selectors import Explanation, datasets_explain_for_user
from core.errors import Forbidden
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


def identifying_columns_of(dataset: Dataset) -> set[str]:
    """The columns of ``dataset`` tagged identifying."""
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
        columns = identifying_columns_of(dataset)
        if columns:
            hidden[dataset.name] = columns
    return hidden


def deleted_datasets_named(*, study: Study, names: Iterable[str], live: Sequence[Dataset]) -> list[Dataset]:
    """The deleted datasets (tombstones) of ``study`` among ``names`` that are not in ``live``.

    A run that read a dataset keeps naming it after the dataset is deleted (its result and pinned files stay), so
    its use is checked against the tombstone's own grants and identifying columns: deletion never widens access."""
    missing = set(names) - {dataset.name for dataset in live}
    if not missing:
        return []
    return list(Dataset.all_objects.filter(study=study, name__in=missing, deleted_at__isnull=False).order_by("name"))


def datasets_access_require(
    *,
    actor: Any,
    tenant: Tenant,
    study: Study,
    datasets: Iterable[str],
    level: str | Level,
    columns: Mapping[str, Iterable[str]] | None = None,
    participant_list: bool = False,
    study_datasets: Sequence[Dataset] | None = None,
) -> AccessDecision:
    """Raise unless ``actor`` has ``level`` on every named dataset (and may use every named column); a
    ``participant_list`` (participant ids named) needs the query level on every dataset, even for a count.

    ``study_datasets``: the study's live datasets, when the caller read them in this request (a count reads them
    with their latest versions for its cache key); else they are read here, once for levels and columns."""
    needed = Level(level)
    role_require(user=actor, tenant=tenant, minimum=Role.ANALYST, action=ACTION_WORDS.get(needed, "use data"))
    if study_datasets is None:
        study_datasets = list(Dataset.objects.filter(study=study).order_by("name"))
    names = sorted(set(datasets))
    checked = [*study_datasets, *deleted_datasets_named(study=study, names=names, live=study_datasets)]
    explanations = datasets_explain_for_user(user=actor, tenant=tenant, study=study, datasets=checked)
    levels: dict[str, Level] = {}
    for name in names:
        explanation = explanations.get(name)
        if explanation is None or explanation.level is None:
            continue  # never existed: the spec validation answers (400/422) with its own message
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
    hidden = identifying_columns_hidden(explanations=explanations, datasets=checked)
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
    decision = AccessDecision(levels=levels, minimum=minimum or needed, hidden_columns=hidden)
    if decision.aggregate_only and participant_list:
        raise Forbidden(
            "Participant ID lists need the query level on every dataset used (they would single people out).",
            code="access_level_insufficient",
            details={"needed": Level.QUERY.value, "datasets": []},
        )
    return decision


def shown_count_audit(decision: AccessDecision, shown: Mapping[str, Any]) -> dict[str, Any]:
    """Audit details of a count: what the caller was shown, and whether it was protected / suppressed."""
    return {
        "participants": shown.get("participants"),
        "rows": shown.get("rows"),
        "suppressed": bool(shown.get("suppressed", False)),
        "aggregate_only": decision.aggregate_only,
    }
