"""Layered configuration: defaults < ``bdt.toml`` < environment < per-tenant database settings.

Every limit and feature flag of the platform is declared once in :data:`SETTINGS` with its type, default and
meaning. Code reads values through :func:`config_get` (or a :class:`ConfigProvider`), never from literals.

- ``bdt.toml``: path from ``BDT_CONFIG_FILE`` (default ``<checkout>/bdt.toml``); keys may sit at the top level
  or under ``[limits]`` / ``[features]`` tables.
- environment: ``BDT_<KEY>`` in upper case, e.g. ``BDT_QUERY_TIMEOUT_SECONDS=600``.
- tenant: ``Tenant.settings`` (a JSON object) for keys marked ``tenant_override=True``.
"""

from __future__ import annotations

import os
import tomllib
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

BASE_DIR = Path(__file__).resolve().parent.parent


class ConfigError(ValueError):
    """A configuration value is unknown or has the wrong type."""


@dataclass(frozen=True)
class SettingSpec:
    """One configurable value: its type, default, meaning and whether a tenant may override it."""

    key: str
    type: type
    default: Any
    doc: str
    tenant_override: bool = True
    minimum: float | None = None


SETTINGS: dict[str, SettingSpec] = {
    spec.key: spec
    for spec in [
        # Limits
        SettingSpec(
            "upload_max_bytes", int, 2 * 1024**3, "Largest accepted upload, checked while streaming (413).", minimum=1
        ),
        SettingSpec("max_columns", int, 5000, "Most columns a dataset may have.", minimum=1),
        SettingSpec(
            "setup_upload_retention_hours",
            int,
            24,
            "Hours an abandoned setup-wizard upload (file chosen, key columns never confirmed) is kept.",
            minimum=1,
        ),
        SettingSpec(
            "storage_quota_bytes", int, 200 * 1024**3, "Storage a tenant may use for dataset files.", minimum=0
        ),
        SettingSpec("count_timeout_seconds", float, 10.0, "Timeout of an interactive count.", minimum=0.1),
        SettingSpec(
            "connector_timeout_seconds",
            float,
            30.0,
            "Timeout of a connector's connection attempt and of each request it sends (statements: 10 times it).",
            minimum=1,
        ),
        SettingSpec("query_timeout_seconds", float, 300.0, "Timeout of a query run on a worker.", minimum=1),
        SettingSpec("max_result_rows", int, 5_000_000, "Most rows a query run may return.", minimum=1),
        SettingSpec("max_concurrent_runs", int, 4, "Query runs a tenant may have executing at once.", minimum=1),
        SettingSpec(
            "suppression_threshold", int, 10, "Default small-cell threshold k for aggregate-only callers.", minimum=1
        ),
        SettingSpec(
            "analyst_default_level",
            str,
            "export",
            "Level every analyst has on every dataset unless a study default says otherwise "
            "(metadata|count|query|export; consortium workspaces use metadata).",
        ),
        SettingSpec(
            "disclosure_max_noise",
            int,
            3,
            "Maximum noise D the cell-key method adds to a count shown to aggregate-only callers.",
            minimum=1,
        ),
        SettingSpec(
            "disclosure_noise_variance",
            float,
            2.0,
            "Variance V of that noise (at most D(D+1)/3, a uniform spread over -D..D; larger means uniform).",
            minimum=0.01,
        ),
        SettingSpec(
            "count_budget_result_sets",
            int,
            500,
            "Distinct questions (a count, each drop-off number, each report step, a crosstab; asking the same again "
            "is free) an aggregate-only caller may be answered per study and window; past it, new questions are "
            "refused (429 count_budget_exhausted) until a steward resets it.",
            minimum=1,
        ),
        SettingSpec("count_budget_window_hours", int, 24, "Length of the count budget's window, in hours.", minimum=1),
        SettingSpec("api_rate_limit", str, "1200/m", "Requests per authenticated API caller (N/s|m|h|d)."),
        SettingSpec(
            "login_failed_rate_limit",
            str,
            "10/m/ip,5/5m/key",
            "allauth rate limit for failed logins.",
            tenant_override=False,
        ),
        SettingSpec(
            "audit_coalesce_seconds",
            int,
            300,
            "Window in which repeatable refusals (denied requests, locked sign-ins, tokens on the wrong host) are "
            "audited once per caller, route and kind.",
            tenant_override=False,
            minimum=1,
        ),
        SettingSpec("token_default_expiry_days", int, 90, "Default lifetime of a personal access token.", minimum=1),
        SettingSpec("token_max_expiry_days", int, 365, "Longest lifetime a personal access token may have.", minimum=1),
        SettingSpec("invitation_expiry_days", int, 14, "Days an invitation's accept link stays valid.", minimum=1),
        # Process budgets (docs/operations.md "Resource budgets"): sizes are text such as "6GB" or "512MB".
        SettingSpec(
            "worker_memory_limit",
            str,
            "6GB",
            "Resident memory one worker child may use; work above it is stopped and fails with resource_limit.",
            tenant_override=False,
        ),
        SettingSpec(
            "worker_address_space_limit",
            str,
            "16GB",
            "Address space (RLIMIT_AS) the kernel allows each worker child: allocations beyond it fail at once.",
            tenant_override=False,
        ),
        SettingSpec(
            "web_memory_limit",
            str,
            "2GB",
            "Memory budget of one web process; its engine work (counts, reports, previews) gets a share of it.",
            tenant_override=False,
        ),
        SettingSpec(
            "duckdb_memory_limit",
            str,
            "auto",
            "DuckDB memory_limit per process ('auto': half of worker_memory_limit or web_memory_limit).",
            tenant_override=False,
        ),
        SettingSpec("duckdb_threads", int, 2, "DuckDB threads per worker process.", tenant_override=False, minimum=1),
        SettingSpec("web_duckdb_threads", int, 1, "DuckDB threads per web process.", tenant_override=False, minimum=1),
        SettingSpec(
            "duckdb_spill_limit",
            str,
            "20GB",
            "Disk DuckDB may use for spilling per process (its temp_directory under BDT_WORK_DIR).",
            tenant_override=False,
        ),
        SettingSpec("postgres_work_mem", str, "64MB", "PostgreSQL work_mem of engine queries.", tenant_override=False),
        SettingSpec(
            "spark_master",
            str,
            "",
            "Spark master of Spark studies (spark://host:7077, k8s://...); empty: local mode in each process.",
            tenant_override=False,
        ),
        SettingSpec(
            "spark_driver_memory",
            str,
            "1GB",
            "JVM heap of the Spark driver each process starts for Spark studies (spark.driver.memory).",
            tenant_override=False,
        ),
        SettingSpec(
            "spark_shuffle_partitions",
            int,
            4,
            "spark.sql.shuffle.partitions of Spark queries (small: the engine's results are small).",
            tenant_override=False,
            minimum=1,
        ),
        SettingSpec(
            "web_statement_timeout_seconds",
            float,
            60.0,
            "PostgreSQL statement_timeout of the web process's own database sessions (0 = none).",
            tenant_override=False,
            minimum=0,
        ),
        SettingSpec(
            "engine_kill_grace_seconds",
            float,
            15.0,
            "Seconds engine work has to stop after its timeout or memory limit before its worker child is killed.",
            tenant_override=False,
            minimum=1,
        ),
        SettingSpec(
            "run_hard_time_limit_seconds",
            int,
            7200,
            "Celery's hard time limit of a query run task (the last resort when a worker child cannot stop itself).",
            tenant_override=False,
            minimum=10,
        ),
        # Estimates and fairness
        SettingSpec(
            "max_result_cells",
            int,
            1_000_000_000,
            "Most cells (rows x columns) a run's result may have, estimated before it is queued.",
            minimum=1,
        ),
        SettingSpec(
            "interactive_max_work",
            int,
            400_000_000,
            "Most filter evaluations (rows scanned x conditions) a count or filtering report may need, "
            "estimated before it runs.",
            minimum=1,
        ),
        SettingSpec(
            "builder_dropoff_max_rows",
            int,
            1_000_000,
            "The builder computes each filter's live drop-off (with the count, one pass) on studies whose "
            "demographics table has at most this many rows, or whose counts read a pre-joined participant index "
            "store; otherwise the builder shows the count alone.",
            minimum=0,
        ),
        SettingSpec(
            "interactive_max_participants",
            int,
            100_000,
            "Longest participant id list a count or filtering report may carry (runs: max_result_rows).",
            minimum=1,
        ),
        SettingSpec(
            "interactive_per_user",
            int,
            2,
            "Counts, reports and previews one member may have computing at once.",
            minimum=1,
        ),
        SettingSpec(
            "interactive_per_tenant",
            int,
            8,
            "Counts, reports and previews a workspace may have computing at once.",
            minimum=1,
        ),
        SettingSpec(
            "web_engine_slots",
            int,
            3,
            "Engine operations one web process computes at once (the rest wait briefly, then get 503 busy).",
            tenant_override=False,
            minimum=1,
        ),
        SettingSpec(
            "web_engine_wait_seconds",
            float,
            2.0,
            "How long interactive work waits for a free engine slot of its web process.",
            tenant_override=False,
            minimum=0,
        ),
        SettingSpec(
            "max_queued_runs_per_user", int, 5, "Query runs one member may have queued or running at once.", minimum=1
        ),
        SettingSpec(
            "max_queued_runs", int, 50, "Query runs a workspace may have queued or running at once.", minimum=1
        ),
        SettingSpec(
            "analysis_sample_rows",
            int,
            50_000,
            "Rows above which statistics, plots and profiles use a fixed-seed (42) sample of this size.",
            minimum=10,
        ),
        SettingSpec(
            "analysis_max_groups", int, 50, "Most groups in a comparison, colour split or crosstab.", minimum=2
        ),
        SettingSpec("analysis_max_facets", int, 12, "Most facet panels in one plot.", minimum=1),
        # Feature flags
        SettingSpec("mfa_required", bool, False, "Members must set up TOTP two-factor authentication."),
        SettingSpec(
            "self_signup_allowed",
            bool,
            False,
            "Anyone may create an account from the login page.",
            tenant_override=False,
        ),
        SettingSpec(
            "workspace_creation",
            str,
            "anyone",
            "Who may create workspaces on the platform host: anyone (every signed-in person with a verified address), "
            "invited (platform staff and people already a member of a workspace) or domains (addresses in "
            "workspace_creation_domains).",
            tenant_override=False,
        ),
        SettingSpec(
            "workspace_creation_domains",
            str,
            "",
            "Comma-separated e-mail domains whose people may create workspaces when workspace_creation is domains.",
            tenant_override=False,
        ),
        SettingSpec(
            "workspaces_per_person",
            int,
            10,
            "Most workspaces one person (not platform staff) may own when creating another on the platform host.",
            tenant_override=False,
            minimum=0,
        ),
        SettingSpec(
            "workspace_delete_grace_days",
            int,
            30,
            "Days a workspace scheduled for deletion stays suspended (and can be restored) before it is removed.",
            tenant_override=False,
            minimum=0,
        ),
    ]
}


