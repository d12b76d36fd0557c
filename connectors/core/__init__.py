"""Django-free connector core: the contract a connector implements, the registry, the network policy."""

from connectors.core.contract import (
    ConnectContext,
    Connector,
    ConnectorError,
    FieldSpec,
    Pulled,
    PullOptions,
    Source,
    SourceColumn,
)
from connectors.core.network import NetworkPolicy
from connectors.core.registry import connector_class, connector_kinds

__all__ = [
    "ConnectContext",
    "Connector",
    "ConnectorError",
    "FieldSpec",
    "NetworkPolicy",
    "PullOptions",
    "Pulled",
    "Source",
    "SourceColumn",
    "connector_class",
    "connector_kinds",
]
