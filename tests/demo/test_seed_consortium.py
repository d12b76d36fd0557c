"""seed_demo also seeds the demo consortium: the demo lab's study shared into it by reference under the sharing
rules, three harmonized variables over it, counts for its analysts; seeding again adds nothing."""

from __future__ import annotations

from collections import Counter
from io import StringIO

import pytest
from django.core.management import call_command
from django.test import Client
from django_tenants.utils import tenant_context

from access.models import Grant
from approvals.models import DataUseAgreement
from audit.models import AuditEvent
from datasets.models import DatasetVersion, Study
from demo.consortium import SHARED_SLUG
from harmonization.counting import federated_count
from harmonization.discovery import catalog_search
from harmonization.models import HarmonizedVariable
from sharing.models import Contribution
from tenants.models import Membership, Tenant, User

pytestmark = pytest.mark.django_db

ACTIONS = ("contribution.offered", "contribution.accepted", "variable.created", "grant.created", "study.updated")


def _seed() -> str:
    out = StringIO()
    call_command("seed_demo", "--participants", "60", stdout=out)
    return out.getvalue()


def _state(lab: Tenant, consortium: Tenant) -> dict[str, object]:
    """Everything the consortium step writes, counted."""
    state: dict[str, object] = {
        "contributions": list(Contribution.objects.filter(lab=lab).values_list("status", "level", "local_slug")),
        "members": sorted(Membership.objects.filter(tenant=consortium).values_list("user__email", "role")),
    }
    with tenant_context(consortium):
        shared = Study.objects.get(slug=SHARED_SLUG)
        state["variables"] = sorted(HarmonizedVariable.objects.values_list("name", "revision"))
        state["grants"] = sorted(Grant.objects.filter(study=shared).values_list("role", "level", "revoked_at"))
        state["terms"] = DataUseAgreement.objects.filter(study=shared).count()
        state["consortium_events"] = Counter(AuditEvent.objects.filter(action__in=ACTIONS).values_list("action"))
        state["mirrored_versions"] = DatasetVersion.objects.filter(dataset__study=shared).count()
    with tenant_context(lab):
        state["lab_events"] = Counter(AuditEvent.objects.filter(action__in=ACTIONS).values_list("action"))
        state["discoverable"] = Study.objects.get(slug="demo-study").discoverable
    return state


def test_seed_demo_shares_the_demo_study_into_the_demo_consortium_once() -> None:
    output = _seed()
    assert "Demo consortium: http://consortium.localhost:8000/" in output
    lab, consortium = Tenant.objects.get(slug="demo"), Tenant.objects.get(slug="demo-consortium")
    assert consortium.kind == "consortium" and consortium.domains.filter(domain="consortium.localhost").exists()
    first = _state(lab, consortium)
    assert first["contributions"] == [("active", "query", SHARED_SLUG)]
    assert first["variables"] == [("age", 1), ("sex", 1), ("working_memory", 1)]
    assert first["grants"] == [("analyst", "count", None)] and first["terms"] == 1
    assert first["mirrored_versions"] == 5 and first["discoverable"] is True
    assert ("steward@demo.local", "steward") in first["members"]  # type: ignore[operator]

    _seed()
    assert _state(lab, consortium) == first  # nothing seeded twice: no second offer, variable, grant or term

    # The consortium works: a federated count over the shared study in harmonized units, capped for analysts.
    analyst = User.objects.get(email="analyst@demo.local")
    with tenant_context(consortium):
        answer = federated_count(
            tenant=consortium,
            actor=analyst,
            payload={"studies": [SHARED_SLUG], "filters": [{"variable": "sex", "op": "eq", "value": "female"}]},
        )
    assert 0 < answer["participants"] < 60
    browser = Client(HTTP_HOST="consortium.localhost")
    assert browser.login(email="steward@demo.local", password="demo-password-1")
    page = browser.get("/studies/")
    assert page.status_code == 200 and SHARED_SLUG in page.content.decode()
    # The public catalog lists the lab's study (the lab opted in); the consortium's copy stays out of it.
    found = {(entry["workspace"], entry["study"]) for entry in catalog_search("demo")}
    assert ("demo", "demo-study") in found and ("demo-consortium", SHARED_SLUG) not in found
