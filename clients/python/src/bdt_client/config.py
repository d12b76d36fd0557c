"""Where the client finds the platform URL and token: arguments > environment > the config file of ``bdt login``.

Environment: ``BDT_URL``, ``BDT_TOKEN``, ``BDT_PROFILE`` and ``BDT_CONFIG`` (the config file's path; default
``$XDG_CONFIG_HOME/bdt/config.toml``, i.e. ``~/.config/bdt/config.toml``). The file holds named profiles::

    default_profile = "default"

    [profiles.default]
    url = "https://lab.example.org"
    token = "bdt_..."

It is written with mode 0600 (only you can read it): it holds a secret.
"""

from __future__ import annotations

import json
import logging
import os
import re
import stat
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from bdt_client.errors import ConfigurationError

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - exercised on Python 3.10 only
    import tomli as tomllib

logger = logging.getLogger("bdt_client")

DEFAULT_PROFILE = "default"
PROFILE_NAME = re.compile(r"^[A-Za-z0-9_-]{1,64}$")
API_PREFIX = "/api/v1"


@dataclass(frozen=True)
class Credentials:
    """A workspace URL (scheme + host [+ port], no path) and a personal access token."""

    url: str
    token: str

    def __repr__(self) -> str:  # never show the secret
        return f"Credentials(url={self.url!r}, token='***')"


def config_path() -> Path:
    """The config file: ``$BDT_CONFIG``, else ``$XDG_CONFIG_HOME/bdt/config.toml`` (``~/.config/bdt/...``)."""
    explicit = os.environ.get("BDT_CONFIG")
    if explicit:
        return Path(explicit).expanduser()
    base = os.environ.get("XDG_CONFIG_HOME") or str(Path.home() / ".config")
    return Path(base) / "bdt" / "config.toml"


def normalize_url(url: str) -> str:
    """``https://lab.example.org/`` or ``.../api/v1/`` -> ``https://lab.example.org`` (errors on anything else)."""
    text = url.strip().rstrip("/")
    if text.endswith(API_PREFIX):
        text = text[: -len(API_PREFIX)]
    parts = urlsplit(text)
    if parts.scheme not in {"http", "https"} or not parts.hostname:
        raise ConfigurationError(f"The platform URL must look like https://lab.example.org (got {url!r}).")
    if parts.path not in {"", "/"} or parts.query or parts.fragment:
        raise ConfigurationError(
            f"The platform URL is the workspace's address without a path, e.g. {parts.scheme}://{parts.netloc}"
        )
    return f"{parts.scheme}://{parts.netloc}"


def _read_file(path: Path) -> dict[str, Any]:
    if not path.exists():
        return {}
    mode = path.stat().st_mode
    if mode & (stat.S_IRWXG | stat.S_IRWXO):
        logger.warning("%s is readable by other users; run `chmod 600 %s` (it holds a token)", path, path)
    try:
        with path.open("rb") as handle:
            return tomllib.load(handle)
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise ConfigurationError(f"Cannot read the config file {path}: {exc}") from exc


def profile_load(profile: str | None = None, path: Path | None = None) -> dict[str, str]:
    """The ``url``/``token`` of a profile in the config file (empty if the file or profile is absent)."""
    data = _read_file(path or config_path())
    name = profile or os.environ.get("BDT_PROFILE") or str(data.get("default_profile") or DEFAULT_PROFILE)
    profiles = data.get("profiles") or {}
    found = profiles.get(name)
    if found is None:
        if profile:  # asked for by name: say it is missing
            known = ", ".join(sorted(profiles)) or "none"
            raise ConfigurationError(f"No profile {name!r} in {path or config_path()} (profiles: {known}).")
        return {}
    return {key: str(value) for key, value in found.items() if key in {"url", "token"}}


def credentials_resolve(url: str | None = None, token: str | None = None, *, profile: str | None = None) -> Credentials:
    """URL and token from the arguments, else ``BDT_URL``/``BDT_TOKEN``, else the config file's profile."""
    stored: dict[str, str] | None = None

    def from_file(key: str) -> str | None:
        nonlocal stored
        if stored is None:
            stored = profile_load(profile)
        return stored.get(key)

    found_url = url or os.environ.get("BDT_URL") or from_file("url")
    found_token = token or os.environ.get("BDT_TOKEN") or from_file("token")
    if not found_url or not found_token:
        missing = " and ".join(name for name, value in (("URL", found_url), ("token", found_token)) if not value)
        raise ConfigurationError(
            f"No platform {missing}: run `bdt login`, set BDT_URL and BDT_TOKEN, or pass url=/token= to Client()."
        )
    return Credentials(url=normalize_url(found_url), token=found_token.strip())


def _toml_string(value: str) -> str:
    """A TOML basic string (JSON's escaping is a subset of TOML's)."""
    return json.dumps(value, ensure_ascii=True)


def _write(target: Path, default: str, profiles: dict[str, Any]) -> None:
    lines = [f"default_profile = {_toml_string(default)}", ""]
    for name in sorted(profiles):
        if not PROFILE_NAME.match(name):
            continue
        lines.append(f"[profiles.{name}]")
        lines.extend(
            f"{key} = {_toml_string(str(profiles[name][key]))}" for key in ("url", "token") if key in profiles[name]
        )
        lines.append("")
    target.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    descriptor = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    os.fchmod(descriptor, 0o600)  # an existing file keeps its mode through O_CREAT: tighten it
    with os.fdopen(descriptor, "w", encoding="utf-8") as handle:
        handle.write("\n".join(lines))


def profile_save(credentials: Credentials, profile: str = DEFAULT_PROFILE, path: Path | None = None) -> Path:
    """Write (or replace) a profile in the config file, created with mode 0600; returns the file's path."""
    if not PROFILE_NAME.match(profile):
        raise ConfigurationError("A profile name has letters, digits, '-' and '_' only.")
    target = path or config_path()
    data = _read_file(target)
    profiles: dict[str, Any] = dict(data.get("profiles") or {})
    profiles[profile] = {"url": credentials.url, "token": credentials.token}
    _write(target, str(data.get("default_profile") or profile), profiles)
    return target


def profile_delete(profile: str = DEFAULT_PROFILE, path: Path | None = None) -> bool:
    """Remove a profile from the config file; False if it was not there."""
    target = path or config_path()
    data = _read_file(target)
    profiles: dict[str, Any] = dict(data.get("profiles") or {})
    if profile not in profiles:
        return False
    del profiles[profile]
    default = str(data.get("default_profile") or DEFAULT_PROFILE)
    if default == profile:
        default = next(iter(sorted(profiles)), DEFAULT_PROFILE)
    _write(target, default, profiles)
    return True
