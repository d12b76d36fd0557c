"""Cache key functions: per tenant schema by default, platform-wide for identity state.

django-tenants prefixes every key with the schema of the current request's host. Users are global, so the state of
sign-in must not depend on the host: allauth's rate limits (failed logins, password resets, sign-ups) and its
used-TOTP-code markers live under one platform namespace. Otherwise five wrong passwords per *host* would be
allowed, and a two-factor code used on one workspace could be replayed on another.
"""

from __future__ import annotations

from django_tenants.cache import make_key as tenant_make_key

PLATFORM_NAMESPACE = "platform"
PLATFORM_KEY_PREFIXES = ("allauth", "bdt-platform:")


def make_key(key: str, key_prefix: str, version: int | str) -> str:
    """``platform:<prefix>:<version>:<key>`` for identity keys, else django-tenants' per-schema key."""
    if key.startswith(PLATFORM_KEY_PREFIXES):
        return f"{PLATFORM_NAMESPACE}:{key_prefix}:{version}:{key}"
    return str(tenant_make_key(key, key_prefix, version))


def reverse_key(key: str) -> str:
    """The original key of a made one (both forms have the same four parts)."""
    return key.split(":", 3)[3]
