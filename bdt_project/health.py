"""Liveness checks of the platform's backing services (database and broker)."""

from __future__ import annotations

import logging
from typing import Any

import redis
from django.conf import settings
from django.db import connections

logger = logging.getLogger(__name__)


def _database_ok() -> bool:
    try:
        with connections["default"].cursor() as cursor:
            cursor.execute("SELECT 1")
            return cursor.fetchone() == (1,)
    except Exception:
        logger.warning("health: database check failed", exc_info=True)
        connections["default"].close_if_unusable_or_obsolete()
        return False


def _broker_ok() -> bool:
    try:
        client = redis.Redis.from_url(settings.CELERY_BROKER_URL, socket_connect_timeout=2, socket_timeout=2)
        try:
            return bool(client.ping())
        finally:
            client.close()
    except Exception:
        logger.warning("health: broker check failed", exc_info=True)
        return False


def health_check() -> tuple[int, dict[str, Any]]:
    """Return the HTTP status and body of the health endpoint: 200 ok, or 503 degraded."""
    checks = {
        "database": "ok" if _database_ok() else "unavailable",
        "broker": "ok" if _broker_ok() else "unavailable",
    }
    healthy = all(value == "ok" for value in checks.values())
    return (200 if healthy else 503), {"status": "ok" if healthy else "degraded", "checks": checks}
