"""The platform's Prometheus metrics, shared by every process of one host (multiprocess mode).

Every web worker and Celery worker process writes its samples to memory-mapped files in ``settings.METRICS_DIR``
(``PROMETHEUS_MULTIPROC_DIR``); ``GET /metrics`` sums them at scrape time. Files are named by host name and process
id, so containers that share one metrics volume never write to each other's files. The directory is emptied when
the stack starts (``make run``; the ``migrate`` service under Compose), never while processes write to it.
"""

from __future__ import annotations

import os
import socket
from pathlib import Path

from django.conf import settings

METRICS_DIR = Path(settings.METRICS_DIR)
METRICS_DIR.mkdir(parents=True, exist_ok=True)
os.environ["PROMETHEUS_MULTIPROC_DIR"] = str(METRICS_DIR)  # read by prometheus_client when it writes and collects

from prometheus_client import Counter, Gauge, Histogram, values  # noqa: E402 - needs the directory above

_HOST = socket.gethostname()


def _process_identifier() -> str:
    """Distinct for processes running at the same time, also across containers sharing the directory."""
    return f"{_HOST}-{os.getpid()}"


# Set explicitly (not only through the environment variable) so the mode holds whatever imported prometheus_client
# first, and so the file names carry the host name.
values.ValueClass = values.MultiProcessValue(_process_identifier)

LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0)
WORK_BUCKETS = (0.1, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0, 300.0, 600.0, 1800.0, 3600.0)
MEMORY_BUCKETS = tuple(float(2**power) for power in range(26, 36))  # 64 MiB .. 32 GiB

# --- HTTP (web processes) ----------------------------------------------------------------------------------------
http_request_duration = Histogram(
    "bdt_http_request_duration_seconds",
    "Time from the first middleware to the response, by route pattern (not the raw path).",
    ["method", "route"],
    buckets=LATENCY_BUCKETS,
)
http_requests = Counter(
    "bdt_http_requests",
    "Requests answered, by route pattern and status code.",
    ["method", "route", "status"],
)
tenant_http_requests = Counter(
    "bdt_tenant_http_requests",
    "Requests answered per workspace (tenant slug; 'platform' for the platform host), by status class.",
    ["tenant", "status_class"],
)

# --- Work per tenant (audit events: counts, runs, exports, uploads, sign-ins, grants ...) -----------------------
tenant_actions = Counter(
    "bdt_tenant_actions",
    "Audited actions per workspace (committed audit events), e.g. query.count, query.exported, ingest.queued.",
    ["tenant", "action"],
)

# --- Query runs and ingests (Celery worker processes) ------------------------------------------------------------
query_run_duration = Histogram(
    "bdt_query_run_duration_seconds",
    "Execution time of query runs on a worker (started -> finished), by outcome.",
    ["outcome"],
    buckets=WORK_BUCKETS,
)
query_run_wait = Histogram(
    "bdt_query_run_wait_seconds",
    "Time query runs waited in the queue (created -> started).",
    buckets=WORK_BUCKETS,
)
query_runs_finished = Counter(
    "bdt_query_runs_finished",
    "Query runs finished on a worker, per workspace, outcome and error code ('' when it succeeded).",
    ["tenant", "outcome", "code"],
)
ingest_duration = Histogram(
    "bdt_ingest_duration_seconds",
    "Execution time of dataset ingests on a worker (started -> finished), by outcome.",
    ["outcome"],
    buckets=WORK_BUCKETS,
)
ingests_finished = Counter(
    "bdt_ingests_finished",
    "Dataset ingests finished on a worker, per workspace, outcome and error code.",
    ["tenant", "outcome", "code"],
)
engine_memory_peak = Histogram(
    "bdt_engine_memory_peak_bytes",
    "Peak resident memory of the worker process after each run or ingest (its high-water mark so far).",
    ["kind"],
    buckets=MEMORY_BUCKETS,
)
engine_memory_peak_max = Gauge(
    "bdt_engine_memory_peak_max_bytes",
    "Highest peak resident memory of any worker process that ran engine work since the metrics were reset.",
    ["kind"],
    multiprocess_mode="max",
)
