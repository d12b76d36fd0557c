"""The discovery catalog's URLs on the platform host (included by ``bdt_project.urls_public``)."""

from django.urls import path

from harmonization import public_views

urlpatterns = [
    path("api/v1/catalog", public_views.catalog_api, name="catalog_api"),
    path("catalog/", public_views.catalog_page, name="catalog"),
    path(
        "catalog/<slug:workspace>/<slug:study>/request/",
        public_views.request_access,
        name="catalog_request_access",
    ),
]
