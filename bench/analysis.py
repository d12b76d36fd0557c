"""Statistics, plots and profiles of a 1M-row run result, over HTTP and on a real worker, vs a raw baseline.

Usage::

    .venv/bin/python bench/analysis.py [--participants 1000000] [--rounds 7] [--profiles 3]

Uses the bench study ``p<N>`` (generated and ingested like ``bench/counts.py`` does, if missing). Its ``BAS1``
session with demographics + 4 cognitive + 3 flanker columns is one row per participant: N rows (1M by default),
15 columns (9 numeric, 6 text).

1. **Run**: ``queries.services.query_run_create`` (``reuse=False`` unless ``--reuse-run``) sends the run to a real
   Celery worker (queue ``queries``, prefork, concurrency 1, ``--max-tasks-per-child 1`` so each task
   runs in a fresh child process whose peak RSS is the task's own); the script waits for it.
2. **Statistics and plots over HTTP**: gunicorn (1 sync worker), bearer token of the bench analyst, one new
   connection per request; ``POST /api/v1/queries/{id}/analysis`` for describe, ols, anova, ttests, crosstab and
   ``POST /api/v1/queries/{id}/plot`` for scatter (colour + trendline), histogram (KDE), box, violin, heatmap.
   ``--rounds`` interleaved rounds after one warm-up round; the client times the whole request.
3. **Raw baseline** of each request, in this process: ``pyarrow.parquet.read_table`` of the same columns, the same
   fixed-seed sample (numpy ``default_rng(42).choice``) for sampled kinds, then the scipy/numpy computation the
   answer is made of (crosstab: pyarrow ``group_by`` over every row + ``scipy.stats.chi2_contingency``). It has no
   JSON, Plotly figure, HTTP, access check or audit event, so "x raw" is the price of all of those.
4. **Profile jobs** end to end: ``POST /queries/{id}/profiles`` then ``GET /profiles/{id}`` every 0.2 s until it
   succeeded; the worker child's ``VmRSS`` / ``VmHWM`` are read from ``/proc`` every 20 ms while it runs.

Each answer's ``sample`` (rows, used, sampled, seed) is checked and reported: the statistics and figures use a
fixed-seed sample of ``analysis_sample_rows`` rows, crosstabs every row.
"""

from __future__ import annotations

import argparse
import itertools
import json
import os
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from common import (
    BENCH_ANALYST,
    BENCH_ENV,
    DATA,
    ROOT,
    bench_db_ensure,
    bench_tenant,
    django_setup,
    http_request,
    load,
    machine_facts,
    md_table,
    median,
    percentile,
    result_save,
    say,
    server,
    study_seed,
    study_slug,
    token_create,
)

RUN_SPEC: dict[str, Any] = {
    "sessions": ["BAS1"],
    "columns": {
        "cognitive": ["working_memory", "processing_speed", "attention_score", "note"],
        "flanker": ["rt_congruent", "accuracy", "interference"],
    },
    "shape": "long",
}

STATS: dict[str, dict[str, Any]] = {
    "describe": {"kind": "describe", "column": "working_memory"},
    "ols": {"kind": "ols", "x": "working_memory", "y": "processing_speed"},
    "anova": {"kind": "anova", "value": "working_memory", "group": "site"},
    "ttests": {"kind": "ttests", "value": "working_memory", "group": "site"},
    "crosstab": {"kind": "crosstab", "row": "sex", "column": "handedness"},
}
PLOTS: dict[str, dict[str, Any]] = {
    "scatter": {"kind": "scatter", "x": "working_memory", "y": "processing_speed", "color": "sex", "trendline": True},
    "histogram": {"kind": "histogram", "x": "working_memory", "kde": True, "bandwidth": "scott"},
    "box": {"kind": "box", "x": "handedness", "y": "working_memory"},
    "violin": {"kind": "violin", "x": "handedness", "y": "attention_score"},
    "heatmap": {"kind": "heatmap", "x": "rt_congruent", "y": "accuracy"},
}
SEED = 42
QUEUE = "queries"