def _coerce(spec: SettingSpec, value: Any, source: str) -> Any:
    """Convert ``value`` to the setting's type or raise :class:`ConfigError` naming the source."""
    try:
        if spec.type is bool:
            if isinstance(value, bool):
                result: Any = value
            elif isinstance(value, str) and value.strip().lower() in {"1", "true", "yes", "on"}:
                result = True
            elif isinstance(value, str) and value.strip().lower() in {"0", "false", "no", "off"}:
                result = False
            else:
                raise ValueError(value)
        elif spec.type is int:
            if isinstance(value, bool) or (isinstance(value, float) and not value.is_integer()):
                raise ValueError(value)
            result = int(value)
        elif spec.type is float:
            if isinstance(value, bool):
                raise ValueError(value)
            result = float(value)
        else:
            result = str(value)
    except (TypeError, ValueError) as exc:
        raise ConfigError(f"{spec.key} from {source} must be of type {spec.type.__name__}") from exc
    if spec.minimum is not None and isinstance(result, int | float) and result < spec.minimum:
        raise ConfigError(f"{spec.key} from {source} must be at least {spec.minimum}")
    return result


def _toml_values(path: Path) -> dict[str, Any]:
    if not path.is_file():
        return {}
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path.name} is not valid TOML: {exc}") from exc
    flat: dict[str, Any] = {}
    for key, value in data.items():
        if isinstance(value, dict) and key in {"limits", "features", "platform"}:
            flat.update(value)
        else:
            flat[key] = value
    return {key: value for key, value in flat.items() if key in SETTINGS}


