"""When a run's task ends in a worker, the federated runs that wait on it are advanced (``harmonization.tasks``)."""

from __future__ import annotations

import logging
from typing import Any

from celery.signals import task_postrun
from django_tenants.utils import schema_context

logger = logging.getLogger(__name__)
RUN_TASK = "queries.tasks.query_run_execute_task"


@task_postrun.connect(dispatch_uid="harmonization_part_ended")
def _part_ended(task: Any = None, args: Any = None, kwargs: Any = None, **_: Any) -> None:
    """After a run's task (in the worker that ran it): queue the advance of every federated run it is a part of.

    The run's own outcome is already committed; an error here is logged and left to the periodic sweep."""
    if getattr(task, "name", "") != RUN_TASK or not args:
        return
    from tenant_schemas_celery.app import get_schema_name_from_task

    schema = get_schema_name_from_task(task, kwargs or {}) or (kwargs or {}).get("schema")
    if not schema or schema == "public":
        return
    from harmonization.runs import federated_runs_waiting_on
    from harmonization.tasks import federated_run_advance_task

    try:
        with schema_context(schema):
            for federated_id in federated_runs_waiting_on(int(args[0])):
                federated_run_advance_task.apply_async(args=(federated_id,))
    except Exception:
        logger.exception("federated runs waiting on run %s in %s were not advanced", args[0], schema)
