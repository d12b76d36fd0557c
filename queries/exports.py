"""Exports of a run's result: CSV (formula-safe), Parquet, or a ZIP with dictionary, report, summary, manifest.

Files are written to a temporary file batch by batch (memory stays flat for any size), hashed, audited, and then
streamed to the client from disk.
"""

from __future__ import annotations

import csv
import hashlib
import json
import shutil
import tempfile
import zipfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
from django.db import transaction
from django.http import FileResponse
from django.utils import timezone
from sqlglot import exp

from audit.services import audit_event_record
from core.csv_safety import FORMULA_STARTS, csv_safe
from core.errors import InvalidInput
from core.parquet_reader import timed_reader
from datasets.storage import work_root
from queries.models import QueryExport, QueryRun
from queries.results import filtering_report, final_summary, json_value, run_result_path
from tenants.models import Tenant

FORMATS = ("csv", "parquet", "zip")
BATCH_ROWS = 65_536


@dataclass(frozen=True)
class ExportFile:
    """A finished export on local disk."""

    path: Path
    filename: str
    content_type: str
    sha256: str
    rows: int


def export_filename(run: QueryRun, extension: str, now: Any = None) -> str:
    """BDT's suggestion: measure tables used (none -> demographics_only; 1; 2-3 joined; more -> first_and_N_more),
    then _wide/_long, then a timestamp."""
    demographics = run.study.demographics.name if run.study.demographics else ""
    tables = [name for name in (run.spec.get("columns") or {}) if name != demographics]
    for spec_filter in run.spec.get("filters") or []:
        if spec_filter["dataset"] != demographics and spec_filter["dataset"] not in tables:
            tables.append(spec_filter["dataset"])
    if not tables:
        stem = "demographics_only"
    elif len(tables) <= 3:
        stem = "_".join(tables)
    else:
        stem = f"{tables[0]}_and_{len(tables) - 1}_more"
    stamp = (now or timezone.now()).strftime("%Y%m%d_%H%M%S")
    return f"{stem}_{run.shape}_{stamp}.{extension}"


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        while chunk := handle.read(1024 * 1024):
            digest.update(chunk)
    return digest.hexdigest()


def _safe_text(column: exp.Expression) -> exp.Expression:
    """``column``, prefixed with a quote when it starts like a spreadsheet formula (OWASP CSV injection).

    Written as a chain of ``starts_with``: with ``substr(...) IN (...)`` DuckDB 2.0.1 wrote rows out of order.
    """
    risky = exp.or_(*[exp.func("starts_with", column, exp.Literal.string(c)) for c in FORMULA_STARTS])
    quoted = exp.DPipe(this=exp.Literal.string("'"), expression=column)
    return exp.Case(ifs=[exp.If(this=risky, true=quoted)], default=column)


def result_csv_write(source: Path, target: Path) -> int:
    """Write the result as formula-safe CSV with DuckDB, in the result's row order (streaming, flat memory)."""
    schema = pq.read_schema(source)
    projection = []
    for field in schema:
        column = exp.column(field.name, quoted=True)
        if pa.types.is_string(field.type) or pa.types.is_large_string(field.type):
            value: exp.Expression = _safe_text(column)
        elif pa.types.is_floating(field.type):
            bad = exp.or_(exp.func("isnan", column), exp.func("isinf", column))
            value = exp.Case(ifs=[exp.If(this=bad, true=exp.null())], default=column)
        else:
            value = column
        projection.append(exp.alias_(value, str(csv_safe(field.name)), quoted=True))
    query = exp.select(*projection).from_(exp.func("read_parquet", exp.Literal.string(str(source))))
    statement = (
        f"COPY ({query.sql(dialect='duckdb')}) TO {exp.Literal.string(str(target)).sql(dialect='duckdb')} "
        "(FORMAT csv, HEADER true, PRESERVE_ORDER true)"
    )
    with timed_reader() as reader:  # stopped past the interactive read limit (504 timeout), nothing kept
        reader.fetchall(statement)
    return int(pq.ParquetFile(source).metadata.num_rows)


def _cell(value: Any) -> Any:
    value = json_value(value)
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    return csv_safe(value) if isinstance(value, str) else value


def _rows_csv(path: Path, rows: list[dict[str, Any]]) -> None:
    with open(path, "w", newline="", encoding="utf-8") as handle:
        if not rows:
            return
        writer = csv.DictWriter(handle, fieldnames=list(rows[0]))
        writer.writeheader()
        for row in rows:
            writer.writerow({key: _cell(value) for key, value in row.items()})


def _dictionary(run: QueryRun) -> list[dict[str, Any]]:
    pinned = {pin.dataset_name: pin for pin in run.pinned.select_related("version__dataset")}
    entries = []
    for name, kind in zip(run.columns, run.column_types, strict=False):
        dataset, column = _source_of(name, pinned)
        meta = pinned[dataset].version.dataset if dataset in pinned else None
        entries.append(
            {
                "column": name,
                "type": kind,
                "dataset": dataset,
                "source_column": column,
                "version": pinned[dataset].number if dataset in pinned else None,
                "description": meta.column_description(column) if meta else "",
            }
        )
    return entries


def _source_of(output: str, pinned: dict[str, Any]) -> tuple[str, str]:
    if "." in output:
        dataset, _, column = output.partition(".")
        if dataset in pinned:
            return dataset, column
    for dataset, pin in pinned.items():
        if output in pin.version.column_names():
            return dataset, output
    return "", output


