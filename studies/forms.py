"""Forms of the study and dataset pages. They check shape only; services make the decisions."""

from __future__ import annotations

import re
from typing import Any

from django import forms
from django.core.exceptions import ValidationError
from django.utils.text import slugify

from datasets.ingest import BdtConfig, IngestError, parse_bdt_config
from datasets.ingest.bdt_config import MAX_CONFIG_BYTES
from datasets.ingest.encodings import EncodingRefused, text_encoding
from datasets.models import NAME_VALIDATOR, STUDY_SLUG_VALIDATOR, DatasetKind, Engine, Sensitivity
from datasets.services import RESERVED_STUDY_SLUGS

DELIMITER_CHOICES = [
    ("auto", "Detect automatically"),
    (",", "Comma ( , )"),
    (";", "Semicolon ( ; )"),
    ("tab", "Tab"),
    ("|", "Pipe ( | )"),
]
DELIMITER_ERRORS = {"invalid_choice": "The separator must be auto, comma, semicolon, tab or pipe."}

ON_CONFLICT_CHOICES = [
    ("version", "New version of the existing dataset"),
    ("new", "Save as a new dataset"),
    ("skip", "Skip this file"),
]


def study_slug_suggest(name: str) -> str:
    """A study slug from a name: lower-case ASCII letters, digits and hyphens, starting with a letter."""
    slug = slugify(name).replace("_", "-")
    slug = re.sub(r"-{2,}", "-", slug).strip("-")
    slug = re.sub(r"^[^a-z]+", "", slug)[:63].strip("-")
    if slug in RESERVED_STUDY_SLUGS:
        slug = f"{slug}-study"
    return slug


def encoding_clean(value: str) -> str:
    """A declared encoding (blank = UTF-8): a text encoding, never one of Python's byte transforms (rot13, zlib)."""
    value = (value or "").strip()
    if not value:
        return ""
    try:
        text_encoding(value)
    except EncodingRefused as exc:
        raise ValidationError(exc.message) from None
    return value


class StudyCreateForm(forms.Form):
    """Step 1 of the wizard: name, slug (suggested from the name), description, engine."""

    name = forms.CharField(max_length=200, label="Study name")
    slug = forms.CharField(
        max_length=63,
        required=False,
        label="Short name (in addresses)",
        help_text="Lower-case letters, digits and hyphens, starting with a letter. Suggested from the name.",
    )
    description = forms.CharField(widget=forms.Textarea(attrs={"rows": 3}), required=False)
    engine = forms.ChoiceField(choices=Engine.choices, initial=Engine.DUCKDB, label="Query engine")
    analyst_level = forms.ChoiceField(
        choices=[
            ("", "The workspace's default"),
            ("metadata", "Analysts see the catalog only (metadata) until granted more"),
            ("count", "Analysts may count (aggregate numbers only)"),
            ("query", "Analysts may query (row-level results, no downloads)"),
            ("export", "Analysts may query and export"),
        ],
        required=False,
        label="Who can see this study?",
        help_text="What every analyst may do with this study's data unless a steward grants more. Stewards and owners "
        "always manage it; viewers see the catalog only. You can change this later in the Console.",
    )
    config = forms.FileField(
        required=False,
        label="BDT configuration",
        help_text="Optional: the config.toml (or JSON settings) of a Basic Data Tool project. Its key columns are "
        "suggested from your demographics file the way BDT reads it; its [ui] defaults become the builder's.",
    )

    def clean_config(self) -> BdtConfig | None:
        upload = self.cleaned_data.get("config")
        if not upload:
            return None
        raw = upload.read(MAX_CONFIG_BYTES + 1)
        if len(raw) > MAX_CONFIG_BYTES:
            raise ValidationError("The configuration file is larger than 1 MB; it cannot be a BDT config.")
        try:
            return parse_bdt_config(raw)
        except IngestError as exc:
            raise ValidationError(exc.message) from None

    def clean_name(self) -> str:
        name = self.cleaned_data["name"].strip()
        if not name:
            raise ValidationError("A study needs a name.")
        return name

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean() or {}
        slug = (cleaned.get("slug") or "").strip()
        if not slug and cleaned.get("name"):
            slug = study_slug_suggest(cleaned["name"])
            if not slug:
                self.add_error("slug", "Choose a short name: the study name has no letters to build one from.")
                return cleaned
        if slug:
            try:
                STUDY_SLUG_VALIDATOR(slug)
            except ValidationError as exc:
                self.add_error("slug", exc)
                return cleaned
            if slug in RESERVED_STUDY_SLUGS:
                self.add_error("slug", f"{slug!r} is reserved; choose another short name.")
        cleaned["slug"] = slug
        return cleaned


class DemographicsUploadForm(forms.Form):
    """Step 2 of the wizard: the demographics CSV (staged until its key columns are confirmed)."""

    file = forms.FileField(
        label="Demographics file (CSV)",
        error_messages={"required": "Choose the demographics CSV file to upload."},
    )
    encoding = forms.CharField(max_length=32, required=False, help_text="Leave blank for UTF-8.")
    delimiter = forms.ChoiceField(
        choices=DELIMITER_CHOICES, required=False, initial="auto", label="Separator", error_messages=DELIMITER_ERRORS
    )

    def clean_encoding(self) -> str:
        return encoding_clean(self.cleaned_data.get("encoding", ""))

    def clean_delimiter(self) -> str:
        return self.cleaned_data.get("delimiter") or "auto"

    def clean_file(self) -> Any:
        upload = self.cleaned_data["file"]
        if not (upload.name or "").lower().endswith(".csv"):
            raise ValidationError("Upload a .csv file.")
        if not upload.size:
            raise ValidationError("The file is empty.")
        return upload


