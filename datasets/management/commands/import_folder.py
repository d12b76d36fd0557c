"""``import_folder --tenant SLUG --study STUDY [--config BDT_CONFIG.toml] [--delimiter auto|,|;|tab||] PATH``.

A BDT data folder -> a study. Each file's separator is detected (``auto``, the default) unless given.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser
from django_tenants.utils import tenant_context

from bdt_project.budgets import process_role_set
from bdt_project.errors import ApiError
from datasets.ingest import (
    IngestError,
    dataset_slug,
    delimiter_from_name,
    delimiter_label,
    read_bdt_config,
)
from datasets.models import DatasetKind, Study
from datasets.services import ingest_file_sync, study_create
from tenants.models import Tenant


class Command(BaseCommand):
    help = (
        "Import every CSV of a BDT-style data folder (demographics + measure tables) into a study, creating the "
        "study from the BDT config.toml when given. Values are kept exactly as in the files."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("path", help="The data folder.")
        parser.add_argument("--tenant", required=True, help="Tenant slug.")
        parser.add_argument("--study", required=True, help="Study slug (created if missing).")
        parser.add_argument("--config", help="A BDT config.toml (nested [data] or flat form) with the key columns.")
        parser.add_argument("--name", help="Study name when it is created (default: the slug).")
        parser.add_argument("--demographics", help="File name of the demographics table (overrides the config).")
        for key in ("id", "session", "age", "sex", "site"):
            parser.add_argument(f"--{key}-column", help=f"The {key} column (overrides the config).")
        parser.add_argument(
            "--delimiter",
            default="auto",
            help='Value separator of every file: "auto" (default: detected per file), ",", ";", "tab" or "|".',
        )

    def handle(self, *args: Any, **options: Any) -> None:
        process_role_set("worker")  # the ingests run here, as on a worker: the worker's engine budget
        try:
            delimiter_from_name(options["delimiter"])
        except ValueError as exc:
            raise CommandError(str(exc)) from None
        folder = Path(options["path"])
        if not folder.is_dir():
            raise CommandError(f"{folder} is not a folder.")
        files = sorted(p for p in folder.iterdir() if p.is_file() and p.suffix.lower() == ".csv")
        if not files:
            raise CommandError(f"No .csv files in {folder}.")
        tenant = Tenant.objects.filter(slug=options["tenant"]).exclude(schema_name="public").first()
        if tenant is None:
            raise CommandError(f"No tenant with slug {options['tenant']!r}.")
        keys, demographics_name = self._keys(options)
        demographics = self._find_demographics(files, demographics_name)
        failures = 0
        with tenant_context(tenant):
            study = self._study(tenant, options, keys)
            ordered = [demographics] + [p for p in files if p != demographics]
            for path in ordered:
                kind = DatasetKind.DEMOGRAPHICS if path == demographics else DatasetKind.MEASURE
                name = (
                    study.demographics.name
                    if kind == DatasetKind.DEMOGRAPHICS and study.demographics is not None
                    else dataset_slug(path.name)
                )
                try:
                    job = ingest_file_sync(
                        study=study, path=path, dataset_name=name, kind=kind, delimiter=options["delimiter"]
                    )
                except ApiError as exc:
                    failures += 1
                    self.stderr.write(f"{path.name}: {exc.message}")
                    continue
                if job.version is None:
                    failures += 1
                    self.stderr.write(f"{path.name}: {job.error_message} [{job.error_code}]")
                    if kind == DatasetKind.DEMOGRAPHICS:
                        raise CommandError("The demographics table failed; nothing else was imported.")
                    continue
                notes = "; ".join(w["message"] for w in job.warnings)
                study.refresh_from_db()
                separator = job.version.delimiter
                shape = f"{job.version.row_count} rows" + (
                    f", {delimiter_label(separator)}-separated" if separator != "," else ""
                )
                self.stdout.write(
                    f"{path.name} -> {name} v{job.version.number} ({shape})" + (f" — {notes}" if notes else "")
                )
        if failures:
            raise CommandError(f"{failures} file(s) failed; the others were imported.")

    def _keys(self, options: dict[str, Any]) -> tuple[dict[str, str], str | None]:
        keys: dict[str, str] = {}
        demographics: str | None = None
        if options["config"]:
            try:
                config = read_bdt_config(Path(options["config"]))
            except (IngestError, OSError) as exc:
                raise CommandError(f"Cannot read {options['config']}: {exc}") from exc
            keys = {
                "id_column": config.primary_id_column or "",
                "session_column": config.session_column or "",
                "age_column": config.age_column or "",
                "sex_column": config.sex_column or "",
                "site_column": config.study_site_column or "",
            }
            demographics = config.demographics_file
        for key in ("id", "session", "age", "sex", "site"):
            if options[f"{key}_column"]:
                keys[f"{key}_column"] = options[f"{key}_column"]
        return keys, options["demographics"] or demographics

    def _find_demographics(self, files: list[Path], name: str | None) -> Path:
        wanted = (name or "demographics.csv").lower()
        for path in files:
            if path.name.lower() == wanted or path.stem.lower() == Path(wanted).stem.lower():
                return path
        raise CommandError(f"No demographics file {wanted!r} in the folder (use --demographics or the config).")

    def _study(self, tenant: Tenant, options: dict[str, Any], keys: dict[str, str]) -> Study:
        study = Study.objects.filter(slug=options["study"]).first()
        if study is not None:
            return study
        if not keys.get("id_column"):
            raise CommandError("The study does not exist yet: give --config or --id-column to create it.")
        try:
            return study_create(
                tenant=tenant,
                actor=None,
                slug=options["study"],
                name=options["name"] or options["study"],
                id_column=keys["id_column"],
                session_column=keys.get("session_column", ""),
                age_column=keys.get("age_column", ""),
                sex_column=keys.get("sex_column", ""),
                site_column=keys.get("site_column", ""),
            )
        except ApiError as exc:
            raise CommandError(exc.message) from exc
