"""The object-storage settings read from the environment, and the bounded local cache of stored files."""

from __future__ import annotations

import os
import time
from pathlib import Path

import pytest
from django.core.exceptions import ImproperlyConfigured

from bdt_project.settings.object_storage import (
    S3_BACKEND,
    default_storage_backend,
    object_storage_options,
    object_url,
    spark_s3a_properties,
)
from datasets.storage import cache_trim


def test_no_bucket_means_local_disk() -> None:
    assert default_storage_backend({}) == {"BACKEND": "django.core.files.storage.FileSystemStorage"}
    assert object_storage_options({"BDT_S3_BUCKET": "  "}) is None


def test_a_bucket_with_an_endpoint_is_private_exact_named_and_path_addressed() -> None:
    backend = default_storage_backend(
        {
            "BDT_S3_BUCKET": "bdt-data",
            "BDT_S3_ENDPOINT_URL": "https://minio.internal:9000",
            "BDT_S3_REGION": "eu-west-1",
            "BDT_S3_ACCESS_KEY_ID": "key",
            "BDT_S3_SECRET_ACCESS_KEY": "secret",
            "BDT_S3_PREFIX": "/platform/",
        }
    )
    options = backend["OPTIONS"]
    assert backend["BACKEND"] == S3_BACKEND
    assert (options["bucket_name"], options["endpoint_url"], options["region_name"]) == (
        "bdt-data",
        "https://minio.internal:9000",
        "eu-west-1",
    )
    assert options["location"] == "platform" and options["addressing_style"] == "path"
    assert options["default_acl"] is None and options["file_overwrite"] is False
    assert options["max_memory_size"] > 0  # objects spill to disk past the spool, never held whole in memory


def test_aws_defaults_to_the_sdk_credential_chain_and_virtual_hosts() -> None:
    options = object_storage_options({"BDT_S3_BUCKET": "bdt-data"})
    assert options is not None
    assert options["access_key"] is None and options["secret_key"] is None and options["endpoint_url"] is None
    assert options["addressing_style"] == "virtual"


@pytest.mark.parametrize(
    ("env", "words"),
    [
        ({"BDT_S3_ACCESS_KEY_ID": "key"}, "set together"),
        ({"BDT_S3_SECRET_ACCESS_KEY": "secret"}, "set together"),
        ({"BDT_S3_ADDRESSING_STYLE": "dns"}, "path or virtual"),
        ({"BDT_S3_SPOOL_BYTES": "lots"}, "number of bytes"),
    ],
)
def test_a_half_configured_bucket_refuses_to_start(env: dict[str, str], words: str) -> None:
    with pytest.raises(ImproperlyConfigured, match=words) as raised:
        object_storage_options({"BDT_S3_BUCKET": "bdt-data", **env})
    assert "secret" not in str(raised.value).replace("SECRET", "")  # names the variable, never a value


def _file(folder: Path, name: str, size: int, age: float) -> Path:
    path = folder / name
    path.write_bytes(b"x" * size)
    stamp = time.time() - age
    os.utime(path, (stamp, stamp))
    return path


def test_the_cache_evicts_least_recently_used_files_but_never_fresh_ones(settings, tmp_path: Path) -> None:
    settings.BDT_CACHE_DIR = tmp_path
    oldest = _file(tmp_path, "a.parquet", 400, age=3600)
    older = _file(tmp_path, "b.parquet", 400, age=1800)
    fresh = _file(tmp_path, "c.parquet", 400, age=10)  # used seconds ago: a reader may be about to open it
    partial = _file(tmp_path, "d.part", 400, age=7200)  # a download in progress is not the cache's to remove
    assert cache_trim(0) == 0  # unbounded
    assert cache_trim(500) == 800
    assert [p.exists() for p in (oldest, older, fresh, partial)] == [False, False, True, True]
    assert cache_trim(100) == 0  # only fresh files left: over the bound for now, trimmed once they age


def test_spark_reads_the_same_objects_with_the_same_settings() -> None:
    env = {
        "BDT_S3_BUCKET": "bdt-data",
        "BDT_S3_ENDPOINT_URL": "http://minio:9000",
        "BDT_S3_REGION": "us-east-1",
        "BDT_S3_ACCESS_KEY_ID": "key",
        "BDT_S3_SECRET_ACCESS_KEY": "secret",
        "BDT_S3_PREFIX": "platform",
    }
    properties = spark_s3a_properties(env)
    assert properties["spark.hadoop.fs.s3a.endpoint"] == "http://minio:9000"
    assert properties["spark.hadoop.fs.s3a.path.style.access"] == "true"
    assert properties["spark.hadoop.fs.s3a.connection.ssl.enabled"] == "false"
    assert properties["spark.hadoop.fs.s3a.access.key"] == "key"
    name = "tenants/t_lab/studies/s/d/v1/data.parquet"
    assert object_url(name, env) == f"s3a://bdt-data/platform/{name}"
    assert object_url(name, {"BDT_S3_BUCKET": "b"}) == f"s3a://b/{name}"
    assert spark_s3a_properties({}) == {} and object_url(name, {}) is None  # local disk: Spark reads cache paths
    aws = spark_s3a_properties({"BDT_S3_BUCKET": "b"})
    assert "spark.hadoop.fs.s3a.access.key" not in aws and aws["spark.hadoop.fs.s3a.path.style.access"] == "false"