NONE_CHOICE = ("", "None")


class KeyColumnsForm(forms.Form):
    """Step 3 of the wizard: the key columns, chosen from the demographics header."""

    id_column = forms.ChoiceField(label="Participant ID column", help_text="Required: identifies a participant.")
    session_column = forms.ChoiceField(
        label="Session column", required=False, help_text="Set it for longitudinal data (one row per visit)."
    )
    age_column = forms.ChoiceField(label="Age column", required=False)
    sex_column = forms.ChoiceField(label="Sex column", required=False)
    site_column = forms.ChoiceField(
        label="Site / substudy column", required=False, help_text="Cells may list several sites."
    )
    composite_id_column = forms.ChoiceField(
        label="Composite ID column",
        required=False,
        help_text="BDT's derived id_session column (e.g. customID): checked on upload, never a data column.",
    )
    dataset_name = forms.CharField(
        max_length=63,
        label="Dataset name",
        help_text="How the demographics table is named in queries: lower-case letters, digits, underscores.",
    )

    KEY_FIELDS = ("id_column", "session_column", "age_column", "sex_column", "site_column", "composite_id_column")

    def __init__(self, *args: Any, header: list[str], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        options = [(column, column) for column in header]
        for key in self.KEY_FIELDS:
            field = self.fields[key]
            assert isinstance(field, forms.ChoiceField)
            field.choices = [("", "Choose a column…") if key == "id_column" else NONE_CHOICE, *options]

    def clean_dataset_name(self) -> str:
        name = self.cleaned_data["dataset_name"].strip()
        NAME_VALIDATOR(name)
        return name

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean() or {}
        seen: dict[str, str] = {}
        for key in self.KEY_FIELDS:
            value = cleaned.get(key)
            if not value:
                continue
            if value in seen:
                self.add_error(key, f"{value!r} is already the {self.fields[seen[value]].label.lower()}.")  # type: ignore[union-attr]
            else:
                seen[value] = key
        if cleaned.get("composite_id_column") and not cleaned.get("session_column"):
            self.add_error(
                "composite_id_column", "A composite ID is derived from id + session: choose a session column first."
            )
        return cleaned


class UploadFileForm(forms.Form):
    """One file of the upload page (each file is posted on its own)."""

    file = forms.FileField(error_messages={"required": "No file was received. Choose a CSV file and try again."})
    name = forms.CharField(max_length=63, error_messages={"required": "Give the dataset a name."})
    kind = forms.ChoiceField(choices=DatasetKind.choices, initial=DatasetKind.MEASURE)
    on_conflict = forms.ChoiceField(choices=ON_CONFLICT_CHOICES, required=False)
    new_name = forms.CharField(max_length=63, required=False)
    encoding = forms.CharField(max_length=32, required=False)
    delimiter = forms.ChoiceField(choices=DELIMITER_CHOICES, required=False, error_messages=DELIMITER_ERRORS)
    title = forms.CharField(max_length=200, required=False)
    note = forms.CharField(max_length=2000, required=False)

    def clean_encoding(self) -> str:
        return encoding_clean(self.cleaned_data.get("encoding", ""))

    def clean_delimiter(self) -> str:
        return self.cleaned_data.get("delimiter") or "auto"

    def clean_file(self) -> Any:
        upload = self.cleaned_data["file"]
        if not (upload.name or "").lower().endswith(".csv"):
            raise ValidationError("Only .csv files can be uploaded.")
        if not upload.size:
            raise ValidationError("The file is empty.")
        return upload

    def target_name(self) -> str:
        """The dataset name the file goes to, after the user's choice for an existing name."""
        if self.cleaned_data.get("on_conflict") == "new":
            return (self.cleaned_data.get("new_name") or "").strip()
        return self.cleaned_data["name"].strip()


class ColumnMetaForm(forms.Form):
    """A column's description and sensitivity tag (stewards)."""

    column = forms.CharField(max_length=1000)
    description = forms.CharField(widget=forms.Textarea(attrs={"rows": 2}), required=False, max_length=2000)
    sensitivity = forms.ChoiceField(choices=Sensitivity.choices, required=False)


class KeyRepairForm(forms.Form):
    """Re-point or drop a study's optional key columns (stewards), chosen from the demographics header."""

    ROLES = ("session_column", "age_column", "sex_column", "site_column", "composite_id_column")
    LABELS = {
        "session_column": "Session column",
        "age_column": "Age column",
        "sex_column": "Sex column",
        "site_column": "Site / substudy column",
        "composite_id_column": "Composite ID column",
    }

    def __init__(self, *args: Any, header: list[str], current: dict[str, str], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        for role in self.ROLES:
            value = current.get(role, "")
            options = [(column, column) for column in header]
            if value and value not in header:
                options.insert(0, (value, f"{value} (not in the data)"))
            self.fields[role] = forms.ChoiceField(
                label=self.LABELS[role], required=False, choices=[NONE_CHOICE, *options], initial=value
            )

    def changes(self, current: dict[str, str]) -> dict[str, str]:
        """The roles whose column the steward changed (blank = drop it)."""
        return {
            role: self.cleaned_data.get(role) or ""
            for role in self.ROLES
            if (self.cleaned_data.get(role) or "") != current.get(role, "")
        }
