"""Command line of ``scripts/devstack.py``: ``run``, ``test [pytest args]``, ``services`` and ``stop``."""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Callable, Mapping, Sequence

from .commands import cmd_services, cmd_stop, cmd_test
from .common import DevstackError, Paths, env_flag, one_line
from .run import cmd_run

COMMANDS = ("run", "test", "services", "stop")
VALUE_OPTIONS = {"--db-name", "--redis-db"}


def build_parser(environ: Mapping[str, str]) -> argparse.ArgumentParser:
    """The command line; defaults come from ``BDT_DEV_*`` environment variables."""
    parser = argparse.ArgumentParser(
        prog="devstack.py",
        description="Find or start PostgreSQL and Redis, then run the platform (make run) or its tests (make test).",
    )
    parser.add_argument(
        "--db-name",
        default=environ.get("BDT_DEV_DB_NAME", "bdt"),
        help="database on a local or embedded server (default: bdt; env BDT_DEV_DB_NAME)",
    )
    parser.add_argument(
        "--redis-db",
        type=int,
        default=environ.get("BDT_DEV_REDIS_DB", "0"),
        help="Redis database number on a local or embedded server (default: 0; env BDT_DEV_REDIS_DB)",
    )
    parser.add_argument(
        "--embedded",
        action="store_true",
        default=env_flag(environ, "BDT_FORCE_EMBEDDED"),
        help="always use the embedded servers (env BDT_FORCE_EMBEDDED=1)",
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    run = sub.add_parser("run", help="migrate, seed the demo lab, serve the app with a Celery worker and beat")
    run.add_argument(
        "--host",
        default=environ.get("BDT_DEV_HOST", "127.0.0.1"),
        help="address the web server binds (default 127.0.0.1; 0.0.0.0 exposes it on the network)",
    )
    run.add_argument(
        "--port",
        type=int,
        default=environ.get("BDT_DEV_PORT", "8000"),
        help="port of the web server (default 8000; env BDT_DEV_PORT)",
    )
    run.add_argument("--no-seed", action="store_true", help="skip seed_demo")
    run.add_argument(
        "--dev",
        action="store_true",
        help="developer mode: Django's development server with autoreload and DEBUG on (make dev); "
        "without it, gunicorn serves with DEBUG off like production",
    )
    sub.add_parser(
        "test", help="run pytest against the discovered services; every later argument goes to pytest", add_help=False
    )
    sub.add_parser("services", help="find or start the services, save them in .env and print their URLs")
    sub.add_parser("stop", help="stop an active run, its leftovers and the embedded servers")
    return parser


def argv_split(argv: Sequence[str]) -> tuple[list[str], list[str]]:
    """Split ``[devstack options] test [pytest args]`` so pytest receives its arguments untouched."""
    index = 0
    while index < len(argv):
        token = argv[index]
        if token == "test":  # noqa: S105 - a subcommand, not a password
            return list(argv[: index + 1]), list(argv[index + 1 :])
        if token in COMMANDS:
            break
        index += 2 if token in VALUE_OPTIONS else 1
    return list(argv), []


HANDLERS: dict[str, Callable[[argparse.Namespace, Paths, list[str]], int]] = {
    "run": cmd_run,
    "test": cmd_test,
    "services": cmd_services,
    "stop": cmd_stop,
}


def main(argv: Sequence[str] | None = None) -> int:
    """Parse the command line and run a subcommand; errors are one line on stderr and a non-zero exit."""
    own, passthrough = argv_split(list(sys.argv[1:] if argv is None else argv))
    args = build_parser(os.environ).parse_args(own)
    paths = Paths.from_environ(os.environ)
    try:
        return HANDLERS[args.command](args, paths, passthrough)
    except DevstackError as exc:
        print(f"devstack: error: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("devstack: interrupted", file=sys.stderr)
        return 130
    except Exception as exc:
        if env_flag(os.environ, "BDT_DEVSTACK_DEBUG"):
            raise
        print(
            f"devstack: unexpected error: {type(exc).__name__}: {one_line(exc)} "
            "(set BDT_DEVSTACK_DEBUG=1 for a traceback)",
            file=sys.stderr,
        )
        return 1
