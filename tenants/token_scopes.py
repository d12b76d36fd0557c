"""Scopes of personal access tokens: what a script holding a token may do, on top of what its member may do.

- ``full``: everything the member may do; no cap.
- ``read``: every GET, plus the POSTs that only compute an answer (:data:`COMPUTE_ROUTES`); it reads whatever the
  member may read (no level cap), but nothing is created, changed or deleted: no uploads, runs, saved queries,
  grants, members, settings or tokens.
- ``count``: only the count-level surfaces (:data:`COUNT_ROUTES`: catalog, counts, reports); data capped at
  ``count``.

A scope never lifts a member: it only narrows. The cap makes a member's effective level on every dataset the lower of
their own level and the cap, so an owner's count token gets protected (suppressed, perturbed) numbers like any
count-level member. Every API route is classified here; a route that is not listed is a write for ``read`` tokens
(unless it is a GET) and out of reach for ``count`` tokens, so new endpoints are closed to narrow tokens by default.
"""

from __future__ import annotations

import re

from django.db import models


class TokenScope(models.TextChoices):
    """How much of its member's power a token carries (``full`` > ``read`` > ``count``)."""

    FULL = "full", "Full (everything you may do)"
    READ = "read", "Read-only"
    COUNT = "count", "Count-only"


SCOPE_RANK: dict[str, int] = {TokenScope.FULL: 3, TokenScope.READ: 2, TokenScope.COUNT: 1}

# Data level cap per scope (names of access levels; ``access`` applies them).
LEVEL_CAP: dict[str, str | None] = {TokenScope.FULL: None, TokenScope.READ: None, TokenScope.COUNT: "count"}

SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})

# Routes below ``/api/v1/``, path parameters written ``{}``.
COMPUTE_ROUTES: frozenset[tuple[str, str]] = frozenset(
    {
        ("POST", "studies/{}/count"),
        ("POST", "studies/{}/report"),
        ("POST", "queries/{}/analysis"),
        ("POST", "queries/{}/plot"),
        ("POST", "queries/{}/selection"),
        ("POST", "queries/{}/selection/export"),
        ("POST", "federated/count"),
    }
)
COUNT_ROUTES: frozenset[tuple[str, str]] = frozenset(
    {
        ("GET", "me"),
        ("GET", "studies"),
        ("GET", "studies/{}"),
        ("GET", "studies/{}/datasets"),
        ("GET", "studies/{}/datasets/{}"),
        ("GET", "studies/{}/datasets/{}/versions"),
        ("GET", "studies/{}/datasets/{}/versions/{}"),
        ("GET", "studies/{}/datasets/{}/dictionary.csv"),
        ("POST", "studies/{}/count"),
        ("POST", "studies/{}/report"),
        ("GET", "queries/{}/report"),
        ("GET", "variables"),
        ("GET", "variables/{}"),
        ("GET", "variables/{}/history"),
        ("POST", "federated/count"),
    }
)

_PARAMETER = re.compile(r"<[^>]*>|\{[^}]*\}")
_API_PREFIX = "api/v1/"


def route_key(route: str) -> str:
    """``api/v1/studies/<study>/count`` (a Django route) or ``/studies/{study}/count`` -> ``studies/{}/count``."""
    key = _PARAMETER.sub("{}", route.strip("/"))
    return key[len(_API_PREFIX) :] if key.startswith(_API_PREFIX) else key


def scope_allows(scope: str, method: str, route: str) -> bool:
    """True when a token of ``scope`` may call ``method`` on ``route`` (a Django route or an API path template)."""
    method = method.upper()
    if scope == TokenScope.FULL:
        return True
    key = (("GET" if method in SAFE_METHODS else method), route_key(route))
    if scope == TokenScope.COUNT:
        return key in COUNT_ROUTES
    if scope == TokenScope.READ:
        return method in SAFE_METHODS or key in COMPUTE_ROUTES
    return False


def scope_at_most(scope: str, ceiling: str) -> bool:
    """True when ``scope`` is ``ceiling`` or narrower."""
    return SCOPE_RANK.get(scope, 0) <= SCOPE_RANK.get(ceiling, 0)


def scope_level_cap(scope: str | None) -> str | None:
    """The access level a token of ``scope`` caps its member at (None: no cap)."""
    return LEVEL_CAP.get(scope or TokenScope.FULL)