# --- worker + /proc -------------------------------------------------------------------------------------------
def worker_start() -> subprocess.Popen[bytes]:
    """One Celery worker on ``queries`` (prefork, 1 child, a fresh child per task), bench environment."""
    from bdt_project.celery import app

    logs = DATA / "logs"
    logs.mkdir(parents=True, exist_ok=True)
    node = f"bench-queries-{os.getpid()}@localhost"
    log = open(logs / "worker-queries.log", "wb")  # noqa: SIM115 - closed with the process
    proc = subprocess.Popen(
        [sys.executable, "-m", "celery", "-A", "bdt_project", "worker", "-Q", QUEUE, "--pool", "prefork",
         "--concurrency", "1", "--max-tasks-per-child", "1", "--loglevel", "WARNING", "--without-gossip",
         "--without-mingle", "--without-heartbeat", "-n", node],
        cwd=ROOT, env={**os.environ, **BENCH_ENV}, stdout=log, stderr=subprocess.STDOUT,
    )  # fmt: skip
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError("the worker exited; see bench/data/logs/worker-queries.log")
        if app.control.ping(destination=[node], timeout=0.5):
            say(f"celery worker {node} ready (pid {proc.pid})")
            return proc
    proc.terminate()
    raise RuntimeError("the worker did not answer in 60 s")


def worker_stop(proc: subprocess.Popen[bytes]) -> None:
    proc.terminate()  # our own child, by its pid
    try:
        proc.wait(timeout=30)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


def children(pid: int) -> list[int]:
    """Process ids whose parent is ``pid`` (from /proc/<n>/stat)."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        if int(stat.rsplit(")", 1)[1].split()[1]) == pid:
            found.append(int(entry.name))
    return found


def memory_kb(pid: int) -> dict[str, int]:
    """``VmRSS`` and ``VmHWM`` (peak RSS) of a process in kB ({} once it is gone)."""
    try:
        lines = Path(f"/proc/{pid}/status").read_text().splitlines()
    except OSError:
        return {}
    return {k: int(v.split()[0]) for k, v in (line.split(":", 1) for line in lines) if k in ("VmRSS", "VmHWM")}


class RssWatch:
    """Samples VmRSS / VmHWM of every child of the worker every 20 ms in a thread; keeps the peak."""

    def __init__(self, worker_pid: int) -> None:
        self.worker_pid = worker_pid
        self.peak_kb = 0
        self.idle_kb = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, daemon=True)

    def __enter__(self) -> RssWatch:
        deadline = time.monotonic() + 10  # the child of the previous task may still be being replaced
        while time.monotonic() < deadline:  # a live child (an exited one has no VmRSS)
            pids = [pid for pid in children(self.worker_pid) if memory_kb(pid).get("VmRSS")]
            if pids:
                break
            time.sleep(0.05)
        self.idle_kb = max((memory_kb(pid).get("VmRSS", 0) for pid in pids), default=0)
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()

    def _loop(self) -> None:
        pids: list[int] = []
        last_scan = 0.0
        while not self._stop.is_set():
            if time.monotonic() - last_scan > 0.5:
                pids, last_scan = children(self.worker_pid), time.monotonic()
            for pid in pids:
                mem = memory_kb(pid)
                self.peak_kb = max(self.peak_kb, mem.get("VmRSS", 0), mem.get("VmHWM", 0))
            time.sleep(0.02)


# --- raw baseline ---------------------------------------------------------------------------------------------
def raw_baseline(path: Path, limit: int) -> dict[str, Callable[[], Any]]:
    """Each request's computation on pyarrow + numpy + scipy, without the platform (same sample, same seed)."""
    import numpy as np
    import pandas as pd
    import pyarrow as pa
    import pyarrow.parquet as pq
    from scipy import stats

    total = pq.ParquetFile(path).metadata.num_rows
    keys = None
    if total > limit:
        keys = np.sort(np.random.default_rng(SEED).choice(total, size=limit, replace=False))

    def read(*names: str) -> dict[str, Any]:
        table = pq.read_table(path, columns=list(dict.fromkeys(names)))
        if keys is not None:
            table = table.take(pa.array(keys))
        return {name: table.column(name).to_numpy(zero_copy_only=False) for name in names}

    def floats(values: Any) -> Any:
        return np.asarray(values, dtype=np.float64)

    def groups(value: str, group: str) -> list[Any]:
        data = read(value, group)
        frame = pd.DataFrame({"v": floats(data[value]), "g": data[group]}).dropna()
        return [part.to_numpy() for _, part in frame.groupby("g", sort=True)["v"]]

    def describe(name: str) -> Any:
        v = floats(read(name)[name])
        v = v[~np.isnan(v)]
        q = np.percentile(v, [25, 50, 75])
        anderson = stats.anderson(v, "norm", method="interpolate")  # Shapiro-Wilk: null above 5,000 values
        return v.mean(), v.std(ddof=1), v.var(ddof=1), stats.skew(v), stats.kurtosis(v), q, anderson

    def ols(x_name: str, y_name: str) -> Any:
        data = read(x_name, y_name)
        x, y = floats(data[x_name]), floats(data[y_name])
        keep = ~(np.isnan(x) | np.isnan(y))
        return stats.linregress(x[keep], y[keep])

    def ttests(value: str, group: str) -> Any:
        split = groups(value, group)
        return [stats.ttest_ind(a, b) for a, b in itertools.combinations(split, 2)]

    def crosstab(row: str, column: str) -> Any:
        table = pq.read_table(path, columns=[row, column])
        counts = table.group_by([row, column]).aggregate([([], "count_all")])
        rows, cols = counts.column(row).to_pylist(), counts.column(column).to_pylist()
        r_levels = sorted({r for r, c in zip(rows, cols, strict=True) if r is not None and c is not None})
        c_levels = sorted({c for r, c in zip(rows, cols, strict=True) if r is not None and c is not None})
        matrix = np.zeros((len(r_levels), len(c_levels)))
        for r, c, n in zip(rows, cols, counts.column("count_all").to_pylist(), strict=True):
            if r is not None and c is not None:
                matrix[r_levels.index(r), c_levels.index(c)] = n
        return stats.chi2_contingency(matrix, correction=False)

    def histogram(name: str) -> Any:
        v = floats(read(name)[name])
        v = v[~np.isnan(v)]
        kde = stats.gaussian_kde(v, bw_method="scott")
        grid = np.linspace(v.min(), v.max(), 300)
        return np.histogram(v, bins=30), kde(grid), describe(name)

    def box(category: str, value: str) -> Any:
        split = groups(value, category)
        return [np.percentile(g, [25, 50, 75]) for g in split], stats.f_oneway(*split), ttests(value, category)

    def heatmap(x_name: str, y_name: str) -> Any:
        data = read(x_name, y_name)
        x, y = floats(data[x_name]), floats(data[y_name])
        keep = ~(np.isnan(x) | np.isnan(y))
        return np.histogram2d(x[keep], y[keep], bins=30), stats.linregress(x[keep], y[keep])

    return {
        "describe": lambda: describe("working_memory"),
        "ols": lambda: ols("working_memory", "processing_speed"),
        "anova": lambda: stats.f_oneway(*groups("working_memory", "site")),
        "ttests": lambda: ttests("working_memory", "site"),
        "crosstab": lambda: crosstab("sex", "handedness"),
        "scatter": lambda: (ols("working_memory", "processing_speed"), read("sex")),
        "histogram": lambda: histogram("working_memory"),
        "box": lambda: box("handedness", "working_memory"),
        "violin": lambda: box("handedness", "attention_score"),
        "heatmap": lambda: heatmap("rt_congruent", "accuracy"),
    }


