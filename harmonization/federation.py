"""A federated request resolved per study: the studies (the normal study resolution), the variables it names, and
each filter on a variable translated into a QuerySpec filter on the study's source column.

Every study keeps its own semantics (its count, its run): the translation only renames and re-expresses values. A
study without a source for a filtered variable, or whose translated filter no value can satisfy, matches no one.

Each study is authorized (the one enforcement path, at the count level for counts and the query level for runs, on
the source columns the request uses) before any of its data is read to resolve the request, and a variable's
sources are checked against the column profiles the caller's catalog shows (``harmonization.profiles``): a
``variable_outdated`` refusal never names a value, a count or a bound the caller may not see.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from access.levels import Level
from core.errors import Conflict, Forbidden, InvalidInput
from datasets.models import Study
from datasets.selectors import study_get_for_user
from harmonization.mapping import (
    NO_MATCH,
    MappingError,
    Variable,
    definition_problems,
    filter_check,
    source_filter,
)
from harmonization.models import HarmonizedVariable
from harmonization.profiles import ShownProfiles
from queries.authorization import spec_authorize
from queries.execution import spec_read, study_latest_versions
from tenants.models import Tenant

MAX_STUDIES = 100
MAX_FILTERS = 200
REQUEST_KEYS = {"studies", "filters", "variables", "shape"}


@dataclass
class StudyPart:
    """One study of a federated request: its QuerySpec filters, or why it matches no one."""

    study: Study
    filters: list[dict[str, Any]] = field(default_factory=list)
    missing_variables: list[str] = field(default_factory=list)
    no_match: bool = False
    source_types: dict[str, str] = field(default_factory=dict)  # variable -> source column type

    @property
    def matches_no_one(self) -> bool:
        return bool(self.missing_variables) or self.no_match


@dataclass
class Federated:
    """A parsed and resolved federated request."""

    parts: list[StudyPart]
    filters: list[dict[str, Any]]
    variables: dict[str, HarmonizedVariable]  # every variable named (filters and outputs)
    outputs: list[str]

    def pinned(self) -> list[dict[str, Any]]:
        """The variable definitions used, with their revisions (what lineage records)."""
        return [self.variables[name].definition() for name in sorted(self.variables)]


@contextmanager
def study_named(slug: str) -> Iterator[None]:
    """A refusal for one study of a federated request names that study (``details.study``): the caller learns
    which study stopped the whole request (a withdrawn contribution, a ceiling, a level)."""
    try:
        yield
    except Forbidden as exc:
        if "study" not in exc.details:
            exc.details = {**exc.details, "study": slug}
        raise


def _invalid(message: str, code: str = "invalid_input", **details: Any) -> InvalidInput:
    return InvalidInput(message, code=code, details=details or None)


def _studies_of(payload: dict[str, Any]) -> list[str]:
    studies = payload.get("studies")
    if not isinstance(studies, list) or not studies or not all(isinstance(s, str) for s in studies):
        raise _invalid("studies must be a non-empty list of study slugs.")
    if len(studies) > MAX_STUDIES:
        raise _invalid(f"At most {MAX_STUDIES} studies at once.", code="too_large")
    return list(dict.fromkeys(studies))


def _filters_of(payload: dict[str, Any]) -> list[dict[str, Any]]:
    filters = payload.get("filters") or []
    if not isinstance(filters, list) or len(filters) > MAX_FILTERS:
        raise _invalid(f"filters must be a list of at most {MAX_FILTERS}.")
    for index, item in enumerate(filters):
        if not isinstance(item, dict) or set(item) - {"variable", "op", "value"} or "variable" not in item:
            raise _invalid('Each filter is {"variable", "op", "value"}.', code="invalid_spec", filter_index=index)
        if not isinstance(item["variable"], str) or not isinstance(item.get("op"), str):
            raise _invalid("A filter names a variable and an operator.", code="invalid_spec", filter_index=index)
    return filters


def _variables(names: set[str]) -> dict[str, HarmonizedVariable]:
    found = {v.name: v for v in HarmonizedVariable.objects.filter(name__in=names)}
    unknown = sorted(names - set(found))
    if unknown:
        raise _invalid(f"Unknown variable {unknown[0][:63]!r}.", code="unknown_variable", variables=unknown[:20])
    return found


def federated_parse(*, actor: Any, tenant: Tenant, payload: Any, outputs: bool = False) -> Federated:
    """Resolve ``payload`` (``studies``, ``filters``; with ``outputs`` also ``variables``): 422 on bad input naming
    the problem, 404 for a study the caller cannot see."""
    if not isinstance(payload, dict):
        raise _invalid("The body must be a JSON object.")
    unknown = sorted(set(payload) - REQUEST_KEYS)
    if unknown or (not outputs and {"variables", "shape"} & set(payload)):
        raise _invalid(f"Unknown keys: {', '.join(unknown or ['variables', 'shape'])[:200]}.", code="invalid_spec")
    slugs = _studies_of(payload)
    filters = _filters_of(payload)
    wanted: list[str] = []
    if outputs:
        raw = payload.get("variables")
        if not isinstance(raw, list) or not raw or not all(isinstance(v, str) for v in raw):
            raise _invalid("variables must be a non-empty list of variable names.")
        if payload.get("shape", "long") != "long":
            raise _invalid("Federated runs are long (one row per participant and session).", code="invalid_spec")
        wanted = list(dict.fromkeys(raw))
    variables = _variables({f["variable"] for f in filters} | set(wanted))
    for index, item in enumerate(filters):
        try:
            filter_check(variables[item["variable"]].as_variable(), item["op"], item.get("value"))
        except MappingError as exc:
            raise InvalidInput(exc.message, code=exc.code, details={"filter_index": index, **exc.details}) from None
    plain = {name: row.as_variable() for name, row in variables.items()}
    shown = ShownProfiles(actor=actor, tenant=tenant)
    parts = []
    for slug in slugs:
        with study_named(slug):
            study = study_get_for_user(user=actor, tenant=tenant, slug=slug)
            _sources_authorize(actor, tenant, study, filters, plain, wanted, Level.QUERY if outputs else Level.COUNT)
        parts.append(_part(study, filters, plain, wanted, shown))
    return Federated(parts=parts, filters=filters, variables=variables, outputs=wanted)


def _sources_authorize(
    actor: Any,
    tenant: Tenant,
    study: Study,
    filters: list[dict[str, Any]],
    plain: dict[str, Variable],
    wanted: list[str],
    level: Level,
) -> None:
    """Refuse (403) unless the caller may use, in ``study``, every source column the request names at ``level``
    (``count`` for a count, ``query`` for a run; the identifying rule included). Done before the sources are
    resolved against the study's data."""
    checked: list[dict[str, Any]] = []
    columns: dict[str, list[str]] = {}
    for name in dict.fromkeys(item["variable"] for item in filters):
        source = plain[name].source_for(study.slug)
        if source is not None:
            checked.append({"dataset": source.dataset, "column": source.column, "op": "not_null"})
    for name in wanted:
        source = plain[name].source_for(study.slug)
        if source is not None:
            columns.setdefault(source.dataset, []).append(source.column)
    spec = spec_read({"filters": checked, **({"columns": columns} if columns else {})})
    spec_authorize(actor=actor, tenant=tenant, study=study, spec=spec, level=level)


