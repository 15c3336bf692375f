"""``write_corpus``: the prepare stage's outputs, ``corpus.txt`` and its ``corpus.json``."""

from __future__ import annotations

import json
import os
from typing import Any

from gptlab.corpus.corpus import Corpus
from gptlab.io.atomic import atomic_path
from gptlab.io.hashing import sha256_file


def write_corpus(corpus: Corpus, text_path: str | os.PathLike[str], meta_path: str | os.PathLike[str]) -> dict[str, Any]:
    """Write the text (UTF-8) and its metadata, both renamed only once complete, so a failure
    never leaves a partial file or a meta without its text; returns the metadata."""
    data = corpus.text.encode("utf-8")
    with atomic_path(meta_path) as meta_tmp:
        with atomic_path(text_path) as text_tmp:
            text_tmp.write_bytes(data)
            meta: dict[str, Any] = {
                "source": corpus.source,
                "sha256": sha256_file(text_tmp),
                "characters": len(corpus.text),
                "bytes": len(data),
                "documents": list(corpus.documents),
                "num_documents": len(corpus.documents),
            }
            meta_tmp.write_text(json.dumps(meta, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    return meta