class TenantSettingsSource(Protocol):
    """Anything with a ``settings`` mapping (the Tenant model)."""

    settings: Mapping[str, Any]


@dataclass
class ConfigProvider:
    """Resolves settings through the layers; create one per process (see :func:`config_provider`)."""

    toml_path: Path
    environ: Mapping[str, str]

    def __post_init__(self) -> None:
        self._base = self._resolve_base()

    def _resolve_base(self) -> dict[str, Any]:
        values = {key: spec.default for key, spec in SETTINGS.items()}
        for key, raw in _toml_values(self.toml_path).items():
            values[key] = _coerce(SETTINGS[key], raw, self.toml_path.name)
        for key, spec in SETTINGS.items():
            env_name = f"BDT_{key.upper()}"
            if env_name in self.environ:
                values[key] = _coerce(spec, self.environ[env_name], env_name)
        return values

    def get(self, key: str, tenant: TenantSettingsSource | None = None) -> Any:
        """Return the effective value of ``key``, applying ``tenant``'s override when allowed."""
        spec = SETTINGS.get(key)
        if spec is None:
            raise ConfigError(f"unknown setting {key!r}")
        if tenant is not None and spec.tenant_override:
            overrides = tenant.settings or {}
            if key in overrides:
                return _coerce(spec, overrides[key], "tenant settings")
        return self._base[key]

    def effective(self, tenant: TenantSettingsSource | None = None) -> dict[str, Any]:
        """All settings with their effective values for ``tenant``."""
        return {key: self.get(key, tenant) for key in SETTINGS}


