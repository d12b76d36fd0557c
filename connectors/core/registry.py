"""The connector registry: the built-in table merged with the ``bdt.connectors`` entry points.

A third-party package adds a connector without touching the platform by declaring, in its own packaging::

    [project.entry-points."bdt.connectors"]
    dicom = "bdt_dicom.connector:DicomConnector"

The entry point's name is the connection ``kind``; built-in kinds cannot be replaced.
"""

from __future__ import annotations

import importlib
import logging
from functools import cache
from importlib.metadata import entry_points

from connectors.core.contract import Connector
from connectors.core.contract_errors import ConnectorError

logger = logging.getLogger(__name__)
ENTRY_POINT_GROUP = "bdt.connectors"

BUILTINS: dict[str, str] = {
    "postgresql": "connectors.core.postgresql:PostgreSQLConnector",
    "mysql": "connectors.core.mysql:MySQLConnector",
    "s3": "connectors.core.s3:S3Connector",
    "redcap": "connectors.core.redcap:REDCapConnector",
    "loris": "connectors.core.loris:LORISConnector",
}


def _load(target: str) -> type[Connector]:
    module_name, _, attribute = target.partition(":")
    loaded = getattr(importlib.import_module(module_name), attribute)
    if not (isinstance(loaded, type) and issubclass(loaded, Connector)):
        raise TypeError(f"{target} is not a Connector subclass")
    return loaded


@cache
def _plugins() -> dict[str, str]:
    """Installed entry points (name -> target); read once per process."""
    found: dict[str, str] = {}
    for entry in entry_points(group=ENTRY_POINT_GROUP):
        if entry.name in BUILTINS:
            logger.warning("connector plugin %s ignored: %r is a built-in kind", entry.value, entry.name)
            continue
        found[entry.name] = entry.value
    return found


def registry_reset() -> None:
    """Forget the entry points read (after installing a plugin in a running process, and in tests)."""
    _plugins.cache_clear()


def connector_kinds() -> list[str]:
    """Every kind a connection may have: built-ins first, then plugins by name."""
    return [*BUILTINS, *sorted(_plugins())]


def connector_class(kind: str) -> type[Connector]:
    """The connector class of ``kind`` (``unknown_kind`` when neither built in nor installed)."""
    target = BUILTINS.get(kind) or _plugins().get(kind)
    if target is None:
        raise ConnectorError(
            "unknown_kind", f"Unknown connection kind {str(kind)[:50]!r}; one of: {', '.join(connector_kinds())}."
        )
    try:
        return _load(target)
    except Exception:
        logger.exception("connector %s (%s) could not be loaded", kind, target)
        raise ConnectorError("connector_unavailable", f"The {kind!r} connector could not be loaded.") from None
