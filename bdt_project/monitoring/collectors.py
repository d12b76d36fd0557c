"""Scrape-time metrics read from Redis and PostgreSQL: Celery queue depth, work in progress per tenant."""

from __future__ import annotations

import logging
from collections.abc import Iterator

import redis
from django.conf import settings
from django.db import connection
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector
from psycopg import sql

logger = logging.getLogger(__name__)

# kombu's Redis transport keeps one list per queue and priority step: "<queue>", "<queue>\x06\x163", ...
PRIORITY_SEPARATOR = "\x06\x16"
PRIORITY_STEPS = (0, 3, 6, 9)
UNACKED_KEY = "unacked"

#: Metric names the collectors below produce at scrape time (the rest are declared in ``metrics.py``).
SCRAPE_TIME_METRICS = ("bdt_celery_queue_length", "bdt_celery_unacked_messages", "bdt_work_in_progress")


def _queue_keys(queue: str) -> list[str]:
    return [queue if step == 0 else f"{queue}{PRIORITY_SEPARATOR}{step}" for step in PRIORITY_STEPS]


class CeleryQueueCollector(Collector):
    """``bdt_celery_queue_length{queue}``: messages waiting in each Celery queue (not yet taken by a worker), and
    ``bdt_celery_unacked_messages``: messages workers hold (running, prefetched, or waiting for a retry)."""

    def collect(self) -> Iterator[GaugeMetricFamily]:
        waiting = GaugeMetricFamily(
            "bdt_celery_queue_length", "Messages waiting in a Celery queue (broker list length).", labels=["queue"]
        )
        unacked = GaugeMetricFamily(
            "bdt_celery_unacked_messages", "Messages delivered to workers and not yet acknowledged."
        )
        queues = [queue.name for queue in settings.CELERY_TASK_QUEUES]
        try:
            client = redis.Redis.from_url(settings.CELERY_BROKER_URL, socket_connect_timeout=2, socket_timeout=2)
            try:
                pipe = client.pipeline(transaction=False)
                for queue in queues:
                    for key in _queue_keys(queue):
                        pipe.llen(key)
                pipe.hlen(UNACKED_KEY)
                sizes = pipe.execute()
            finally:
                client.close()
        except redis.RedisError:
            logger.warning("metrics: the broker could not be read for queue lengths", exc_info=True)
            return
        steps = len(PRIORITY_STEPS)
        for index, queue in enumerate(queues):
            waiting.add_metric([queue], float(sum(sizes[index * steps : (index + 1) * steps])))
        unacked.add_metric([], float(sizes[-1]))
        yield waiting
        yield unacked


WORK_TABLES = (("query_run", "queries_queryrun"), ("ingest", "datasets_ingestjob"))
ACTIVE_STATUSES = ("queued", "running")


class WorkInProgressCollector(Collector):
    """``bdt_work_in_progress{tenant, kind, status}``: queued and running query runs and ingests per workspace, read
    from every tenant schema in one statement (a backlog of one tenant shows up here before anywhere else)."""

    def collect(self) -> Iterator[GaugeMetricFamily]:
        from tenants.models import Tenant

        family = GaugeMetricFamily(
            "bdt_work_in_progress",
            "Query runs and ingests queued or running, per workspace.",
            labels=["tenant", "kind", "status"],
        )
        try:
            tenants = list(Tenant.objects.exclude(schema_name="public").values_list("schema_name", "slug"))
            slugs = dict(tenants)
            selects = [
                sql.SQL(
                    "SELECT {schema}, {kind}, status, count(*) FROM {table} WHERE status IN ({statuses}) "
                    "GROUP BY status"
                ).format(
                    schema=sql.Literal(schema),
                    kind=sql.Literal(kind),
                    table=sql.Identifier(schema, table),
                    statuses=sql.SQL(", ").join(sql.Literal(status) for status in ACTIVE_STATUSES),
                )
                for schema, _slug in tenants
                for kind, table in WORK_TABLES
            ]
            rows: list[tuple[str, str, str, int]] = []
            if selects:
                with connection.cursor() as cursor:
                    cursor.execute(sql.SQL(" UNION ALL ").join(selects).as_string(cursor.connection))
                    rows = cursor.fetchall()
        except Exception:
            logger.warning("metrics: work in progress could not be read", exc_info=True)
            return
        for schema, kind, status, count in rows:
            family.add_metric([slugs.get(schema, schema), kind, status], float(count))
        yield family