# --- main -----------------------------------------------------------------------------------------------------
def run_get(tenant: Any, n: int, *, fresh: bool, timeout: float = 900.0) -> Any:
    """The bench run, created through the service and executed by the worker (``fresh=False``: an identical
    finished run is reused)."""
    from django_tenants.utils import tenant_context

    from datasets.models import Study
    from queries.models import QueryRun, RunStatus
    from queries.services import query_run_create
    from tenants.models import User

    with tenant_context(tenant):
        study = Study.objects.get(slug=study_slug(n))
        actor = User.objects.get(email=BENCH_ANALYST)
        started = time.perf_counter()
        run = query_run_create(tenant=tenant, actor=actor, study=study, payload=RUN_SPEC, reuse=not fresh)
        reused = run.status == RunStatus.SUCCEEDED
        say(f"run {run.pk}: {'reused (already succeeded)' if reused else 'queued on the worker'}")
        deadline = time.monotonic() + timeout
        while run.status not in (RunStatus.SUCCEEDED, RunStatus.FAILED, RunStatus.CANCELLED):
            if time.monotonic() > deadline:
                raise RuntimeError(f"run {run.pk} still {run.status} after {timeout} s")
            time.sleep(0.5)
            run = QueryRun.objects.get(pk=run.pk)
        if run.status != RunStatus.SUCCEEDED:
            raise RuntimeError(f"run {run.pk} {run.status}: {run.error_code} {run.error_message}")
        seconds = None if reused else time.perf_counter() - started
        return run, seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--participants", type=int, default=1_000_000)
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--profiles", type=int, default=3)
    parser.add_argument("--reuse-run", action="store_true", help="reuse an identical finished run (no run timing)")
    args = parser.parse_args()
    n = args.participants

    django_setup()
    bench_db_ensure()
    study_seed(n)
    token = token_create()

    from core.config import config_get
    from queries.results import run_result_path

    tenant = bench_tenant()
    sample_rows = int(config_get("analysis_sample_rows", tenant))
    memory_limit = str(config_get("duckdb_memory_limit", tenant))
    worker = worker_start()
    try:
        with RssWatch(worker.pid) as run_watch:
            run, run_seconds = run_get(tenant, n, fresh=not args.reuse_run)
        from django_tenants.utils import tenant_context

        with tenant_context(tenant):
            path = run_result_path(run)
        say(f"run {run.pk}: {run.row_count:,} rows x {len(run.columns)} columns, {(run.result_size or 0) / 1e6:.1f} MB")
        requests = {**{k: ("analysis", v) for k, v in STATS.items()}, **{k: ("plot", v) for k, v in PLOTS.items()}}
        times: dict[str, list[float]] = {name: [] for name in requests}
        raw_times: dict[str, list[float]] = {name: [] for name in requests}
        sizes: dict[str, int] = {}
        samples: dict[str, Any] = {}
        loads: list[float] = []
        baseline = raw_baseline(path, sample_rows)
        profiles: list[dict[str, Any]] = []
        with server() as port:
            for r in range(-1, args.rounds):
                loads.append(os.getloadavg()[0])
                for name, (endpoint, body) in requests.items():
                    started = time.perf_counter()
                    status, answer = http_request(port, "POST", f"/api/v1/queries/{run.pk}/{endpoint}", body, token)
                    elapsed = time.perf_counter() - started
                    if status != 200:
                        raise RuntimeError(f"{name}: HTTP {status} {answer}")
                    started = time.perf_counter()
                    baseline[name]()
                    raw_elapsed = time.perf_counter() - started
                    if r >= 0:
                        times[name].append(elapsed)
                        raw_times[name].append(raw_elapsed)
                    sizes[name] = len(json.dumps(answer))
                    samples[name] = sample_check(name, answer.get("sample"), run.row_count, sample_rows)
                if r >= 0:
                    say(f"round {r + 1}/{args.rounds}: " + ", ".join(f"{k} {v[-1]:.2f}s" for k, v in times.items()))
            for i in range(args.profiles):
                profiles.append(profile_once(port, token, run.pk, worker.pid))
                profiles[-1]["raw_seconds"] = raw_profile(path, sample_rows)
                say(f"profile {i + 1}/{args.profiles}: {profiles[-1]['seconds']:.1f} s, "
                    f"peak RSS {profiles[-1]['peak_rss_mb']:.0f} MB")  # fmt: skip
    finally:
        worker_stop(worker)
    report(
        n,
        run,
        {"run_seconds": run_seconds, "run_peak_rss_mb": run_watch.peak_kb / 1024 if run_seconds else None},
        times,
        raw_times,
        sizes,
        samples,
        loads,
        profiles,
        {"analysis_sample_rows": sample_rows, "duckdb_memory_limit": memory_limit},
    )


