"""Where the client finds its URL and token: arguments > BDT_URL/BDT_TOKEN > the profile of `bdt login` (0600)."""

from __future__ import annotations

import stat
from pathlib import Path

import pytest

from bdt_client import Client, ConfigurationError, Credentials
from bdt_client.config import credentials_resolve, normalize_url, profile_delete, profile_load, profile_save


@pytest.fixture(autouse=True)
def _no_environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    for name in ("BDT_URL", "BDT_TOKEN", "BDT_PROFILE"):
        monkeypatch.delenv(name, raising=False)
    config = tmp_path / "conf" / "bdt.toml"
    monkeypatch.setenv("BDT_CONFIG", str(config))
    return config


def test_profiles_are_written_readable_by_the_owner_only(_no_environment: Path) -> None:
    path = profile_save(Credentials("https://lab.example.org", 'bdt_se"cret\\'))
    assert path == _no_environment
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert profile_load() == {"url": "https://lab.example.org", "token": 'bdt_se"cret\\'}

    path.chmod(0o644)  # loosened by hand: the next write tightens it again
    profile_save(Credentials("http://lab-b.localhost:8000", "bdt_b"), "lab-b")
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert profile_load("lab-b")["url"] == "http://lab-b.localhost:8000"
    assert profile_load()["token"] == 'bdt_se"cret\\'  # the first profile stays the default

    assert profile_delete("lab-b") is True and profile_delete("lab-b") is False
    with pytest.raises(ConfigurationError, match="No profile 'lab-b'"):
        profile_load("lab-b")


def test_arguments_beat_the_environment_which_beats_the_file(monkeypatch: pytest.MonkeyPatch) -> None:
    profile_save(Credentials("https://file.example.org", "bdt_file"))
    assert credentials_resolve() == Credentials("https://file.example.org", "bdt_file")
    monkeypatch.setenv("BDT_TOKEN", "bdt_env")
    assert credentials_resolve().token == "bdt_env"
    monkeypatch.setenv("BDT_URL", "https://env.example.org/api/v1/")
    assert credentials_resolve().url == "https://env.example.org"
    assert credentials_resolve("https://arg.example.org", "bdt_arg") == Credentials(
        "https://arg.example.org", "bdt_arg"
    )
    assert "bdt_arg" not in repr(credentials_resolve("https://arg.example.org", "bdt_arg"))
    assert "bdt_env" not in repr(Client())


@pytest.mark.parametrize(
    ("given", "expected"),
    [
        ("https://lab.example.org/", "https://lab.example.org"),
        ("http://lab.localhost:8000/api/v1", "http://lab.localhost:8000"),
        ("  https://lab.example.org:8443/api/v1/  ", "https://lab.example.org:8443"),
    ],
)
def test_urls_are_normalized(given: str, expected: str) -> None:
    assert normalize_url(given) == expected


@pytest.mark.parametrize("given", ["lab.example.org", "ftp://lab.example.org", "https://lab.example.org/studies/x"])
def test_urls_that_are_not_a_workspace_address_are_refused(given: str) -> None:
    with pytest.raises(ConfigurationError):
        normalize_url(given)
