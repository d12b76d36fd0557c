"""Every use of a federated run's result, behind the per-study access check at the moment of use.

Rows need the ``query`` level on every study's part, the report ``count`` (each study's filtering report as that
study's run report shows it to the caller: protected for aggregate-only callers), exports ``export``. Exports are
CSV (formula-safe), Parquet, or a ZIP whose ``manifest.json`` names every study's pinned dataset versions and every
variable definition (with its revision) the run used. Each use is audited.
"""

from __future__ import annotations

import json
import shutil
import tempfile
import zipfile
from pathlib import Path
from typing import Any

from django.http import HttpRequest
from django.utils import timezone
from sqlglot import exp

from access.levels import Level
from analysis.stats import StatsError
from analysis.stats.requests import Limits, analysis_run
from audit.services import audit_event_record
from core.admission import interactive_slot
from core.config import config_get
from core.errors import Forbidden, InvalidInput
from core.parquet_reader import parquet_reader
from datasets.storage import file_sha256, work_root
from harmonization.models import FederatedRun
from harmonization.runs import federated_access_require, federated_result_path
from queries.exports import FORMATS, ExportFile, result_csv_write
from queries.protected_results import run_report_for_user
from queries.results import filtering_report, json_value
from tenants.models import Tenant


def federated_row_count_for_user(*, tenant: Tenant, actor: Any, run: FederatedRun) -> int | None:
    """The stacked row count as the caller may see it now: exact with ``query`` on every study, else hidden."""
    if run.row_count is None:
        return None
    try:
        decisions = federated_access_require(actor=actor, tenant=tenant, run=run, level=Level.COUNT)
    except Forbidden:
        return None
    return None if any(decision.aggregate_only for decision in decisions) else int(run.row_count)


def federated_rows_for_user(
    *, tenant: Tenant, actor: Any, run: FederatedRun, page: int, page_size: int, request: HttpRequest | None = None
) -> dict[str, Any]:
    """A page of the stacked rows (query level on every study of the run)."""
    federated_access_require(actor=actor, tenant=tenant, run=run, level=Level.QUERY)
    path = federated_result_path(run)
    sql = (
        exp.select("*")
        .from_(exp.func("read_parquet", exp.Placeholder()))
        .limit(exp.Placeholder())
        .offset(exp.Placeholder())
        .sql(dialect="duckdb")
    )
    with interactive_slot(tenant=tenant, user=actor, what="previews and reports"), parquet_reader() as con:
        rows = con.execute(sql, [str(path), page_size, (page - 1) * page_size]).fetchall()
    audit_event_record(
        action="federated.preview",
        actor=actor,
        request=request,
        target=run,
        details={"page": page, "page_size": page_size, "rows": len(rows), "studies": run.spec.get("studies")},
    )
    return {
        "columns": list(run.columns),
        "items": [[json_value(value) for value in row] for row in rows],
        "page": page,
        "page_size": page_size,
        "total": run.row_count or 0,
    }


def federated_report_for_user(
    *, tenant: Tenant, actor: Any, run: FederatedRun, request: HttpRequest | None = None
) -> dict[str, Any]:
    """Each study's filtering report and final summary, as that study's run report (count level per study)."""
    federated_access_require(actor=actor, tenant=tenant, run=run, level=Level.COUNT)
    steps: list[dict[str, Any]] = []
    summary: list[dict[str, Any]] = []
    aggregate_only = False
    for part in run.parts.select_related("run", "run__study", "run__study__demographics"):
        if part.run is None:
            steps.append(
                {
                    "study": part.study_slug,
                    "step": 0,
                    "type": "definition",
                    "after": 0,
                    "description": f"No source for {', '.join(part.missing_variables) or 'a filter value'}: no one.",
                }
            )
            continue
        report = run_report_for_user(tenant=tenant, actor=actor, run=part.run, request=request)
        aggregate_only = aggregate_only or bool(report.get("aggregate_only"))
        steps += [{"study": part.study_slug, **step} for step in report["steps"]]
        summary += [{"study": part.study_slug, **item} for item in report["summary"]]
    return {"steps": steps, "summary": summary, "aggregate_only": aggregate_only}


COLUMN_TYPES = {"number": "float", "string": "string", "boolean": "boolean"}


def federated_analysis_for_user(
    *, tenant: Tenant, actor: Any, run: FederatedRun, payload: Any, request: HttpRequest | None = None
) -> dict[str, Any]:
    """One statistic of the stacked result (``ols``, ``describe``, ``anova``, ``ttests``, ``crosstab``; the shapes
    of a run's analysis); row level: the ``query`` level on every study."""
    federated_access_require(actor=actor, tenant=tenant, run=run, level=Level.QUERY)
    types = {"study": "string", "participant_id": "string", "session": "string"}
    types.update({v["name"]: COLUMN_TYPES[v["type"]] for v in run.variables})
    limits = Limits(
        sample_rows=int(config_get("analysis_sample_rows", tenant)),
        max_groups=int(config_get("analysis_max_groups", tenant)),
    )
    try:
        with interactive_slot(tenant=tenant, user=actor, what="analyses"):
            result = analysis_run(payload, federated_result_path(run), types, limits, reader=parquet_reader)
    except StatsError as exc:
        raise InvalidInput(exc.message, code=exc.code, details=exc.details) from None
    audit_event_record(
        action="analysis.computed",
        actor=actor,
        request=request,
        target=run,
        details={
            "kind": payload.get("kind") if isinstance(payload, dict) else None,
            "request": payload,
            "studies": run.spec.get("studies"),
        },
    )
    return result


