"""``make test`` runs the whole suite as shards side by side: every test directory runs in exactly one shard, each
shard has a database, a Redis database and (test settings) folders of its own, and a failure in any shard fails the
run with its output shown."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType

import pytest

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def shards(monkeypatch: pytest.MonkeyPatch) -> Iterator[ModuleType]:
    monkeypatch.syspath_prepend(str(ROOT / "scripts"))
    from devstack import shards as shards_module

    yield shards_module
    for name in [module for module in sys.modules if module == "devstack" or module.startswith("devstack.")]:
        del sys.modules[name]


def test_every_test_directory_of_the_suite_runs_in_exactly_one_shard(shards: ModuleType) -> None:
    directories = shards.test_directories(ROOT)
    holding_tests = {
        f"tests/{path.relative_to(ROOT / 'tests').parts[0]}" for path in (ROOT / "tests").rglob("test_*.py")
    }
    assert set(directories) == holding_tests and "tests/queries_core" in directories
    for count in (1, 2, 3):
        dealt = shards.deal(directories, count)
        flat = [path for shard in dealt for path in shard]
        assert sorted(flat) == sorted(directories) and len(dealt) == count


def test_the_shards_are_balanced_by_measured_time(shards: ModuleType) -> None:
    def seconds(paths: list[str]) -> float:
        return sum(shards.DIRECTORY_SECONDS.get(Path(path).name, shards.UNKNOWN_SECONDS) for path in paths)

    first, second = shards.deal(shards.test_directories(ROOT), 2)
    total = seconds(first) + seconds(second)
    assert abs(seconds(first) - seconds(second)) <= 0.1 * total, (first, second)
    assert ("tests/queries_core" in first) != ("tests/e2e" in first)  # the two longest are kept apart


def test_each_shard_has_a_database_and_a_redis_database_of_its_own(shards: ModuleType) -> None:
    env = {"DATABASE_URL": "postgres://postgres@127.0.0.1:5432/bdt_ci", "BDT_TEST_REDIS_URL": "redis://h:6379/15"}
    plans = [shards.shard_env(env, number) for number in (1, 2, 3)]
    assert plans[0] == env
    assert [plan["DATABASE_URL"].rsplit("/", 1)[1] for plan in plans] == ["bdt_ci", "bdt_ci_shard2", "bdt_ci_shard3"]
    assert [plan["BDT_TEST_REDIS_URL"] for plan in plans] == [
        "redis://h:6379/15",
        "redis://h:6379/14",
        "redis://h:6379/13",
    ]
    wrapped = shards.shard_env({**env, "BDT_TEST_REDIS_URL": "redis://h:6379/0"}, 2)
    assert wrapped["BDT_TEST_REDIS_URL"] == "redis://h:6379/15"
    assert wrapped["DATABASE_URL"] == "postgres://postgres@127.0.0.1:5432/bdt_ci_shard2"


def test_the_test_settings_give_each_database_its_own_folders() -> None:
    code = (
        "from django.conf import settings as s; "
        "print('|'.join(str(p) for p in "
        "(s.MEDIA_ROOT, s.BDT_CACHE_DIR, s.BDT_WORK_DIR, s.TEST_LOG_DIR, s.METRICS_DIR)))"
    )
    folders = []
    for database in ("bdt_one", "bdt_one_shard2"):
        env = {
            "PATH": "/usr/bin:/bin",
            "DJANGO_SETTINGS_MODULE": "bdt_project.settings.test",
            "DATABASE_URL": f"postgres://postgres@127.0.0.1:5432/{database}",
            "BDT_ENV_FILE": "/nonexistent/.env",
        }
        done = subprocess.run(
            [sys.executable, "-c", f"import django; django.setup(); {code}"],
            cwd=ROOT, env=env, capture_output=True, text=True, timeout=120, check=False,
        )  # fmt: skip
        assert done.returncode == 0, done.stderr[-2000:]
        folders.append(done.stdout.strip().splitlines()[-1].split("|"))
    for one, two in zip(*folders, strict=True):
        assert one != two and one.endswith("bdt_one") and two.endswith("bdt_one_shard2")


def test_a_failing_shard_fails_the_run_and_its_output_is_shown(
    shards: ModuleType, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "tests" / "good").mkdir(parents=True)
    (tmp_path / "tests" / "bad").mkdir()
    (tmp_path / "tests" / "good" / "test_good.py").write_text("def test_fine():\n    assert True\n")
    broken = "def test_broken():\n    assert 1 == 2, 'shard two broke'\n"
    (tmp_path / "tests" / "bad" / "test_bad.py").write_text(broken)
    (tmp_path / "pytest.ini").write_text("[pytest]\naddopts = -p no:cacheprovider -p no:django\n")
    env = {"PATH": "/usr/bin:/bin", "DATABASE_URL": "postgres://h/db", "BDT_TEST_REDIS_URL": "redis://h:6379/15"}
    plan = shards.shards_plan(tmp_path, tmp_path / "logs", env, 2)
    assert sorted(path for shard in plan for path in shard.paths) == ["tests/bad", "tests/good"]

    code = shards.shards_run(plan, tmp_path, [], report_every=0.5)

    assert code == 1
    out = capsys.readouterr().out
    assert "shard two broke" in out and "1 passed" in out and "1 failed" in out
    ending = out[out.index("exited with") :]  # the end of the output names the failure again
    assert "FAILED tests/bad/test_bad.py::test_broken" in ending
    measured = shards.measured_seconds(sorted((tmp_path / "logs").glob("shard-*.xml")))
    assert set(measured) == {"good", "bad"} and all(seconds >= 0 for seconds in measured.values())
    good = shards.shards_plan(tmp_path, tmp_path / "logs", env, 1)
    good[0].paths = ["tests/good"]
    assert shards.shards_run(good, tmp_path, []) == 0
