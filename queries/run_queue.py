"""The run queue: admission limits, fair order across workspaces, and recovery of lost queue messages.

- **Admission** (:func:`run_queue_admit`): a member may have ``max_queued_runs_per_user`` runs queued or running,
  a workspace ``max_queued_runs``; more answer 429 ``too_many_runs`` with ``Retry-After``. The check runs inside
  the transaction that creates the run, under a per-workspace advisory lock, so concurrent submissions cannot
  slip past it. (``max_concurrent_runs`` still bounds how many of a workspace's runs execute at once.)
- **Fair order** (:func:`run_enqueue`): every run's task carries a priority equal to the number of runs its
  workspace already had waiting or running (capped at 9; the broker serves lower numbers first, in submission
  order within a number). A workspace's first run therefore overtakes another workspace's backlog and starts as
  soon as a worker child is free: it waits for at most one run in progress, never for the backlog.
- **Recovery** (:func:`run_queue_recover`): each sent task leaves a marker next to the queue in the broker's
  Redis. A run still queued after a while whose marker is gone lost its message with it (Redis restarted without
  persistence) and is sent again; a duplicate message is harmless, because a run is claimed only once.
"""

from __future__ import annotations

import logging
from datetime import timedelta
from typing import Any

from django.db import connection
from django.utils import timezone

from core.admission import TooBusy
from core.config import config_get
from core.sent_markers import sent_mark, sent_missing
from queries.models import ACTIVE_STATUSES, QueryRun, RunStatus

logger = logging.getLogger(__name__)

MAX_PRIORITY = 9


def _schema() -> str:
    return str(getattr(connection, "schema_name", "public"))


def run_queue_admit(*, tenant: Any, actor: Any) -> None:
    """429 when the member or the workspace already has its most runs queued or running. Call inside the
    transaction that creates the run."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_advisory_xact_lock(hashtextextended(%s, 0))", [f"bdt:runs:{_schema()}"])
    active = QueryRun.objects.filter(status__in=ACTIVE_STATUSES)
    per_user = int(config_get("max_queued_runs_per_user", tenant))
    if active.filter(created_by=actor).count() >= per_user:
        raise TooBusy(
            429,
            "too_many_runs",
            f"You already have {per_user} runs queued or running, the most allowed; wait for one to finish.",
            {"limit": per_user, "scope": "user"},
        )
    per_tenant = int(config_get("max_queued_runs", tenant))
    if active.count() >= per_tenant:
        raise TooBusy(
            429,
            "too_many_runs",
            f"This workspace already has {per_tenant} runs queued or running, the most allowed; retry later.",
            {"limit": per_tenant, "scope": "workspace"},
        )


def run_priority(run: QueryRun) -> int:
    """How many of the workspace's runs were waiting or running before this one (capped at 9)."""
    ahead = QueryRun.objects.filter(status__in=ACTIVE_STATUSES, created_at__lt=run.created_at).exclude(pk=run.pk)
    return min(MAX_PRIORITY, ahead[: MAX_PRIORITY + 1].count())


def run_enqueue(run: QueryRun, *, queue: str | None = None) -> None:
    """Send the run's task with its fair priority, and leave the marker that says it was sent."""
    from queries.tasks import query_run_execute_task

    options: dict[str, Any] = {"priority": run_priority(run)}
    if queue is not None:
        options["queue"] = queue
    query_run_execute_task.apply_async(args=(run.pk,), kwargs={"schema": _schema()}, **options)
    sent_mark("run", run.pk)


def run_queue_recover(*, older_than_seconds: float = 30) -> int:
    """Send again the runs of the current workspace that are still queued but whose queue message was lost."""
    cutoff = timezone.now() - timedelta(seconds=older_than_seconds)
    waiting = list(QueryRun.objects.filter(status=RunStatus.QUEUED, created_at__lt=cutoff).order_by("created_at"))
    lost = set(sent_missing("run", [run.pk for run in waiting]))
    for run in waiting:
        if run.pk in lost:
            logger.warning("run %s lost its queue message; sending it again", run.pk)
            run_enqueue(run)
    return len(lost)
