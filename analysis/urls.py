"""Pages of the analysis app (mounted at /queries/, next to the run pages)."""

from django.urls import path

from analysis import views

urlpatterns = [
    path("runs/<int:run_id>/plots/", views.plots_page, name="analysis_plots"),
    path("runs/<int:run_id>/plots/export/", views.selection_export_view, name="analysis_selection_export"),
    path("runs/<int:run_id>/profiles/", views.profile_list, name="analysis_profile_list"),
    path("runs/<int:run_id>/profiles/new/", views.profile_start, name="analysis_profile_start"),
    path("profiles/<int:job_id>/", views.profile_detail, name="analysis_profile_detail"),
    path("profiles/<int:job_id>/panel/", views.profile_panel, name="analysis_profile_panel"),
    path("profiles/<int:job_id>/report.html", views.profile_download, {"fmt": "html"}, name="analysis_profile_html"),
    path("profiles/<int:job_id>/report.json", views.profile_download, {"fmt": "json"}, name="analysis_profile_json"),
]
