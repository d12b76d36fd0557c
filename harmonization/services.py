"""Writing harmonized variables: validated against the studies' latest dataset versions, versioned, audited."""

from __future__ import annotations

import math
from typing import Any

from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.http import HttpRequest

from audit.services import audit_event_record
from core.errors import Conflict, InvalidInput
from datasets.models import NAME_VALIDATOR, Study
from datasets.selectors import study_list_for_user
from harmonization.mapping import VARIABLE_TYPES, MappingError, Source, Variable, definition_problems
from harmonization.models import HarmonizedVariable
from harmonization.profiles import ShownProfiles
from queries.execution import study_latest_versions
from tenants.models import Tenant
from tenants.role_checks import role_require
from tenants.roles import Role

SOURCE_KEYS = {"study", "dataset", "column", "scale", "offset", "recode"}
MAX_SOURCES = 200
MAX_RECODE = 1000


def _number(value: Any, what: str, index: int) -> float | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(float(value)):
        raise InvalidInput(f"sources[{index}].{what} must be a number.", code="invalid_definition")
    return float(value)


def _source_of(raw: Any, index: int) -> Source:
    if not isinstance(raw, dict):
        raise InvalidInput(f"sources[{index}] must be an object.", code="invalid_definition")
    unknown = sorted(set(raw) - SOURCE_KEYS)
    if unknown:
        raise InvalidInput(f"sources[{index}] has unknown keys: {', '.join(unknown)[:200]}.", code="invalid_definition")
    for key in ("study", "dataset", "column"):
        if not isinstance(raw.get(key), str) or not raw[key].strip() or len(raw[key]) > 255:
            raise InvalidInput(f"sources[{index}].{key} must be a name.", code="invalid_definition")
    recode = raw.get("recode")
    if recode is not None:
        if not isinstance(recode, dict) or not recode or len(recode) > MAX_RECODE:
            raise InvalidInput(
                f"sources[{index}].recode must be a non-empty object of at most {MAX_RECODE} entries.",
                code="invalid_definition",
            )
        if not all(isinstance(v, str) and len(v) <= 200 and len(k) <= 200 for k, v in recode.items()):
            raise InvalidInput(f"sources[{index}].recode maps text to text.", code="invalid_definition")
    return Source(
        study=raw["study"],
        dataset=raw["dataset"],
        column=raw["column"],
        scale=_number(raw.get("scale"), "scale", index),
        offset=_number(raw.get("offset"), "offset", index),
        recode=dict(recode) if recode is not None else None,
    )


def variable_parse(payload: dict[str, Any]) -> Variable:
    """The definition from its JSON (422 ``invalid_definition`` naming the field)."""
    name = payload.get("name")
    if not isinstance(name, str):
        raise InvalidInput("A variable needs a name.", code="invalid_definition")
    try:
        NAME_VALIDATOR(name)
    except ValidationError:
        raise InvalidInput(
            "Variable names use 1-63 lower-case letters, digits or underscores, starting with a letter.",
            code="invalid_name",
        ) from None
    kind = payload.get("type")
    if kind not in VARIABLE_TYPES:
        raise InvalidInput(f"type must be one of {', '.join(VARIABLE_TYPES)}.", code="invalid_definition")
    label, unit = payload.get("label") or "", payload.get("unit") or ""
    if not isinstance(label, str) or not isinstance(unit, str) or len(label) > 200 or len(unit) > 50:
        raise InvalidInput("label (200) and unit (50) are short texts.", code="invalid_definition")
    sources = payload.get("sources") or []
    if not isinstance(sources, list) or len(sources) > MAX_SOURCES:
        raise InvalidInput(f"sources must be a list of at most {MAX_SOURCES}.", code="invalid_definition")
    return Variable(
        name=name, type=kind, label=label, unit=unit, sources=tuple(_source_of(s, i) for i, s in enumerate(sources))
    )


