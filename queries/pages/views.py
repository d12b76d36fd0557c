"""Pages of the query builder (mounted at /queries/): the builder, its live count, saved queries, import/export.

The builder's state lives on the server (the user's draft saved query, see :mod:`queries.pages.builder`); every change
posts the whole form. Counts, runs and saved queries go through the same services as the API
(:mod:`queries.services`). Run pages are in :mod:`queries.pages.run_views`.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from django.contrib import messages
from django.http import HttpRequest, HttpResponse, HttpResponseBase
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.http import require_GET, require_POST
from django_htmx.http import HttpResponseClientRedirect, trigger_client_event

from access.catalog import catalog_view_for_user
from access.levels import Level, level_at_least
from core.admission import interactive_slot
from core.errors import ApiError, Forbidden, NotFound
from datasets.models import Study
from datasets.selectors import study_get_for_user, study_list_for_user
from queries.models import QueryRun
from queries.pages.builder import (
    BuilderState,
    draft_replace_from_spec,
    draft_state,
    draft_store,
    form_to_state,
    incomplete_rows,
    row_hint,
    state_apply_action,
    state_to_spec,
)
from queries.pages.builder_access import BuilderAccess, study_schema_for_user
from queries.pages.builder_context import (
    builder_context,
    filter_rows,
    output_column_count,
    saved_context,
    short_value,
)
from queries.pages.builder_dropoff import dropoff_live, dropoff_views
from queries.pages.builder_schema import StudySchema, distinct_values, study_schema
from queries.pages.run_summary import panel_context
from queries.protected_results import runs_rows_shown
from queries.selectors import (
    run_list_for_user,
    saved_query_get_for_user,
    saved_query_list_for_user,
    saved_spec_for_user,
)
from queries.services import query_count, query_run_create, saved_query_delete, saved_query_save
from tenants.page_kit import is_fragment, page_errors, request_tenant
from tenants.role_checks import role_require
from tenants.roles import Role

View = Callable[..., HttpResponseBase]
FILTER_ACTIONS = {"add_filter", "remove_filter", "clear_filters", "row_dataset", "row_column", "row_op"}


# --- Helpers -----------------------------------------------------------------------------------------------------


def require_analyst(request: HttpRequest, action: str = "build queries") -> None:
    role_require(user=request.user, tenant=request_tenant(request), minimum=Role.ANALYST, action=action)


def study_for_builder(request: HttpRequest, slug: str) -> Study:
    """The study (404 if absent or of another workspace), for analysts and above (403 with the reason)."""
    study = study_get_for_user(user=request.user, tenant=request_tenant(request), slug=slug)
    require_analyst(request)
    return study


def schema_for(request: HttpRequest, study: Study) -> tuple[StudySchema, BuilderAccess]:
    """The builder's schema as the caller may use it (datasets and columns by access level) and their access."""
    return study_schema_for_user(user=request.user, tenant=request_tenant(request), study=study)


def _seq(request: HttpRequest) -> int | None:
    raw = request.POST.get("_seq", "")
    return int(raw) if raw.isdigit() and len(raw) < 18 else None


def _posted_state(request: HttpRequest, study: Study, schema: StudySchema) -> BuilderState:
    """The state the page posted (stored as the draft), or the stored draft when the post has no builder form."""
    if "_builder" not in request.POST:
        return draft_state(study, request.user, schema)
    state = form_to_state(request.POST, schema)
    draft_store(study, request.user, state, schema, _seq(request))
    return state


# --- Landing -----------------------------------------------------------------------------------------------------


@require_GET
@page_errors
def queries_home(request: HttpRequest) -> HttpResponse:
    """The Queries entry: every study with a link to its builder, and the caller's latest runs."""
    require_analyst(request)
    studies = list(study_list_for_user(user=request.user, tenant=request_tenant(request)))
    latest = run_list_for_user(user=request.user, tenant=request_tenant(request)).filter(created_by_id=request.user.pk)[
        :8
    ]
    runs = runs_rows_shown(tenant=request_tenant(request), actor=request.user, runs=latest)
    return render(request, "queries/home.html", {"studies": studies, "runs": runs})


# --- The builder -------------------------------------------------------------------------------------------------


@require_GET
@page_errors
def builder(request: HttpRequest, slug: str) -> HttpResponse:
    """The query builder of a study, restored from the user's draft."""
    study = study_for_builder(request, slug)
    schema, access = schema_for(request, study)
    if not schema.ready:
        if access.can_count or not study_schema(study).ready:
            return render(request, "queries/builder_empty.html", {"study": study})
        return render(request, "queries/builder_locked.html", {"study": study, "access": access}, status=403)
    state = draft_state(study, request.user, schema)
    return render(request, "queries/builder.html", builder_context(request, schema, state, access=access))


