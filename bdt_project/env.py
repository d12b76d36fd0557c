"""Loads the checkout's ``.env`` (written by ``make run``) so every entry point uses the same services."""

from __future__ import annotations

import os
from pathlib import Path

from dotenv import dotenv_values, load_dotenv

BASE_DIR = Path(__file__).resolve().parent.parent
#: What the test settings take from ``.env``: where the services are. The platform settings ``make run`` keeps there
#: (open sign-up, the metrics token, ...) would change what the tests see after a ``make run`` in the same checkout.
TEST_KEYS = ("DATABASE_URL", "REDIS_URL")


def env_load() -> None:
    """Read ``.env`` without overriding variables already set in the environment (under the test settings, only
    ``TEST_KEYS``)."""
    env_file = Path(os.environ.get("BDT_ENV_FILE", BASE_DIR / ".env"))
    if not env_file.is_file():
        return
    if os.environ.get("DJANGO_SETTINGS_MODULE") == "bdt_project.settings.test":
        for key, value in dotenv_values(env_file).items():
            if key in TEST_KEYS and value is not None:
                os.environ.setdefault(key, value)
        return
    load_dotenv(env_file, override=False)
