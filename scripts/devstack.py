#!/usr/bin/env python3
"""Developer stack for the BDT Platform: the engine behind ``make run`` and ``make test``.

Usage (from the checkout, with the venv's interpreter)::

    .venv/bin/python scripts/devstack.py run [--host H] [--port N] [--no-seed] [--dev]
    .venv/bin/python scripts/devstack.py test [pytest arguments ...]
    .venv/bin/python scripts/devstack.py services      # find/start PostgreSQL + Redis, save them in .env, print URLs
    .venv/bin/python scripts/devstack.py stop          # stop an active run, leftovers and the embedded servers

Global options (before the command): ``--db-name NAME`` (BDT_DEV_DB_NAME), ``--redis-db N`` (BDT_DEV_REDIS_DB),
``--embedded`` (BDT_FORCE_EMBEDDED=1). The implementation lives in the ``devstack`` package next to this file.
"""

from __future__ import annotations

import sys

if sys.version_info < (3, 11):  # noqa: UP036 - this guard is for people running it with an old interpreter
    sys.exit(f"devstack: error: Python 3.11+ is required (this is {sys.version.split()[0]} at {sys.executable})")

try:
    from devstack.cli import main
except ImportError as exc:  # a package of requirements/base.txt is missing from this interpreter
    sys.exit(
        f"devstack: error: {sys.executable} cannot import {exc.name or exc}; create the venv with "
        "`python3 -m venv .venv && .venv/bin/pip install -r requirements/base.txt -r requirements/dev.txt`"
        " (make run does this when .venv is missing)"
    )

if __name__ == "__main__":
    sys.exit(main())
