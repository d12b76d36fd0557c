"""List every file below a storage prefix (works for any Django storage backend)."""

from __future__ import annotations

from collections.abc import Iterator

from django.core.files.storage import default_storage


def walk(prefix: str) -> Iterator[str]:
    """Yield every file name below ``prefix``."""
    if not default_storage.exists(prefix.rstrip("/")):
        return
    directories, files = default_storage.listdir(prefix)
    for name in files:
        yield f"{prefix}{name}"
    for directory in directories:
        yield from walk(f"{prefix}{directory}/")
