"""Pages of the query builder and of query runs (mounted at /queries/)."""

from django.urls import path

from queries.pages import lineage_views, param_views, run_views, views

urlpatterns = [
    path("", views.queries_home, name="queries_home"),
    path("runs/", run_views.run_list, name="query_run_list"),
    path("runs/<int:run_id>/", run_views.run_detail, name="query_run_detail"),
    path("runs/<int:run_id>/panel/", run_views.run_panel, name="query_run_panel"),
    path("runs/<int:run_id>/cancel/", run_views.run_cancel, name="query_run_cancel"),
    path("runs/<int:run_id>/rows/", run_views.run_rows, name="query_run_rows"),
    path("runs/<int:run_id>/report/", run_views.run_report, name="query_run_report"),
    path("runs/<int:run_id>/export/", run_views.run_export_download, name="query_run_export"),
    path("runs/<int:run_id>/edit/", run_views.run_edit, name="query_run_edit"),
    path("runs/<int:run_id>/rerun/", lineage_views.run_rerun_view, name="query_run_rerun"),
    path("runs/<int:run_id>/rerun-latest/", lineage_views.run_rerun_latest_view, name="query_run_rerun_latest"),
    path("runs/<int:run_id>/compare/<int:other_id>/", lineage_views.run_compare_view, name="query_run_compare"),
    path("saved/<int:saved_id>/load/", views.saved_load, name="query_saved_load"),
    path("saved/<int:saved_id>/delete/", views.saved_delete, name="query_saved_delete"),
    path("<slug:slug>/", views.builder, name="query_builder"),
    path("<slug:slug>/state/", views.builder_state, name="query_builder_state"),
    path("<slug:slug>/count/", views.builder_count, name="query_builder_count"),
    path("<slug:slug>/values/", views.builder_values, name="query_builder_values"),
    path("<slug:slug>/reset/", views.builder_reset, name="query_builder_reset"),
    path("<slug:slug>/run/", views.builder_run, name="query_builder_run"),
    path("<slug:slug>/saved/", views.saved_create, name="query_saved_create"),
    path("<slug:slug>/import/", param_views.import_parameters, name="query_import"),
    path("<slug:slug>/export.toml", param_views.export_parameters, {"fmt": "toml"}, name="query_export_toml"),
    path("<slug:slug>/export.json", param_views.export_parameters, {"fmt": "json"}, name="query_export_json"),
]