def _selection_file(source: Path, keys: Sequence[int], target: Path) -> int:
    """Write the result rows whose row keys (0-based positions in the result file) are ``keys``, in file order."""
    reader = pq.ParquetFile(source)
    wanted = sorted(set(keys))
    if wanted and (wanted[0] < 0 or wanted[-1] >= reader.metadata.num_rows):
        raise InvalidInput("Some selected rows are not rows of this result.", code="unknown_rows")
    with pq.ParquetWriter(target, reader.schema_arrow, compression="zstd") as writer:
        start, position = 0, 0
        for batch in reader.iter_batches(batch_size=BATCH_ROWS):
            end = start + batch.num_rows
            picked = []
            while position < len(wanted) and wanted[position] < end:
                picked.append(wanted[position] - start)
                position += 1
            if picked:
                writer.write_batch(batch.take(pa.array(picked, type=pa.int64())))
            start = end
    return len(wanted)


def run_export(
    *,
    tenant: Tenant,
    run: QueryRun,
    fmt: str,
    purpose: str,
    actor: Any,
    request: Any = None,
    rows: Sequence[int] | None = None,
) -> ExportFile:
    """Build the export file, record it in the audit trail (format, rows, purpose, sha256) and return it.

    ``rows``: export only these rows (row keys = positions in the result file, e.g. a plot selection); CSV or
    Parquet only, through the same formula-safe writer and audit event (with ``"selection": true``).
    """
    if fmt not in FORMATS:
        raise InvalidInput(f"format must be one of {', '.join(FORMATS)}.", code="invalid_format")
    if rows is not None and fmt == "zip":
        raise InvalidInput("A selection is exported as csv or parquet.", code="invalid_format")
    purpose = (purpose or "").strip()
    if len(purpose) < 3:
        raise InvalidInput("State the purpose of this export (at least a few words).", code="purpose_required")
    source = run_result_path(run)
    work = Path(tempfile.mkdtemp(prefix=f"export-{run.pk}-", dir=work_root()))
    now = timezone.now()
    try:
        selected = None
        if rows is not None:
            selected = _selection_file(source, rows, work / "selection.parquet")
            source = work / "selection.parquet"
        if fmt == "parquet":
            target = work / export_filename(run, "parquet", now)
            shutil.copyfile(source, target)
            rows_written, content_type = (
                selected if selected is not None else run.row_count or 0,
                "application/vnd.apache.parquet",
            )
        elif fmt == "csv":
            target = work / export_filename(run, "csv", now)
            rows_written, content_type = result_csv_write(source, target), "text/csv; charset=utf-8"
        else:
            target, rows_written = _write_zip(tenant, run, source, work, purpose, actor, now), run.row_count or 0
            content_type = "application/zip"
        digest = _sha256(target)
    except Exception:
        shutil.rmtree(work, ignore_errors=True)
        raise
    with transaction.atomic():
        record = QueryExport.objects.create(
            run=run,
            format=fmt,
            filename=target.name,
            rows=rows_written,
            sha256=digest,
            purpose=purpose,
            created_by=actor,
        )
        audit_event_record(
            action="query.exported",
            actor=actor,
            request=request,
            target=run,
            details={
                "export": record.pk,
                "format": fmt,
                "rows": rows_written,
                "purpose": purpose,
                "sha256": digest,
                "filename": target.name,
                "selection": rows is not None,
            },
        )
    return ExportFile(path=target, filename=target.name, content_type=content_type, sha256=digest, rows=rows_written)


def _write_zip(tenant: Tenant, run: QueryRun, source: Path, work: Path, purpose: str, actor: Any, now: Any) -> Path:
    data_name = export_filename(run, "csv", now)
    data = work / data_name
    rows = result_csv_write(source, data)
    keys = {run.study.id_column, run.study.session_column} - {""}
    report = filtering_report(run, tenant=tenant)
    summary = final_summary(run, keys)
    dictionary = _dictionary(run)
    _rows_csv(work / "data_dictionary.csv", dictionary)
    _rows_csv(work / "filtering_report.csv", report)
    _rows_csv(work / "final_summary.csv", summary)
    manifest = {
        "run": run.pk,
        "study": run.study.slug,
        "spec": run.spec,
        "spec_hash": run.spec_hash,
        "shape": run.shape,
        "dataset_versions": [
            {"dataset": pin.dataset_name, "version": pin.number, "sha256": pin.sha256} for pin in run.pinned.all()
        ],
        "row_count": rows,
        "columns": run.columns,
        "user": getattr(actor, "email", None),
        "exported_at": now.isoformat(),
        "purpose": purpose,
        "data_file": data_name,
        "data_sha256": _sha256(data),
    }
    archive = work / export_filename(run, "zip", now)
    with zipfile.ZipFile(archive, "w", compression=zipfile.ZIP_DEFLATED) as bundle:
        bundle.write(data, data_name)
        for name in ("data_dictionary.csv", "filtering_report.csv", "final_summary.csv"):
            bundle.write(work / name, name)
        bundle.writestr("filtering_report.json", json.dumps(report, indent=2, default=str))
        bundle.writestr("final_summary.json", json.dumps(summary, indent=2, default=str))
        bundle.writestr("data_dictionary.json", json.dumps(dictionary, indent=2, default=str))
        bundle.writestr("manifest.json", json.dumps(manifest, indent=2, default=str))
    return archive


def export_response(export: ExportFile) -> FileResponse:
    """Stream an export file as a download (with its SHA-256 in ``X-Content-SHA256``) and remove its working
    folder once the response is closed. Used by every export download (runs, selections; API and pages)."""
    handle = open(export.path, "rb")  # noqa: SIM115 - FileResponse closes it
    response = FileResponse(handle, as_attachment=True, filename=export.filename, content_type=export.content_type)
    response["X-Content-SHA256"] = export.sha256
    cleanup = export.path.parent
    response._resource_closers.append(lambda: shutil.rmtree(cleanup, ignore_errors=True))  # type: ignore[attr-defined]
    return response
