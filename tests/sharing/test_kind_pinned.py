"""A workspace taking part in sharing keeps its kind. Before, a consortium's owner could switch the workspace to a
lab: contributions are looked up only in consortia, so every lab control went with it (the ceiling, a withdrawal),
the contributed study became writable there (deleting a dataset deleted the lab's own files) and could be offered on
to a third consortium."""

from __future__ import annotations

from typing import Any

import pytest
from django.db import IntegrityError, connection, transaction

from tenants.models import Tenant
from tenants.roles import Role
from tests.plugins.sharing import CONSORTIUM, error_code, offer_and_accept

pytestmark = pytest.mark.django_db

BIG = {"filters": [{"dataset": "cognitive", "column": "score", "op": "lte", "value": 43}]}


def _kind(tenant: Tenant) -> str:
    return str(Tenant.objects.values_list("kind", flat=True).get(pk=tenant.pk))


def test_a_consortium_holding_a_contributed_study_stays_a_consortium(
    gov, steward_api, consortium, cons_steward, api, make_member, page_client, tenant_a
) -> None:
    cid = offer_and_accept(steward_api, cons_steward, "gov", "gov-a", level="count")
    owner = page_client(consortium, Role.OWNER)
    analyst = api(consortium, "analyst")
    granted = cons_steward.post(
        "/api/v1/studies/gov-a/datasets/demographics/grants", {"email": analyst.user.email, "level": "export"}
    )
    assert granted.status_code == 201, granted.content

    refused = owner.post("/usage/profile/", {"kind": "lab"})
    assert refused.status_code == 409
    assert "cannot change" in refused.content.decode()
    connection.set_schema_to_public()
    assert _kind(consortium) == "consortium"
    # The lab's ceiling still caps the consortium: a run is refused at the count ceiling.
    run = analyst.post("/api/v1/studies/gov-a/queries", {**BIG, "columns": {"demographics": ["age"]}})
    assert run.status_code == 403 and error_code(run) == "access_level_insufficient"

    # The lab withdraws: the copy stays in the consortium's schema, so the kind stays fixed after it too.
    assert steward_api.delete(f"/api/v1/contributions/{cid}").status_code in (200, 204)
    connection.set_schema_to_public()
    assert owner.post("/usage/profile/", {"kind": "lab"}).status_code == 409
    assert error_code(analyst.post("/api/v1/studies/gov-a/count", BIG)) == "contribution_withdrawn"

    # No other way around it: the database refuses the change itself (the platform admin, a script, SQL).
    connection.set_schema_to_public()
    with pytest.raises(IntegrityError), transaction.atomic():
        Tenant.objects.filter(pk=consortium.pk).update(kind="lab")
    assert _kind(consortium) == "consortium"


def test_a_lab_with_an_open_offer_keeps_its_kind_until_it_is_decided(
    gov, steward_api, consortium, cons_steward, page_client, tenant_a
) -> None:
    offered = steward_api.post("/api/v1/studies/gov/contributions", {"consortium": CONSORTIUM[0], "level": "count"})
    assert offered.status_code == 201, offered.content
    owner = page_client(tenant_a, Role.OWNER)
    assert owner.post("/usage/profile/", {"kind": "consortium"}).status_code == 409
    connection.set_schema_to_public()
    assert _kind(tenant_a) == "lab"
    # The consortium, with an offer it has not decided, neither.
    assert page_client(consortium, Role.OWNER).post("/usage/profile/", {"kind": "lab"}).status_code == 409
    connection.set_schema_to_public()

    declined: Any = cons_steward.post(f"/api/v1/contributions/{offered.json()['id']}/decline")
    assert declined.status_code == 200, declined.content
    connection.set_schema_to_public()
    assert owner.post("/usage/profile/", {"kind": "consortium"}).status_code == 302  # nothing open any more
    connection.set_schema_to_public()
    assert _kind(tenant_a) == "consortium"
    assert owner.post("/usage/profile/", {"kind": "lab"}).status_code == 302
    connection.set_schema_to_public()
    assert _kind(tenant_a) == "lab"
