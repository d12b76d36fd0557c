"""BDT's reading rules: which of the configured key columns a demographics header actually provides.

BDT decides a project's shape from the demographics header alone: id and session column present -> longitudinal
(rows merge on id + session), id only -> cross-sectional (rows merge on id). A configured optional key column
(session, age, sex, site) that the header lacks is simply not used. :func:`read_keys` applies the same rules and
says so in a warning for each column it leaves out (for the site, naming the header's columns that look like a site
column, e.g. ``all_studies`` when the configuration says ``all_sites``).

The composite id column (BDT's ``customID``, built as ``<id>_<session>``) is derived data: it is recognised when a
longitudinal header has it (its values are checked against id + session during the ingest), it is never required,
and it is never offered as a data column. In a cross-sectional header it is an ordinary column.

Roles listed in ``strict`` were chosen explicitly (a form, an API field, a command-line flag) rather than taken
from a configuration file: those must be in the header, like the id column always must.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import asdict, dataclass, replace

from datasets.ingest.errors import (
    COMPOSITE_ID_AS_DATA,
    INVALID_OPTIONS,
    KEY_COLUMN_UNUSED,
    MISSING_ID_COLUMN,
    MISSING_KEY_COLUMN,
    MISSING_SESSION_COLUMN,
    IngestError,
    IngestWarning,
    quote_list,
    quoted,
)
from datasets.ingest.keys import site_column_candidates
from datasets.ingest.validate import fold, require_column

OPTIONAL_ROLES = ("session_column", "age_column", "sex_column", "site_column")
ROLES = ("id_column", *OPTIONAL_ROLES, "composite_id_column")
ROLE_LABELS = {
    "id_column": "id",
    "session_column": "session",
    "age_column": "age",
    "sex_column": "sex",
    "site_column": "site",
    "composite_id_column": "composite id",
}
_CONSEQUENCE = {
    "session_column": "the study is cross-sectional (one row per participant, merged on the id alone), as BDT "
    "reads such a file",
    "age_column": "the builder has no age filter until an age column is chosen {where}",
    "sex_column": "no column is marked as the participants' sex",
    "site_column": "the builder has no site filter until a site column is chosen {where}",
}


@dataclass(frozen=True)
class KeyColumns:
    """A study's key columns by role (``None`` = not used)."""

    id_column: str | None = None
    session_column: str | None = None
    age_column: str | None = None
    sex_column: str | None = None
    site_column: str | None = None
    composite_id_column: str | None = None

    @classmethod
    def from_mapping(cls, values: dict[str, str | None]) -> KeyColumns:
        """From a mapping of role -> column (blank = not used); other keys are ignored."""
        return cls(**{role: (values.get(role) or "").strip() or None for role in ROLES})

    def as_dict(self) -> dict[str, str | None]:
        return asdict(self)

    @property
    def longitudinal(self) -> bool:
        return self.session_column is not None


@dataclass(frozen=True)
class KeyReading:
    """The key columns a header provides, and a warning for each configured column it does not."""

    keys: KeyColumns
    warnings: tuple[IngestWarning, ...] = ()

    @property
    def unused(self) -> dict[str, str]:
        """Role -> configured column that was left out."""
        return {w.details["key"]: w.details["column"] for w in self.warnings if w.code == KEY_COLUMN_UNUSED}


def read_keys(
    configured: KeyColumns,
    header: list[str],
    *,
    strict: Iterable[str] = (),
    source: str = "the configuration",
    where: str = "in the study's settings",
) -> KeyReading:
    """Apply BDT's reading rules to a demographics ``header`` (see the module docstring). ``source`` names the
    configuration in the warnings, ``where`` says where a left-out column can still be chosen.

    Raises :class:`IngestError` when the id column (or a ``strict`` role's column) is not in the header.
    """
    strict = frozenset(strict)
    if not configured.id_column:
        raise IngestError(INVALID_OPTIONS, "No participant id column is configured.", {"key": "id_column"})
    require_column(header, configured.id_column, MISSING_ID_COLUMN, "id")
    keys = configured
    warnings: list[IngestWarning] = []
    present = set(header)
    taken = {configured.id_column}
    for role in OPTIONAL_ROLES:
        name = getattr(configured, role)
        if name is None:
            continue
        if name in present and name not in taken:
            taken.add(name)
            continue
        if role in strict:
            code = MISSING_SESSION_COLUMN if role == "session_column" else MISSING_KEY_COLUMN
            require_column(header, name, code, ROLE_LABELS[role])
            raise IngestError(  # the column is in the header but already holds another key
                MISSING_KEY_COLUMN,
                f"{quoted(name)} cannot be both the {ROLE_LABELS[role]} column and another key column.",
                {"key": role, "column": name},
            )
        keys = replace(keys, **{role: None})
        warnings.append(_unused(role, name, header, taken, source, where))
    composite = configured.composite_id_column
    if composite is not None and (composite not in present or composite in taken):
        keys = replace(keys, composite_id_column=None)  # derived: nothing to do when the file does not have it
    elif composite is not None and keys.session_column is None:
        keys = replace(keys, composite_id_column=None)
        warnings.append(
            IngestWarning(
                COMPOSITE_ID_AS_DATA,
                f"{quoted(composite)} is the composite id column of {source}, but without a session column there is "
                "nothing to derive it from, so it is kept as an ordinary data column.",
                {"key": "composite_id_column", "column": composite},
            )
        )
    return KeyReading(keys=keys, warnings=tuple(warnings))


def _unused(role: str, name: str, header: list[str], taken: set[str], source: str, where: str) -> IngestWarning:
    label = ROLE_LABELS[role]
    near = [h for h in header if h not in taken and fold(h.strip()) == fold(name.strip())]
    candidates = [c for c in site_column_candidates(header) if c not in taken] if role == "site_column" else []
    place = "is already another key column" if name in taken else "is not in the demographics file"
    consequence = _CONSEQUENCE[role].format(where=where)
    message = f"The {label} column {quoted(name)} of {source} {place}, so it is not used: {consequence}."
    if near:
        message += f" The file has {quote_list(near)}, which differs only in spaces or upper/lower case."
    if candidates:
        which = "looks" if len(candidates) == 1 else "look"
        message += f" {quote_list(candidates)} {which} like a site column; choose it {where}."
    return IngestWarning(
        KEY_COLUMN_UNUSED, message, {"key": role, "column": name, "near_matches": near, "candidates": candidates}
    )