def source_profiles(*, actor: Any, tenant: Tenant, variable: Variable) -> dict[str, dict[str, Any] | None]:
    """``"study/dataset/column"`` -> the column's profile at the dataset's latest version as the caller's catalog
    shows it (``harmonization.profiles``: exact from the ``query`` level on, protected below it); None: no such
    source. Studies are resolved as the caller sees them (the normal study resolution)."""
    slugs = {source.study for source in variable.sources}
    studies = {s.slug: s for s in study_list_for_user(user=actor, tenant=tenant).filter(slug__in=slugs)}
    shown = ShownProfiles(actor=actor, tenant=tenant)
    profiles: dict[str, dict[str, Any] | None] = {}
    latest: dict[str, dict[str, Any]] = {}
    for source in variable.sources:
        key = f"{source.study}/{source.dataset}/{source.column}"
        study = studies.get(source.study)
        if study is None or _is_key(study, source.column):
            profiles[key] = None
            continue
        if study.slug not in latest:
            latest[study.slug] = study_latest_versions(study)
        version = latest[study.slug].get(source.dataset)
        profiles[key] = shown.column(study, source.dataset, version, source.column) if version is not None else None
    return profiles


def _is_key(study: Study, column: str) -> bool:
    return column in {study.id_column, study.session_column, study.composite_id_column} - {""}


def variable_validate(*, actor: Any, tenant: Tenant, variable: Variable) -> None:
    """422 ``invalid_variable`` listing every problem (unknown sources, type mismatches, uncovered recodes)."""
    try:
        problems = definition_problems(variable, source_profiles(actor=actor, tenant=tenant, variable=variable))
    except MappingError as exc:
        raise InvalidInput(exc.message, code=exc.code, details=exc.details) from exc
    if problems:
        first = problems[0]
        more = f" (and {len(problems) - 1} more)" if len(problems) > 1 else ""
        raise InvalidInput(
            f"{first['study']}/{first['dataset']}/{first['column']}: {first['message']}{more}",
            code=str(first["code"]),
            details={"problems": problems},
        )


def variable_save(
    *,
    tenant: Tenant,
    actor: Any,
    payload: dict[str, Any],
    existing: HarmonizedVariable | None = None,
    request: HttpRequest | None = None,
) -> HarmonizedVariable:
    """Create (``existing`` None) or replace a variable; owners and stewards only. A replacement is a new revision."""
    role_require(user=actor, tenant=tenant, minimum=Role.STEWARD, action="define harmonized variables")
    if existing is not None and payload.get("name", existing.name) != existing.name:
        raise InvalidInput("A variable keeps its name; create a new one instead.", code="invalid_name")
    variable = variable_parse({**payload, "name": existing.name} if existing is not None else payload)
    variable_validate(actor=actor, tenant=tenant, variable=variable)
    fields = {
        "type": variable.type,
        "label": variable.label,
        "unit": variable.unit,
        "sources": [source.as_dict() for source in variable.sources],
    }
    try:
        with transaction.atomic():
            if existing is None:
                saved = HarmonizedVariable.objects.create(name=variable.name, updated_by=actor, **fields)
                action = "variable.created"
            else:
                saved = HarmonizedVariable.objects.select_for_update().get(pk=existing.pk)
                for key, value in fields.items():
                    setattr(saved, key, value)
                saved.revision += 1
                saved.updated_by = actor
                saved.save()
                action = "variable.updated"
            audit_event_record(action=action, actor=actor, request=request, target=saved, details=saved.definition())
    except IntegrityError:
        raise Conflict(f"A variable named {variable.name!r} exists.", code="variable_exists") from None
    return saved


def variable_delete(
    *, tenant: Tenant, actor: Any, variable: HarmonizedVariable, request: HttpRequest | None = None
) -> None:
    """Delete a variable (its history stays: runs that used it keep their pinned definitions)."""
    role_require(user=actor, tenant=tenant, minimum=Role.STEWARD, action="delete harmonized variables")
    with transaction.atomic():
        audit_event_record(
            action="variable.deleted", actor=actor, request=request, target=variable, details=variable.definition()
        )
        variable.delete()
