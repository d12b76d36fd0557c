"""Record keys and cell keys of the cell-key method.

Every participant of a study has a fixed secret **record key**: an integer in ``[0, KEY_MODULUS)`` derived with a
keyed hash (BLAKE2b in its MAC mode) from a per-study secret and the participant id. The **cell key** of any set of
participants is the sum of their record keys modulo ``KEY_MODULUS``: the same set always has the same cell key,
whichever query, report step or table produced it, while different sets have keys that look independent (an added
or removed participant shifts the key by their secret record key).

The keys never leave the server: they are computed here (never in SQL text), kept in a local cache file that the
engines join (``record_key_table``), and only ever used to look up noise in the perturbation table.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Iterable

import pyarrow as pa
import pyarrow.compute as pc

KEY_MODULUS = 2**32  # N: record keys and cell keys are integers in [0, N)
RECORD_KEY_COLUMN = "record_key"
_SCOPE_PREFIX = b"bdt-record-keys/v1\x00"


def study_secret(master: bytes, scope: str) -> bytes:
    """The secret of one study (``scope`` names it uniquely on the platform) derived from the server's secret."""
    if not master:
        raise ValueError("the disclosure secret is empty")
    return hmac.digest(master, _SCOPE_PREFIX + scope.encode("utf-8"), "sha256")


def secret_fingerprint(secret: bytes) -> str:
    """A one-way name for a secret (cache file names): reveals nothing about the secret."""
    return hashlib.sha256(b"fingerprint\x00" + secret).hexdigest()[:32]


def record_key(secret: bytes, participant_id: object) -> int:
    """The record key of one participant (ids are compared as text: 17 and "17" are the same participant)."""
    digest = hashlib.blake2b(str(participant_id).encode("utf-8"), key=secret[:64], digest_size=8).digest()
    return int.from_bytes(digest, "big") % KEY_MODULUS


def cell_key(record_keys: Iterable[int]) -> int:
    """The cell key of a set of participants: the sum of their record keys modulo N (each participant once)."""
    return sum(record_keys) % KEY_MODULUS


def combine_cell_keys(*keys: int) -> int:
    """The cell key of the union of disjoint sets (e.g. the total of per-study cells): the sum of their keys."""
    return sum(keys) % KEY_MODULUS


def record_key_table(secret: bytes, ids: pa.Array | pa.ChunkedArray, id_name: str) -> pa.Table:
    """``(id_name, record_key)`` for every distinct non-null id (ids keep their type, so engines join on them)."""
    unique = pc.unique(pc.drop_null(ids))
    if isinstance(unique, pa.ChunkedArray):
        unique = unique.combine_chunks()
    texts = pc.cast(unique, pa.string()).to_pylist()
    keys = pa.array((record_key(secret, text) for text in texts), type=pa.int64(), size=len(texts))
    key_name = RECORD_KEY_COLUMN if id_name != RECORD_KEY_COLUMN else f"{RECORD_KEY_COLUMN}_value"
    return pa.table({id_name: unique, key_name: keys})
