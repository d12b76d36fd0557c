"""Monitoring: Prometheus metrics (web and Celery processes, aggregated in multiprocess mode), the protected
``/metrics`` endpoint of the platform host, and structured (JSON) logs carrying request id, tenant and user."""
