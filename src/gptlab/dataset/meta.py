"""``data/processed/meta.json``: what the ``.bin`` shards hold and where they came from."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np

from gptlab.errors import DataError

FORMAT_VERSION = 1


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

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def load_meta(path: str | Path) -> DatasetMeta:
    path = Path(path)
    if not path.is_file():
        raise DataError(f"dataset metadata not found: {path} (run the build stage first: dvc repro build)")
    try:
        raw = json.loads(path.read_text(encoding="utf-8"))
        return DatasetMeta(**raw)
    except (json.JSONDecodeError, TypeError) as exc:
        raise DataError(f"dataset metadata {path} is malformed ({exc}); rebuild it: dvc repro build") from None
