"""``bdt studies``, ``bdt datasets``, ``bdt upload``."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import click

from bdt_client.cli.app import cli, echo_json, note, settings, table
from bdt_client.studies import Progress


@cli.command()
@click.option("--json", "as_json", is_flag=True, help="Print the studies as JSON.")
@click.pass_context
def studies(ctx: click.Context, as_json: bool) -> None:
    """The studies of the workspace."""
    found = settings(ctx).client().studies.list()
    if as_json:
        echo_json([study.raw for study in found])
        return
    if not found:
        click.echo("No studies yet.")
        return
    table(
        [
            (s.slug, s.name, "longitudinal" if s.longitudinal else "cross-sectional", s.demographics or "-")
            for s in found
        ],
        ["study", "name", "design", "demographics"],
    )


@cli.command()
@click.argument("study")
@click.option("--json", "as_json", is_flag=True, help="Print the datasets as JSON.")
@click.pass_context
def datasets(ctx: click.Context, study: str, as_json: bool) -> None:
    """The datasets of STUDY with their latest version."""
    found = settings(ctx).client().datasets.list(study)
    if as_json:
        echo_json([dataset.raw for dataset in found])
        return
    if not found:
        click.echo(f"No datasets in {study} yet.")
        return
    rows = []
    for dataset in found:
        latest = dataset.latest_version
        rows.append(
            (
                dataset.name,
                dataset.kind,
                latest.number if latest else "-",
                latest.row_count if latest else "-",
                len(latest.columns) if latest else "-",
            )
        )
    table(rows, ["dataset", "kind", "version", "rows", "columns"])


class _Bars:
    """Two progress bars on stderr: bytes sent, then the platform's ingest progress."""

    def __init__(self, show: bool) -> None:
        self.show = show
        self.upload: Any = None
        self.ingest: Any = None
        self.upload_done = 0
        self.ingest_done = 0

    def __call__(self, progress: Progress) -> None:
        if not self.show:
            return
        if progress.phase == "upload":
            if self.upload is None:
                self.upload = click.progressbar(length=progress.bytes_total or 1, label="Uploading", file=sys.stderr)
                self.upload.__enter__()
            self.upload.update(progress.bytes_sent - self.upload_done)
            self.upload_done = progress.bytes_sent
            return
        if self.upload is not None:
            self.upload.__exit__(None, None, None)
            self.upload = None
        if self.ingest is None:
            self.ingest = click.progressbar(length=100, label="Ingesting", file=sys.stderr)
            self.ingest.__enter__()
        percent = int(progress.fraction * 100)
        if percent > self.ingest_done:
            self.ingest.update(percent - self.ingest_done)
            self.ingest_done = percent

    def close(self) -> None:
        for bar in (self.upload, self.ingest):
            if bar is not None:
                bar.__exit__(None, None, None)
        self.upload = self.ingest = None


@cli.command()
@click.argument("study")
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--name", help="Dataset name (a slug); an existing name adds a version. Default: from the file name.")
@click.option("--kind", type=click.Choice(["demographics", "measure"]), default="measure", show_default=True)
@click.option("--title", default="", help="A human title for a new dataset.")
@click.option("--note", "version_note", default="", help="A note stored with the version.")
@click.option("--delimiter", default="auto", show_default=True, help="auto, ',', ';', 'tab' or '|'.")
@click.option("--encoding", default="", help="The file's text encoding (default: detected).")
@click.option("--wait/--no-wait", default=True, show_default=True, help="Follow the ingest to its end.")
@click.option("--timeout", "wait_timeout", type=float, help="Stop waiting after this many seconds.")
@click.option("--progress/--no-progress", default=None, help="Progress bars (default: when stderr is a terminal).")
@click.option("--json", "as_json", is_flag=True, help="Print the ingest job as JSON.")
@click.pass_context
def upload(
    ctx: click.Context,
    study: str,
    file: Path,
    name: str | None,
    kind: str,
    title: str,
    version_note: str,
    delimiter: str,
    encoding: str,
    wait: bool,
    wait_timeout: float | None,
    progress: bool | None,
    as_json: bool,
) -> None:
    """Upload a CSV FILE to STUDY (a new dataset, or a new version of --name) and follow its ingest."""
    show = progress if progress is not None else sys.stderr.isatty()
    bars = _Bars(show)
    try:
        job = (
            settings(ctx)
            .client()
            .datasets.upload(
                study,
                file,
                name=name,
                kind=kind,  # type: ignore[arg-type]
                title=title,
                note=version_note,
                delimiter=delimiter,
                encoding=encoding,
                wait=wait,
                timeout=wait_timeout,
                progress=bars,
            )
        )
    finally:
        bars.close()
    if as_json:
        echo_json(job.raw)
        return
    if not wait:
        click.echo(f"Ingest {job.id} of dataset {job.dataset} is {job.status}.")
        return
    click.echo(f"Dataset {job.dataset}: version {job.version} registered (ingest {job.id}).")
    for warning in job.warnings:
        note(f"warning: {warning.get('message', warning)}")