def sample_check(name: str, sample: Any, rows: int, limit: int) -> Any:
    """The answer's ``sample``, which must say what it was computed on (crosstabs: every row)."""
    used = rows if name == "crosstab" else min(rows, limit)
    if not sample or sample["rows"] != rows or sample["used"] != used or sample["sampled"] != (used < rows):
        raise RuntimeError(f"{name}: unexpected sample {sample} (rows {rows}, limit {limit})")
    return sample


def raw_profile(path: Path, limit: int) -> float:
    """Seconds for a bare pandas profile of the same sample: describe, missing/distinct/top values, correlations,
    missingness patterns (the raw baseline of a profile job)."""
    import numpy as np
    import pyarrow as pa
    import pyarrow.parquet as pq

    started = time.perf_counter()
    table = pq.read_table(path)
    if table.num_rows > limit:
        table = table.take(pa.array(np.sort(np.random.default_rng(SEED).choice(table.num_rows, limit, replace=False))))
    frame = table.to_pandas()
    frame.describe(include="all")
    for column in frame.columns:
        frame[column].isna().sum(), frame[column].nunique(), frame[column].value_counts().head(10)
    numeric = frame.select_dtypes("number")
    numeric.corr("pearson"), numeric.corr("spearman")
    frame.isna().value_counts().head(10)
    return time.perf_counter() - started


