"""Where the record keys of a study come from (the Django side of ``access.disclosure.keys``).

- The **master secret** is the setting ``BDT_DISCLOSURE_SECRET``, else a value derived from ``SECRET_KEY`` (never
  ``SECRET_KEY`` itself). Each study's secret is derived from it and the study's place on the platform (workspace
  schema + study id), so studies never share keys; a study contributed to a consortium keeps its lab's.
- A version's **record-key file** holds ``(participant id, record key)`` for every distinct id of that version's
  Parquet file. It is built once per version and secret (about half a second per million ids) into the worker-local
  cache directory — never into storage, results or exports — and named by a one-way digest of the secret and the
  version's content, so the name reveals neither.
"""

from __future__ import annotations

import hashlib
import hmac
import os
import uuid
from dataclasses import dataclass
from pathlib import Path

import pyarrow.parquet as pq
from django.conf import settings

from access.disclosure.keys import RECORD_KEY_COLUMN, record_key_table, secret_fingerprint, study_secret
from audit.services import current_schema_name
from datasets.models import DatasetVersion, Study
from datasets.storage import cache_dir, version_cache_path
from datasets.study_origins import study_origin

KEYS_DIRECTORY = "record-keys"


def disclosure_master_secret() -> bytes:
    """The platform's secret for record keys."""
    configured = str(getattr(settings, "BDT_DISCLOSURE_SECRET", "") or "")
    if configured:
        return configured.encode("utf-8")
    return hmac.digest(str(settings.SECRET_KEY).encode("utf-8"), b"bdt-disclosure-record-keys", "sha256")


def study_key_secret(study: Study) -> bytes:
    """The secret of ``study``'s record keys (the study must belong to the current workspace schema). A study
    another workspace provides takes its provider's: one set of participants gets one noise everywhere, so answers
    from several workspaces showing the same study cannot be averaged."""
    origin = study_origin(study)
    identity = origin.key_identity if origin is not None and origin.key_identity else None
    return study_secret(disclosure_master_secret(), identity or f"{current_schema_name()}/study/{study.pk}")


@dataclass(frozen=True)
class RecordKeysFile:
    """A local Parquet file ``(id_column, key_column)``; ``digest`` addresses its content."""

    path: Path
    digest: str
    id_column: str
    key_column: str


def record_keys_file(study: Study, version: DatasetVersion) -> RecordKeysFile:
    """The record keys of every participant id in ``version`` (built into the local cache on first use)."""
    secret = study_key_secret(study)
    id_column = study.id_column
    material = f"{secret_fingerprint(secret)}\x00{version.parquet_sha256}\x00{id_column}"
    digest = hashlib.sha256(material.encode("utf-8")).hexdigest()
    key_column = RECORD_KEY_COLUMN if id_column != RECORD_KEY_COLUMN else f"{RECORD_KEY_COLUMN}_value"
    folder = cache_dir() / KEYS_DIRECTORY
    path = folder / f"{digest}.parquet"
    if not path.exists():
        folder.mkdir(parents=True, exist_ok=True)
        source = version_cache_path(version.parquet_file, version.parquet_sha256)
        ids = pq.read_table(source, columns=[id_column]).column(0)
        partial = folder / f".{digest}.{uuid.uuid4().hex}.part"
        try:
            pq.write_table(record_key_table(secret, ids, id_column), partial, compression="zstd")
            os.replace(partial, path)
        finally:
            partial.unlink(missing_ok=True)
    return RecordKeysFile(path=path, digest=digest, id_column=id_column, key_column=key_column)
