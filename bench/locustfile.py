"""Simulated users of the load benchmark (run by ``bench/load.py``; see bench/README.md).

``Builder`` is a researcher at the query builder: mostly live counts while they change filters (each edit counts
again), now and then a page of their finished run (preview), a run of their own (queued, then polled) and a CSV
export. ``HealthProbe`` asks ``/api/v1/health`` twice a second, as a load balancer would; ``Uploader`` (a steward)
adds a small measure table every few seconds and waits for its ingest. Every user has its own personal access token
(per-user limits apply per user, as in real use).

Configuration comes from the JSON file named by ``BENCH_LOAD_CONFIG`` (written by ``bench/load.py``): the tenant
host, study slug, tokens, each builder's finished run, and the task weights.
"""

from __future__ import annotations

import itertools
import json
import os
import random
import time
from typing import Any

from locust import HttpUser, between, constant, task

CONFIG: dict[str, Any] = json.loads(open(os.environ["BENCH_LOAD_CONFIG"], encoding="utf-8").read())  # noqa: SIM115
WEIGHTS: dict[str, int] = CONFIG["weights"]
_user_numbers = itertools.count()
SITES = ("Discovery", "Longitudinal_Adult", "Neurofeedback", "Longitudinal_Child")
FINISHED = {"succeeded", "failed", "cancelled"}


def builder_spec(rng: random.Random) -> dict[str, Any]:
    """A spec as someone typing in the builder leaves it: an age range, sometimes a site, sex or a score bound."""
    low = rng.randint(8, 60)
    spec: dict[str, Any] = {
        "filters": [
            {"dataset": "demographics", "column": "age", "op": "between", "value": [low, low + rng.randint(5, 30)]}
        ]
    }
    if rng.random() < 0.5:
        spec["sites"] = [rng.choice(SITES)]
    if rng.random() < 0.4:
        spec["filters"].append({"dataset": "demographics", "column": "sex", "op": "in", "value": [rng.choice("FM")]})
    if rng.random() < 0.5:
        bound = round(rng.uniform(80, 120), 1)
        spec["filters"].append({"dataset": "cognitive", "column": "working_memory", "op": "gte", "value": bound})
    if rng.random() < 0.3:
        spec["sessions"] = [rng.choice(("BAS1", "BAS2", "FU1"))]
    return spec


class Builder(HttpUser):
    """A researcher building a cohort (think time between edits 0.5-2 s)."""

    wait_time = between(0.5, 2.0)
    weight = 20

    def on_start(self) -> None:
        number = next(_user_numbers)
        self.number = number
        self.rng = random.Random(1000 + number)
        self.client.headers.update(
            {"Host": CONFIG["host"], "Authorization": f"Bearer {CONFIG['tokens'][number % len(CONFIG['tokens'])]}"}
        )
        self.study = CONFIG["study"]
        self.run_id = CONFIG["run_ids"][number % len(CONFIG["run_ids"])]  # runs are private to their author

    @task(WEIGHTS["count"])
    def count(self) -> None:
        self.client.post(f"/api/v1/studies/{self.study}/count", json=builder_spec(self.rng), name="count")

    @task(WEIGHTS["preview"])
    def preview(self) -> None:
        page = self.rng.randint(1, 20)
        self.client.get(f"/api/v1/queries/{self.run_id}/rows?page={page}&page_size=100", name="preview (rows)")

    @task(WEIGHTS["run"])
    def submit_run(self) -> None:
        spec = builder_spec(self.rng)
        spec["columns"] = {"demographics": ["age", "sex"], "cognitive": ["working_memory", "processing_speed"]}
        with self.client.post(
            f"/api/v1/studies/{self.study}/queries", json=spec, name="run (submit)", catch_response=True
        ) as response:
            if response.status_code != 202:
                response.failure(f"run not accepted: {response.status_code} {response.text[:200]}")
                return
            run_id = response.json()["id"]
        deadline = time.monotonic() + CONFIG["run_wait_seconds"]
        while time.monotonic() < deadline:
            with self.client.get(f"/api/v1/queries/{run_id}", name="run (poll)", catch_response=True) as poll:
                status = poll.json().get("status") if poll.status_code == 200 else None
                if status in FINISHED:
                    if status != "succeeded":
                        poll.failure(f"run {run_id} {status}: {poll.json().get('error')}")
                    return
            time.sleep(0.5)

    @task(WEIGHTS["export"])
    def export(self) -> None:
        self.client.get(f"/api/v1/queries/{self.run_id}/export?format=csv&purpose=load+benchmark", name="export (csv)")


class Uploader(HttpUser):
    """A data manager (steward) adding a small measure table now and then; the ingest runs on the worker."""

    wait_time = constant(CONFIG["upload_every_seconds"])
    fixed_count = 1

    def on_start(self) -> None:
        self.rng = random.Random(7)
        self.client.headers.update({"Host": CONFIG["host"], "Authorization": f"Bearer {CONFIG['steward_token']}"})

    @task
    def upload(self) -> None:
        rows = "".join(f"{i:07d},BAS1,{self.rng.randint(0, 40)}\n" for i in range(1, 201))
        body = ("participant_id,session,score\n" + rows).encode()
        with self.client.post(
            f"/api/v1/studies/{CONFIG['study']}/datasets",
            data={"name": "load_upload", "kind": "measure"},
            files={"file": ("scores.csv", body, "text/csv")},
            name="upload",
            catch_response=True,
        ) as response:
            if response.status_code != 202:
                response.failure(f"upload refused: {response.status_code} {response.text[:200]}")
                return
            ingest = response.json()["ingest"]["id"]
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            with self.client.get(f"/api/v1/ingests/{ingest}", name="upload (poll)", catch_response=True) as poll:
                status = poll.json().get("status") if poll.status_code == 200 else None
                if status in FINISHED:
                    if status != "succeeded":
                        poll.failure(f"ingest {ingest} {status}: {poll.json().get('error')}")
                    return
            time.sleep(0.5)


class HealthProbe(HttpUser):
    """A load balancer's health check."""

    wait_time = constant(0.5)
    fixed_count = 1

    @task
    def health(self) -> None:
        self.client.get("/api/v1/health", name="health", headers={"Host": CONFIG["host"]})
