"""Finding 10: participant ids are never readable below the query level — not in shared saved queries, not in
ingest warnings or errors (``duplicate_keys``, ``unknown_ids``), on the API or the pages. Uploaders and query-level
members still read them."""

from __future__ import annotations

import pytest
from django.test import Client

pytestmark = pytest.mark.django_db


def signed_in(tenant, user) -> Client:
    client = Client(HTTP_HOST=tenant.primary_domain_name())
    client.force_login(user)
    return client


def test_shared_saved_queries_lose_their_id_lists_below_query(gov, analyst_at, steward_api, tenant_a) -> None:
    spec = {"participants": ["P001", "P002", "P003"], "filters": []}
    made = steward_api.post("/api/v1/studies/gov/saved-queries", {"name": "three", "spec": spec, "shared": True})
    assert made.status_code == 201, made.content
    saved_id = made.json()["id"]
    counter = analyst_at("count")
    for body in (counter.get(f"/api/v1/saved-queries/{saved_id}").json(), *counter.get(
        "/api/v1/studies/gov/saved-queries").json()["items"]):  # fmt: skip
        assert body["spec"]["participants"] == [] and body["participants_hidden"] == 3
        assert "P001" not in str(body)
    exact = analyst_at("query").get(f"/api/v1/saved-queries/{saved_id}").json()
    assert exact["spec"]["participants"] == spec["participants"] and exact["participants_hidden"] == 0
    browser = signed_in(tenant_a, counter.user)
    assert browser.post(f"/queries/saved/{saved_id}/load/").status_code == 302
    assert "P001" not in browser.get("/queries/gov/").content.decode()  # not loaded into the builder either


def test_ingest_warnings_and_errors_name_no_ids_below_query(gov, upload, api, tenant_a, steward_api) -> None:
    unknown = "participant_id,session,value\nP001,BAS1,1\nZ9999,BAS1,2\n"
    _, warned = upload("gov", unknown, "extra", kind="measure")
    assert warned["status"] == "succeeded" and "Z9999" in str(warned["warnings"])  # the uploader reads it
    duplicated = "participant_id,session,value\nP001,BAS1,1\nP001,BAS1,2\n"
    _, failed = upload("gov", duplicated, "twice", kind="measure")
    assert failed["status"] == "failed" and failed["error"]["code"] == "duplicate_keys"
    assert "P001" in failed["error"]["message"]
    viewer = api(tenant_a, "viewer")
    for ingest in (warned, failed):
        body = viewer.get(f"/api/v1/ingests/{ingest['id']}").json()
        assert "Z9999" not in str(body) and "P001" not in str(body), body
    assert viewer.get(f"/api/v1/ingests/{failed['id']}").json()["error"]["code"] == "duplicate_keys"
    version = viewer.get("/api/v1/studies/gov/datasets/extra").json()["latest_version"]
    assert [w["code"] for w in version["warnings"]] == ["unknown_ids"] and "Z9999" not in str(version)
    assert "Z9999" in str(steward_api.get("/api/v1/studies/gov/datasets/extra").json())
    browser = signed_in(tenant_a, viewer.user)
    for path in ("/studies/gov/", "/studies/gov/datasets/extra/", f"/studies/gov/ingests/{failed['id']}/"):
        page = browser.get(path)
        assert page.status_code == 200, path
        assert "Z9999" not in page.content.decode() and "P001" not in page.content.decode(), path
    assert "Z9999" in signed_in(tenant_a, steward_api.user).get("/studies/gov/datasets/extra/").content.decode()
