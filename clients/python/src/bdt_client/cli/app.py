"""The ``bdt`` command group, its global options, error reporting and exit codes."""

from __future__ import annotations

import json
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import click

from bdt_client.client import Client
from bdt_client.errors import (
    ApiError,
    AuthenticationFailed,
    BdtError,
    ConfigurationError,
    JobError,
    NotFound,
    PermissionDenied,
    RateLimited,
    ServiceUnavailable,
    TransportError,
    WaitTimeout,
)
from bdt_client.version import __version__

EXIT_OK = 0
EXIT_ERROR = 1  # the platform refused the request (invalid input, conflict, ...) or another error
EXIT_USAGE = 2  # bad command line or unreadable input file
EXIT_AUTH = 3  # not signed in, or the token was refused
EXIT_ACCESS = 4  # no access, or not found
EXIT_JOB = 5  # the run or ingest failed or was cancelled
EXIT_TIMEOUT = 6  # still running when --timeout passed
EXIT_UNAVAILABLE = 7  # platform unreachable, busy or rate limited after the retries
EXIT_INTERRUPTED = 130  # Ctrl-C

EXIT_CODES_HELP = """\b
Exit codes: 0 ok, 1 refused by the platform (invalid input, conflict), 2 usage error,
3 not signed in or token refused, 4 no access or not found, 5 run/ingest failed or cancelled,
6 timed out waiting, 7 platform unreachable/busy/rate limited, 130 interrupted."""

F = TypeVar("F", bound=Callable[..., Any])


@dataclass
class Settings:
    """Global options, and the client built from them on first use."""

    url: str | None
    token: str | None
    profile: str | None
    timeout: float
    _client: Client | None = None

    def client(self) -> Client:
        if self._client is None:
            self._client = Client(self.url, self.token, profile=self.profile, timeout=self.timeout)
        return self._client


@click.group(epilog=EXIT_CODES_HELP, context_settings={"help_option_names": ["-h", "--help"]})
@click.option("--url", envvar="BDT_URL", help="Workspace address, e.g. https://lab.example.org (env BDT_URL).")
@click.option("--token", envvar="BDT_TOKEN", help="Personal access token (env BDT_TOKEN; prefer `bdt login`).")
@click.option("--profile", envvar="BDT_PROFILE", help="Profile of the config file written by `bdt login`.")
@click.option("--timeout", type=float, default=30.0, show_default=True, help="Seconds to wait for each answer.")
@click.version_option(__version__, prog_name="bdt")
@click.pass_context
def cli(ctx: click.Context, url: str | None, token: str | None, profile: str | None, timeout: float) -> None:
    """Work with a BDT Platform workspace from the command line: studies, counts, runs, exports, uploads."""
    ctx.obj = Settings(url=url, token=token, profile=profile, timeout=timeout)
    ctx.call_on_close(lambda: ctx.obj._client.close() if ctx.obj._client else None)


def settings(ctx: click.Context) -> Settings:
    return ctx.find_object(Settings) or Settings(None, None, None, 30.0)


def echo_json(value: Any) -> None:
    click.echo(json.dumps(value, indent=2, default=str, ensure_ascii=False))


def note(message: str) -> None:
    """A progress or status line for people (stderr: stdout stays clean for scripts)."""
    click.echo(message, err=True)


def table(rows: Sequence[Sequence[Any]], headers: Sequence[str]) -> None:
    """A plain text table on stdout."""
    cells = [[str(h) for h in headers], *[["" if v is None else str(v) for v in row] for row in rows]]
    widths = [max(len(row[i]) for row in cells) for i in range(len(headers))]
    for index, row in enumerate(cells):
        click.echo("  ".join(value.ljust(width) for value, width in zip(row, widths, strict=False)).rstrip())
        if index == 0:
            click.echo("  ".join("-" * width for width in widths))


