"""Import and export of the builder's query: BDT query parameters (TOML, see :mod:`queries.pages.bdt_toml`) and the raw
QuerySpec (JSON). An import is applied only when every table and column it names exists in the study."""

from __future__ import annotations

import datetime as dt
import json

from django.contrib import messages
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils import timezone
from django.views.decorators.http import require_GET, require_POST

from core.errors import InvalidInput
from datasets.ingest.nesting import MAX_NESTING, nesting_too_deep
from datasets.models import Study
from queries.pages import bdt_toml
from queries.pages.builder import draft_replace_from_spec, draft_state, state_to_spec
from queries.pages.builder_context import builder_context
from queries.pages.builder_schema import StudySchema, study_schema
from queries.pages.views import study_for_builder
from tenants.page_kit import page_errors

MAX_IMPORT_BYTES = 1_000_000
TOO_DEEP = (
    f"The file nests lists or tables more than {MAX_NESTING} levels deep; query parameters nest a few levels at "
    "most. Import a file exported by the builder or by BDT."
)


# --- Import / export of query parameters -------------------------------------------------------------------------


def _columns_by_dataset(schema: StudySchema) -> dict[str, dict[str, str]]:
    """dataset -> {column: type}, key columns included (the importer reports them as keys, not as unknown)."""
    result: dict[str, dict[str, str]] = {}
    for name, choice in schema.datasets.items():
        result[name] = {c["name"]: str(c.get("type", "string")) for c in choice.version.columns}
    return result


def _download(body: str, filename: str, content_type: str) -> HttpResponse:
    response = HttpResponse(body, content_type=content_type)
    response["Content-Disposition"] = f'attachment; filename="{filename}"'
    return response


@require_GET
@page_errors
def export_parameters(request: HttpRequest, slug: str, fmt: str) -> HttpResponse:
    """The builder's query as BDT query parameters (TOML) or as the raw QuerySpec (JSON)."""
    study = study_for_builder(request, slug)
    schema = study_schema(study)
    spec = state_to_spec(draft_state(study, request.user, schema), schema)
    stamp = timezone.localtime().strftime("%y%m%d_%H%M%S")
    if fmt == "json":
        return _download(bdt_toml.spec_json(spec), f"query_spec_{study.slug}_{stamp}.json", "application/json")
    text = bdt_toml.spec_to_toml(
        spec,
        demographics=schema.demographics,
        age_column=study.age_column or None,
        notes=request.GET.get("notes", "")[:2000],
        now=dt.datetime.now(dt.UTC),
    )
    return _download(text, f"query_parameters_{stamp}.toml", "application/toml; charset=utf-8")


def _read_import(request: HttpRequest, study: Study, schema: StudySchema) -> bdt_toml.ImportResult:
    upload = request.FILES.get("file")
    if upload is None:
        raise InvalidInput("Choose a .toml or .json file to import.", code="file_required")
    if upload.size and upload.size > MAX_IMPORT_BYTES:
        raise InvalidInput("The file is too large for query parameters (1 MB at most).", code="file_too_large")
    raw = upload.read(MAX_IMPORT_BYTES + 1)
    if nesting_too_deep(raw.decode("utf-8", "replace")):
        raise InvalidInput(TOO_DEEP, code="too_deep")
    try:
        return _import_result(raw, upload.name or "", study, schema)
    except RecursionError:  # nesting the depth check could not see (inside an unusual string)
        raise InvalidInput(TOO_DEEP, code="too_deep") from None


def _import_result(raw: bytes, filename: str, study: Study, schema: StudySchema) -> bdt_toml.ImportResult:
    """The parameters of an uploaded file (JSON QuerySpec or BDT TOML) checked against the study's tables."""
    columns = _columns_by_dataset(schema)
    if filename.lower().endswith(".json") or raw.lstrip()[:1] == b"{":
        result = bdt_toml.ImportResult()
        try:
            spec = json.loads(raw.decode("utf-8"))
        except (UnicodeDecodeError, ValueError) as exc:
            result.errors.append(f"The file is not valid UTF-8 JSON: {exc}")
            return result
        if not isinstance(spec, dict):
            result.errors.append("The JSON file must hold one QuerySpec object.")
            return result
        result.spec = spec
        result.errors += bdt_toml.spec_unknown_names(spec, columns)
        return result
    return bdt_toml.toml_to_spec(
        raw,
        columns=columns,
        demographics=schema.demographics,
        age_column=study.age_column or None,
        keys={study.id_column, study.session_column, study.composite_id_column} - {""},
        has_sites=bool(study.site_column),
        longitudinal=study.is_longitudinal,
    )


@require_POST
@page_errors
def import_parameters(request: HttpRequest, slug: str) -> HttpResponse:
    """Import BDT query parameters (.toml) or a QuerySpec (.json): applied only when every name is known."""
    study = study_for_builder(request, slug)
    schema = study_schema(study)
    try:
        result = _read_import(request, study, schema)
    except InvalidInput as exc:
        result = bdt_toml.ImportResult(errors=[exc.message])
    if not result.ok:
        state = draft_state(study, request.user, schema)
        context = builder_context(request, schema, state, import_result=result)
        return render(request, "queries/builder.html", context, status=422)
    try:
        draft_replace_from_spec(study, request.user, result.spec, schema)
    except (TypeError, ValueError, AttributeError):
        state = draft_state(study, request.user, schema)
        bad = bdt_toml.ImportResult(errors=["The file's query has an unexpected structure."])
        return render(
            request, "queries/builder.html", builder_context(request, schema, state, import_result=bad), status=422
        )
    filters = len(result.spec.get("filters") or [])
    messages.success(request, f"Imported the query: {filters} filter{'s' if filters != 1 else ''}.")
    for note in result.notes:
        messages.warning(request, note)
    return redirect("query_builder", slug=study.slug)
