"""``import_folder --tenant SLUG --study STUDY [--config BDT_CONFIG.toml] [--delimiter auto|,|;|tab||] PATH``.

A BDT data folder -> a study, read the way BDT reads it: the demographics header decides cross-sectional vs
longitudinal, configured optional key columns the header lacks are not used (reported), BDT's composite id column
is checked and never a data column, ``[ui]`` settings become the study's builder defaults, and settings with no
meaning here (``[state]``, paths) are reported as ignored. A new study is created together with its demographics
version: if that file is refused, no study is left behind. Each file's separator is detected unless given.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser
from django_tenants.utils import tenant_context

from core.budgets import process_role_set
from core.errors import ApiError
from datasets.import_services import study_import_file_sync, study_plan
from datasets.ingest import (
    BdtConfig,
    IngestError,
    dataset_slug,
    delimiter_from_name,
    delimiter_label,
    read_bdt_config,
)
from datasets.models import DatasetKind, IngestJob, Study
from datasets.services import ingest_file_sync
from tenants.models import Tenant

KEY_FLAGS = ("id", "session", "age", "sex", "site", "composite_id")


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
        for key in KEY_FLAGS:
            flag = key.replace("_", "-")
            parser.add_argument(
                f"--{flag}-column",
                dest=f"{key}_column",
                help=f"The {key.replace('_', ' ')} column (overrides the config; must be in the demographics "
                'file; "" = not used).',
            )
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
        config = self._config(options)
        failures = 0
        with tenant_context(tenant):
            study = Study.objects.filter(slug=options["study"]).first()
            name = options["demographics"] or (config.demographics_file if config else None)
            demographics = self._find_demographics(files, name, required=study is None)
            if study is None:
                assert demographics is not None
                study = self._create(options, config, demographics)
                files = [p for p in files if p != demographics]
            elif demographics is not None:
                files = [demographics] + [p for p in files if p != demographics]
            for path in files:
                failures += self._import(study, path, demographics, options["delimiter"])
        if failures:
            raise CommandError(f"{failures} file(s) failed; the others were imported.")

    def _config(self, options: dict[str, Any]) -> BdtConfig | None:
        if not options["config"]:
            return None
        try:
            return read_bdt_config(Path(options["config"]))
        except (IngestError, OSError) as exc:
            raise CommandError(f"Cannot read {options['config']}: {exc}") from exc

    def _find_demographics(self, files: list[Path], name: str | None, *, required: bool) -> Path | None:
        wanted = (name or "demographics.csv").lower()
        for path in files:
            if path.name.lower() == wanted or path.stem.lower() == Path(wanted).stem.lower():
                return path
        if required or name:
            raise CommandError(f"No demographics file {wanted!r} in the folder (use --demographics or the config).")
        return None

    def _create(self, options: dict[str, Any], config: BdtConfig | None, demographics: Path) -> Study:
        """Create the study with its demographics version (one transaction: a refused file leaves no study)."""
        explicit = {f"{key}_column": options[f"{key}_column"] for key in KEY_FLAGS}
        if config is None and not explicit["id_column"]:
            raise CommandError("The study does not exist yet: give --config or --id-column to create it.")
        plan = study_plan(config, {role: value for role, value in explicit.items() if value is not None})
        for note in plan.notes:
            self.stdout.write(note)
        dataset_name = dataset_slug(demographics.name) if options["demographics"] else None
        try:
            job = study_import_file_sync(
                slug=options["study"],
                name=options["name"] or options["study"],
                path=demographics,
                plan=plan,
                dataset_name=dataset_name or plan.demographics_name or dataset_slug(demographics.name),
                delimiter=options["delimiter"],
            )
        except ApiError as exc:
            raise CommandError(exc.message) from exc
        if job.version is None or job.study is None:
            self.stderr.write(f"{demographics.name}: {job.error_message} [{job.error_code}]")
            raise CommandError("The demographics table failed; nothing was imported and no study was created.")
        study = job.study
        self._report(demographics, job)
        shape = (
            f"longitudinal (rows merge on {study.id_column} + {study.session_column})"
            if study.is_longitudinal
            else f"cross-sectional (rows merge on {study.id_column})"
        )
        self.stdout.write(f"Created study {study.slug!r}: {shape}.")
        return study

    def _import(self, study: Study, path: Path, demographics: Path | None, delimiter: str) -> int:
        """Import one file into an existing study; 1 if it failed (reported), else 0."""
        kind = DatasetKind.DEMOGRAPHICS if path == demographics else DatasetKind.MEASURE
        study.refresh_from_db()
        name = (
            study.demographics.name
            if kind == DatasetKind.DEMOGRAPHICS and study.demographics is not None
            else dataset_slug(path.name)
        )
        try:
            job = ingest_file_sync(study=study, path=path, dataset_name=name, kind=kind, delimiter=delimiter)
        except ApiError as exc:
            self.stderr.write(f"{path.name}: {exc.message}")
            return 1
        if job.version is None:
            self.stderr.write(f"{path.name}: {job.error_message} [{job.error_code}]")
            if kind == DatasetKind.DEMOGRAPHICS:
                raise CommandError("The demographics table failed; nothing else was imported.")
            return 1
        self._report(path, job)
        return 0

    def _report(self, path: Path, job: IngestJob) -> None:
        assert job.version is not None
        separator = job.version.delimiter
        shape = f"{job.version.row_count} rows" + (
            f", {delimiter_label(separator)}-separated" if separator != "," else ""
        )
        self.stdout.write(f"{path.name} -> {job.dataset_name} v{job.version.number} ({shape})")
        for warning in job.warnings:
            self.stdout.write(f"  note: {warning['message']}")