def federated_manifest(run: FederatedRun) -> dict[str, Any]:
    """What the run read: every study's pinned dataset versions and every variable definition it used."""
    parts = []
    for part in run.parts.select_related("run"):
        pins = list(part.run.pinned.all()) if part.run is not None else []
        parts.append(
            {
                "study": part.study_slug,
                "run": part.run_id,
                "missing_variables": part.missing_variables,
                "dataset_versions": [
                    {"dataset": pin.dataset_name, "version": pin.number, "sha256": pin.sha256} for pin in pins
                ],
                "spec": part.run.spec if part.run is not None else None,
            }
        )
    return {"federated_run": run.pk, "spec": run.spec, "variables": run.variables, "studies": parts}


def federated_export_for_user(
    *, tenant: Tenant, actor: Any, run: FederatedRun, fmt: str, purpose: str, request: HttpRequest | None = None
) -> ExportFile:
    """An export of the stacked result (export level on every study), audited with its purpose and sha256."""
    if fmt not in FORMATS:
        raise InvalidInput(f"format must be one of {', '.join(FORMATS)}.", code="invalid_format")
    purpose = (purpose or "").strip()
    if len(purpose) < 3:
        raise InvalidInput("State the purpose of this export (at least a few words).", code="purpose_required")
    federated_access_require(actor=actor, tenant=tenant, run=run, level=Level.EXPORT)
    source = federated_result_path(run)
    now = timezone.now()
    stem = f"federated_{run.pk}_long_{now.strftime('%Y%m%d_%H%M%S')}"
    work = Path(tempfile.mkdtemp(prefix=f"federated-export-{run.pk}-", dir=work_root()))
    try:
        with interactive_slot(tenant=tenant, user=actor, what="exports"):
            if fmt == "parquet":
                target, content_type = work / f"{stem}.parquet", "application/vnd.apache.parquet"
                shutil.copyfile(source, target)
            elif fmt == "csv":
                target, content_type = work / f"{stem}.csv", "text/csv; charset=utf-8"
                result_csv_write(source, target)
            else:
                target, content_type = work / f"{stem}.zip", "application/zip"
                _zip(tenant, run, source, work, stem, target, purpose, actor, now)
        digest = file_sha256(target)
    except Exception:
        shutil.rmtree(work, ignore_errors=True)
        raise
    audit_event_record(
        action="federated.exported",
        actor=actor,
        request=request,
        target=run,
        details={
            "format": fmt,
            "rows": run.row_count,
            "purpose": purpose,
            "sha256": digest,
            "filename": target.name,
            "studies": run.spec.get("studies"),
        },
    )
    return ExportFile(
        path=target, filename=target.name, content_type=content_type, sha256=digest, rows=run.row_count or 0
    )


def _zip(
    tenant: Tenant,
    run: FederatedRun,
    source: Path,
    work: Path,
    stem: str,
    target: Path,
    purpose: str,
    actor: Any,
    now: Any,
) -> None:
    data = work / f"{stem}.csv"
    rows = result_csv_write(source, data)
    dictionary = [
        {"column": "study", "type": "string", "label": "Study (slug)", "unit": ""},
        {"column": "participant_id", "type": "string", "label": "Participant id within the study", "unit": ""},
        {"column": "session", "type": "string", "label": "Session (empty: cross-sectional study)", "unit": ""},
        *(
            {"column": v["name"], "type": v["type"], "label": v.get("label", ""), "unit": v.get("unit", "")}
            for v in run.variables
            if v["name"] in run.spec.get("variables", [])
        ),
    ]
    manifest = {
        **federated_manifest(run),
        "row_count": rows,
        "columns": run.columns,
        "user": getattr(actor, "email", None),
        "exported_at": now.isoformat(),
        "purpose": purpose,
        "data_file": data.name,
        "data_sha256": file_sha256(data),
    }
    report = [
        {"study": part.study_slug, **step}
        for part in run.parts.select_related("run", "run__study")
        if part.run is not None
        for step in filtering_report(part.run, tenant=tenant)
    ]
    with zipfile.ZipFile(target, "w", compression=zipfile.ZIP_DEFLATED) as bundle:
        bundle.write(data, data.name)
        bundle.writestr("filtering_report.json", json.dumps(report, indent=2, default=str))
        bundle.writestr("data_dictionary.json", json.dumps(dictionary, indent=2, default=str))
        bundle.writestr("manifest.json", json.dumps(manifest, indent=2, default=str))
