"""Template context of the query builder page and its fragments (rows, output pickers, saved queries)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from django.http import HttpRequest
from django.urls import reverse

from datasets.models import Study
from queries.models import QueryRun
from queries.pages.builder import (
    LIST_OPS,
    OP_LABELS,
    BuilderState,
    FilterRow,
    incomplete_rows,
    ops_for,
    row_hint,
    value_text,
)
from queries.pages.builder_access import BuilderAccess, builder_access_for, schema_for_access
from queries.pages.builder_schema import ColumnChoice, DatasetChoice, StudySchema, site_options, value_options
from queries.protected_results import runs_rows_shown
from queries.selectors import saved_query_list_for_user
from tenants.page_kit import request_tenant

RECENT_RUNS = 5


@dataclass
class RowView:
    """One phenotypic filter row as the template draws it."""

    index: int
    row: FilterRow
    dataset: DatasetChoice | None
    column: ColumnChoice | None
    ops: list[tuple[str, str]] = field(default_factory=list)
    options: list[tuple[str, Any, bool]] = field(default_factory=list)  # (value, count, checked)
    values_complete: bool = True
    typed_text: str = ""

    @property
    def number(self) -> int:
        return self.index + 1

    @property
    def lo_text(self) -> str:
        return value_text(self.row.lo)

    @property
    def hi_text(self) -> str:
        return value_text(self.row.hi)

    @property
    def min_text(self) -> str:
        return short_value(self.column.min) if self.column else ""

    @property
    def max_text(self) -> str:
        return short_value(self.column.max) if self.column else ""

    @property
    def value_text(self) -> str:
        return value_text(self.row.value)

    @property
    def uses_checklist(self) -> bool:
        """Categorical values as checkboxes (text and boolean columns); numbers and dates are typed."""
        return self.column is not None and self.column.type in ("string", "boolean")

    @property
    def complete(self) -> bool:
        return self.row.complete

    @property
    def hint(self) -> str:
        return row_hint(self.row)


def short_value(value: Any) -> str:
    """A statistic as a placeholder shows it: numbers rounded to 4 decimals (never truncated to integers)."""
    if value is None:
        return ""
    if isinstance(value, float):
        text = f"{value:.4f}".rstrip("0").rstrip(".") if abs(value) >= 1e-3 else f"{value:.4g}"
        return text or "0"
    return str(value)


def _row_view(schema: StudySchema, index: int, row: FilterRow) -> RowView:
    dataset = schema.datasets.get(row.dataset)
    column = dataset.column(row.column) if dataset else None
    view = RowView(index=index, row=row, dataset=dataset, column=column)
    if column is None:
        return view
    view.ops = [(op, OP_LABELS[op]) for op in ops_for(column.type)]
    if row.op in LIST_OPS:
        chosen = [value_text(v) for v in row.values]
        if view.uses_checklist:
            options, complete = value_options(schema, row.dataset, row.column)
            known = {value for value, _ in options}
            view.options = [(value, count, value in chosen) for value, count in options]
            view.options += [(value, None, True) for value in chosen if value not in known]
            view.values_complete = complete
        else:
            view.typed_text = ", ".join(chosen)
    return view


def filter_rows(schema: StudySchema, state: BuilderState) -> list[RowView]:
    return [_row_view(schema, i, row) for i, row in enumerate(state.filters)]


def saved_context(request: HttpRequest, study: Study) -> dict[str, Any]:
    saved = saved_query_list_for_user(user=request.user, tenant=request.tenant, study=study)  # type: ignore[attr-defined]
    return {"saved_queries": list(saved.order_by("name")), "me": request.user}


def _age_context(schema: StudySchema, state: BuilderState) -> dict[str, Any] | None:
    age = schema.age
    if age is None or not age.numeric:
        return None
    return {
        "column": age,
        "lo": value_text(state.age_lo),
        "hi": value_text(state.age_hi),
        "active": state.age_active,
        "min_text": short_value(age.min),
        "max_text": short_value(age.max),
    }


def columns_filters_first(choice: DatasetChoice, state: BuilderState) -> list[tuple[ColumnChoice, bool]]:
    """The columns of an output table, those used in the builder's filters first: (column, used in a filter)."""
    used = {row.column for row in state.filters if row.dataset == choice.name and row.column}
    return sorted(((c, c.name in used) for c in choice.columns), key=lambda pair: not pair[1])


def output_column_count(schema: StudySchema, state: BuilderState) -> int:
    """How many columns a long result of ``state`` has: the keys, every demographics column the caller may see
    and the picked columns of the output tables (unknown ones left out)."""
    demo = schema.demographics_choice
    count = 1 + (1 if schema.longitudinal else 0) + (len(demo.columns) if demo else 0)
    for name, picked in state.columns.items():
        choice = schema.datasets.get(name)
        if choice is not None and name != schema.demographics:
            known = {c.name for c in choice.columns}
            count += len({c for c in picked if c in known})
    return count


def builder_context(
    request: HttpRequest,
    schema: StudySchema,
    state: BuilderState,
    *,
    access: BuilderAccess | None = None,
    **extra: Any,
) -> dict[str, Any]:
    """Everything the builder page draws (datasets and columns as the caller's access levels allow)."""
    study = schema.study
    if access is None:
        access = builder_access_for(user=request.user, tenant=request.tenant, study=study)  # type: ignore[attr-defined]
    schema = schema_for_access(schema, access)
    sites = site_options(schema)
    chosen_sites = set(state.sites)
    outputs = [
        {
            "choice": choice,
            "included": choice.name in state.columns,
            "picked": set(state.columns.get(choice.name, [])),
            "columns": columns_filters_first(choice, state),
        }
        for choice in schema.measures
        if access.outputable(choice.name)
    ]
    unknown_outputs = [name for name in state.columns if name not in access.levels]
    blocked_outputs = [name for name in state.columns if name in access.levels and not access.outputable(name)]
    runs = QueryRun.objects.filter(study=study, created_by_id=request.user.pk).order_by("-created_at")[:RECENT_RUNS]
    context: dict[str, Any] = {
        "study": study,
        "schema": schema,
        "access": access,
        "state": state,
        "age": _age_context(schema, state),
        "sites": [(site, site in chosen_sites) for site in sites] + [(s, True) for s in state.sites if s not in sites],
        "sessions": [(s, s in state.sessions) for s in schema.sessions]
        + [(s, True) for s in state.sessions if s not in schema.sessions],
        "participants_text": "\n".join(state.participants),
        "rows": filter_rows(schema, state),
        "outputs": outputs,
        "unknown_outputs": unknown_outputs,
        "blocked_outputs": blocked_outputs,
        "request_url": reverse("access_request_new", kwargs={"slug": study.slug}),
        "incomplete": incomplete_rows(state),
        "recent_runs": runs_rows_shown(tenant=request_tenant(request), actor=request.user, runs=runs),
        **saved_context(request, study),
    }
    context.update(extra)
    return context
