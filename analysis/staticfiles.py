"""A static files finder that serves Plotly's JavaScript bundle from the installed plotly package.

Only ``vendor/plotly/plotly.min.js`` is exposed (collectstatic copies it; no CDN is ever used), so the browser
bundle always matches the plotly version of the lock file.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import plotly
from django.contrib.staticfiles.finders import BaseFinder
from django.core.files.storage import FileSystemStorage

PREFIX = "vendor/plotly"
BUNDLE = "plotly.min.js"


class PlotlyFinder(BaseFinder):
    """Finds ``vendor/plotly/plotly.min.js`` in plotly's package data."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        self.root = Path(plotly.__file__).resolve().parent / "package_data"
        self.storage = FileSystemStorage(location=str(self.root))
        self.storage.prefix = PREFIX  # type: ignore[attr-defined]

    def check(self, **kwargs: Any) -> list[Any]:
        return []

    def find(self, path: str, find_all: bool = False, **kwargs: Any) -> Any:
        if path == f"{PREFIX}/{BUNDLE}" and (self.root / BUNDLE).is_file():
            found = str(self.root / BUNDLE)
            return [found] if find_all or kwargs.get("all") else found
        return [] if find_all or kwargs.get("all") else None

    def list(self, ignore_patterns: Any) -> Any:
        if (self.root / BUNDLE).is_file():
            yield BUNDLE, self.storage
