"""Object storage (S3-compatible) for dataset versions, run results and backups, configured from the environment.

Every environment (local, test, production) keeps files on local disk unless ``BDT_S3_BUCKET`` is set; then the
default storage is the bucket (django-storages' S3 backend) and every process (web, workers, beat) reads and writes
the same objects. Workers read versions and results through their own local cache (``BDT_CACHE_DIR``), so nothing
but PostgreSQL, Redis and the bucket is shared between machines.

| variable | meaning |
|---|---|
| ``BDT_S3_BUCKET`` | bucket name (required to enable object storage) |
| ``BDT_S3_ENDPOINT_URL`` | endpoint of an S3-compatible service (MinIO, Ceph, ...); empty for AWS |
| ``BDT_S3_REGION`` | region name |
| ``BDT_S3_ACCESS_KEY_ID`` / ``BDT_S3_SECRET_ACCESS_KEY`` | credentials; empty = the SDK's chain (instance role) |
| ``BDT_S3_PREFIX`` | key prefix inside the bucket (several platforms may share one bucket) |
| ``BDT_S3_ADDRESSING_STYLE`` | ``path`` (default with an endpoint) or ``virtual`` |
| ``BDT_S3_SPOOL_BYTES`` | bytes of an object held in memory while read or written before spilling to disk |
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any

from django.core.exceptions import ImproperlyConfigured

S3_BACKEND = "storages.backends.s3.S3Storage"
DEFAULT_SPOOL_BYTES = 8 * 1024 * 1024


def object_storage_options(environ: Mapping[str, str] | None = None) -> dict[str, Any] | None:
    """The S3 backend's options from ``environ`` (default ``os.environ``); None when no bucket is configured."""
    env = os.environ if environ is None else environ
    bucket = env.get("BDT_S3_BUCKET", "").strip()
    if not bucket:
        return None
    endpoint = env.get("BDT_S3_ENDPOINT_URL", "").strip() or None
    access_key = env.get("BDT_S3_ACCESS_KEY_ID", "").strip() or None
    secret_key = env.get("BDT_S3_SECRET_ACCESS_KEY", "").strip() or None
    if bool(access_key) != bool(secret_key):
        raise ImproperlyConfigured("BDT_S3_ACCESS_KEY_ID and BDT_S3_SECRET_ACCESS_KEY are set together or not at all")
    style = env.get("BDT_S3_ADDRESSING_STYLE", "").strip() or ("path" if endpoint else "virtual")
    if style not in {"path", "virtual"}:
        raise ImproperlyConfigured(f"BDT_S3_ADDRESSING_STYLE must be path or virtual, not {style!r}")
    try:
        spool = int(env.get("BDT_S3_SPOOL_BYTES", "") or DEFAULT_SPOOL_BYTES)
    except ValueError as error:
        raise ImproperlyConfigured("BDT_S3_SPOOL_BYTES must be a number of bytes") from error
    return {
        "bucket_name": bucket,
        "endpoint_url": endpoint,
        "region_name": env.get("BDT_S3_REGION", "").strip() or None,
        "access_key": access_key,
        "secret_key": secret_key,
        "location": env.get("BDT_S3_PREFIX", "").strip().strip("/"),
        "addressing_style": style,
        # Files are written under exact names by the platform (a taken name is an error, never a renamed copy),
        # are private (no ACL, no public URLs) and are read by workers as a stream spilled to disk past the spool.
        "default_acl": None,
        "file_overwrite": False,
        "querystring_auth": True,
        "max_memory_size": spool,
    }


def default_storage_backend(environ: Mapping[str, str] | None = None) -> dict[str, Any]:
    """The ``STORAGES["default"]`` entry: the bucket when configured, else the local file system (MEDIA_ROOT)."""
    options = object_storage_options(environ)
    if options is None:
        return {"BACKEND": "django.core.files.storage.FileSystemStorage"}
    return {"BACKEND": S3_BACKEND, "OPTIONS": options}


def spark_s3a_properties(environ: Mapping[str, str] | None = None) -> dict[str, str]:
    """Spark (Hadoop S3A) properties that let executors read the platform's bucket directly: the same endpoint,
    region and credentials as the platform. Empty without a bucket. Credentials left unset use the executors' own
    provider chain (instance or pod role)."""
    options = object_storage_options(environ)
    if options is None:
        return {}
    prefix = "spark.hadoop.fs.s3a."
    properties = {f"{prefix}path.style.access": str(options["addressing_style"] == "path").lower()}
    if options["endpoint_url"]:
        properties[f"{prefix}endpoint"] = options["endpoint_url"]
        properties[f"{prefix}connection.ssl.enabled"] = str(options["endpoint_url"].startswith("https:")).lower()
    if options["region_name"]:
        properties[f"{prefix}endpoint.region"] = options["region_name"]
    if options["access_key"]:
        properties[f"{prefix}access.key"] = options["access_key"]
        properties[f"{prefix}secret.key"] = options["secret_key"]
    return properties


def object_url(name: str, environ: Mapping[str, str] | None = None, scheme: str = "s3a") -> str | None:
    """The URL of the stored file ``name`` in the bucket (``s3a://bucket/prefix/name``), or None on local disk."""
    options = object_storage_options(environ)
    if options is None:
        return None
    key = "/".join(part for part in (options["location"], name.lstrip("/")) if part)
    return f"{scheme}://{options['bucket_name']}/{key}"
