"""``bdt login``, ``bdt logout``, ``bdt whoami``."""

from __future__ import annotations

import sys
from urllib.parse import urlsplit

import click

from bdt_client.cli.app import cli, echo_json, note, settings
from bdt_client.client import Client
from bdt_client.config import DEFAULT_PROFILE, Credentials, config_path, normalize_url, profile_delete, profile_save

LOCAL_HOSTS = ("localhost", "127.0.0.1", "::1")


def _is_local(url: str) -> bool:
    host = urlsplit(url).hostname or ""
    return host in LOCAL_HOSTS or host.endswith(".localhost")


@cli.command()
@click.option("--token-stdin", is_flag=True, help="Read the token from standard input (for scripts).")
@click.pass_context
def login(ctx: click.Context, token_stdin: bool) -> None:
    """Check a workspace URL and personal access token, and save them for later commands.

    Create the token on the workspace's "API tokens" page. The profile (``--profile``, default "default") is
    written to ~/.config/bdt/config.toml (or $BDT_CONFIG), readable by you only.
    """
    options = settings(ctx)
    url = options.url or click.prompt("Workspace URL (e.g. https://lab.example.org)")
    if token_stdin:
        token = sys.stdin.readline().strip()
    else:
        token = options.token or click.prompt("Personal access token", hide_input=True)
    if not token:
        raise click.UsageError("No token given.")
    url = normalize_url(url)
    if urlsplit(url).scheme == "http" and not _is_local(url):
        note("warning: this address uses plain http: the token travels unencrypted. Use https.")
    with Client(url, token, timeout=options.timeout) as client:
        me = client.me()
    path = profile_save(Credentials(url=url, token=token), options.profile or DEFAULT_PROFILE)
    click.echo(f"Signed in to {me.tenant.name} ({me.tenant.slug}) as {me.user.email}, role {me.role}.")
    note(f"Saved profile {options.profile or DEFAULT_PROFILE!r} to {path} (readable by you only).")


@cli.command()
@click.pass_context
def logout(ctx: click.Context) -> None:
    """Forget the saved token of a profile (the token itself stays valid until revoked on the platform)."""
    name = settings(ctx).profile or DEFAULT_PROFILE
    if profile_delete(name):
        click.echo(f"Removed profile {name!r} from {config_path()}.")
    else:
        click.echo(f"No profile {name!r} in {config_path()}.")


@cli.command()
@click.option("--json", "as_json", is_flag=True, help="Print the answer as JSON.")
@click.pass_context
def whoami(ctx: click.Context, as_json: bool) -> None:
    """Who you are on the workspace, and your role."""
    me = settings(ctx).client().me()
    if as_json:
        echo_json(me.raw)
        return
    click.echo(f"{me.user.email} — {me.role} of {me.tenant.name} ({me.tenant.slug}) at {settings(ctx).client().url}")
