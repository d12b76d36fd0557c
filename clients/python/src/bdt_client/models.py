"""Typed views of the platform's JSON answers.

Each model names the fields of the public contract (plus the documented extensions) and keeps the whole answer in
``raw``, so fields the platform adds later are never lost.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import MISSING, dataclass, field, fields
from datetime import datetime
from typing import Any, TypeVar

M = TypeVar("M", bound="Model")


def parse_datetime(value: Any) -> datetime | None:
    """An ISO 8601 timestamp of the API as a timezone-aware datetime (None stays None)."""
    if value is None or isinstance(value, datetime):
        return value
    return datetime.fromisoformat(str(value).replace("Z", "+00:00"))


def convert_with(function: Callable[[Any], Any]) -> dict[str, Any]:
    return {"convert": function}


def list_of(model: type[Model]) -> Callable[[Any], Any]:
    return lambda values: [model.from_api(value) for value in values or []]


def model_of(model: type[Model]) -> Callable[[Any], Any]:
    return lambda value: model.from_api(value)


@dataclass(frozen=True, kw_only=True)
class Model:
    """Base of every model: ``from_api`` picks the declared fields and keeps the full answer in ``raw``."""

    raw: dict[str, Any] = field(default_factory=dict, repr=False, compare=False)

    @classmethod
    def from_api(cls: type[M], data: Mapping[str, Any], **bound: Any) -> M:
        """The model of an API answer; ``bound`` sets private fields (e.g. the client a run belongs to)."""
        values: dict[str, Any] = {}
        for spec in fields(cls):
            if spec.name == "raw" or spec.name.startswith("_"):
                continue
            if spec.name in data:
                value = data[spec.name]
            elif spec.default is not MISSING:
                value = spec.default
            elif spec.default_factory is not MISSING:
                value = spec.default_factory()
            else:
                value = None
            convert = spec.metadata.get("convert")
            values[spec.name] = convert(value) if convert is not None and value is not None else value
        return cls(raw=dict(data), **values, **bound)


@dataclass(frozen=True, kw_only=True)
class ErrorInfo(Model):
    code: str
    message: str


@dataclass(frozen=True, kw_only=True)
class User(Model):
    email: str
    full_name: str = ""


@dataclass(frozen=True, kw_only=True)
class Workspace(Model):
    slug: str
    name: str
    kind: str | None = None


@dataclass(frozen=True, kw_only=True)
class Me(Model):
    """``GET /me``: who you are, in which workspace, with which role."""

    user: User = field(metadata=convert_with(model_of(User)))
    tenant: Workspace = field(metadata=convert_with(model_of(Workspace)))
    role: str
    auth: str = "token"


@dataclass(frozen=True, kw_only=True)
class Study(Model):
    slug: str
    name: str
    description: str = ""
    id_column: str | None = None
    session_column: str | None = None
    age_column: str | None = None
    sex_column: str | None = None
    site_column: str | None = None
    longitudinal: bool = False
    engine: str = "duckdb"
    demographics: str | None = None
    suppression_threshold: int | None = None
    allow_duplicate_keys: bool = False
    created_at: datetime | None = field(default=None, metadata=convert_with(parse_datetime))


@dataclass(frozen=True, kw_only=True)
class Column(Model):
    name: str
    type: str
    missing: int | None = None
    distinct: int | None = None
    min: Any = None
    max: Any = None
    mean: float | None = None
    std: float | None = None
    top_values: list[Any] | None = None
    description: str = ""
    sensitivity: str = ""


@dataclass(frozen=True, kw_only=True)
class DatasetVersion(Model):
    number: int
    sha256: str
    row_count: int
    participants: int | None = None
    sessions: list[str] = field(default_factory=list)
    original_filename: str = ""
    size_bytes: int | None = None
    encoding: str = ""
    delimiter: str = ""
    created_at: datetime | None = field(default=None, metadata=convert_with(parse_datetime))
    created_by: str | None = None
    note: str = ""
    warnings: list[dict[str, Any]] = field(default_factory=list)
    diff: dict[str, Any] = field(default_factory=dict)
    columns: list[Column] = field(default_factory=list, metadata=convert_with(list_of(Column)))


@dataclass(frozen=True, kw_only=True)
class Dataset(Model):
    name: str
    kind: str
    title: str = ""
    description: str = ""
    version_count: int = 0
    latest_version: DatasetVersion | None = field(default=None, metadata=convert_with(model_of(DatasetVersion)))


@dataclass(frozen=True, kw_only=True)
class Ingest(Model):
    """An ingest job (``GET /ingests/{id}``): ``progress`` runs from 0 to 1; a failed ingest registered nothing."""

    id: int
    status: str
    progress: float = 0.0
    study: str = ""
    stage: str = ""
    dataset: str = ""
    version: int | None = None
    error: ErrorInfo | None = field(default=None, metadata=convert_with(model_of(ErrorInfo)))
    error_details: dict[str, Any] = field(default_factory=dict)
    warnings: list[dict[str, Any]] = field(default_factory=list)
    delimiter: str | None = None
    created_at: datetime | None = field(default=None, metadata=convert_with(parse_datetime))
    finished_at: datetime | None = field(default=None, metadata=convert_with(parse_datetime))

    @property
    def finished(self) -> bool:
        return self.status in {"succeeded", "failed"}


@dataclass(frozen=True, kw_only=True)
class Count(Model):
    """``POST /studies/{study}/count``: distinct participants and merge keys (None when suppressed)."""

    participants: int | None
    rows: int | None
    suppressed: bool = False
    threshold: int | None = None


@dataclass(frozen=True, kw_only=True)
class PinnedVersion(Model):
    dataset: str
    version: int
    sha256: str


@dataclass(frozen=True, kw_only=True)
class ExportRecord(Model):
    """An export recorded in a run's lineage (``rows`` is None when the caller's access is below query level)."""

    id: int
    format: str
    filename: str
    rows: int | None
    sha256: str
    purpose: str
    created_by: str | None = None
    created_at: datetime | None = field(default=None, metadata=convert_with(parse_datetime))


@dataclass(frozen=True, kw_only=True)
class Report(Model):
    """``GET /queries/{id}/report``: the filtering steps and the final data summary."""

    steps: list[dict[str, Any]] = field(default_factory=list)
    summary: list[dict[str, Any]] = field(default_factory=list)
    aggregate_only: bool = False


@dataclass(frozen=True, kw_only=True)
class SavedQuery(Model):
    id: int
    study: str
    name: str
    spec: dict[str, Any]
    description: str = ""
    shared: bool = False
    owner: str = ""
    created_at: datetime | None = field(default=None, metadata=convert_with(parse_datetime))
    updated_at: datetime | None = field(default=None, metadata=convert_with(parse_datetime))


@dataclass(frozen=True, kw_only=True)
class GrantRef(Model):
    id: int
    dataset: str | None
    level: str
    expires_at: datetime | None = field(default=None, metadata=convert_with(parse_datetime))
    revoked_at: datetime | None = field(default=None, metadata=convert_with(parse_datetime))


@dataclass(frozen=True, kw_only=True)
class AccessRequest(Model):
    id: int
    study: str
    datasets: list[str]
    level: str
    purpose: str
    status: str
    requester: str = ""
    decided_by: str | None = None
    decided_at: datetime | None = field(default=None, metadata=convert_with(parse_datetime))
    decision_reason: str = ""
    granted_level: str | None = None
    expires_at: datetime | None = field(default=None, metadata=convert_with(parse_datetime))
    created_at: datetime | None = field(default=None, metadata=convert_with(parse_datetime))
    grants: list[GrantRef] = field(default_factory=list, metadata=convert_with(list_of(GrantRef)))


@dataclass(frozen=True, kw_only=True)
class AuditEvent(Model):
    id: int
    at: datetime = field(metadata=convert_with(parse_datetime))
    actor: str | None
    action: str
    target: dict[str, Any] = field(default_factory=dict)
    details: dict[str, Any] = field(default_factory=dict)
    hash: str = ""
    prev_hash: str = ""


@dataclass(frozen=True, kw_only=True)
class AuditVerification(Model):
    ok: bool
    events: int
    first_bad_event: int | None = None
    reason: str = ""
