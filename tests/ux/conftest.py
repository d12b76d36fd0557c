"""Fixtures for the page-polish tests: the governance study "gov" and members at each level (shared fixtures)."""

from tests.access.conftest import (  # noqa: F401
    analyst_at,
    browser_of,
    consortium_default,
    gov,
    grant,
)
from tests.datasets.conftest import make_study, steward_api, upload  # noqa: F401
