"""Pages of studies and datasets (mounted at /studies/)."""

from django.urls import path

from studies import lineage_views, views

urlpatterns = [
    path("", views.study_list, name="study_list"),
    path("new/", views.study_new, name="study_new"),
    path("new/slug/", views.study_slug_suggestion, name="study_slug_suggestion"),
    path("new/setup/", views.study_draft_setup, name="study_draft_setup"),
    path("new/setup/demographics/", views.study_draft_demographics, name="study_draft_demographics"),
    path("new/setup/keys/", views.study_draft_keys, name="study_draft_keys"),
    path("new/setup/discard/", views.study_draft_discard, name="study_draft_discard"),
    path("new/setup/cancel/", views.study_draft_cancel, name="study_draft_cancel"),
    path("new/ingests/<int:job_id>/", views.study_draft_ingest, name="study_draft_ingest"),
    path("<slug:slug>/", views.study_detail, name="study_detail"),
    path("<slug:slug>/setup/", views.study_setup, name="study_setup"),
    path("<slug:slug>/setup/demographics/", views.study_setup_demographics, name="study_setup_demographics"),
    path("<slug:slug>/setup/keys/", views.study_setup_keys, name="study_setup_keys"),
    path("<slug:slug>/setup/discard/", views.study_setup_discard, name="study_setup_discard"),
    path("<slug:slug>/upload/", views.study_upload, name="study_upload"),
    path("<slug:slug>/upload/row/", views.upload_row, name="study_upload_row"),
    path("<slug:slug>/upload/check/", views.upload_check, name="study_upload_check"),
    path("<slug:slug>/ingests/<int:job_id>/", views.ingest_status, name="study_ingest_status"),
    path("<slug:slug>/history/", views.study_history_view, name="study_history"),
    path("<slug:slug>/keys/", views.study_keys_repair, name="study_keys_repair"),
    path("<slug:slug>/datasets/<str:name>/", views.dataset_detail, name="dataset_detail"),
    path("<slug:slug>/datasets/<str:name>/dictionary.csv", views.dataset_dictionary, name="dataset_dictionary"),
    path("<slug:slug>/datasets/<str:name>/column/", views.dataset_column_meta, name="dataset_column_meta"),
    path("<slug:slug>/datasets/<str:name>/delete/", lineage_views.dataset_delete_view, name="dataset_delete"),
    path(
        "<slug:slug>/datasets/<str:name>/versions/<int:number>/",
        lineage_views.version_detail,
        name="dataset_version_detail",
    ),
    path(
        "<slug:slug>/datasets/<str:name>/versions/<int:number>/delete/",
        lineage_views.version_delete_view,
        name="dataset_version_delete",
    ),
]
