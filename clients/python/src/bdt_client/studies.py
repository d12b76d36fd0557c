"""Studies, datasets, versions and uploads (with upload and ingest progress)."""

from __future__ import annotations

import builtins
import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO, Literal
from urllib.parse import quote

from bdt_client.errors import IngestFailed
from bdt_client.models import Dataset, DatasetVersion, Ingest, Study
from bdt_client.polling import Backoff, poll_until
from bdt_client.transport import Transport

DatasetKind = Literal["demographics", "measure"]
UPLOAD_TIMEOUT = 600.0  # seconds between two chunks of an upload (the whole upload may take longer)


def segment(value: str | int) -> str:
    """One path segment, percent-encoded (slugs pass unchanged; e-mail addresses and odd names are escaped)."""
    return quote(str(value), safe="")


@dataclass(frozen=True)
class Progress:
    """Progress of an upload: ``phase`` "upload" (bytes sent) then "ingest" (the platform's validation/typing).

    ``fraction`` runs from 0 to 1 within each phase.
    """

    phase: Literal["upload", "ingest"]
    fraction: float
    bytes_sent: int = 0
    bytes_total: int | None = None
    ingest: Ingest | None = None


ProgressCallback = Callable[[Progress], None]


class _CountingReader:
    """A binary file whose reads report the bytes sent so far (httpx streams multipart files in chunks)."""

    def __init__(self, handle: BinaryIO, total: int, report: ProgressCallback | None) -> None:
        self._handle = handle
        self._total = total
        self._report = report
        self.name = handle.name

    def fileno(self) -> int:  # lets httpx size the body (Content-Length): no chunked encoding needed
        return self._handle.fileno()

    def tell(self) -> int:
        return self._handle.tell()

    def seek(self, offset: int, whence: int = os.SEEK_SET) -> int:
        return self._handle.seek(offset, whence)

    def close(self) -> None:
        self._handle.close()

    def read(self, size: int = -1) -> bytes:
        chunk = self._handle.read(size)
        if self._report is not None:
            sent = self._handle.tell()
            self._report(
                Progress("upload", sent / self._total if self._total else 1.0, bytes_sent=sent, bytes_total=self._total)
            )
        return chunk


class StudiesAPI:
    """``/studies``: list, get, create and change studies."""

    def __init__(self, transport: Transport) -> None:
        self._t = transport

    def list(self) -> builtins.list[Study]:
        return [Study.from_api(item) for item in self._t.paginate("/studies")]

    def get(self, study: str) -> Study:
        return Study.from_api(self._t.request("GET", f"/studies/{segment(study)}"))

    def create(
        self,
        slug: str,
        name: str,
        *,
        id_column: str,
        session_column: str | None = None,
        description: str = "",
        age_column: str | None = None,
        sex_column: str | None = None,
        site_column: str | None = None,
        engine: Literal["duckdb", "postgres", "spark"] = "duckdb",
        **extra: Any,
    ) -> Study:
        """Create a study (steward or owner). ``session_column`` makes it longitudinal (merge key id + session)."""
        payload = {
            "slug": slug,
            "name": name,
            "description": description,
            "id_column": id_column,
            "session_column": session_column,
            "age_column": age_column,
            "sex_column": sex_column,
            "site_column": site_column,
            "engine": engine,
            **extra,
        }
        return Study.from_api(self._t.request("POST", "/studies", json=payload))

    def update(self, study: str, **changes: Any) -> Study:
        """Change fields of a study (``PATCH``): only the given keyword arguments are sent."""
        return Study.from_api(self._t.request("PATCH", f"/studies/{segment(study)}", json=changes))


class DatasetsAPI:
    """``/studies/{study}/datasets``: datasets, versions, uploads and ingest jobs."""

    def __init__(self, transport: Transport) -> None:
        self._t = transport

    def list(self, study: str) -> builtins.list[Dataset]:
        return [Dataset.from_api(item) for item in self._t.paginate(f"/studies/{segment(study)}/datasets")]

    def get(self, study: str, dataset: str) -> Dataset:
        return Dataset.from_api(self._t.request("GET", f"/studies/{segment(study)}/datasets/{segment(dataset)}"))

    def versions(self, study: str, dataset: str) -> builtins.list[DatasetVersion]:
        """Every version of a dataset, newest first."""
        path = f"/studies/{segment(study)}/datasets/{segment(dataset)}/versions"
        return [DatasetVersion.from_api(item) for item in self._t.paginate(path)]

    def version(self, study: str, dataset: str, number: int) -> DatasetVersion:
        path = f"/studies/{segment(study)}/datasets/{segment(dataset)}/versions/{int(number)}"
        return DatasetVersion.from_api(self._t.request("GET", path))

    def ingest(self, ingest_id: int) -> Ingest:
        return Ingest.from_api(self._t.request("GET", f"/ingests/{int(ingest_id)}"))

    def wait_ingest(
        self,
        ingest_id: int,
        *,
        timeout: float | None = None,
        progress: ProgressCallback | None = None,
        backoff: Backoff | None = None,
    ) -> Ingest:
        """Poll an ingest until it ends; raise :class:`IngestFailed` (nothing registered) if it failed."""

        def report(job: Ingest) -> None:
            if progress is not None:
                progress(Progress("ingest", job.progress, ingest=job))

        job = poll_until(
            lambda: self.ingest(ingest_id),
            finished=lambda job: job.finished,
            describe=lambda job: ("ingest", job.id, job.status),
            timeout=timeout,
            on_update=report,
            backoff=backoff or Backoff(first=0.25, longest=2.0),
        )
        if job.status != "succeeded":
            error = job.error
            raise IngestFailed(
                "ingest",
                job.id,
                job.status,
                error.code if error else "",
                error.message if error else "",
                details=job.error_details,
            )
        return job

    def upload(
        self,
        study: str,
        path: str | os.PathLike[str],
        *,
        name: str | None = None,
        kind: DatasetKind = "measure",
        title: str = "",
        note: str = "",
        delimiter: str = "auto",
        encoding: str = "",
        wait: bool = True,
        timeout: float | None = None,
        progress: ProgressCallback | None = None,
    ) -> Ingest:
        """Upload a CSV file (streamed, never read into memory) as a new dataset or a new version of ``name``.

        With ``wait`` (default) the ingest is followed to its end: the returned job has succeeded (else
        :class:`IngestFailed`); ``progress`` sees the bytes sent, then the ingest's progress.
        """
        source = Path(path)
        size = source.stat().st_size
        fields = {"kind": kind, "title": title, "note": note, "delimiter": delimiter, "encoding": encoding}
        if name:
            fields["name"] = name

        def body() -> dict[str, Any]:
            handle = source.open("rb")  # closed once sent (and opened again for a retry)
            return {"file": (source.name, _CountingReader(handle, size, progress), "text/csv")}

        accepted = self._t.request(
            "POST",
            f"/studies/{segment(study)}/datasets",
            data=fields,
            files=body,
            idempotent=False,
            timeout=max(UPLOAD_TIMEOUT, self._t.timeout),
        )
        job = Ingest.from_api({**accepted["ingest"], "dataset": accepted.get("dataset", "")})
        if not wait:
            return job
        return self.wait_ingest(job.id, timeout=timeout, progress=progress)
