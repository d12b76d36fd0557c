"""Monitoring wired to the apps: collectors that read the apps' work tables, the Celery task signals that time runs
and ingests, and the protected ``/metrics`` endpoint of the platform host. The primitives (metrics, logs, the
request middleware, usage counters) are in ``core.monitoring``."""
