"""The `bdt` command end to end (a subprocess against the live server and the real worker)."""

from __future__ import annotations

import json
import signal
import stat
import uuid
import zipfile
from pathlib import Path
from typing import Any

import pyarrow.parquet as pq
import pytest

from tests.client.conftest import COHORT_SPEC, BdtCli, CliResult, Cohort, queued_run_create

pytestmark = pytest.mark.worker


@pytest.fixture
def spec_file(tmp_path: Path) -> Path:
    path = tmp_path / "spec.json"
    path.write_text(json.dumps(COHORT_SPEC), encoding="utf-8")
    return path


def _ok(result: CliResult) -> CliResult:
    assert result.code == 0, f"exit {result.code}\nstdout: {result.out}\nstderr: {result.err}"
    return result


def test_login_then_studies_count_run_and_export(
    celery_worker: Any, bdt_cli: Any, make_client_member: Any, workspace_url: str, cohort: Cohort, spec_file: Path
) -> None:
    member = make_client_member("analyst")
    login = _ok(bdt_cli("--url", workspace_url, "login", "--token-stdin", stdin=member.token + "\n"))
    assert f"as {member.email}, role analyst" in login.out
    config = Path(login.err.split(" to ")[1].split(" (")[0])
    assert stat.S_IMODE(config.stat().st_mode) == 0o600 and member.token in config.read_text()

    assert cohort.slug in _ok(bdt_cli("studies")).out  # from the saved profile alone
    assert member.email in _ok(bdt_cli("whoami")).out

    counted = _ok(bdt_cli("count", cohort.slug, str(spec_file))).out.splitlines()
    participants = len({pid for pid, _ in cohort.expected_keys})
    assert counted == [f"participants: {participants}", f"rows: {len(cohort.expected_keys)}"]
    as_json = json.loads(_ok(bdt_cli("count", cohort.slug, "-", "--json", stdin=json.dumps(COHORT_SPEC))).out)
    assert as_json["participants"] == participants

    out = spec_file.parent / "cohort.parquet"
    ran = _ok(bdt_cli("run", cohort.slug, str(spec_file), "--wait", "--out", str(out), "--purpose", "cli test"))
    assert f"{len(cohort.expected_keys)} rows" in ran.out and f"Wrote {out}" in ran.err
    table = pq.read_table(out)
    assert {(r["participant_id"], r["session"]) for r in table.to_pylist()} == cohort.expected_keys

    csv_out = spec_file.parent / "cohort.csv"
    _ok(bdt_cli("run", cohort.slug, str(spec_file), "--out", str(csv_out), "--purpose", "cli test csv"))
    assert len(csv_out.read_text(encoding="utf-8").splitlines()) == len(cohort.expected_keys) + 1

    run_id = _ok(bdt_cli("run", cohort.slug, str(spec_file))).out.strip()  # no wait: the run id alone
    assert run_id.isdigit()
    bundle = spec_file.parent / "bundle.zip"
    _ok(bdt_cli("run", cohort.slug, str(spec_file), "--wait"))
    _ok(bdt_cli("export", run_id, "--out", str(bundle), "--purpose", "cli test bundle"))
    with zipfile.ZipFile(bundle) as archive:
        assert json.loads(archive.read("manifest.json"))["purpose"] == "cli test bundle"

    assert "Removed profile 'default'" in _ok(bdt_cli("logout")).out
    assert bdt_cli("studies").code == 3


def test_upload_shows_progress_and_registers_a_version(
    celery_worker: Any, bdt_cli: Any, make_client_member: Any, workspace_url: str, tmp_path: Path
) -> None:
    steward = make_client_member("steward")
    env = {"BDT_URL": workspace_url, "BDT_TOKEN": steward.token}
    study = f"cli-{uuid.uuid4().hex[:6]}"
    from bdt_client import Client

    with Client(workspace_url, steward.token) as client:
        client.studies.create(study, "CLI upload", id_column="participant_id")
    source = tmp_path / "people.csv"
    source.write_text("participant_id,age\n" + "".join(f"Q{i:04d},{20 + i % 50}\n" for i in range(3000)), "utf-8")
    uploaded = _ok(bdt_cli("upload", study, str(source), "--kind", "demographics", "--progress", env=env))
    assert "Dataset people: version 1 registered" in uploaded.out
    assert "Uploading" in uploaded.err and "Ingesting" in uploaded.err
    listed = _ok(bdt_cli("datasets", study, env=env)).out
    assert "people" in listed and "3000" in listed


def test_errors_are_explained_with_exit_codes(
    bdt_cli: Any, make_client_member: Any, workspace_url: str, cohort: Cohort, spec_file: Path
) -> None:
    member = make_client_member("analyst")
    env = {"BDT_URL": workspace_url, "BDT_TOKEN": member.token}

    not_signed_in = bdt_cli("studies")
    assert not_signed_in.code == 3 and "bdt login" in not_signed_in.err

    bad_token = bdt_cli("studies", env={**env, "BDT_TOKEN": "bdt_wrong"})
    assert bad_token.code == 3 and "not_authenticated (HTTP 401)" in bad_token.err

    missing = bdt_cli("count", "no-such-study", str(spec_file), env=env)
    assert missing.code == 4 and "not_found (HTTP 404)" in missing.err

    broken = spec_file.parent / "broken.json"
    broken.write_text('{"filters": [', encoding="utf-8")
    unreadable = bdt_cli("count", cohort.slug, str(broken), env=env)
    assert unreadable.code == 2 and "is not valid JSON" in unreadable.err

    unknown = spec_file.parent / "unknown.json"
    unknown.write_text(json.dumps({"filters": [{"dataset": "memory", "column": "iq", "op": "gt", "value": 1}]}))
    refused = bdt_cli("count", cohort.slug, str(unknown), env=env)
    assert refused.code == 1 and "unknown_column (HTTP 422)" in refused.err and "iq" in refused.err

    no_purpose = bdt_cli("run", cohort.slug, str(spec_file), "--out", "x.parquet", env=env)
    assert no_purpose.code == 2 and "--purpose" in no_purpose.err
    odd_suffix = bdt_cli("run", cohort.slug, str(spec_file), "--out", "x.xlsx", "--purpose", "p", env=env)
    assert odd_suffix.code == 2 and ".parquet" in odd_suffix.err

    forbidden = bdt_cli("upload", cohort.slug, str(spec_file), "--name", "x", env=env)
    assert forbidden.code == 4 and "HTTP 403" in forbidden.err


def test_wait_times_out_and_ctrl_c_cancels_the_run(
    bdt_cli: BdtCli,
    make_client_member: Any,
    workspace_url: str,
    cohort: Cohort,
    client_tenant: Any,
    django_db_blocker: Any,
) -> None:
    member = make_client_member("analyst")
    env = {"BDT_URL": workspace_url, "BDT_TOKEN": member.token}
    run_id = queued_run_create(client_tenant, django_db_blocker, member, cohort.slug)  # no worker will take it

    timed_out = bdt_cli("wait", str(run_id), "--timeout", "0.5", env=env)
    assert timed_out.code == 6 and f"run {run_id} is still queued" in timed_out.err

    waiting = bdt_cli.start("wait", str(run_id), env=env)
    assert waiting.stderr is not None
    assert waiting.stderr.readline().startswith(f"Waiting for run {run_id}")
    waiting.send_signal(signal.SIGINT)
    _, err = waiting.communicate(timeout=120)
    assert waiting.returncode == 130, err
    assert f"Run {run_id}: cancelled" in err

    from bdt_client import Client

    with Client(workspace_url, member.token) as client:
        assert client.queries.get(run_id).status == "cancelled"
