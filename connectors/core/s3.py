"""S3-compatible object storage: CSV and Parquet files under a prefix of a bucket.

The endpoint's host is checked by the network policy and pinned to the checked address for the whole call
(:func:`connectors.core.network.pinned`); addressing is path-style so the host never changes with the bucket.
"""

from __future__ import annotations

import csv
import io
import shutil
import struct
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import boto3
import pyarrow as pa
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
MAX_FOOTER_BYTES = 16 * 1024 * 1024  # a Parquet file's metadata (schema, row groups), far above real ones
PARQUET_BATCH_ROWS = 65_536


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

    def _download(self, source: str, max_bytes: int) -> Path:
        """The object in a private temporary folder, refused before and while copying when larger than
        ``max_bytes`` (the caller removes the folder)."""
        folder = Path(tempfile.mkdtemp(prefix="bdt-s3-"))
        target = folder / "object"
        try:
            with self._client() as client:
                answer = client.get_object(Bucket=self.config["bucket"], Key=self._key(source))
                if int(answer.get("ContentLength") or 0) > max_bytes:
                    raise _too_large(max_bytes)
                copied = 0
                with open(target, "wb") as handle:
                    while chunk := answer["Body"].read(CHUNK):
                        copied += len(chunk)
                        if copied > max_bytes:  # a server that did not say, or said less
                            raise _too_large(max_bytes)
                        handle.write(chunk)
        except BaseException:
            shutil.rmtree(folder, ignore_errors=True)
            raise
        return target

    def _parquet_schema(self, source: str) -> pa.Schema:
        """A Parquet file's schema from its footer alone (two ranged reads; nothing is downloaded)."""
        key = self._key(source)
        with self._client() as client:
            size = int(client.head_object(Bucket=self.config["bucket"], Key=key)["ContentLength"])
            if size < 12:
                raise ConnectorError("invalid_source", f"{source!r} is not a Parquet file.")
            tail = client.get_object(Bucket=self.config["bucket"], Key=key, Range=f"bytes={size - 8}-{size - 1}")
            ending = tail["Body"].read()
            footer_length = struct.unpack("<i", ending[:4])[0]
            if ending[4:] != b"PAR1" or not 0 < footer_length <= min(MAX_FOOTER_BYTES, size - 12):
                raise ConnectorError("invalid_source", f"{source!r} is not a readable Parquet file.")
            start = size - 8 - footer_length
            footer = client.get_object(Bucket=self.config["bucket"], Key=key, Range=f"bytes={start}-{size - 9}")
            metadata = footer["Body"].read()
        try:
            return pq.read_schema(pa.BufferReader(b"PAR1" + metadata + ending))
        except (pa.ArrowException, OSError):
            raise ConnectorError("invalid_source", f"{source!r} is not a readable Parquet file.") from None

    def columns(self, source: str) -> list[SourceColumn]:
        kind = self.source_require(source).kind
        if kind == "parquet":
            return [SourceColumn(name=field.name, type=str(field.type)) for field in self._parquet_schema(source)]
        with self._client() as client:
            head = client.get_object(
                Bucket=self.config["bucket"], Key=self._key(source), Range=f"bytes=0-{HEADER_BYTES - 1}"
            )["Body"].read()
        line = head.decode("utf-8-sig", errors="replace").splitlines()[:1]
        header = next(csv.reader(io.StringIO(line[0])), []) if line else []
        return [SourceColumn(name=name, type="csv") for name in header]

    def pull(self, source: str, destination: Path, options: PullOptions) -> Pulled:
        columns = self.columns(source)
        local = self._download(source, options.max_bytes)
        try:
            if self.source_require(source).kind == "parquet":
                rows = _parquet_to_csv(local, destination)
            else:
                shutil.copyfile(local, destination)
                with open(destination, "rb") as handle:
                    rows = max(0, sum(1 for _ in handle) - 1)
        finally:
            shutil.rmtree(local.parent, ignore_errors=True)
        self.context.progress(1.0, "pulled")
        return Pulled(path=destination, columns=columns, rows=rows)


def _too_large(max_bytes: int) -> ConnectorError:
    return ConnectorError(
        "source_too_large", f"The file is larger than this workspace's upload limit of {max_bytes:,} bytes."
    )


def _parquet_to_csv(source: Path, destination: Path) -> int:
    """Write a Parquet file as CSV one record batch at a time (memory bounded by a batch, not the file)."""
    parquet = pq.ParquetFile(source)
    rows = 0
    with pacsv.CSVWriter(destination, parquet.schema_arrow) as writer:
        for batch in parquet.iter_batches(batch_size=PARQUET_BATCH_ROWS):
            writer.write_batch(batch)
            rows += batch.num_rows
    return rows


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
