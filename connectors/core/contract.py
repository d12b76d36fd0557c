"""What a connector is: declared config and secret fields, a connection test, a list of sources, a pull.

A connector never touches the platform's database or storage: it writes one CSV file that the platform hands to
its ingest job (validation, versions, deduplication, audit). Third-party packages register a :class:`Connector`
subclass under the ``bdt.connectors`` entry-point group.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar

from connectors.core.contract_errors import ConnectorError
from connectors.core.network import NetworkPolicy

Progress = Callable[[float, str], None]


@dataclass(frozen=True)
class FieldSpec:
    """One config or secret field a connector declares (pages build their forms from these)."""

    name: str
    label: str
    kind: str = "text"  # text | integer | choice | boolean
    required: bool = True
    default: Any = None
    choices: tuple[str, ...] = ()
    help: str = ""

    def as_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "label": self.label,
            "kind": self.kind,
            "required": self.required,
            "default": self.default,
            "choices": list(self.choices),
            "help": self.help,
        }


@dataclass(frozen=True)
class Source:
    """Something a connection can pull: a table, a view, a file, an instrument."""

    name: str
    kind: str

    def as_dict(self) -> dict[str, str]:
        return {"name": self.name, "kind": self.kind}


@dataclass(frozen=True)
class SourceColumn:
    """A column as the source declares it (its own type name): what schema drift compares."""

    name: str
    type: str


@dataclass(frozen=True)
class PullOptions:
    """How to shape a pull: the study's key columns (REDCap/LORIS name their id and session columns so; databases
    order rows by them so an unchanged source gives identical bytes) and the size limit."""

    id_column: str = ""
    session_column: str = ""
    max_bytes: int = 2 * 1024**3


@dataclass(frozen=True)
class Pulled:
    """A finished pull: the CSV written, its columns as the source declared them, and its row count."""

    path: Path
    columns: list[SourceColumn]
    rows: int


@dataclass
class ConnectContext:
    """What the platform gives a connector: the network policy every address passes and the timeouts."""

    network: NetworkPolicy
    timeout_seconds: float = 30.0
    progress: Progress = field(default=lambda fraction, stage: None)


class Connector(ABC):
    """Base class of every connector. ``config`` is validated against :attr:`config_fields` before use."""

    kind: ClassVar[str]
    title: ClassVar[str]
    config_fields: ClassVar[tuple[FieldSpec, ...]] = ()
    secret_fields: ClassVar[tuple[FieldSpec, ...]] = ()

    def __init__(self, config: Mapping[str, Any], secret: Mapping[str, Any], context: ConnectContext) -> None:
        self.config = config_clean(self.config_fields, config, what="config")
        self.secret = config_clean(self.secret_fields, secret, what="secret")
        self.context = context

    @abstractmethod
    def test(self) -> None:
        """Connect and authenticate; raise :class:`ConnectorError` (``connection_failed``...) otherwise."""

    @abstractmethod
    def sources(self) -> list[Source]:
        """What can be pulled, in a stable order."""

    @abstractmethod
    def columns(self, source: str) -> list[SourceColumn]:
        """The columns ``source`` has now (compared with the last pull to detect schema drift)."""

    @abstractmethod
    def pull(self, source: str, destination: Path, options: PullOptions) -> Pulled:
        """Write ``source`` as a CSV file (header first) at ``destination``."""

    def source_require(self, source: str) -> Source:
        """The listed source called ``source`` (names are matched, never spliced into a query)."""
        for candidate in self.sources():
            if candidate.name == source:
                return candidate
        raise ConnectorError("source_not_found", f"The connection has no source named {source[:200]!r}.")


def config_clean(fields: tuple[FieldSpec, ...], values: Mapping[str, Any], *, what: str) -> dict[str, Any]:
    """Check values against declared fields: unknown keys, missing required ones and wrong types are refused."""
    if not isinstance(values, Mapping):
        raise ConnectorError(f"invalid_{what}", f"The {what} must be an object.")
    known = {spec.name: spec for spec in fields}
    unknown = sorted(set(values) - set(known))
    if unknown:
        raise ConnectorError(f"invalid_{what}", f"Unknown {what} field(s): {', '.join(unknown)[:200]}.")
    cleaned: dict[str, Any] = {}
    for spec in fields:
        value = values.get(spec.name, spec.default)
        if value is None or value == "":
            if spec.required:
                raise ConnectorError(f"invalid_{what}", f"The {what} field {spec.name!r} is required.")
            cleaned[spec.name] = spec.default
            continue
        cleaned[spec.name] = _coerce(spec, value, what)
    return cleaned


def _coerce(spec: FieldSpec, value: Any, what: str) -> Any:
    if spec.kind == "integer":
        if isinstance(value, bool) or not isinstance(value, int | str) or not str(value).strip().isdigit():
            raise ConnectorError(f"invalid_{what}", f"The {what} field {spec.name!r} must be a whole number.")
        return int(value)
    if spec.kind == "boolean":
        if not isinstance(value, bool):
            raise ConnectorError(f"invalid_{what}", f"The {what} field {spec.name!r} must be true or false.")
        return value
    if not isinstance(value, str) or len(value) > 2000:
        raise ConnectorError(f"invalid_{what}", f"The {what} field {spec.name!r} must be text.")
    if spec.kind == "choice" and value not in spec.choices:
        raise ConnectorError(
            f"invalid_{what}", f"The {what} field {spec.name!r} must be one of {', '.join(spec.choices)}."
        )
    return value.strip() if spec.kind != "choice" else value