def _rows_outdated(data: Any, state: BuilderState, schema: StudySchema) -> bool:
    """True when the page posted a row whose fields do not match its choices (a change that reached the form before
    the row was redrawn): the count answer then redraws the rows too."""
    for i, row in enumerate(state.filters):
        known = schema.column(row.dataset, row.column) is not None
        if (row.dataset and f"f-{i}-column" not in data) or (known and f"f-{i}-op" not in data):
            return True
    return False


def _count_response(
    request: HttpRequest,
    study: Study,
    schema: StudySchema,
    state: BuilderState,
    access: BuilderAccess,
    *,
    redraw_rows: bool = False,
) -> HttpResponse:
    columns = output_column_count(schema, state) if access.can_run else None
    keys = 1 + (1 if schema.longitudinal else 0)
    context: dict[str, Any] = {
        "output_columns": columns,
        "output_wide": state.shape == "wide",
        "output_per_session": (columns - keys) if columns is not None else None,
        "rows_oob": filter_rows(schema, state) if redraw_rows else None,
        "study": study,
        "schema": schema,
        "incomplete": incomplete_rows(state),
        "hints": [(i, row_hint(row)) for i, row in enumerate(state.filters)],
    }
    status = 200
    context["dropoff_live"] = dropoff_live(request_tenant(request), schema)
    try:
        context["count"] = query_count(
            tenant=request_tenant(request),
            actor=request.user,
            study=study,
            payload=state_to_spec(state, schema),
            request=request,
            dropoff=context["dropoff_live"],
        )
    except Forbidden:
        raise
    except ApiError as exc:
        context["error"], status = exc, exc.status
    context["age_dropoff"], context["row_dropoffs"] = dropoff_views(state, schema, context.get("count"), short_value)
    demo = schema.demographics_choice
    if demo is not None:
        # The whole table as the caller may see it: exact from query on, else the catalog's protected total (the
        # same set as a count without filters, so the same number).
        total = catalog_view_for_user(user=request.user, tenant=request_tenant(request), study=study).total(
            demo.name, demo.version
        )
        context["total_participants"], context["total_rows"] = total.participants, total.rows
    return render(request, "queries/_count.html", context, status=status)


@require_POST
@page_errors
def builder_state(request: HttpRequest, slug: str) -> HttpResponse:
    """A change in the builder: store the posted state; answer the live count, or the re-rendered filter rows
    after a structural action (which then asks the form to post again for the count)."""
    study = study_for_builder(request, slug)
    schema, access = schema_for(request, study)
    state = form_to_state(request.POST, schema)
    action = request.POST.get("_action", "")
    row_raw = request.POST.get("_row", "")
    row = int(row_raw) if row_raw.isdigit() else None
    if action:
        state = state_apply_action(state, action, row, schema)
    draft_store(study, request.user, state, schema, _seq(request))
    if action in FILTER_ACTIONS:
        context = {
            "schema": schema,
            "study": study,
            "access": access,
            "rows": filter_rows(schema, state),
            "focus_new": action == "add_filter",
        }
        response = render(request, "queries/_filters.html", context)
        return trigger_client_event(response, "qb-recount", {"target": "#builder"}, after="settle")
    if action == "clear_age":
        response = render(request, "queries/_age.html", builder_context(request, schema, state, access=access))
        return trigger_client_event(response, "qb-recount", {"target": "#builder"}, after="settle")
    return _count_response(
        request, study, schema, state, access, redraw_rows=_rows_outdated(request.POST, state, schema)
    )


@require_GET
@page_errors
def builder_count(request: HttpRequest, slug: str) -> HttpResponse:
    """The live count of the stored draft (the page loads it once; later counts come with each change)."""
    study = study_for_builder(request, slug)
    schema, access = schema_for(request, study)
    return _count_response(request, study, schema, draft_state(study, request.user, schema), access)


@require_GET
@page_errors
def builder_values(request: HttpRequest, slug: str) -> HttpResponse:
    """Distinct values of a column matching a search (for categorical filters on columns with many values)."""
    study = study_for_builder(request, slug)
    schema, access = schema_for(request, study)
    row = request.GET.get("row", "0")
    row = row if row.isdigit() else "0"
    dataset = request.GET.get(f"f-{row}-dataset", "")
    column = request.GET.get(f"f-{row}-column", "")
    search = request.GET.get(f"f-{row}-q", "").strip()[:200]
    choice = schema.datasets.get(dataset)
    if choice is None or choice.column(column) is None:
        raise NotFound("No such column.")
    chosen = set(request.GET.getlist(f"f-{row}-values"))
    exact = level_at_least(access.level(dataset), Level.QUERY)
    rules = None if exact or access.catalog is None else access.catalog.rules
    found: list[str] = []
    if search:  # engine work like a count: it waits for a slot of this process, within the member's limits
        with interactive_slot(tenant=request_tenant(request), user=request.user, what="value searches"):
            found = distinct_values(choice.version, column, search=search, rules=rules, scope=str(request.user.pk))
    options = [(v, None) for v in found if v not in chosen]
    return render(
        request,
        "queries/_value_options.html",
        {"row": row, "options": options, "search": search, "searched": bool(search)},
    )


