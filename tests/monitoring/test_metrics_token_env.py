"""``make run`` creates the metrics token once and keeps it in ``.env`` (the settings read it from there)."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

SCRIPTS = Path(__file__).resolve().parents[2] / "scripts"


@pytest.fixture
def devstack(monkeypatch: pytest.MonkeyPatch):  # type: ignore[no-untyped-def]
    monkeypatch.syspath_prepend(str(SCRIPTS))
    from devstack import common, discovery

    yield common, discovery
    for name in [module for module in sys.modules if module == "devstack" or module.startswith("devstack.")]:
        del sys.modules[name]


def test_the_token_is_generated_once_and_kept(devstack, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    common, discovery = devstack
    paths = common.Paths(root=tmp_path, state=tmp_path / ".bdt", env_file=tmp_path / ".env")
    postgres = common.Service("PostgreSQL", "postgres://postgres@127.0.0.1:5432/bdt", "local", "local")
    redis = common.Service("Redis", "redis://127.0.0.1:6379/0", "local", "local")
    paths.env_file.write_text("# mine\nBDT_QUERY_TIMEOUT_SECONDS=60\n", encoding="utf-8")

    discovery.choice_persist(paths, postgres, redis)
    token = common.env_file_read(paths.env_file)["BDT_METRICS_TOKEN"]
    assert len(token) >= 40

    discovery.choice_persist(paths, postgres, redis)  # the next `make run`
    kept = common.env_file_read(paths.env_file)
    assert kept["BDT_METRICS_TOKEN"] == token
    assert kept["BDT_QUERY_TIMEOUT_SECONDS"] == "60"


def test_the_metrics_directory_is_emptied_at_start(devstack, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    common, _ = devstack
    paths = common.Paths(root=tmp_path, state=tmp_path / ".bdt", env_file=tmp_path / ".env")
    stale = paths.state / "metrics" / "counter_host-123.db"
    stale.parent.mkdir(parents=True)
    stale.write_bytes(b"\0" * 16)
    common.metrics_dir_reset(paths, {})
    assert not stale.exists()
