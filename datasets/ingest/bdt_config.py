"""Read a BDT ``config.toml`` (or the JSON settings export) so a BDT project can be imported.

BDT writes its own file *nested* (``[data]`` holds the data keys, ``[ui]`` the display ones) but its Settings and
Onboarding pages load *flat* files (the same keys at top level). Both are accepted here; when a key appears in
both places the top-level value wins, then ``[data]``, then ``[ui]``/other tables. Unknown keys and tables are
ignored. Keys absent from the file are ``None`` (an unset session column therefore means cross-sectional, unlike
BDT, which silently fell back to ``session_num``); :meth:`BdtConfig.with_bdt_defaults` fills BDT's defaults where
wanted. An empty string means "not set". Values are returned as text only: ``data_dir`` and
``demographics_file`` are never used as paths here, and callers must not either without validating them.

Settings with no meaning on the platform (the whole ``[state]`` table, ``data_dir``, slider bounds, cache
lifetimes, Rockland study lists) and keys BDT does not know are read and listed in :attr:`BdtConfig.ignored`,
never an error.
"""

from __future__ import annotations

import json
import math
import tomllib
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any, Literal

from datasets.ingest.errors import INVALID_CONFIG, IngestError
from datasets.ingest.names import dataset_slug
from datasets.ingest.nesting import MAX_NESTING, nesting_too_deep

MAX_CONFIG_BYTES = 1024 * 1024
TOO_DEEP = (
    f"The configuration file nests lists or tables more than {MAX_NESTING} levels deep; a BDT configuration "
    "nests a few levels at most. Upload the config.toml of the BDT project."
)

STRING_KEYS = (
    "data_dir",
    "demographics_file",
    "primary_id_column",
    "session_column",
    "composite_id_column",
    "age_column",
    "sex_column",
    "study_site_column",
)

NUMBER_KEYS = ("default_age_min", "default_age_max", "max_display_rows", "default_age_selection")
#: Tables whose keys are all read as settings; every other table of the file is ignored as a whole.
SETTING_TABLES = ("data", "ui")
#: Why a known BDT setting means nothing here (shown to the person importing).
NO_MEANING: dict[str, str] = {
    "data_dir": "files are uploaded or named on the command line, never read from a configured path",
    "default_age_range": "the age filter's bounds come from the data",
    "default_filter_range": "filter bounds come from the data",
    "cache_ttl_seconds": "counts are cached by the platform",
    "state": "query state is kept on the server",
}

BDT_DEFAULTS: dict[str, Any] = {
    "data_dir": "data",
    "demographics_file": "demographics.csv",
    "primary_id_column": "ursi",
    "session_column": "session_num",
    "composite_id_column": "customID",
    "age_column": "age",
    "sex_column": "sex",
    "study_site_column": None,
    "default_age_min": 18.0,
    "default_age_max": 80.0,
    "max_display_rows": 50,
}


@dataclass(frozen=True)
class BdtConfig:
    data_dir: str | None = None
    demographics_file: str | None = None
    primary_id_column: str | None = None
    session_column: str | None = None
    composite_id_column: str | None = None
    age_column: str | None = None
    sex_column: str | None = None
    study_site_column: str | None = None
    default_age_min: float | None = None
    default_age_max: float | None = None
    max_display_rows: int | None = None
    layout: Literal["nested", "flat", "json", "empty"] = "empty"
    #: Settings read but not used (dotted for nested ones, e.g. ``state.backend``), in file order.
    ignored: tuple[str, ...] = field(default=(), compare=False)

    def with_bdt_defaults(self) -> BdtConfig:
        """A copy with BDT's own defaults in place of every key the file did not set."""
        filled = {k: v for k, v in BDT_DEFAULTS.items() if getattr(self, k) is None}
        return replace(self, **filled)

    @property
    def demographics_slug(self) -> str | None:
        """Suggested dataset name of the demographics table (``demographics.csv`` -> ``demographics``)."""
        return dataset_slug(self.demographics_file) if self.demographics_file else None

    def study_settings(self) -> dict[str, str | None]:
        """The study's key-column settings in the platform's API names."""
        return {
            "id_column": self.primary_id_column,
            "session_column": self.session_column,
            "age_column": self.age_column,
            "sex_column": self.sex_column,
            "site_column": self.study_site_column,
            "composite_id_column": self.composite_id_column,
        }

    def builder_defaults(self) -> dict[str, float | int | None]:
        """The ``[ui]`` settings that become the study's builder defaults (age range, rows shown)."""
        return {
            "default_age_min": self.default_age_min,
            "default_age_max": self.default_age_max,
            "display_rows": self.max_display_rows,
        }

    def ignored_notes(self) -> list[str]:
        """One sentence per group of ignored settings, for the person importing."""
        notes: list[str] = []
        grouped: dict[str, list[str]] = {}
        for name in self.ignored:
            head, _, tail = name.partition(".")
            reason_key = head if head in NO_MEANING else (tail or head)
            grouped.setdefault(NO_MEANING.get(reason_key, "this platform has no such setting"), []).append(name)
        for reason, names in grouped.items():
            shown = ", ".join(names[:8]) + (f" and {len(names) - 8} more" if len(names) > 8 else "")
            notes.append(f"Ignored {shown}: {reason}.")
        return notes

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def read_bdt_config(path: Path | str) -> BdtConfig:
    """Parse the BDT configuration file at ``path`` (TOML, or JSON when it starts with ``{``)."""
    with Path(path).open("rb") as fh:
        data = fh.read(MAX_CONFIG_BYTES + 1)
    if len(data) > MAX_CONFIG_BYTES:
        raise IngestError(INVALID_CONFIG, "The configuration file is larger than 1 MB; it cannot be a BDT config.")
    return parse_bdt_config(data)


