"""The deterministic demo study that ``seed_demo`` creates: longitudinal, multi-site, realistic gaps."""

from __future__ import annotations

import csv
import random
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import IO, Any

SESSIONS = ("BAS1", "BAS2", "FU1")
SITES = ("Discovery", "Longitudinal_Adult", "Longitudinal_Child", "Neurofeedback")
DEMO_STUDY = "demo-study"


def _site_cell(rng: random.Random) -> str:
    """Multi-valued site membership in the formats real exports use (spaces, commas+braces, semicolons)."""
    chosen = sorted(rng.sample(SITES, rng.choice((1, 1, 2, 2, 3))))
    style = rng.random()
    if len(chosen) == 1:
        return chosen[0]
    if style < 0.4:
        return ";".join(chosen)
    if style < 0.7:
        return "{" + ", ".join(chosen) + "}"
    return " ".join(chosen)


def _participants(count: int, rng: random.Random) -> Iterator[dict[str, Any]]:
    for index in range(1, count + 1):
        yield {
            "id": f"P{index:06d}",
            "age": round(rng.uniform(8.0, 85.0), 1),
            "sex": rng.choice(("F", "M")) if rng.random() > 0.01 else "",
            "site": _site_cell(rng),
            "handedness": rng.choice(("right", "right", "right", "left", "ambidextrous")),
            "skipped": rng.random() < 0.08,  # misses BAS2
            "dropped": rng.random() < 0.12,  # no follow-up
            "ability": rng.gauss(0, 1),
        }


def _sessions_for(person: dict[str, Any]) -> list[str]:
    sessions = ["BAS1"]
    if not person["skipped"]:
        sessions.append("BAS2")
    if not person["dropped"]:
        sessions.append("FU1")
    return sessions


def _maybe(rng: random.Random, value: Any, missing: float = 0.03) -> Any:
    return "" if rng.random() < missing else value


def demo_files_write(folder: Path, *, participants: int, seed: int) -> dict[str, Path]:
    """Write the demo CSVs into ``folder``; the same arguments always give byte-identical files."""
    rng = random.Random(seed)
    people = list(_participants(participants, rng))
    files = {name: folder / f"{name}.csv" for name in ("demographics", "cognitive", "flanker", "mood", "imaging")}
    handles: dict[str, IO[str]] = {name: open(path, "w", newline="", encoding="utf-8") for name, path in files.items()}  # noqa: SIM115
    try:
        writers = {name: csv.writer(handle) for name, handle in handles.items()}
        writers["demographics"].writerow(
            ["participant_id", "session", "age", "sex", "site", "handedness", "height_cm", "weight_kg"]
        )
        writers["cognitive"].writerow(
            ["participant_id", "session", "working_memory", "processing_speed", "attention_score"]
        )
        writers["flanker"].writerow(
            ["participant_id", "session", "rt_congruent", "rt_incongruent", "accuracy", "interference"]
        )
        writers["mood"].writerow(["participant_id", "session", "phq9_total", "gad7_total", "clinician_note"])
        writers["imaging"].writerow(["participant_id", "session", "scanner", "brain_volume_ml", "qc_pass"])
        notes = ("", "", "", "follow-up advised", 'said "fine, thanks"', "sleep issues, stress", "=not a formula")
        for person in people:
            height = round(rng.gauss(170, 10), 1)
            for visit, session in enumerate(_sessions_for(person)):
                age = round(person["age"] + visit * 0.5, 1)
                writers["demographics"].writerow(
                    [
                        person["id"],
                        session,
                        age,
                        person["sex"],
                        person["site"],
                        person["handedness"],
                        height,
                        _maybe(rng, round(rng.gauss(70, 14), 1)),
                    ]
                )
                growth = visit * 2.0 + person["ability"] * 8
                writers["cognitive"].writerow(
                    [
                        person["id"],
                        session,
                        _maybe(rng, round(100 + growth + rng.gauss(0, 12), 1)),
                        _maybe(rng, round(50 + growth / 2 + rng.gauss(0, 8), 1)),
                        _maybe(rng, int(75 + growth + rng.gauss(0, 10))),
                    ]
                )
                if session != "FU1" or rng.random() < 0.7:
                    congruent = rng.gauss(480 - person["ability"] * 20, 45)
                    incongruent = congruent + abs(rng.gauss(55, 18))
                    writers["flanker"].writerow(
                        [
                            person["id"],
                            session,
                            round(congruent, 1),
                            round(incongruent, 1),
                            _maybe(rng, round(min(0.999, max(0.5, rng.gauss(0.9, 0.05))), 3)),
                            round(incongruent - congruent, 1),
                        ]
                    )
                writers["mood"].writerow(
                    [
                        person["id"],
                        session,
                        _maybe(rng, rng.randint(0, 27), 0.05),
                        _maybe(rng, rng.randint(0, 21), 0.05),
                        rng.choice(notes),
                    ]
                )
                if session == "BAS1" and rng.random() < 0.6:
                    writers["imaging"].writerow(
                        [
                            person["id"],
                            session,
                            rng.choice(("Prisma-1", "Prisma-2", "Skyra")),
                            round(rng.gauss(1200, 110), 1),
                            rng.choice(("yes", "yes", "yes", "no")),
                        ]
                    )
    finally:
        for handle in handles.values():
            handle.close()
    return files


DEMO_TITLES = {
    "demographics": "Demographics",
    "cognitive": "Cognitive battery",
    "flanker": "Flanker task",
    "mood": "Mood questionnaires (PHQ-9, GAD-7)",
    "imaging": "MRI summary (baseline only)",
}


def demo_study_seed(*, tenant: Any, participants: int, seed: int, stdout: IO[str] | Any, actor: Any = None) -> None:
    """Create and fill the demo study of ``tenant`` (skipped when it already has data)."""
    from django_tenants.utils import tenant_context

    from datasets.models import Study
    from datasets.services import ingest_file_sync, study_create

    with tenant_context(tenant):
        study = Study.objects.filter(slug=DEMO_STUDY).first()
        present = set(study.datasets.filter(versions__isnull=False).values_list("name", flat=True)) if study else set()
        if study is not None and present >= set(DEMO_TITLES):
            stdout.write(f"Demo study already present ({len(present)} datasets).\n")
            return
        if study is None:
            study = study_create(
                tenant=tenant,
                actor=actor,
                slug=DEMO_STUDY,
                name="Demo longitudinal study",
                description=f"Synthetic data: {participants} participants, sessions BAS1/BAS2/FU1, four sites.",
                id_column="participant_id",
                session_column="session",
                age_column="age",
                sex_column="sex",
                site_column="site",
            )
        with tempfile.TemporaryDirectory(prefix="bdt-demo-") as folder:
            files = demo_files_write(Path(folder), participants=participants, seed=seed)
            for name, path in files.items():
                if name in present:
                    continue
                kind = "demographics" if name == "demographics" else "measure"
                job = ingest_file_sync(
                    study=study, path=path, dataset_name=name, kind=kind, title=DEMO_TITLES[name], actor=actor
                )
                state = f"v{job.version.number}" if job.version else f"failed: {job.error_message}"
                stdout.write(f"  {name}: {state}\n")
