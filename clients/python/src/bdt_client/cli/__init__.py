"""The ``bdt`` command line (``bdt --help``)."""

from bdt_client.cli import account, data, runs
from bdt_client.cli.app import cli, main

__all__ = ["account", "cli", "data", "main", "runs"]
