"""The client: one workspace of the platform, its API grouped by area."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from types import TracebackType
from typing import Any

import httpx

from bdt_client.config import credentials_resolve
from bdt_client.governance import AccessRequestsAPI, AuditAPI, SavedQueriesAPI
from bdt_client.models import Count, Ingest, Me
from bdt_client.polling import Backoff
from bdt_client.queries import QueriesAPI, Run
from bdt_client.studies import DatasetsAPI, StudiesAPI
from bdt_client.transport import RetryEvent, RetryPolicy, Transport


class Client:
    """A workspace of the BDT Platform, reached with a personal access token.

    ``url``/``token`` default to ``BDT_URL``/``BDT_TOKEN``, then to the profile written by ``bdt login``. The API
    is grouped by area: ``studies``, ``datasets``, ``queries``, ``saved_queries``, ``access_requests``, ``audit``;
    ``count``, ``run`` and ``upload`` are shortcuts for the most common calls::

        bdt = Client()
        run = bdt.run("demo", {"filters": [...], "columns": {"memory": ["score"]}})
        frame = run.to_pandas()
    """

    def __init__(
        self,
        url: str | None = None,
        token: str | None = None,
        *,
        profile: str | None = None,
        timeout: float = 30.0,
        retry: RetryPolicy | None = None,
        poll: Backoff | None = None,
        verify: bool | str = True,
        on_retry: Callable[[RetryEvent], None] | None = None,
        http_transport: httpx.BaseTransport | None = None,
    ) -> None:
        credentials = credentials_resolve(url, token, profile=profile)
        self.url = credentials.url
        self._transport = Transport(
            credentials,
            timeout=timeout,
            retry=retry,
            verify=verify,
            on_retry=on_retry,
            http_transport=http_transport,
        )
        self.studies = StudiesAPI(self._transport)
        self.datasets = DatasetsAPI(self._transport)
        self.queries = QueriesAPI(self._transport, backoff=poll)
        self.saved_queries = SavedQueriesAPI(self._transport)
        self.access_requests = AccessRequestsAPI(self._transport)
        self.audit = AuditAPI(self._transport)

    def __repr__(self) -> str:
        return f"Client(url={self.url!r})"

    def __enter__(self) -> Client:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, traceback: TracebackType | None
    ) -> None:
        self.close()

    def close(self) -> None:
        """Close the connection pool."""
        self._transport.close()

    def me(self) -> Me:
        """Who you are, the workspace, and your role in it."""
        return Me.from_api(self._transport.request("GET", "/me"))

    def health(self) -> dict[str, Any]:
        """The platform's health checks (database, broker)."""
        return dict(self._transport.request("GET", "/health"))

    def count(self, study: str, spec: Mapping[str, Any]) -> Count:
        """Shortcut for ``queries.count``."""
        return self.queries.count(study, spec)

    def run(self, study: str, spec: Mapping[str, Any], *, wait: bool = True, timeout: float | None = None) -> Run:
        """Shortcut for ``queries.run``: submit and (by default) wait until the run succeeded."""
        return self.queries.run(study, spec, wait=wait, timeout=timeout)

    def upload(self, study: str, path: str, **kwargs: Any) -> Ingest:
        """Shortcut for ``datasets.upload``."""
        return self.datasets.upload(study, path, **kwargs)
