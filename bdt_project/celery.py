"""The Celery app. tenant-schemas-celery's app class makes every task run in the schema of its caller."""

from __future__ import annotations

import os

from celery.signals import worker_init
from tenant_schemas_celery.app import CeleryApp

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "bdt_project.settings.local")

app = CeleryApp("bdt_project")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()


@worker_init.connect(weak=False)
def _monitoring_connect(**_: object) -> None:
    """In worker processes: log context and run/ingest metrics for every task (Celery task signals)."""
    import bdt_project.monitoring.task_signals  # noqa: F401 - connects its receivers on import
