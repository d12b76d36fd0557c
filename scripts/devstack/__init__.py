"""The engine behind ``make run`` / ``make test``: finds or starts PostgreSQL and Redis and supervises the app.

Entry point: ``scripts/devstack.py`` (``run``, ``test``, ``services``, ``stop``). Modules:

- :mod:`devstack.common` — paths, errors, console output, the ``.env`` and state files;
- :mod:`devstack.processes` — process liveness and stopping helpers;
- :mod:`devstack.postgres` / :mod:`devstack.redisdb` — usability checks and the embedded servers;
- :mod:`devstack.discovery` — the discovery order (environment, ``.env``, local servers, embedded);
- :mod:`devstack.supervisor` — child processes, signals, shutdown;
- :mod:`devstack.run` — ``run``; :mod:`devstack.commands` — ``test``, ``services``, ``stop``;
- :mod:`devstack.cli` — the command line.

Standard library plus packages from ``requirements/base.txt`` only.
"""