def _part(
    study: Study,
    filters: list[dict[str, Any]],
    plain: dict[str, Variable],
    wanted: list[str],
    shown: ShownProfiles,
) -> StudyPart:
    part = StudyPart(study=study)
    latest = study_latest_versions(study)
    for name in sorted({f["variable"] for f in filters} | set(wanted)):
        source = plain[name].source_for(study.slug)
        if source is None:
            continue
        version = latest.get(source.dataset)
        profile = shown.column(study, source.dataset, version, source.column) if version is not None else None
        problems = definition_problems(
            Variable(name=name, type=plain[name].type, sources=(source,)),
            {f"{source.study}/{source.dataset}/{source.column}": profile},
        )
        if problems:
            raise Conflict(
                f"Variable {name!r} no longer fits study {study.slug!r}: {problems[0]['message']} "
                "An owner or steward can update the variable.",
                code="variable_outdated",
                details={"variable": name, "study": study.slug, "problems": problems},
            )
        part.source_types[name] = str(profile["type"]) if profile else ""
    for item in filters:
        variable = plain[item["variable"]]
        source = variable.source_for(study.slug)
        if source is None:
            if variable.name not in part.missing_variables:
                part.missing_variables.append(variable.name)
            continue
        try:
            translated = source_filter(
                variable, source, part.source_types[variable.name], item["op"], item.get("value")
            )
        except MappingError as exc:
            raise InvalidInput(exc.message, code=exc.code, details={"variable": variable.name, **exc.details}) from None
        if translated is NO_MATCH:
            part.no_match = True
        else:
            assert isinstance(translated, dict)
            part.filters.append(translated)
    return part
