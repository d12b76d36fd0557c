"""Runs made by features above the queries app, served at the same ``/queries/{id}`` endpoints.

A federated run (harmonization) is not a ``QueryRun`` of one study, yet the contract serves it at ``queries/{id}``,
``rows``, ``report``, ``export`` and ``lineage`` like any run. The feature registers an extension here when its app
is ready (registration instead of lookup: queries names no floor above it); its ids are drawn from the same sequence
as ``QueryRun``'s, so an id is one kind of run or the other. The endpoints ask the extensions only for an id that is
not a run the caller can see, so an ordinary run is served exactly as before.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from django.http import FileResponse, HttpRequest


@dataclass(frozen=True)
class RunExtension:
    """What a feature answers for its runs (each call authorizes like the run endpoints do)."""

    owns: Callable[[int], bool]
    get: Callable[[HttpRequest, int], dict[str, Any]]
    rows: Callable[[HttpRequest, int, int, int], dict[str, Any]]
    report: Callable[[HttpRequest, int], dict[str, Any]]
    export: Callable[[HttpRequest, int, str, str], FileResponse]
    lineage: Callable[[HttpRequest, int], dict[str, Any]]
    analysis: Callable[[HttpRequest, int, Any], dict[str, Any]] | None = None


_extensions: list[RunExtension] = []


def run_extension_register(extension: RunExtension) -> None:
    """Serve ``extension``'s runs at the run endpoints (called from an app's ``ready``)."""
    if extension not in _extensions:
        _extensions.append(extension)


def run_extension_for(run_id: int) -> RunExtension | None:
    """The extension whose run ``run_id`` is, if any."""
    return next((extension for extension in _extensions if extension.owns(run_id)), None)
