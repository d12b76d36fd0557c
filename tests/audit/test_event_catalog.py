"""The event catalog, walked: every sensitive action, driven through the API or the pages, leaves exactly one event
with its actor, workspace (the event is in that workspace's chain), IP, user agent, request id, target and details.

Events written by a worker (a version registered, a run finished) have no request: they carry the actor and target,
and the request that queued the work has its own event with the request fields (``ingest.queued``,
``query.run_created``).
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable
from datetime import timedelta
from typing import Any

import pytest
from allauth.mfa.totp.internal.auth import SECRET_SESSION_KEY, format_hotp_value, hotp_value
from django.db import connection
from django.test import Client
from django.utils import timezone
from django_tenants.utils import tenant_context

from access.models import Grant
from access.services import grants_expire
from audit.models import AuditEvent
from audit.verification import audit_chain_verify
from tenants.services import user_get_or_create
from tests.conftest import PASSWORD, ApiClient
from tests.csv_data import MEMORY_COGNITIVE as COGNITIVE
from tests.csv_data import MEMORY_DEMOGRAPHICS as DEMOGRAPHICS
from tests.csv_data import MEMORY_FLANKER as FLANKER

pytestmark = pytest.mark.django_db

UA = "catalog-walker/1.0"
IP = "127.0.0.1"
NEW_PASSWORD = "a-new-password-42"


class Walker:
    """Drives one action at a time and returns the single event it wrote (failing on zero or several)."""

    def __init__(self, events: Callable[..., list[AuditEvent]], last: Callable[[], int]) -> None:
        self.events, self.last, self.seen = events, last, []

    def one(
        self,
        action: str,
        drive: Callable[[], Any],
        *,
        actor: str,
        target: str,
        details: set[str],
        from_request: bool = True,
    ) -> AuditEvent:
        mark = self.last()
        drive()
        found = self.events(action, after=mark)
        assert len(found) == 1, f"{action}: {len(found)} events"
        event = found[0]
        assert event.actor_email == actor, action
        assert event.target_type == target and (event.target_id or not target), action
        assert details <= set(event.details), f"{action}: {sorted(event.details)}"
        if from_request:
            assert event.ip == IP and event.user_agent == UA, action
            assert re.fullmatch(r"[0-9a-f]{32}", event.request_id), action
        self.seen.append(action)
        return event


def _api(api: Callable[..., ApiClient], tenant: Any, role: str) -> ApiClient:
    client = api(tenant, role)
    client.client = Client(HTTP_HOST=client.host, HTTP_USER_AGENT=UA)
    return client


def _browser(tenant: Any, user: Any) -> Client:
    browser = Client(HTTP_HOST=tenant.primary_domain_name(), HTTP_USER_AGENT=UA)
    browser.user = user  # type: ignore[attr-defined]
    return browser


def test_every_sensitive_action_writes_exactly_one_complete_event(
    api, tenant_a, make_member, upload, execute, events, last_event_id, django_capture_on_commit_callbacks
) -> None:
    walk = Walker(events, last_event_id)
    owner = _api(api, tenant_a, "owner")
    me = owner.user.email

    # --- Authentication (allauth/Django signals; see docs/operations.md) ---------------------------------------
    person = make_member(tenant_a, "analyst")
    browser = _browser(tenant_a, person)
    wrong = {"login": person.email, "password": "not-the-password"}
    failed = walk.one(
        "auth.login_failed", lambda: browser.post("/accounts/login/", wrong), actor="", target="", details={"email"}
    )
    assert failed.details["email"] == person.email  # nobody is logged in: the attempted e-mail is the detail
    good = {"login": person.email, "password": PASSWORD}
    walk.one(
        "auth.login",
        lambda: browser.post("/accounts/login/", good),
        actor=person.email,
        target="tenants.user",
        details=set(),
    )

    def activate_totp() -> None:
        page = browser.get("/accounts/2fa/totp/activate/")
        if page.status_code == 302 and "reauthenticate" in page["Location"]:  # a sensitive change: password again
            browser.post(page["Location"], {"password": PASSWORD})
            page = browser.get("/accounts/2fa/totp/activate/")
        assert page.status_code == 200
        secret = browser.session[SECRET_SESSION_KEY]
        code = format_hotp_value(hotp_value(secret, int(time.time()) // 30))
        with django_capture_on_commit_callbacks(execute=True):
            response = browser.post("/accounts/2fa/totp/activate/", {"code": code})
        assert response.status_code == 302, response.content

    walk.one("auth.mfa_added", activate_totp, actor=person.email, target="tenants.user", details={"type"})

    def change_password() -> None:
        form = {"oldpassword": PASSWORD, "password1": NEW_PASSWORD, "password2": NEW_PASSWORD}
        response = browser.post("/accounts/password/change/", form)
        assert response.status_code == 302, response.content

    walk.one("auth.password_changed", change_password, actor=person.email, target="tenants.user", details=set())
    walk.one(
        "auth.logout",
        lambda: browser.post("/accounts/logout/"),
        actor=person.email,
        target="tenants.user",
        details=set(),
    )

    # --- Studies and datasets ----------------------------------------------------------------------------------
    study = {"slug": "walk", "name": "Walk", "id_column": "participant_id", "session_column": "session"}
    study.update(age_column="age", sex_column="sex", site_column="site")
    walk.one(
        "study.created",
        lambda: owner.post("/api/v1/studies", study),
        actor=me,
        target="datasets.study",
        details={"name", "id_column"},
    )
    walk.one(
        "study.updated",
        lambda: owner.patch("/api/v1/studies/walk", {"description": "Walking every event"}),
        actor=me,
        target="datasets.study",
        details={"from", "to"},
    )
    walk.one(
        "ingest.queued",
        lambda: upload("walk", DEMOGRAPHICS, "demographics", kind="demographics", client=owner),
        actor=me,
        target="datasets.ingestjob",
        details={"study", "dataset", "filename"},
    )
    walk.one(
        "dataset_version.created",
        lambda: upload("walk", COGNITIVE, "cognitive", client=owner),
        actor=me,
        target="datasets.datasetversion",
        details={"study", "dataset", "version", "sha256", "rows"},
        from_request=False,  # registered by the ingest worker; ingest.queued carries the request
    )
    upload("walk", FLANKER, "flanker", client=owner)

    # --- Counts, runs, previews, exports ------------------------------------------------------------------------
    spec = {"columns": {"cognitive": ["working_memory"]}}
    count = walk.one(
        "query.count",
        lambda: owner.post("/api/v1/studies/walk/count", {"sessions": ["BAS1"]}),
        actor=me,
        target="datasets.study",
        details={"spec_hash", "suppressed", "cached"},
    )
    assert count.details["suppressed"] is False
    created: dict[str, int] = {}

    def run() -> None:
        with django_capture_on_commit_callbacks(execute=False):
            created["id"] = owner.post("/api/v1/studies/walk/queries", spec).json()["id"]

    started = walk.one(
        "query.run_created", run, actor=me, target="queries.queryrun", details={"spec", "spec_hash", "versions"}
    )
    assert started.details["spec"]["columns"] == {"cognitive": ["working_memory"]}
    assert set(started.details["versions"]) == {"demographics", "cognitive"}
    run_id = created["id"]
    walk.one(
        "query.run_succeeded",
        lambda: execute(run_id),
        actor=me,
        target="queries.queryrun",
        details={"rows"},
        from_request=False,  # finished by the worker
    )
    walk.one(
        "query.preview",
        lambda: owner.get(f"/api/v1/queries/{run_id}/rows?page=1&page_size=2"),
        actor=me,
        target="queries.queryrun",
        details={"page", "page_size", "rows"},
    )
    owner_browser = _browser(tenant_a, owner.user)
    assert owner_browser.login(email=me, password=PASSWORD)
    preview = walk.one(
        "query.preview",
        lambda: owner_browser.get(f"/queries/runs/{run_id}/rows/?page=1&page_size=10"),
        actor=me,
        target="queries.queryrun",
        details={"page", "page_size", "rows"},
    )
    assert preview.details["rows"] == 6  # every participant-session of the demographics table
    exported = walk.one(
        "query.exported",
        lambda: owner.get(f"/api/v1/queries/{run_id}/export?format=csv&purpose=Walk%20the%20catalog"),
        actor=me,
        target="queries.queryrun",
        details={"format", "rows", "purpose", "sha256"},
    )
    assert exported.details["purpose"] == "Walk the catalog" and len(exported.details["sha256"]) == 64

    # --- Tokens and settings -------------------------------------------------------------------------------------
    token: dict[str, int] = {}

    def token_create() -> None:
        token["id"] = owner.post("/api/v1/tokens", {"name": "walker"}).json()["id"]

    walk.one("token.created", token_create, actor=me, target="tenants.apitoken", details={"owner", "expires_at"})
    walk.one(
        "token.revoked",
        lambda: owner.delete(f"/api/v1/tokens/{token['id']}"),
        actor=me,
        target="tenants.apitoken",
        details={"owner"},
    )
    changed = walk.one(
        "tenant.settings_changed",
        lambda: owner.patch("/api/v1/settings", {"suppression_threshold": 7}),
        actor=me,
        target="tenants.tenant",
        details={"from", "to"},
    )
    assert changed.details == {"from": {"suppression_threshold": None}, "to": {"suppression_threshold": 7}}

    # --- Deletions (tombstones) ----------------------------------------------------------------------------------
    upload("walk", COGNITIVE.replace("101.5", "102"), "cognitive", client=owner)
    walk.one(
        "dataset_version.deleted",
        lambda: owner.delete("/api/v1/studies/walk/datasets/cognitive/versions/2"),
        actor=me,
        target="datasets.datasetversion",
        details={"study", "dataset", "version", "sha256"},
    )
    walk.one(
        "dataset.deleted",
        lambda: owner.delete("/api/v1/studies/walk/datasets/flanker"),
        actor=me,
        target="datasets.dataset",
        details={"study", "dataset", "versions"},
    )

    # --- Reading the log is itself audited -----------------------------------------------------------------------
    read = walk.one(
        "audit.read", lambda: owner.get("/api/v1/audit?action=query."), actor=me, target="", details={"filters", "view"}
    )
    assert read.details["filters"]["action"] == "query." and read.details["view"] == "api"

    with tenant_context(tenant_a):
        assert audit_chain_verify().ok
        assert AuditEvent.objects.filter(action__in=walk.seen).count() >= len(set(walk.seen))


def test_governance_actions_write_exactly_one_complete_event(
    api, tenant_a, make_member, study, events, last_event_id
) -> None:
    """Members, roles, grants and access requests (their services belong to governance; walked here too)."""
    walk = Walker(events, last_event_id)
    owner = _api(api, tenant_a, "owner")
    me = owner.user.email
    person = make_member(tenant_a, "analyst")
    newcomer = user_get_or_create(email=f"walker-{person.pk}@example.org", password=PASSWORD)
    walk.one(
        "member.added",
        lambda: owner.post("/api/v1/members", {"email": newcomer.email, "role": "analyst"}),
        actor=me,
        target="tenants.membership",
        details={"email", "role"},
    )
    walk.one(
        "member.role_changed",
        lambda: owner.patch(f"/api/v1/members/{newcomer.email}", {"role": "viewer"}),
        actor=me,
        target="tenants.membership",
        details={"email"},
    )
    walk.one(
        "member.removed",
        lambda: owner.delete(f"/api/v1/members/{newcomer.email}"),
        actor=me,
        target="tenants.membership",
        details={"email"},
    )
    grant: dict[str, int] = {}

    def grant_create() -> None:
        response = owner.post(
            "/api/v1/studies/memory/datasets/flanker/grants", {"email": person.email, "level": "count"}
        )
        assert response.status_code == 201, response.content
        grant["id"] = response.json()["id"]

    walk.one("grant.created", grant_create, actor=me, target="access.grant", details=set())
    walk.one(
        "grant.revoked",
        lambda: owner.delete(f"/api/v1/studies/memory/datasets/flanker/grants/{grant['id']}"),
        actor=me,
        target="access.grant",
        details=set(),
    )

    def grant_lapses() -> None:
        """A grant whose expiry passed: the periodic task records the expiry once (no request, no actor)."""
        grant_create()
        with tenant_context(tenant_a):
            Grant.objects.filter(pk=grant["id"]).update(expires_at=timezone.now() - timedelta(seconds=1))
            assert grants_expire() == 1
            assert grants_expire() == 0  # recorded once, not at every run of the task
        connection.set_schema_to_public()

    mark = last_event_id()
    walk.one("grant.expired", grant_lapses, actor="", target="access.grant", details=set(), from_request=False)
    assert len(events("grant.created", after=mark)) == 1


def test_access_requests_and_decisions_write_exactly_one_complete_event(
    api, tenant_a, study, events, last_event_id
) -> None:
    walk = Walker(events, last_event_id)
    owner = _api(api, tenant_a, "owner")
    requester = _api(api, tenant_a, "analyst")
    # A consortium-like workspace: analysts start with metadata only, so they must ask.
    assert owner.patch("/api/v1/settings", {"analyst_default_level": "metadata"}).status_code == 200
    ask = {
        "study": "memory",
        "datasets": ["flanker"],
        "level": "count",
        "purpose": "Replicate the flanker effect",
        "accept_terms": True,
    }
    made: dict[str, int] = {}

    def request_access() -> None:
        response = requester.post("/api/v1/access-requests", ask)
        assert response.status_code == 201, response.content
        made["id"] = response.json()["id"]

    walk.one(
        "access_request.created",
        request_access,
        actor=requester.user.email,
        target="approvals.accessrequest",
        details=set(),
    )
    decision = {"decision": "deny", "reason": "Not for this project"}
    walk.one(
        "access_request.denied",
        lambda: owner.post(f"/api/v1/access-requests/{made['id']}/decision", decision),
        actor=owner.user.email,
        target="approvals.accessrequest",
        details=set(),
    )
