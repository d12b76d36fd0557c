"""ConfigProvider layering: defaults < bdt.toml < environment < per-tenant settings."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from core.config import SETTINGS, ConfigError, ConfigProvider, tenant_settings_validate


@dataclass
class FakeTenant:
    settings: dict[str, Any] = field(default_factory=dict)


def provider(tmp_path: Path, toml: str = "", env: dict[str, str] | None = None) -> ConfigProvider:
    path = tmp_path / "bdt.toml"
    if toml:
        path.write_text(toml)
    return ConfigProvider(toml_path=path, environ=env or {})


def test_defaults_are_documented_and_typed(tmp_path: Path) -> None:
    config = provider(tmp_path)
    assert config.get("upload_max_bytes") == 2 * 1024**3
    assert config.get("max_columns") == 5000
    assert config.get("query_timeout_seconds") == 300.0
    assert config.get("max_result_rows") == 5_000_000
    assert config.get("suppression_threshold") == 10
    assert config.get("mfa_required") is False
    assert all(spec.doc for spec in SETTINGS.values())


def test_layers_override_in_order(tmp_path: Path) -> None:
    toml = "[limits]\nmax_columns = 100\nquery_timeout_seconds = 60\n[features]\nmfa_required = true\n"
    config = provider(tmp_path, toml, {"BDT_QUERY_TIMEOUT_SECONDS": "30"})
    assert config.get("max_columns") == 100  # toml over default
    assert config.get("query_timeout_seconds") == 30.0  # env over toml
    assert config.get("mfa_required") is True
    tenant = FakeTenant({"max_columns": 50, "mfa_required": False})
    assert config.get("max_columns", tenant) == 50  # tenant over everything
    assert config.get("mfa_required", tenant) is False
    assert config.get("max_columns", FakeTenant()) == 100


def test_non_overridable_keys_ignore_tenant(tmp_path: Path) -> None:
    config = provider(tmp_path)
    assert config.get("duckdb_threads", FakeTenant({"duckdb_threads": 64})) == 2
    with pytest.raises(ConfigError, match="cannot be set per tenant"):
        tenant_settings_validate({"duckdb_threads": 64})


@pytest.mark.parametrize(
    ("toml", "env", "message"),
    [
        ("max_columns = 'many'\n", {}, "max_columns from bdt.toml must be of type int"),
        ("", {"BDT_MFA_REQUIRED": "maybe"}, "BDT_MFA_REQUIRED must be of type bool"),
        ("", {"BDT_MAX_COLUMNS": "0"}, "at least 1"),
        ("not = [valid", {}, "not valid TOML"),
    ],
)
def test_invalid_values_name_their_source(tmp_path: Path, toml: str, env: dict[str, str], message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        provider(tmp_path, toml, env)


def test_unknown_keys(tmp_path: Path) -> None:
    config = provider(tmp_path, "unrelated = 1\n")
    with pytest.raises(ConfigError, match="unknown setting"):
        config.get("nope")
    with pytest.raises(ConfigError, match="unknown setting"):
        tenant_settings_validate({"nope": 1})
    assert tenant_settings_validate({"max_columns": "12"}) == {"max_columns": 12}


def test_effective_lists_every_setting(tmp_path: Path) -> None:
    assert set(provider(tmp_path).effective()) == set(SETTINGS)
