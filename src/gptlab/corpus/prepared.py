"""Read back what the prepare stage wrote: ``corpus.json`` beside ``corpus.txt``."""

from __future__ import annotations

import json
from pathlib import Path

from gptlab.errors import DataError


def read_corpus_meta(corpus_txt: Path, corpus_json: Path) -> dict:
    """The prepared corpus's metadata (characters, sha256, ...); one-line error if missing or bad."""
    if not corpus_json.is_file() or not corpus_txt.is_file():
        raise DataError(f"corpus not found in {corpus_txt.parent} (run the prepare stage first: dvc repro prepare)")
    try:
        return json.loads(corpus_json.read_text(encoding="utf-8"))
    except json.JSONDecodeError as exc:
        raise DataError(f"{corpus_json} is malformed ({exc}); rerun the prepare stage") from None
