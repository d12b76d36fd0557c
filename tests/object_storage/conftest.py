"""Object storage for real: an S3 protocol server started by the suite, a bucket per module, and the platform's
processes (this one as the web process, Celery workers as children) configured for it by environment variables
only, each with its own local cache, work and media directories."""

from __future__ import annotations

import subprocess
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import boto3
import pytest
from django.conf import settings
from django.db import connection
from django.test import override_settings

from bdt_project.settings.object_storage import default_storage_backend
from tests.object_storage.s3_server import ACCESS_KEY, REGION, SECRET_KEY, S3Server, s3_server_start
from tests.worker import worker_start, worker_stop


@dataclass
class Bucket:
    """A bucket on the test server: its name, the platform's environment for it, and a client to look inside."""

    name: str
    env: dict[str, str]
    client: Any

    def keys(self, prefix: str = "") -> list[str]:
        pages = self.client.get_paginator("list_objects_v2").paginate(Bucket=self.name, Prefix=prefix)
        return sorted(item["Key"] for page in pages for item in page.get("Contents", []))

    def read(self, key: str) -> bytes:
        return bytes(self.client.get_object(Bucket=self.name, Key=key)["Body"].read())


@dataclass
class Node:
    """A platform process's own local directories (nothing in them is shared with another process)."""

    name: str
    cache: Path
    work: Path
    media: Path

    def env(self) -> dict[str, str]:
        return {
            "BDT_CACHE_DIR": str(self.cache),
            "BDT_WORK_DIR": str(self.work),
            "BDT_TEST_MEDIA_ROOT": str(self.media),
        }

    def local_files(self) -> list[Path]:
        """Files under the process's media root (with object storage there must be none)."""
        return sorted(path for path in self.media.rglob("*") if path.is_file())

    def cached(self) -> set[str]:
        return {path.name for path in self.cache.glob("*") if path.is_file() and not path.name.endswith(".part")}


def node_make(root: Path, name: str) -> Node:
    node = Node(name, root / name / "cache", root / name / "work", root / name / "media")
    for path in (node.cache, node.work, node.media):
        path.mkdir(parents=True, exist_ok=True)
    return node


@pytest.fixture(scope="session")
def s3_server() -> Iterator[S3Server]:
    server = s3_server_start()
    yield server
    server.stop()


@pytest.fixture(scope="module")
def bucket(s3_server: S3Server) -> Bucket:
    name = f"bdt-test-{uuid.uuid4().hex[:12]}"
    client = boto3.client(
        "s3",
        endpoint_url=s3_server.endpoint,
        aws_access_key_id=ACCESS_KEY,
        aws_secret_access_key=SECRET_KEY,
        region_name=REGION,
    )
    client.create_bucket(Bucket=name)
    return Bucket(name, s3_server.env(name), client)


@pytest.fixture(scope="module")
def web(bucket: Bucket, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Node]:
    """This process as a web process on the bucket, with a cache of its own."""
    node = node_make(tmp_path_factory.mktemp("nodes"), "web")
    storages = {**settings.STORAGES, "default": default_storage_backend(bucket.env)}
    with override_settings(STORAGES=storages, BDT_CACHE_DIR=node.cache, BDT_WORK_DIR=node.work, MEDIA_ROOT=node.media):
        yield node


@pytest.fixture(scope="module")
def workers(
    bucket: Bucket, test_db_name: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[dict[str, tuple[Node, subprocess.Popen[bytes]]]]:
    """Two Celery workers on the bucket, each with its own cache: worker ``a`` consumes ``s3-a``, ``b`` ``s3-b``,
    both ``s3-shared``. They share only PostgreSQL, Redis and the bucket with each other and with this process."""
    root = tmp_path_factory.mktemp("workers")
    started: dict[str, tuple[Node, subprocess.Popen[bytes]]] = {}
    try:
        for name in ("a", "b"):
            node = node_make(root, f"worker-{name}")
            process = worker_start(
                test_db_name, queues=f"s3-{name},s3-shared", name=f"s3-{name}", env={**bucket.env, **node.env()}
            )
            started[name] = (node, process)
        yield started
    finally:
        for _, process in started.values():
            process.terminate()  # both shut down at once
        for _, process in started.values():
            worker_stop(process)
        connection.set_schema_to_public()
