"""Production settings pass Django's deployment checks with no warnings."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_check_deploy_reports_nothing() -> None:
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "bdt_project.settings.production",
        "DJANGO_SECRET_KEY": "x7#kP2!qL9vR4$tW8zN1mB6&cJ3hF5gD0sA2eY7uI9oQ4wE1rT",
        "DJANGO_ALLOWED_HOSTS": ".example.org",
        "BDT_ENV_FILE": "/nonexistent",
    }
    result = subprocess.run(
        [sys.executable, "manage.py", "check", "--deploy", "--fail-level", "WARNING"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "System check identified no issues" in result.stdout


def test_production_refuses_to_start_without_a_secret_key() -> None:
    env = {**os.environ, "DJANGO_SETTINGS_MODULE": "bdt_project.settings.production", "BDT_ENV_FILE": "/nonexistent"}
    env.pop("DJANGO_SECRET_KEY", None)
    result = subprocess.run(
        [sys.executable, "manage.py", "check"], cwd=ROOT, env=env, capture_output=True, text=True, timeout=120
    )
    assert result.returncode != 0
    assert "DJANGO_SECRET_KEY must be set" in result.stderr
