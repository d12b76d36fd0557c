"""Python client for the BDT Platform HTTP API (``from bdt_client import Client``) and the ``bdt`` command."""

from __future__ import annotations

from bdt_client.client import Client
from bdt_client.config import Credentials
from bdt_client.errors import (
    ApiError,
    AuthenticationFailed,
    BadRequest,
    BdtError,
    ConfigurationError,
    Conflict,
    IngestFailed,
    InvalidInput,
    JobError,
    NotFound,
    PermissionDenied,
    RateLimited,
    RunCancelled,
    RunFailed,
    ServerError,
    ServiceUnavailable,
    TooLarge,
    TransportError,
    WaitTimeout,
)
from bdt_client.models import (
    AccessRequest,
    AuditEvent,
    AuditVerification,
    Column,
    Count,
    Dataset,
    DatasetVersion,
    Ingest,
    Me,
    Report,
    SavedQuery,
    Study,
)
from bdt_client.polling import Backoff
from bdt_client.queries import Lineage, RowsPage, Run
from bdt_client.studies import Progress
from bdt_client.transport import Download, RetryEvent, RetryPolicy
from bdt_client.version import __version__

__all__ = [
    "AccessRequest",
    "ApiError",
    "AuditEvent",
    "AuditVerification",
    "AuthenticationFailed",
    "Backoff",
    "BadRequest",
    "BdtError",
    "Client",
    "Column",
    "ConfigurationError",
    "Conflict",
    "Count",
    "Credentials",
    "Dataset",
    "DatasetVersion",
    "Download",
    "Ingest",
    "IngestFailed",
    "InvalidInput",
    "JobError",
    "Lineage",
    "Me",
    "NotFound",
    "PermissionDenied",
    "Progress",
    "RateLimited",
    "Report",
    "RetryEvent",
    "RetryPolicy",
    "RowsPage",
    "Run",
    "RunCancelled",
    "RunFailed",
    "SavedQuery",
    "ServerError",
    "ServiceUnavailable",
    "Study",
    "TooLarge",
    "TransportError",
    "WaitTimeout",
    "__version__",
]
