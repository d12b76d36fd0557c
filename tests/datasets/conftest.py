"""The dataset tests run each test in its own storage root (the shared fixtures are in tests/plugins/)."""

from __future__ import annotations

import pytest


@pytest.fixture(autouse=True)
def _own_storage_root(isolated_media: None) -> None:
    """Every test here gets its own storage root (``isolated_media``)."""
