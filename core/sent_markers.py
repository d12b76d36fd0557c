"""Markers that a task was sent, kept next to the queue in the broker's Redis.

A queued job (a run, an ingest) whose marker is gone lost its queue message with it: Redis restarted without
persistence. The reapers send such jobs again; a duplicate message is harmless because a job is claimed only once
(an atomic ``queued -> running`` update).
"""

from __future__ import annotations

import logging
from collections.abc import Sequence

import redis
from django.conf import settings
from django.db import connection

logger = logging.getLogger(__name__)

MARKER_SECONDS = 7 * 24 * 3600


def _broker() -> redis.Redis:
    return redis.Redis.from_url(str(settings.CELERY_BROKER_URL), socket_connect_timeout=2, socket_timeout=2)


def _key(kind: str, object_id: int) -> str:
    return f"bdt:sent:{kind}:{getattr(connection, 'schema_name', 'public')}:{object_id}"


def sent_mark(kind: str, object_id: int) -> None:
    """Remember that the task of ``kind`` #``object_id`` (current schema) was sent."""
    try:
        client = _broker()
        try:
            client.set(_key(kind, object_id), "1", ex=MARKER_SECONDS)
        finally:
            client.close()
    except redis.RedisError:
        logger.warning("%s %s: could not leave its queue marker; the reaper will send it again", kind, object_id)


def sent_missing(kind: str, object_ids: Sequence[int]) -> list[int]:
    """The ids among ``object_ids`` whose marker is gone (their message was lost)."""
    if not object_ids:
        return []
    client = _broker()
    try:
        found = client.mget([_key(kind, object_id) for object_id in object_ids])
    finally:
        client.close()
    return [object_id for object_id, marker in zip(object_ids, found, strict=True) if marker is None]
