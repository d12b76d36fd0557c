"""Loads the checkout's ``.env`` (written by ``make run``) so every entry point uses the same services."""

from __future__ import annotations

import os
from pathlib import Path

from dotenv import load_dotenv

BASE_DIR = Path(__file__).resolve().parent.parent


def env_load() -> None:
    """Read ``.env`` without overriding variables already set in the environment."""
    env_file = Path(os.environ.get("BDT_ENV_FILE", BASE_DIR / ".env"))
    if env_file.is_file():
        load_dotenv(env_file, override=False)