def parse_bdt_config(content: str | bytes) -> BdtConfig:
    """Parse BDT configuration text (see the module docstring for the accepted forms)."""
    if isinstance(content, bytes):
        try:
            content = content.decode("utf-8-sig")
        except UnicodeDecodeError:
            raise IngestError(INVALID_CONFIG, "The configuration file is not UTF-8 text.") from None
    layout: Literal["nested", "flat", "json", "empty"]
    if nesting_too_deep(content):
        raise IngestError(INVALID_CONFIG, TOO_DEEP)
    if content.lstrip().startswith("{"):
        try:
            document = json.loads(content)
        except json.JSONDecodeError as exc:
            raise IngestError(
                INVALID_CONFIG,
                f"The configuration file is not valid JSON: {exc.msg} (line {exc.lineno}, column {exc.colno}).",
                {"line": exc.lineno, "column": exc.colno},
            ) from None
        except RecursionError:  # nesting the depth check could not see (inside an unusual string)
            raise IngestError(INVALID_CONFIG, TOO_DEEP) from None
        if not isinstance(document, dict):
            raise IngestError(INVALID_CONFIG, "The configuration file must hold an object of settings.")
        layout = "json"
    else:
        try:
            document = tomllib.loads(content)
        except tomllib.TOMLDecodeError as exc:
            raise IngestError(INVALID_CONFIG, f"The configuration file is not valid TOML: {exc}.") from None
        except RecursionError:
            raise IngestError(INVALID_CONFIG, TOO_DEEP) from None
        layout = "flat"
    tables = [document]
    for name in SETTING_TABLES:
        table = document.get(name)
        if isinstance(table, dict):
            tables.append(table)
    tables.extend(v for k, v in document.items() if isinstance(v, dict) and k not in SETTING_TABLES)
    values: dict[str, Any] = {}
    for key in (*STRING_KEYS, *NUMBER_KEYS):
        for index, table in enumerate(tables):
            if key in table:
                values[key] = table[key]
                if index > 0 and layout == "flat":
                    layout = "nested"
                break
    if not values:
        layout = "empty"
    return BdtConfig(layout=layout, ignored=_ignored(document), **_checked(values))


def _ignored(document: dict[str, Any]) -> tuple[str, ...]:
    """Every setting of the file that is not one of ours, dotted below tables (``state.backend``)."""
    known = {*STRING_KEYS, *NUMBER_KEYS}
    found: list[str] = []
    for key, value in document.items():
        if isinstance(value, dict):
            if key in SETTING_TABLES:
                found.extend(f"{key}.{inner}" for inner in value if inner not in known or inner == "data_dir")
            elif value:
                found.extend(f"{key}.{inner}" for inner in value)
            else:
                found.append(key)
        elif key not in known or key == "data_dir":
            found.append(key)
    return tuple(found)


def _checked(values: dict[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key in STRING_KEYS:
        if key not in values:
            continue
        value = values[key]
        if not isinstance(value, str):
            raise IngestError(INVALID_CONFIG, f"The setting '{key}' must be text.", {"key": key})
        out[key] = value.strip() or None
    selection = values.get("default_age_selection")
    if selection is not None:
        if not (isinstance(selection, list) and len(selection) == 2 and all(_is_number(v) for v in selection)):
            raise IngestError(
                INVALID_CONFIG,
                "The setting 'default_age_selection' must be two numbers [min, max].",
                {"key": "default_age_selection"},
            )
        out["default_age_min"], out["default_age_max"] = float(selection[0]), float(selection[1])
    for key in ("default_age_min", "default_age_max"):
        if key in values:
            if not _is_number(values[key]):
                raise IngestError(INVALID_CONFIG, f"The setting '{key}' must be a number.", {"key": key})
            out[key] = float(values[key])
    low, high = out.get("default_age_min"), out.get("default_age_max")
    if low is not None and high is not None and low > high:
        raise IngestError(
            INVALID_CONFIG,
            f"The default age range is empty: its minimum {low:g} is above its maximum {high:g}.",
            {"key": "default_age_min"},
        )
    if "max_display_rows" in values:
        rows = values["max_display_rows"]
        if not isinstance(rows, int) or isinstance(rows, bool) or rows < 1:
            raise IngestError(
                INVALID_CONFIG,
                "The setting 'max_display_rows' must be a positive whole number.",
                {"key": "max_display_rows"},
            )
        out["max_display_rows"] = rows
    return out


def _is_number(value: Any) -> bool:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return False
    return math.isfinite(value)
