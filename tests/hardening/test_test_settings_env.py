"""The test settings take only the services' addresses from the checkout's ``.env``: ``make run`` keeps platform
settings there (open sign-up for the local demo, its metrics token), and a ``make test`` after a ``make run`` in the
same checkout must see the same platform as CI does."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
CODE = (
    "import django; django.setup(); from django.conf import settings; from core.config import config_get; "
    "print(settings.DATABASES['default']['NAME'], bool(config_get('self_signup_allowed')), settings.METRICS_TOKEN)"
)


def _settings_seen(tmp_path: Path, module: str) -> list[str]:
    env_file = tmp_path / ".env"
    env_file.write_text(
        "DATABASE_URL=postgres://postgres@127.0.0.1:5432/from_env_file\n"
        "BDT_SELF_SIGNUP_ALLOWED=1\nBDT_METRICS_TOKEN=token-of-make-run-0123456789abcdef\n"
    )
    env = {"PATH": "/usr/bin:/bin", "DJANGO_SETTINGS_MODULE": module, "BDT_ENV_FILE": str(env_file)}
    done = subprocess.run(
        [sys.executable, "-c", CODE], cwd=ROOT, env=env, capture_output=True, text=True, timeout=120, check=False
    )
    assert done.returncode == 0, done.stderr[-2000:]
    return done.stdout.strip().splitlines()[-1].split()


def test_the_test_settings_take_only_the_services_from_the_env_file(tmp_path: Path) -> None:
    name, signup, token = _settings_seen(tmp_path, "bdt_project.settings.test")
    assert name == "from_env_file"  # where the services are: taken
    assert signup == "False" and token != "token-of-make-run-0123456789abcdef"  # make run's platform settings: not


def test_make_run_still_takes_everything_from_it(tmp_path: Path) -> None:
    name, signup, token = _settings_seen(tmp_path, "bdt_project.settings.local")
    assert name == "from_env_file" and signup == "True" and token == "token-of-make-run-0123456789abcdef"