def load_json_file(path: str, what: str = "spec") -> dict[str, Any]:
    """A JSON object from a file (``-`` = stdin), or a usage error that says what is wrong."""
    try:
        text = sys.stdin.read() if path == "-" else Path(path).read_text(encoding="utf-8")
    except OSError as exc:
        raise click.UsageError(f"Cannot read the {what} file {path}: {exc.strerror or exc}") from exc
    try:
        value = json.loads(text)
    except json.JSONDecodeError as exc:
        raise click.UsageError(
            f"The {what} file {path} is not valid JSON: {exc.msg} (line {exc.lineno}, column {exc.colno})."
        ) from exc
    if not isinstance(value, dict):
        raise click.UsageError(f"The {what} file {path} must hold a JSON object ({{...}}), not {type(value).__name__}.")
    return value


def _hint(exc: BdtError) -> str | None:
    if isinstance(exc, ConfigurationError):
        return "Run `bdt login`, or set BDT_URL and BDT_TOKEN."
    if isinstance(exc, AuthenticationFailed):
        return "Check the token (it may have expired or been revoked) and that the URL is its workspace's address."
    if isinstance(exc, NotFound):
        return "It does not exist, or you may not see it."
    if isinstance(exc, PermissionDenied):
        return "Your role or access level does not allow this: ask a steward (or file an access request)."
    if isinstance(exc, RateLimited | ServiceUnavailable) and exc.retry_after:
        return f"The platform asked to wait {exc.retry_after:g} s before trying again."
    if isinstance(exc, TransportError):
        return "Check the URL and your network connection."
    return None


def exit_code_for(exc: BaseException) -> int:
    if isinstance(exc, ConfigurationError | AuthenticationFailed):
        return EXIT_AUTH
    if isinstance(exc, PermissionDenied | NotFound):
        return EXIT_ACCESS
    if isinstance(exc, JobError):
        return EXIT_JOB
    if isinstance(exc, WaitTimeout):
        return EXIT_TIMEOUT
    if isinstance(exc, RateLimited | ServiceUnavailable | TransportError):
        return EXIT_UNAVAILABLE
    return EXIT_ERROR


def _details(value: dict[str, Any], limit: int = 400) -> str:
    text = json.dumps(value, default=str, ensure_ascii=False)
    return text if len(text) <= limit else text[: limit - 3] + "..."


def report_error(exc: BdtError) -> None:
    """Print an error as a few readable lines on stderr: message, code, details, request id, hint."""
    lines = [f"error: {exc.message if isinstance(exc, ApiError | JobError) else exc}"]
    if isinstance(exc, ApiError):
        lines.append(f"  code: {exc.code} (HTTP {exc.status})")
        errors = exc.details.get("errors")
        if isinstance(errors, list):
            for item in errors[:10]:
                if isinstance(item, dict):
                    where = ".".join(str(part) for part in item.get("loc", []))
                    lines.append(f"  - {where}: {item.get('message', '')}" if where else f"  - {item.get('message')}")
        other = {key: value for key, value in exc.details.items() if key not in {"errors", "request_id"}}
        if other:
            lines.append(f"  details: {_details(other)}")
        if exc.request_id:
            lines.append(f"  request id: {exc.request_id}")
    elif isinstance(exc, JobError):
        lines.append(f"  {exc.kind} {exc.job_id}: {exc.status}" + (f" ({exc.code})" if exc.code else ""))
        if exc.details:
            lines.append(f"  details: {_details(exc.details)}")
    hint = _hint(exc)
    if hint:
        lines.append(f"hint: {hint}")
    click.echo("\n".join(lines), err=True)


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``bdt`` command: runs it and turns every error into a message and an exit code."""
    try:
        result = cli.main(args=list(argv) if argv is not None else None, prog_name="bdt", standalone_mode=False)
    except click.exceptions.Abort:
        click.echo("Interrupted.", err=True)
        return EXIT_INTERRUPTED
    except click.ClickException as exc:
        exc.show()
        return exc.exit_code
    except BdtError as exc:
        report_error(exc)
        return exit_code_for(exc)
    except KeyboardInterrupt:
        click.echo("Interrupted.", err=True)
        return EXIT_INTERRUPTED
    return result if isinstance(result, int) else EXIT_OK
