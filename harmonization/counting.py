"""Federated counts: each study counted like a study count, the total their sum, one disclosure table.

Per study the translated spec goes through the one authorization path (``queries.authorization.spec_authorize``
over ``access.enforcement``) at the count level and the study's count machinery (``queries.services.
query_count_compute``: pinned versions, engine, cache). When any study answers the caller at the count level only,
every per-study cell and the total are protected together by the cell-key method with complementary suppression
(``access.disclosure.protect_parts_and_total``): no hidden cell is the total minus the shown ones. Structural zeros
(a study without a source for a filtered variable, or a filter no source value can satisfy) are shown as 0: they
depend on the definitions, not on the data.
"""

from __future__ import annotations

from typing import Any

from django.http import HttpRequest

from access.budget import count_budget_charge
from access.disclosure import Cell, DisclosureRules, ShownCell, protect_parts_and_total, questions_of
from access.levels import Level
from access.protection import cell_of, disclosure_rules, protection_fields
from audit.services import audit_event_record
from harmonization.federation import Federated, StudyPart, federated_parse, study_named
from queries.authorization import spec_authorize
from queries.execution import spec_read
from queries.services import query_count_compute
from tenants.models import Tenant


def part_spec(part: StudyPart, **extra: Any) -> Any:
    """The study's QuerySpec (typed) for this part's translated filters."""
    return spec_read({"filters": part.filters, **extra})


def _strictest(rules: list[DisclosureRules]) -> DisclosureRules:
    return max(rules, key=lambda r: (r.threshold, r.max_noise))


def federated_count(*, tenant: Tenant, actor: Any, payload: Any, request: HttpRequest | None = None) -> dict[str, Any]:
    """``{"participants", "rows", "suppressed", "by_study": [...]}`` for the request (docs/contract.md §4)."""
    federated = federated_parse(actor=actor, tenant=tenant, payload=payload)
    specs = {part.study.slug: part_spec(part) for part in federated.parts}
    decisions = {}
    for part in federated.parts:
        with study_named(part.study.slug):
            decisions[part.study.slug] = spec_authorize(
                actor=actor, tenant=tenant, study=part.study, spec=specs[part.study.slug], level=Level.COUNT
            )
    protected = any(decision.aggregate_only for decision in decisions.values())
    cells: dict[str, Cell] = {}
    for part in federated.parts:
        if part.matches_no_one:
            continue
        computed = query_count_compute(
            tenant=tenant, actor=actor, study=part.study, spec=specs[part.study.slug], keyed=protected
        )
        result = computed.result
        cells[part.study.slug] = cell_of(result) if protected else Cell(result["participants"], result["rows"], 0, 0)
        if protected:
            count_budget_charge(
                tenant=tenant,
                actor=actor,
                study=part.study,
                questions=questions_of("federated_count", computed.count_key.cache_key, ["study"]),
                surface="federated_count",
                spec_hash=computed.count_key.spec_hash,
                spec=computed.count_key.spec.model_dump(mode="json"),
                request=request,
            )
    answer = _shown(federated, cells, protected, tenant)
    audit_event_record(
        action="federated.count",
        actor=actor,
        request=request,
        target_type="federated",
        target_repr=", ".join(part.study.slug for part in federated.parts)[:200],
        details={
            "studies": [part.study.slug for part in federated.parts],
            "filters": federated.filters,
            "variables": [{"name": v["name"], "revision": v["revision"]} for v in federated.pinned()],
            "specs": {slug: spec.model_dump(mode="json") for slug, spec in specs.items()},
            "aggregate_only": protected,
            "participants": answer["participants"],
            "suppressed": answer["suppressed"],
            "by_study": [
                {"study": s["study"], "participants": s["participants"], "suppressed": s["suppressed"]}
                for s in answer["by_study"]
            ],
        },
    )
    return answer


def _shown(federated: Federated, cells: dict[str, Cell], protected: bool, tenant: Tenant) -> dict[str, Any]:
    pinned = [{"name": v["name"], "revision": v["revision"]} for v in federated.pinned()]
    by_study: list[dict[str, Any]] = []
    if not protected:
        for part in federated.parts:
            cell = cells.get(part.study.slug)
            by_study.append(
                {
                    "study": part.study.slug,
                    "participants": cell.participants if cell else 0,
                    "rows": cell.rows if cell else 0,
                    "suppressed": False,
                    "missing_variables": part.missing_variables,
                }
            )
        return {
            "participants": sum(c.participants for c in cells.values()),
            "rows": sum(c.rows for c in cells.values()),
            "suppressed": False,
            "by_study": by_study,
            "variables": pinned,
        }
    rules = _strictest([disclosure_rules(tenant=tenant, study=part.study) for part in federated.parts])
    if not cells:  # every study matches no one by definition: nothing of the data is shown
        shown_total = ShownCell(participants=0, rows=0, suppressed=False)
        shown_parts: dict[str, ShownCell] = {}
    else:
        shown_parts, shown_total = protect_parts_and_total(cells, rules)
    for part in federated.parts:
        slug = part.study.slug
        shown = shown_parts.get(slug)
        by_study.append(
            {
                "study": slug,
                "participants": shown.participants if shown else 0,
                "rows": shown.rows if shown else 0,
                "suppressed": shown.suppressed if shown else False,
                "missing_variables": part.missing_variables,
            }
        )
    return {
        "participants": shown_total.participants,
        "rows": shown_total.rows,
        "suppressed": shown_total.suppressed,
        "by_study": by_study,
        "variables": pinned,
        **protection_fields(rules),
    }
