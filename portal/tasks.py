"""Periodic work of the portal."""

from __future__ import annotations

from celery import shared_task

from portal.deletion import workspaces_purge_due as _purge


@shared_task(name="portal.tasks.workspaces_purge_due")
def workspaces_purge_due() -> list[str]:
    """Remove workspaces whose deletion grace period is over (beat, hourly)."""
    return _purge()