@require_POST
@page_errors
def builder_reset(request: HttpRequest, slug: str) -> HttpResponse:
    """Start over: an empty draft."""
    study = study_for_builder(request, slug)
    draft_store(study, request.user, BuilderState(), schema_for(request, study)[0])
    messages.info(request, "The builder was cleared.")
    return redirect("query_builder", slug=study.slug)


# --- Runs from the builder ---------------------------------------------------------------------------------------


@require_POST
@page_errors
def builder_run(request: HttpRequest, slug: str) -> HttpResponse:
    """Run the builder's query (the posted state): the run panel, which then polls the run."""
    study = study_for_builder(request, slug)
    schema, _ = schema_for(request, study)
    state = _posted_state(request, study, schema)
    try:
        run = query_run_create(
            tenant=request_tenant(request),
            actor=request.user,
            study=study,
            payload=state_to_spec(state, schema),
            request=request,
        )
    except Forbidden as exc:
        if exc.code not in {"access_level_insufficient", "identifying_column"}:
            raise
        return render(request, "queries/_run_panel.html", panel_context(None, run_error=exc), status=exc.status)
    except ApiError as exc:
        return render(request, "queries/_run_panel.html", panel_context(None, run_error=exc), status=exc.status)
    run = QueryRun.objects.select_related("study").get(pk=run.pk)
    return render(request, "queries/_run_panel.html", panel_context(run, in_builder=True, shown_rows=run.row_count))


# --- Saved queries -----------------------------------------------------------------------------------------------


def _saved_response(request: HttpRequest, study: Study, status: int = 200, **extra: Any) -> HttpResponse:
    context = {"study": study, **saved_context(request, study), **extra}
    return render(request, "queries/_saved.html", context, status=status)


@require_POST
@page_errors
def saved_create(request: HttpRequest, slug: str) -> HttpResponse:
    """Save the builder's state under a name (an own saved query of the same name is updated)."""
    study = study_for_builder(request, slug)
    schema, _ = schema_for(request, study)
    state = _posted_state(request, study, schema)
    name = request.POST.get("name", "").strip()
    shared = request.POST.get("shared") in ("on", "true", "1")
    mine = saved_query_list_for_user(user=request.user, tenant=request_tenant(request), study=study)
    existing = mine.filter(owner_id=request.user.pk, name=name).first()
    try:
        saved = saved_query_save(
            tenant=request_tenant(request),
            actor=request.user,
            study=study,
            name=name,
            spec=state_to_spec(state, schema),
            shared=shared,
            saved=existing,
            request=request,
        )
    except Forbidden:
        raise
    except ApiError as exc:
        return _saved_response(request, study, status=exc.status, save_error=exc.message, name=name)
    verb = "Updated" if existing else "Saved"
    return _saved_response(request, study, saved_message=f"{verb} “{saved.name}”.")


@require_POST
@page_errors
def saved_load(request: HttpRequest, saved_id: int) -> HttpResponse:
    """Load a saved query into the builder (it replaces the draft)."""
    require_analyst(request)
    saved = saved_query_get_for_user(user=request.user, tenant=request_tenant(request), saved_id=saved_id)
    if saved.is_draft:
        raise NotFound("No such saved query.")
    spec, _ = saved_spec_for_user(user=request.user, tenant=request_tenant(request), saved=saved)
    draft_replace_from_spec(saved.study, request.user, spec, study_schema(saved.study))
    messages.success(request, f"Loaded “{saved.name}” into the builder.")
    target = reverse("query_builder", kwargs={"slug": saved.study.slug})
    return HttpResponseClientRedirect(target) if is_fragment(request) else redirect(target)


@require_POST
@page_errors
def saved_delete(request: HttpRequest, saved_id: int) -> HttpResponse:
    """Delete one of your saved queries."""
    require_analyst(request)
    saved = saved_query_get_for_user(user=request.user, tenant=request_tenant(request), saved_id=saved_id)
    study, name = saved.study, saved.name
    saved_query_delete(tenant=request_tenant(request), actor=request.user, saved=saved, request=request)
    if is_fragment(request):
        return _saved_response(request, study, saved_message=f"Deleted “{name}”.")
    messages.success(request, f"Deleted “{name}”.")
    return redirect("query_builder", slug=study.slug)