def profile_once(port: int, token: str, run_id: int, worker_pid: int) -> dict[str, Any]:
    """One profile job over HTTP, polled to the end, with the worker child's peak RSS."""
    with RssWatch(worker_pid) as watch:
        started = time.perf_counter()
        status, job = http_request(port, "POST", f"/api/v1/queries/{run_id}/profiles", None, token)
        if status != 202:
            raise RuntimeError(f"profile: HTTP {status} {job}")
        progress = []
        while True:
            status, state = http_request(port, "GET", f"/api/v1/profiles/{job['id']}", None, token)
            progress.append(state["progress"])
            if state["status"] in ("succeeded", "failed"):
                break
            time.sleep(0.2)
        seconds = time.perf_counter() - started
    if state["status"] != "succeeded":
        raise RuntimeError(f"profile failed: {state}")
    status, report = http_request(port, "GET", f"/api/v1/profiles/{job['id']}/report.json", None, token)
    from django_tenants.utils import tenant_context

    from analysis.models import ProfileJob

    with tenant_context(bench_tenant()):
        done = ProfileJob.objects.get(pk=job["id"])
    return {
        "job": job["id"],
        "seconds": seconds,
        "queued_s": (done.started_at - done.created_at).total_seconds(),
        "worker_s": (done.finished_at - done.started_at).total_seconds(),
        "idle_rss_mb": watch.idle_kb / 1024,
        "peak_rss_mb": watch.peak_kb / 1024,
        "progress_seen": sorted(set(progress)),
        "sample": report["sample"],
        "report_bytes": len(json.dumps(report)),
    }


def report(
    n: int,
    run: Any,
    run_facts: dict[str, Any],
    times: dict[str, list[float]],
    raw_times: dict[str, list[float]],
    sizes: dict[str, int],
    samples: dict[str, Any],
    loads: list[float],
    profiles: list[dict[str, Any]],
    limits: dict[str, Any],
) -> None:
    def used(sample: Any) -> str:
        if not sample:
            return "?"
        return f"{sample['used']:,} of {sample['rows']:,}" + (" (sampled)" if sample.get("sampled") else " (all)")

    rows = []
    for name in times:
        endpoint = "analysis" if name in STATS else "plot"
        p50, raw = median(times[name]), median(raw_times[name])
        rows.append(
            [
                f"{endpoint} {name}",
                f"{p50 * 1000:.0f}",
                f"{percentile(times[name], 95) * 1000:.0f}",
                f"{raw * 1000:.0f}",
                f"{p50 / raw:.1f}x",
                used(samples[name]),
                f"{sizes[name] / 1e3:,.0f}",
            ]
        )
    print(f"\n{n:,} participants, BAS1; run {run.pk}: {run.row_count:,} rows x {len(run.columns)} columns, "
          f"{(run.result_size or 0) / 1e6:.1f} MB Parquet; limits {limits}")  # fmt: skip
    if run_facts["run_seconds"]:
        peak = run_facts["run_peak_rss_mb"]
        print(f"run on the worker: {run_facts['run_seconds']:.1f} s, child peak RSS {peak:.0f} MB")
    print(f"1-minute load during the rounds: median {median(loads):.2f} (min {min(loads):.2f}, max {max(loads):.2f})\n")
    headers = ["request", "p50 (ms)", "p95 (ms)", "raw p50 (ms)", "vs raw", "rows used", "answer (kB)"]
    print(md_table(headers, rows))
    if profiles:
        print()
        prow = [
            [p["job"], f"{p['seconds']:.1f}", f"{p['queued_s']:.1f}", f"{p['worker_s']:.2f}", f"{p['raw_seconds']:.2f}",
             f"{p['idle_rss_mb']:.0f}",
             f"{p['peak_rss_mb']:.0f}", used(p["sample"]), f"{p['report_bytes'] / 1e3:,.0f}", len(p["progress_seen"])]
            for p in profiles
        ]  # fmt: skip
        pheaders = ["profile job", "end to end (s)", "queued (s)", "on the worker (s)", "raw pandas (s)",
                    "child idle RSS (MB)", "child peak RSS (MB)",
                    "rows used", "report (kB)", "progress values seen"]  # fmt: skip
        print(md_table(pheaders, prow))
    out = result_save(
        f"analysis-p{n}",
        {
            "machine": machine_facts(),
            "participants": n,
            "spec": RUN_SPEC,
            "run": {"id": run.pk, "rows": run.row_count, "columns": run.columns, "bytes": run.result_size, **run_facts},
            "limits": limits,
            "requests": {**STATS, **PLOTS},
            "load_1min": {"median": median(loads), "min": min(loads), "max": max(loads), "samples": loads},
            "http": {k: {"p50_s": median(v), "p95_s": percentile(v, 95), "seconds": v} for k, v in times.items()},
            "raw": {k: {"p50_s": median(v), "seconds": v} for k, v in raw_times.items()},
            "answer_bytes": sizes,
            "samples": samples,
            "profiles": profiles,
        },
    )
    print(f"\nresults: {out.relative_to(ROOT)}  (load now {load()})")


if __name__ == "__main__":
    main()
