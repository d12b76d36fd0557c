"""Connection secrets at rest: one Fernet token per connection, keys from the environment (MultiFernet).

``BDT_CONNECTOR_KEYS`` holds comma-separated Fernet keys, newest first: new secrets are encrypted with the first,
any of them decrypts. Rotation (docs/connectors.md): put a new key first, run ``manage.py connector_keys_rotate``
(every token re-encrypted with it), then drop the old key. Development and test settings derive a key from
``SECRET_KEY`` when none is set; production refuses to store secrets without one.
"""

from __future__ import annotations

import json
from typing import Any

from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from django.conf import settings

from core.errors import ApiError


class KeysMissing(ApiError):
    def __init__(self) -> None:
        super().__init__(
            503,
            "connector_keys_missing",
            "Connection secrets cannot be stored: the operator has set no encryption key.",
        )


def _keys() -> MultiFernet:
    keys = [key for key in getattr(settings, "BDT_CONNECTOR_KEYS", []) if key]
    if not keys:
        raise KeysMissing()
    try:
        return MultiFernet([Fernet(key) for key in keys])
    except ValueError:
        raise ApiError(
            503, "connector_keys_invalid", "A connection encryption key is not a valid Fernet key."
        ) from None


def secret_encrypt(secret: dict[str, Any]) -> str:
    """The secret fields as one token (empty secret -> empty token)."""
    if not secret:
        return ""
    return _keys().encrypt(json.dumps(secret, sort_keys=True).encode()).decode()


def secret_decrypt(token: str) -> dict[str, Any]:
    """The secret fields back (a token no configured key opens is ``connector_secret_unreadable``)."""
    if not token:
        return {}
    try:
        value = json.loads(_keys().decrypt(token.encode()))
    except InvalidToken:
        raise ApiError(
            409,
            "connector_secret_unreadable",
            "The connection's secret cannot be read with the configured keys; enter it again.",
        ) from None
    return dict(value)


def secret_rotate(token: str) -> str:
    """The same secret encrypted with the newest key."""
    if not token:
        return ""
    try:
        return _keys().rotate(token.encode()).decode()
    except InvalidToken:
        raise ApiError(
            409, "connector_secret_unreadable", "A connection's secret cannot be read with the configured keys."
        ) from None