def tenant_settings_validate(overrides: Mapping[str, Any]) -> dict[str, Any]:
    """Validate tenant overrides: only known, overridable keys of the right type."""
    cleaned: dict[str, Any] = {}
    for key, value in overrides.items():
        spec = SETTINGS.get(key)
        if spec is None:
            raise ConfigError(f"unknown setting {key!r}")
        if not spec.tenant_override:
            raise ConfigError(f"{key} cannot be set per tenant")
        cleaned[key] = _coerce(spec, value, "tenant settings")
    return cleaned


_provider: ConfigProvider | None = None
_provider_factory: Callable[[], ConfigProvider] = lambda: ConfigProvider(  # noqa: E731
    toml_path=Path(os.environ.get("BDT_CONFIG_FILE", BASE_DIR / "bdt.toml")), environ=os.environ
)


def config_provider() -> ConfigProvider:
    """The process-wide provider (built on first use)."""
    global _provider
    if _provider is None:
        _provider = _provider_factory()
    return _provider


def config_reset() -> None:
    """Forget the cached provider so the next read sees new files/environment (tests, reloads)."""
    global _provider
    _provider = None


def config_get(key: str, tenant: TenantSettingsSource | None = None) -> Any:
    """Shortcut for ``config_provider().get(key, tenant)``."""
    return config_provider().get(key, tenant)
