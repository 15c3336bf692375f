"""``data/processed/meta.json``: what the ``.bin`` shards hold and where they came from."""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np

from gptlab.errors import DataError

# 2: adds ``files`` (each split's byte size and sha256) and ``meta_sha256`` (a checksum of
# the rest of the file). Format 1 files still load; their splits are checked by size only.
FORMAT_VERSION = 2
READABLE_VERSIONS = (1, 2)
REBUILD = "rebuild it: dvc repro build"


def token_dtype_for(vocab_size: int) -> np.dtype:
    """``uint16`` when every id fits (halves disk and memory traffic), else ``uint32``."""
    return np.dtype(np.uint16) if vocab_size <= np.iinfo(np.uint16).max + 1 else np.dtype(np.uint32)


@dataclass(frozen=True)
class DatasetMeta:
    vocab_size: int
    dtype: str
    tokens: dict[str, int]
    characters: dict[str, int]
    tokenizer_sha256: str
    corpus_sha256: str
    tokenizer_kind: str
    format_version: int = FORMAT_VERSION
    # Per split: {"bytes": size of <split>.bin, "sha256": its hash}; None in format 1.
    files: dict[str, dict[str, Any]] | None = None
    # The corpus's data.source, path and url, as corpus.json said at build time
    # (gptlab.corpus.prepared.corpus_source); None: built before datasets recorded it.
    source: dict[str, str | None] | None = None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def meta_checksum(content: dict[str, Any]) -> str:
    """sha256 of the metadata without its own checksum, in a canonical JSON form."""
    body = {k: v for k, v in content.items() if k != "meta_sha256"}
    return hashlib.sha256(json.dumps(body, sort_keys=True, separators=(",", ":")).encode()).hexdigest()


def write_meta(path: str | Path, meta: DatasetMeta) -> None:
    """``meta.json`` with its checksum, written atomically."""
    from gptlab.io import atomic_write_json

    content = meta.to_dict()
    content["meta_sha256"] = meta_checksum(content)
    atomic_write_json(path, content)


def load_meta(path: str | Path) -> DatasetMeta:
    """Read and check ``meta.json``; anything damaged or inconsistent is a one-line DataError."""
    path = Path(path)
    if not path.is_file():
        raise DataError(f"dataset metadata not found: {path} (run the build stage first: dvc repro build)")
    try:
        raw = json.loads(path.read_bytes().decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise DataError(f"dataset metadata {path} is malformed ({exc}); {REBUILD}") from None
    if not isinstance(raw, dict):
        raise DataError(f"dataset metadata {path} is malformed (not a JSON object); {REBUILD}")
    recorded = raw.pop("meta_sha256", None)
    if recorded is not None and recorded != meta_checksum(raw):
        raise DataError(f"dataset metadata {path} is damaged: its content does not match its checksum; {REBUILD}")
    version = raw.get("format_version", 1)
    if version not in READABLE_VERSIONS:
        raise DataError(
            f"dataset metadata {path} has format_version {version!r}; this gptlab reads "
            f"{', '.join(map(str, READABLE_VERSIONS))}: {REBUILD}"
        )
    try:
        meta = DatasetMeta(**raw)
    except TypeError as exc:
        raise DataError(f"dataset metadata {path} is malformed ({exc}); {REBUILD}") from None
    problem = _inconsistency(meta)
    if problem:
        raise DataError(f"dataset metadata {path} is malformed ({problem}); {REBUILD}")
    return meta


def _is_count(x: Any) -> bool:
    return isinstance(x, int) and not isinstance(x, bool) and x >= 0


def _inconsistency(meta: DatasetMeta) -> str | None:
    """What is wrong with the fields of a parsed ``meta.json``, or None."""
    if not _is_count(meta.vocab_size) or meta.vocab_size == 0:
        return f"vocab_size {meta.vocab_size!r} is not a positive integer"
    if meta.dtype not in ("uint16", "uint32"):
        return f"dtype {meta.dtype!r} is not uint16 or uint32"
    for name in ("tokens", "characters"):
        counts = getattr(meta, name)
        if not isinstance(counts, dict) or not all(isinstance(k, str) and _is_count(v) for k, v in counts.items()):
            return f"{name} is not a mapping of split names to counts"
    if meta.source is not None and not (isinstance(meta.source, dict) and isinstance(meta.source.get("source"), str)):
        return "source does not name a data.source"
    if meta.files is None:
        return None
    if not isinstance(meta.files, dict) or set(meta.files) != set(meta.tokens):
        return "files does not list the same splits as tokens"
    itemsize = np.dtype(meta.dtype).itemsize
    for split, record in meta.files.items():
        if not isinstance(record, dict) or not _is_count(record.get("bytes")) or not _is_sha256(record.get("sha256")):
            return f"files.{split} needs a byte count and a sha256"
        if record["bytes"] != meta.tokens[split] * itemsize:
            return f"files.{split}.bytes {record['bytes']:,} != {meta.tokens[split]:,} {meta.dtype} tokens"
    return None


def _is_sha256(x: Any) -> bool:
    return isinstance(x, str) and len(x) == 64 and all(c in "0123456789abcdef" for c in x)
