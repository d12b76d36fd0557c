"""The Celery app. tenant-schemas-celery's app class makes every task run in the schema of its caller.

Worker processes run under the worker budget (``core.budgets``): the role is set when the worker starts,
the address space of the worker and its pool children is capped, and a child whose resident memory stays above
half of ``worker_memory_limit`` after a task is replaced (``worker_max_memory_per_child``).
"""

from __future__ import annotations

import os
from typing import Any

from celery import signals
from tenant_schemas_celery.app import CeleryApp

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "bdt_project.settings.local")

app = CeleryApp("bdt_project")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()


@signals.worker_init.connect(weak=False)
def _monitoring_connect(**_: object) -> None:
    """In worker processes: log context and run/ingest metrics for every task (Celery task signals)."""
    import bdt_project.monitoring.task_signals  # noqa: F401 - connects its receivers on import


@signals.worker_init.connect
def _worker_budget(sender: Any = None, **kwargs: Any) -> None:
    """The worker's main process: worker role, address-space ceiling (inherited by the pool children), and the
    resident size after which a pool child is replaced (unless set on the command line)."""
    from core.budgets import address_space_ceiling_apply, process_role_set, setting_bytes

    process_role_set("worker")
    address_space_ceiling_apply()
    if sender is not None and not getattr(sender, "max_memory_per_child", None):
        sender.max_memory_per_child = setting_bytes("worker_memory_limit") // 2 // 1024  # KiB


@signals.worker_process_init.connect
def _pool_child(**kwargs: Any) -> None:
    """A prefork child: work stuck past its limits may end by killing it (the main process starts a new one)."""
    from core.budgets import pool_child_mark, process_role_set

    process_role_set("worker")
    pool_child_mark()
