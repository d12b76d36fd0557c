"""S3-compatible storage: the S3 protocol server (moto's standalone server) started by the suite."""

from __future__ import annotations

import io
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

BUCKET = "study-exports"


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@pytest.fixture(scope="module")
def s3_server() -> Iterator[str]:
    """moto's S3 server in a subprocess on a free port (stopped by pid at the end)."""
    port = _free_port()
    process = subprocess.Popen(
        [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
            break
        except OSError:
            time.sleep(0.1)
    else:
        process.kill()
        pytest.fail("the S3 protocol server did not start")
    yield url
    process.terminate()
    process.wait(timeout=10)


@pytest.fixture
def bucket(s3_server: str) -> Any:
    client = boto3.client(
        "s3", endpoint_url=s3_server, aws_access_key_id="test", aws_secret_access_key="test", region_name="us-east-1"
    )
    client.create_bucket(Bucket=BUCKET)
    client.put_object(
        Bucket=BUCKET,
        Key="exports/demographics.csv",
        Body=b"participant_id,session,age,sex\np01,1,34,F\np02,1,51,M\np03,1,27,F\n",
    )
    table = pa.table({"participant_id": ["p01", "p02", "p03"], "session": ["1", "1", "1"], "score": [1.5, 2.5, 3.5]})
    buffer = io.BytesIO()
    pq.write_table(table, buffer)
    client.put_object(Bucket=BUCKET, Key="exports/scores.parquet", Body=buffer.getvalue())
    client.put_object(Bucket=BUCKET, Key="exports/readme.txt", Body=b"not data")
    client.put_object(Bucket=BUCKET, Key="elsewhere/other.csv", Body=b"a,b\n1,2\n")
    return client


def test_csv_and_parquet_files_under_a_prefix_sync(
    steward_api: Any, make_study: Any, s3_server: str, bucket: Any, run_sync: Any
) -> None:
    config = {"bucket": BUCKET, "prefix": "exports/", "endpoint_url": s3_server}
    secret = {"access_key_id": "test", "secret_access_key": "test-secret-key"}
    created = steward_api.post(
        "/api/v1/connections", {"name": "bucket", "kind": "s3", "config": config, "secret": secret}
    )
    assert created.status_code == 201, created.content
    assert "test-secret-key" not in created.content.decode()
    connection_id = created.json()["id"]
    sources = steward_api.get(f"/api/v1/connections/{connection_id}/sources").json()["items"]
    assert sources == [{"name": "demographics.csv", "kind": "csv"}, {"name": "scores.parquet", "kind": "parquet"}]
    make_study("bucket-study")
    syncs = {}
    for source, dataset, kind in (
        ("demographics.csv", "demographics", "demographics"),
        ("scores.parquet", "scores", "measure"),
    ):
        response = steward_api.post(
            "/api/v1/studies/bucket-study/syncs",
            {"connection": connection_id, "source": source, "dataset": dataset, "kind": kind},
        )
        assert response.status_code == 201, response.content
        syncs[dataset] = response.json()["id"]
        assert run_sync(syncs[dataset])["runs"][0]["status"] == "succeeded"
    scores = steward_api.get("/api/v1/studies/bucket-study/datasets/scores").json()["latest_version"]
    assert scores["row_count"] == 3
    assert run_sync(syncs["scores"])["runs"][0]["status"] == "unchanged"

    bucket.put_object(
        Bucket=BUCKET, Key="exports/demographics.csv", Body=b"participant_id,session,age\np01,1,34\np02,1,51\n"
    )
    drifted = run_sync(syncs["demographics"])
    assert drifted["runs"][0]["status"] == "drift"
    assert drifted["drift"]["removed"] == ["sex"]
    assert drifted["runs"][0]["ingest"]["error"]["code"] == "schema_drift"
    assert drifted["last_good_version"] == 1


def test_a_missing_bucket_is_connection_failed(steward_api: Any, s3_server: str) -> None:
    config = {"bucket": "no-such-bucket", "endpoint_url": s3_server}
    response = steward_api.post("/api/v1/connections", {"name": "nobucket", "kind": "s3", "config": config})
    assert response.status_code == 422 and response.json()["error"]["code"] == "connection_failed"


def test_a_metadata_endpoint_is_refused(steward_api: Any) -> None:
    config = {"bucket": BUCKET, "endpoint_url": "http://169.254.169.254/latest"}
    response = steward_api.post("/api/v1/connections", {"name": "meta", "kind": "s3", "config": config})
    assert response.status_code == 422 and response.json()["error"]["code"] == "network_refused"


def _downloads() -> set[str]:
    return {path.name for path in Path(tempfile.gettempdir()).glob("bdt-s3-*")}


def test_a_file_over_the_upload_limit_is_refused_before_it_is_copied_and_nothing_is_left(
    steward_api: Any, make_study: Any, s3_server: str, bucket: Any, run_sync: Any, tenant_a: Any
) -> None:
    """A pull copied the whole object to the worker's disk before checking its size, read a Parquet file's columns by
    downloading all of it, and left that copy behind when the schema had drifted."""
    before = _downloads()
    config = {"bucket": BUCKET, "prefix": "exports/", "endpoint_url": s3_server}
    secret = {"access_key_id": "test", "secret_access_key": "test"}
    connection_id = steward_api.post(
        "/api/v1/connections", {"name": "big", "kind": "s3", "config": config, "secret": secret}
    ).json()["id"]
    make_study("big-study")
    syncs = {}
    for source, dataset, kind in (
        ("demographics.csv", "demographics", "demographics"),
        ("scores.parquet", "scores", "measure"),
    ):
        made = steward_api.post(
            "/api/v1/studies/big-study/syncs",
            {"connection": connection_id, "source": source, "dataset": dataset, "kind": kind},
        )
        assert made.status_code == 201, made.content
        syncs[dataset] = made.json()["id"]
        assert run_sync(syncs[dataset])["runs"][0]["status"] == "succeeded"
    sync_id = syncs["scores"]

    # The Parquet file drifts: its columns are read from its footer, and nothing is downloaded or left behind.
    wider = pa.table({"participant_id": ["p01"], "session": ["1"], "score": [1.0], "extra": [2.0]})
    buffer = io.BytesIO()
    pq.write_table(wider, buffer)
    bucket.put_object(Bucket=BUCKET, Key="exports/scores.parquet", Body=buffer.getvalue())
    assert run_sync(sync_id)["runs"][0]["status"] == "drift"
    assert _downloads() == before

    # Larger than the workspace's upload limit: refused from the size the server states, nothing copied.
    tenant_a.settings = {**(tenant_a.settings or {}), "upload_max_bytes": 64}
    tenant_a.save(update_fields=["settings"])
    big = b"participant_id,session,age,sex\n" + b"".join(b"p%05d,1,30,F\n" % i for i in range(2000))
    bucket.put_object(Bucket=BUCKET, Key="exports/demographics.csv", Body=big)
    refused = run_sync(syncs["demographics"])["runs"][0]
    assert refused["status"] == "failed" and refused["ingest"]["error"]["code"] == "source_too_large"
    assert "64 bytes" in refused["ingest"]["error"]["message"]
    assert _downloads() == before
