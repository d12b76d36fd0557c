"""``bdt count``, ``bdt run``, ``bdt export``, ``bdt cancel``."""

from __future__ import annotations

from pathlib import Path

import click

from bdt_client.cli.app import EXIT_INTERRUPTED, cli, echo_json, load_json_file, note, settings
from bdt_client.client import Client
from bdt_client.errors import BdtError
from bdt_client.queries import Run, export_format_for
from bdt_client.transport import Download

FORMATS = click.Choice(["csv", "parquet", "zip"])


@cli.command()
@click.argument("study")
@click.argument("spec", metavar="SPEC.json")
@click.option("--json", "as_json", is_flag=True, help="Print the answer as JSON.")
@click.pass_context
def count(ctx: click.Context, study: str, spec: str, as_json: bool) -> None:
    """Count the participants (and participant-sessions) of STUDY matching the QuerySpec in SPEC.json ('-': stdin)."""
    result = settings(ctx).client().count(study, load_json_file(spec))
    if as_json:
        echo_json(result.raw)
        return
    if result.suppressed:
        click.echo(f"participants: fewer than {result.threshold} (suppressed)")
        return
    click.echo(f"participants: {result.participants}")
    click.echo(f"rows: {result.rows}")


def _check_out(out: Path | None, fmt: str | None, purpose: str | None) -> None:
    """An output file needs a known format and a purpose: reported as usage errors before anything runs."""
    if out is None:
        return
    try:
        export_format_for(out, fmt)
    except BdtError as exc:
        raise click.UsageError(str(exc)) from exc
    if not purpose:
        raise click.UsageError("Exports are recorded with their purpose: add --purpose 'what the data is for'.")


def _export(client: Client, run_id: int, out: Path, purpose: str, fmt: str | None) -> Download:
    download = client.queries.export(run_id, out, purpose=purpose, format=fmt)  # type: ignore[arg-type]
    note(f"Wrote {download.path} ({download.size:,} bytes, sha256 {download.sha256}).")
    return download


def _wait(client: Client, run: Run, timeout: float | None) -> Run:
    """Wait for the run, showing its status changes; Ctrl-C cancels it."""
    seen: list[str] = [run.status]

    def show(state: Run) -> None:
        if state.status != seen[-1]:
            seen.append(state.status)
            note(f"Run {state.id}: {state.status}")

    try:
        note(f"Waiting for run {run.id} (Ctrl-C cancels it) ...")
        return client.queries.wait(run.id, timeout=timeout, on_update=show)
    except KeyboardInterrupt:
        note(f"Cancelling run {run.id} ...")
        cancelled = client.queries.cancel(run.id)
        note(f"Run {run.id}: {cancelled.status}")
        raise SystemExit(EXIT_INTERRUPTED) from None


def _finish(
    client: Client,
    run: Run,
    *,
    out: Path | None,
    fmt: str | None,
    purpose: str | None,
    timeout: float | None,
    as_json: bool,
) -> None:
    """Wait for a run, download it if asked, and say how it ended."""
    finished = _wait(client, run, timeout)
    if out is not None:
        _export(client, finished.id, out, purpose or "", fmt)
    if as_json:
        echo_json(finished.raw)
        return
    click.echo(f"Run {finished.id} succeeded: {finished.row_count} rows, {len(finished.columns)} columns.")


@cli.command()
@click.argument("study")
@click.argument("spec", metavar="SPEC.json")
@click.option("--wait/--no-wait", default=False, help="Wait until the run has finished (implied by --out).")
@click.option("--out", type=click.Path(dir_okay=False, path_type=Path), help="Download the result to this file.")
@click.option("--format", "fmt", type=FORMATS, help="Export format (default: from the --out suffix).")
@click.option("--purpose", help="What the exported data is for (recorded in the audit trail; needed with --out).")
@click.option("--timeout", "wait_timeout", type=float, help="Stop waiting after this many seconds (the run goes on).")
@click.option("--json", "as_json", is_flag=True, help="Print the run as JSON.")
@click.pass_context
def run(
    ctx: click.Context,
    study: str,
    spec: str,
    wait: bool,
    out: Path | None,
    fmt: str | None,
    purpose: str | None,
    wait_timeout: float | None,
    as_json: bool,
) -> None:
    """Run the QuerySpec in SPEC.json ('-': stdin) on STUDY; with --out, wait and download the result.

    \b
    Examples:
      bdt run demo cohort.json --wait
      bdt run demo cohort.json --out cohort.parquet --purpose "grant 123 analysis"
    """
    query = load_json_file(spec)
    _check_out(out, fmt, purpose)
    client = settings(ctx).client()
    submitted = client.queries.submit(study, query)
    note(f"Run {submitted.id}: {submitted.status}")
    if not (wait or out is not None):
        if as_json:
            echo_json(submitted.raw)
        else:
            click.echo(submitted.id)
        return
    _finish(client, submitted, out=out, fmt=fmt, purpose=purpose, timeout=wait_timeout, as_json=as_json)


@cli.command()
@click.argument("run_id", type=int)
@click.option("--out", type=click.Path(dir_okay=False, path_type=Path), help="Download the result to this file.")
@click.option("--format", "fmt", type=FORMATS, help="Export format (default: from the --out suffix).")
@click.option("--purpose", help="What the exported data is for (recorded in the audit trail; needed with --out).")
@click.option("--timeout", "wait_timeout", type=float, help="Stop waiting after this many seconds (the run goes on).")
@click.option("--json", "as_json", is_flag=True, help="Print the run as JSON.")
@click.pass_context
def wait(
    ctx: click.Context,
    run_id: int,
    out: Path | None,
    fmt: str | None,
    purpose: str | None,
    wait_timeout: float | None,
    as_json: bool,
) -> None:
    """Wait for run RUN_ID (e.g. one started with `bdt run` without --wait); Ctrl-C cancels it."""
    _check_out(out, fmt, purpose)
    client = settings(ctx).client()
    _finish(
        client, client.queries.get(run_id), out=out, fmt=fmt, purpose=purpose, timeout=wait_timeout, as_json=as_json
    )


@cli.command()
@click.argument("run_id", type=int)
@click.option("--out", required=True, type=click.Path(dir_okay=False, path_type=Path), help="File to write.")
@click.option("--format", "fmt", type=FORMATS, help="Export format (default: from the --out suffix).")
@click.option("--purpose", help="What the exported data is for (recorded in the audit trail).")
@click.pass_context
def export(ctx: click.Context, run_id: int, out: Path, fmt: str | None, purpose: str | None) -> None:
    """Download the result of run RUN_ID as csv, parquet or zip (data + dictionary + report + manifest)."""
    _check_out(out, fmt, purpose)
    _export(settings(ctx).client(), run_id, out, purpose or "", fmt)


@cli.command()
@click.argument("run_id", type=int)
@click.pass_context
def cancel(ctx: click.Context, run_id: int) -> None:
    """Cancel run RUN_ID (answers once the engine has stopped)."""
    cancelled = settings(ctx).client().queries.cancel(run_id)
    click.echo(f"Run {cancelled.id}: {cancelled.status}")
