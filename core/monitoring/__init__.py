"""Monitoring primitives: Prometheus metrics (aggregated across processes), structured JSON logs carrying request
id, tenant and user, the request middleware and per-tenant usage counters. The collectors that read the apps' tables
and the ``/metrics`` endpoint are wired in ``bdt_project.monitoring``."""
