"""Saved queries, access requests and the audit log."""

from __future__ import annotations

import builtins
from collections.abc import Iterator, Mapping, Sequence
from datetime import datetime
from typing import Any, Literal

from bdt_client.models import AccessRequest, AuditEvent, AuditVerification, SavedQuery
from bdt_client.studies import segment
from bdt_client.transport import Transport

Level = Literal["metadata", "count", "query", "export", "manage"]


class SavedQueriesAPI:
    """Saved queries: yours and those shared with the workspace."""

    def __init__(self, transport: Transport) -> None:
        self._t = transport

    def list(self, study: str) -> builtins.list[SavedQuery]:
        return [SavedQuery.from_api(item) for item in self._t.paginate(f"/studies/{segment(study)}/saved-queries")]

    def get(self, saved_id: int) -> SavedQuery:
        return SavedQuery.from_api(self._t.request("GET", f"/saved-queries/{int(saved_id)}"))

    def create(
        self, study: str, name: str, spec: Mapping[str, Any], *, description: str = "", shared: bool = False
    ) -> SavedQuery:
        """Save a QuerySpec under a name (validated against the study)."""
        payload = {"name": name, "spec": dict(spec), "description": description, "shared": shared}
        body = self._t.request("POST", f"/studies/{segment(study)}/saved-queries", json=payload, idempotent=False)
        return SavedQuery.from_api(body)

    def update(
        self, saved_id: int, *, name: str, spec: Mapping[str, Any], description: str = "", shared: bool = False
    ) -> SavedQuery:
        """Replace one of your saved queries (``PUT``: every field is set)."""
        payload = {"name": name, "spec": dict(spec), "description": description, "shared": shared}
        return SavedQuery.from_api(self._t.request("PUT", f"/saved-queries/{int(saved_id)}", json=payload))

    def delete(self, saved_id: int) -> None:
        self._t.request("DELETE", f"/saved-queries/{int(saved_id)}")


class AccessRequestsAPI:
    """Requests for a level of access to datasets of a study, and stewards' decisions."""

    def __init__(self, transport: Transport) -> None:
        self._t = transport

    def list(self, *, status: str | None = None, mine: bool = False) -> builtins.list[AccessRequest]:
        """Your requests; stewards and owners see the workspace's queue (``mine=True``: only their own)."""
        params = {"status": status, "mine": "true" if mine else None}
        return [AccessRequest.from_api(item) for item in self._t.paginate("/access-requests", params)]

    def get(self, request_id: int) -> AccessRequest:
        return AccessRequest.from_api(self._t.request("GET", f"/access-requests/{int(request_id)}"))

    def create(
        self, study: str, datasets: Sequence[str], level: Level, purpose: str, *, accept_terms: bool = False
    ) -> AccessRequest:
        """Ask for ``level`` on ``datasets`` of ``study``; ``accept_terms`` accepts the study's terms of use."""
        payload = {
            "study": study,
            "datasets": list(datasets),
            "level": level,
            "purpose": purpose,
            "accept_terms": accept_terms,
        }
        return AccessRequest.from_api(self._t.request("POST", "/access-requests", json=payload, idempotent=False))

    def decide(
        self,
        request_id: int,
        decision: Literal["approve", "deny"],
        *,
        reason: str = "",
        level: Level | None = None,
        expires_at: datetime | None = None,
    ) -> AccessRequest:
        """Approve (optionally at a lower level, until ``expires_at``) or deny (with a reason); stewards and owners."""
        payload: dict[str, Any] = {"decision": decision, "reason": reason}
        if level is not None:
            payload["level"] = level
        if expires_at is not None:
            payload["expires_at"] = expires_at.isoformat()
        body = self._t.request("POST", f"/access-requests/{int(request_id)}/decision", json=payload, idempotent=False)
        return AccessRequest.from_api(body)

    def withdraw(self, request_id: int) -> AccessRequest:
        body = self._t.request("POST", f"/access-requests/{int(request_id)}/withdraw", idempotent=True)
        return AccessRequest.from_api(body)


class AuditAPI:
    """The workspace's audit log (stewards and owners; reading it is itself audited)."""

    def __init__(self, transport: Transport) -> None:
        self._t = transport

    def events(
        self,
        *,
        action: str | None = None,
        actor: str | None = None,
        study: str | None = None,
        dataset: str | None = None,
        since: datetime | None = None,
        until: datetime | None = None,
        limit: int | None = None,
    ) -> Iterator[AuditEvent]:
        """Events, newest first, fetched page by page as you iterate; ``action`` may be a prefix ending in '.'."""
        params = {
            "action": action,
            "actor": actor,
            "study": study,
            "dataset": dataset,
            "since": since.isoformat() if since else None,
            "until": until.isoformat() if until else None,
        }
        page_size = min(limit, 1000) if limit else 1000
        for index, item in enumerate(self._t.paginate("/audit", params, page_size=page_size)):
            if limit is not None and index >= limit:
                return
            yield AuditEvent.from_api(item)

    def verify(self) -> AuditVerification:
        """Recompute the audit hash chain; ``first_bad_event`` names the first event that does not match."""
        return AuditVerification.from_api(self._t.request("GET", "/audit/verify"))
