"""S3-compatible object storage: CSV and Parquet files under a prefix of a bucket.

The endpoint's host is checked by the network policy and pinned to the checked address for the whole call
(:func:`connectors.core.network.pinned`); addressing is path-style so the host never changes with the bucket.
"""

from __future__ import annotations

import csv
import io
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import boto3
import pyarrow.csv as pacsv
import pyarrow.parquet as pq
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError

from connectors.core.contract import Connector, FieldSpec, Pulled, PullOptions, Source, SourceColumn
from connectors.core.contract_errors import ConnectorError
from connectors.core.network import pinned, resolve

MAX_OBJECTS = 10_000
HEADER_BYTES = 64 * 1024
CHUNK = 1024 * 1024


class S3Connector(Connector):
    kind = "s3"
    title = "S3-compatible object storage"
    config_fields = (
        FieldSpec("bucket", "Bucket"),
        FieldSpec("prefix", "Prefix", required=False, default="", help="Only files under this prefix are offered."),
        FieldSpec("region", "Region", required=False, default="us-east-1"),
        FieldSpec("endpoint_url", "Endpoint URL", required=False, default="", help="Blank: Amazon S3 (https)."),
    )
    secret_fields = (
        FieldSpec("access_key_id", "Access key id", required=False, default=""),
        FieldSpec("secret_access_key", "Secret access key", required=False, default=""),
    )

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._downloads: dict[str, Path] = {}

    def _endpoint(self) -> tuple[str, str, int]:
        url = str(self.config.get("endpoint_url") or f"https://s3.{self.config['region']}.amazonaws.com")
        parts = urlsplit(url)
        if parts.scheme not in {"http", "https"} or not parts.hostname:
            raise ConnectorError("invalid_config", "The endpoint URL must be an http(s) address.")
        return url, parts.hostname, parts.port or (443 if parts.scheme == "https" else 80)

    @contextmanager
    def _client(self) -> Iterator[Any]:
        url, host, port = self._endpoint()
        address = resolve(self.context.network, host, port)
        timeout = self.context.timeout_seconds
        with pinned(host, address):
            client = boto3.session.Session().client(
                "s3",
                endpoint_url=url,
                region_name=str(self.config["region"]),
                aws_access_key_id=self.secret.get("access_key_id") or None,
                aws_secret_access_key=self.secret.get("secret_access_key") or None,
                config=Config(
                    s3={"addressing_style": "path"},
                    connect_timeout=timeout,
                    read_timeout=timeout,
                    retries={"max_attempts": 3, "mode": "standard"},
                ),
            )
            try:
                yield client
            except ClientError as exc:
                raise ConnectorError("connection_failed", _failure(exc)) from None
            except BotoCoreError:
                raise ConnectorError("connection_failed", f"Could not reach the storage endpoint {host}.") from None

    def _key(self, source: str) -> str:
        return f"{self.config.get('prefix') or ''}{source}"

    def test(self) -> None:
        with self._client() as client:
            client.list_objects_v2(Bucket=self.config["bucket"], Prefix=self.config.get("prefix") or "", MaxKeys=1)

    def sources(self) -> list[Source]:
        prefix = str(self.config.get("prefix") or "")
        found: list[Source] = []
        with self._client() as client:
            for page in client.get_paginator("list_objects_v2").paginate(Bucket=self.config["bucket"], Prefix=prefix):
                for item in page.get("Contents", []):
                    name = str(item["Key"])[len(prefix) :]
                    kind = _file_kind(name)
                    if kind and name:
                        found.append(Source(name=name, kind=kind))
                if len(found) >= MAX_OBJECTS:
                    break
        return sorted(found, key=lambda source: source.name)

    def _download(self, source: str) -> Path:
        if source in self._downloads:
            return self._downloads[source]
        folder = Path(tempfile.mkdtemp(prefix="bdt-s3-"))
        target = folder / "object"
        with self._client() as client:
            body = client.get_object(Bucket=self.config["bucket"], Key=self._key(source))["Body"]
            with open(target, "wb") as handle:
                shutil.copyfileobj(body, handle, CHUNK)
        self._downloads[source] = target
        return target

    def columns(self, source: str) -> list[SourceColumn]:
        kind = self.source_require(source).kind
        if kind == "parquet":
            schema = pq.read_schema(self._download(source))
            return [SourceColumn(name=field.name, type=str(field.type)) for field in schema]
        with self._client() as client:
            head = client.get_object(
                Bucket=self.config["bucket"], Key=self._key(source), Range=f"bytes=0-{HEADER_BYTES - 1}"
            )["Body"].read()
        line = head.decode("utf-8-sig", errors="replace").splitlines()[:1]
        header = next(csv.reader(io.StringIO(line[0])), []) if line else []
        return [SourceColumn(name=name, type="csv") for name in header]

    def pull(self, source: str, destination: Path, options: PullOptions) -> Pulled:
        columns = self.columns(source)
        local = self._download(source)
        try:
            if local.stat().st_size > options.max_bytes:
                raise ConnectorError(
                    "source_too_large",
                    f"The file is larger than this workspace's upload limit of {options.max_bytes:,} bytes.",
                )
            if self.source_require(source).kind == "parquet":
                table = pq.read_table(local)
                pacsv.write_csv(table, destination)
                rows = table.num_rows
            else:
                shutil.copyfile(local, destination)
                with open(destination, "rb") as handle:
                    rows = max(0, sum(1 for _ in handle) - 1)
        finally:
            shutil.rmtree(local.parent, ignore_errors=True)
            self._downloads.pop(source, None)
        self.context.progress(1.0, "pulled")
        return Pulled(path=destination, columns=columns, rows=rows)


def _file_kind(name: str) -> str:
    lowered = name.lower()
    if lowered.endswith(".csv"):
        return "csv"
    if lowered.endswith(".parquet"):
        return "parquet"
    return ""


def _failure(exc: ClientError) -> str:
    code = str(exc.response.get("Error", {}).get("Code", ""))
    if code in {"InvalidAccessKeyId", "SignatureDoesNotMatch", "AccessDenied", "403"}:
        return "The storage refused the access key."
    if code in {"NoSuchBucket", "404", "NoSuchKey"}:
        return "The bucket or file does not exist."
    return "The storage refused the request."
