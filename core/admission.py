"""Admission control for interactive engine work (counts, filtering reports, previews, exports, analysis).

Two gates, both taken before any engine work and released when it ends:

1. **Per user and per workspace** (``interactive_per_user``, ``interactive_per_tenant``): leases in Redis, shared
   by every web process. A caller over either limit gets 429 ``too_many_concurrent`` with ``Retry-After`` at once,
   so one person's flood never occupies the web server's threads. A lease is renewed every ``RENEW_SECONDS``
   while its work runs (however long that is), so it never lapses under a running operation; it expires by itself
   ``LEASE_SECONDS`` after its holder stopped renewing it (the process died). When Redis cannot be reached the
   gate lets work through (the next gate still bounds it).
2. **Per web process** (``web_engine_slots``): a semaphore. Work waits up to ``web_engine_wait_seconds`` for a
   slot, then gets 503 ``busy`` with ``Retry-After``. Threads that are not computing (health checks, ordinary
   pages, cached counts) never wait for it, so they stay fast while the slots are busy.
"""

from __future__ import annotations

import contextlib
import logging
import threading
import uuid
from collections.abc import Iterator
from typing import Any

import redis
from django.conf import settings

from core.config import config_get
from core.errors import ApiError

logger = logging.getLogger(__name__)

RETRY_AFTER_SECONDS = 2
LEASE_SECONDS = 120  # how long a lease outlives its holder's last renewal (it only lapses when the holder died)
RENEW_SECONDS = 30  # a held lease is renewed this often while its work runs

# KEYS: user key, tenant key. ARGV: user limit, tenant limit, token, lease ms. Returns 0 (taken), 1 (user full),
# 2 (tenant full). Server time, so web hosts need no common clock.
_ACQUIRE = """
local now = redis.call('TIME')
local ms = tonumber(now[1]) * 1000 + math.floor(tonumber(now[2]) / 1000)
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', ms)
redis.call('ZREMRANGEBYSCORE', KEYS[2], '-inf', ms)
if redis.call('ZCARD', KEYS[1]) >= tonumber(ARGV[1]) then return 1 end
if redis.call('ZCARD', KEYS[2]) >= tonumber(ARGV[2]) then return 2 end
redis.call('ZADD', KEYS[1], ms + tonumber(ARGV[4]), ARGV[3])
redis.call('ZADD', KEYS[2], ms + tonumber(ARGV[4]), ARGV[3])
redis.call('PEXPIRE', KEYS[1], tonumber(ARGV[4]))
redis.call('PEXPIRE', KEYS[2], tonumber(ARGV[4]))
return 0
"""

# KEYS: user key, tenant key. ARGV: token, lease ms. Pushes the token's expiry to now + lease where it is still held.
_RENEW = """
local now = redis.call('TIME')
local ms = tonumber(now[1]) * 1000 + math.floor(tonumber(now[2]) / 1000)
for _, key in ipairs(KEYS) do
  if redis.call('ZSCORE', key, ARGV[1]) then
    redis.call('ZADD', key, 'XX', ms + tonumber(ARGV[2]), ARGV[1])
    redis.call('PEXPIRE', key, tonumber(ARGV[2]))
  end
end
return 0
"""

_clients: dict[str, redis.Redis] = {}
_clients_lock = threading.Lock()
_slots: dict[str, Any] = {"size": 0, "semaphore": None}
_slots_lock = threading.Lock()


class TooBusy(ApiError):
    """429 (the caller's own limit) or 503 (this server is busy); both with Retry-After."""

    def __init__(self, status: int, code: str, message: str, details: dict[str, Any] | None = None) -> None:
        super().__init__(status, code, message, details, headers={"Retry-After": str(RETRY_AFTER_SECONDS)})


def _redis() -> redis.Redis:
    url = str(settings.CACHES["default"]["LOCATION"])
    with _clients_lock:
        client = _clients.get(url)
        if client is None:
            client = _clients[url] = redis.Redis.from_url(url, socket_connect_timeout=1, socket_timeout=1)
        return client


def _process_slots() -> threading.BoundedSemaphore:
    size = int(config_get("web_engine_slots"))
    with _slots_lock:
        if _slots["semaphore"] is None or _slots["size"] != size:
            _slots["semaphore"], _slots["size"] = threading.BoundedSemaphore(size), size
        semaphore: threading.BoundedSemaphore = _slots["semaphore"]
        return semaphore


def _keys(tenant: Any, user: Any) -> tuple[str, str]:
    schema = getattr(tenant, "schema_name", "public")
    return f"bdt:busy:user:{schema}:{getattr(user, 'pk', 0)}", f"bdt:busy:tenant:{schema}"


def _lease_take(tenant: Any, user: Any, token: str) -> int | None:
    """0 taken, 1 user at its limit, 2 workspace at its limit, None when Redis is unavailable (fail open)."""
    user_key, tenant_key = _keys(tenant, user)
    try:
        taken = _redis().eval(
            _ACQUIRE,
            2,
            user_key,
            tenant_key,
            int(config_get("interactive_per_user", tenant)),
            int(config_get("interactive_per_tenant", tenant)),
            token,
            LEASE_SECONDS * 1000,
        )
    except redis.RedisError:
        logger.warning("admission: Redis unavailable, interactive work admitted without per-user limits")
        return None
    return int(taken)  # type: ignore[arg-type]


def _lease_release(tenant: Any, user: Any, token: str) -> None:
    user_key, tenant_key = _keys(tenant, user)
    try:
        pipe = _redis().pipeline()
        pipe.zrem(user_key, token)
        pipe.zrem(tenant_key, token)
        pipe.execute()
    except redis.RedisError:
        logger.warning("admission: could not release a lease (it expires by itself)")


def _lease_renew(tenant: Any, user: Any, token: str) -> None:
    user_key, tenant_key = _keys(tenant, user)
    try:
        _redis().eval(_RENEW, 2, user_key, tenant_key, token, LEASE_SECONDS * 1000)
    except redis.RedisError:
        logger.warning("admission: could not renew a lease (retried at the next renewal)")


@contextlib.contextmanager
def _lease_kept(tenant: Any, user: Any, token: str) -> Iterator[None]:
    """Renew the lease ``token`` every :data:`RENEW_SECONDS` until the block ends (its work is over)."""
    done = threading.Event()

    def keep() -> None:
        while not done.wait(RENEW_SECONDS):
            _lease_renew(tenant, user, token)

    keeper = threading.Thread(target=keep, name="admission-lease", daemon=True)
    keeper.start()
    try:
        yield
    finally:
        done.set()
        keeper.join()


@contextlib.contextmanager
def interactive_slot(*, tenant: Any, user: Any, what: str = "live answers") -> Iterator[None]:
    """Hold a per-user/per-workspace lease and a slot of this web process while computing ``what``."""
    token = uuid.uuid4().hex
    taken = _lease_take(tenant, user, token)
    if taken == 1:
        limit = int(config_get("interactive_per_user", tenant))
        raise TooBusy(
            429,
            "too_many_concurrent",
            f"You already have {limit} {what} being computed; wait for them, then retry.",
            {"limit": limit, "scope": "user"},
        )
    if taken == 2:
        limit = int(config_get("interactive_per_tenant", tenant))
        raise TooBusy(
            429,
            "too_many_concurrent",
            f"This workspace already has {limit} {what} being computed; retry in a moment.",
            {"limit": limit, "scope": "workspace"},
        )
    try:
        with _lease_kept(tenant, user, token) if taken == 0 else contextlib.nullcontext():
            semaphore = _process_slots()
            if not semaphore.acquire(timeout=float(config_get("web_engine_wait_seconds"))):
                raise TooBusy(503, "busy", "The server is busy computing other answers; retry in a moment.")
            try:
                yield
            finally:
                semaphore.release()
    finally:
        if taken == 0:
            _lease_release(tenant, user, token)
